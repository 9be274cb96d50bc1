"""flake8 over the package, as a ROS package's ament_flake8 test does (pip's flake8, setup.cfg's 110 columns).

``make lint`` runs the same command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINTED = ("tcfd_ros", "training", "launch", "test", "benchmarks")


def test_flake8_finds_nothing() -> None:
    r = subprocess.run([sys.executable, "-m", "flake8", *LINTED], cwd=REPO, capture_output=True, text=True,
                       timeout=600)
    assert "No module named flake8" not in r.stderr, \
        "flake8 is not installed: it is in requirements.txt (make setup)"
    assert r.returncode == 0, f"flake8 ({REPO / 'setup.cfg'} [flake8]):\n{r.stdout}{r.stderr}"


def test_flake8_reads_the_project_settings() -> None:
    """A line of 111 columns is an error and one of 110 is not: the setting comes from setup.cfg."""
    probe = REPO / "test" / "_lint_probe_tmp.py"
    try:
        probe.write_text(f"X = '{'a' * 104}'\nY = '{'b' * 105}'\n")
        r = subprocess.run([sys.executable, "-m", "flake8", str(probe.relative_to(REPO))], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink(missing_ok=True)
    assert r.stdout.count("E501") == 1 and ":2:111: E501" in r.stdout, r.stdout + r.stderr


def test_module_loggers_have_one_name() -> None:
    """docs/DESIGN.md: ``log = logging.getLogger(__name__)`` in the library; nodes use ``get_logger()``."""
    odd = [f"{p.relative_to(REPO)}:{n}: {line.strip()}"
           for top in ("tcfd_ros", "training") for p in sorted((REPO / top).rglob("*.py"))
           for n, line in enumerate(p.read_text().splitlines(), 1)
           if "getLogger(" in line and line.strip() != "log = logging.getLogger(__name__)"]
    assert not odd, "\n".join(odd)
