"""README.md as a user meets it: its runnable examples run, its contents links resolve, its claims about
the repository hold (LICENSE, CITATION.cff, the CLI reference), and no leftovers of how it was written.

Blocks fenced as ```` ```bash runnable ```` are executed in a scratch folder with the checkout's
``tcfd-ros`` (keep them fast: seconds, no model, no DDS).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RUNNABLE_FENCE = "```bash runnable"
BLOCK_TIMEOUT_S = 240
MAX_PICTURE_BYTES = 300_000


def _text() -> str:
    return README.read_text(encoding="utf-8")


def runnable_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash runnable\n(.*?)^```", text, flags=re.S | re.M)


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_readme_has_runnable_blocks_and_they_pass(tmp_path: Path) -> None:
    blocks = runnable_blocks(_text())
    assert blocks, f"no {RUNNABLE_FENCE} block in README.md"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", CI="true",
               OMP_NUM_THREADS="1")
    for block in blocks:
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env, text=True,
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=BLOCK_TIMEOUT_S,
                           check=False)
        assert r.returncode == 0, f"README block failed ({r.returncode}):\n{block}\n{r.stderr[-2000:]}"
    # what the quick start promises to leave behind
    assert (tmp_path / "out" / "quick.bag" / "metadata.yaml").is_file()
    graph = (tmp_path / "out" / "quick_graph.json").read_text()
    assert '"recognizer"' in graph


def test_table_of_contents_links_every_top_level_section_in_order() -> None:
    text = _text()
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings[0] == "Contents"
    contents = text.split("## Contents", 1)[1].split("\n## ", 1)[0]
    toc = re.findall(r"^- \[(.+?)\]\(#(.+?)\)$", contents, flags=re.M)
    assert [t for t, _ in toc] == headings[1:]
    for title, anchor in toc:
        assert anchor == github_anchor(title), (title, anchor)


def test_no_leftovers_from_how_the_readme_was_written() -> None:
    text = _text()
    assert "<!--" not in text
    assert "these machines" not in text
    assert not re.search(r"\b(not installed|cannot install|downloaded|installable) here\b", text)
    assert not re.search(r"\bhere\b", text), [ln for ln in text.splitlines() if re.search(r"\bhere\b", ln)]
    assert "models/tcfd.onnx" not in text and "out/train/tcfd.pt" not in text


def test_robot_section_covers_what_an_integrator_needs() -> None:
    text = _text()
    section = text.split("## Run it on your robot or pole", 1)[1].split("\n## ", 1)[0]
    for sub in ("Topics and remaps", "QoS", "Frames (REP-105)", "Calibration", "LiDAR models",
                "Camera mode", "Install in a ROS 2 workspace"):
        assert f"### {sub}" in section, sub
    for msg in ("sensor_msgs/Image", "sensor_msgs/PointCloud2", "visualization_msgs/MarkerArray",
                "std_msgs/String", "diagnostic_msgs/DiagnosticArray"):
        assert msg in section, msg


def test_paths_the_readme_names_exist() -> None:
    text = _text()
    for rel in re.findall(r"\]\(((?:docs|config|models|training)/[^)#]+|LICENSE|CITATION\.cff)\)", text):
        assert (REPO / rel).exists(), rel
    for rel in ("config/crossmodal.yaml", "training/configs/demo_cpu.yaml", "training/configs/sim_cpu.yaml",
                "training/configs/sustech1k_paper.yaml", "docs/matches.md", "docs/ground_truth.md"):
        assert rel in text and (REPO / rel).exists(), rel


def test_license_is_apache_2_as_package_xml_says_and_citation_parses() -> None:
    license_text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text and len(license_text.splitlines()) > 150
    assert "<license>Apache-2.0</license>" in (REPO / "package.xml").read_text(encoding="utf-8")
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "Apache-2.0"
    version = re.search(r"<version>(.+)</version>", (REPO / "package.xml").read_text()).group(1)
    assert cff["version"] == version
    assert "Cross-modal Gait Recognition" in cff["preferred-citation"]["title"]
    assert cff["preferred-citation"]["year"] == 2026


@pytest.mark.parametrize("block", ["tcfd-ros --version\n"])
def test_runnable_block_extraction(block: str) -> None:
    assert runnable_blocks(f"x\n{RUNNABLE_FENCE}\n{block}```\n```bash\nmake demo\n```\n") == [block]


def test_readme_pictures_exist_and_are_small() -> None:
    text = _text()
    pictures = re.findall(r"\]\((docs/img/[^)]+\.png)\)", text)
    assert {"docs/img/timeline.png", "docs/img/latency.png", "docs/img/cmc.png"} <= set(pictures)
    for rel in pictures:
        size = (REPO / rel).stat().st_size
        assert 0 < size < MAX_PICTURE_BYTES, (rel, size)
