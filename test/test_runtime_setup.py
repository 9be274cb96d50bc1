"""The runtime set-up (``requirements-runtime.txt``, what ``make demo`` installs): the node graph, simulate,
bringup and replay run the shipped ONNX model without PyTorch, and what needs the full set-up says so in
one line.

PyTorch is installed in the test environment, so each check runs a child process whose ``sitecustomize``
blocks the full set-up's packages (``FULL_SETUP_ONLY``) as if they were absent; the node graph's own child
processes inherit it through ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tcfd_ros.optional_packages import FULL_SETUP_ONLY

REPO = Path(__file__).resolve().parents[1]

BLOCKER = f'''
import importlib.abc
import sys

BLOCKED = {sorted(FULL_SETUP_ONLY)!r}


class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _Absent())
'''


@pytest.fixture(scope="module")
def runtime_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    site = tmp_path_factory.mktemp("runtime_site")
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), str(REPO), env.get("PYTHONPATH")) if p)
    return env


def _tcfd(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tcfd_ros", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False)


def test_the_blocker_blocks(runtime_env: dict[str, str]) -> None:
    r = subprocess.run([sys.executable, "-c", "import torch"], env=runtime_env, capture_output=True,
                       text=True, timeout=120, check=False)
    assert r.returncode != 0 and "No module named 'torch'" in r.stderr


@pytest.mark.ros
@pytest.mark.slow
def test_a_bag_replays_through_the_graph_without_pytorch(runtime_env: dict[str, str],
                                                         tmp_path: Path) -> None:
    bag, out = tmp_path / "bag", tmp_path / "replay"
    r = _tcfd(runtime_env, "simulate", "bag", "--out", str(bag), "--storage", "mcap", "--people", "2",
              "--duration", "4", "--seed", "5", "--lidar", "hdl64", "--layout", "disjoint")
    assert r.returncode == 0, r.stderr[-2000:]
    # no --model: the shipped reference model through ONNX Runtime, as the shipped config says
    r = _tcfd(runtime_env, "replay", str(bag), "--fast", "--no-progress", "--out", str(out), timeout=600)
    assert r.returncode in (0, 1), r.stderr[-3000:]          # 1: a target missed, which 4 s may do
    graph_log = (out / "graph.log").read_text()
    assert "Traceback" not in graph_log and "No module named" not in graph_log, graph_log[-3000:]
    report = (out / "report.md").read_text()
    assert re.search(r"\| file \| \S*models/tcfd_sim\.onnx \|", report) and "| runtime | onnx |" in report
    received = json.loads((out / "score.json").read_text())["info"]["received"]
    assert received.get("/lidar/tracklets", 0) > 0 and received.get("/matches", 0) > 0, received


@pytest.mark.parametrize("args, needed_for", [
    (("train", "--config", "training/configs/reference_cpu.yaml"), "tcfd-ros train"),
    (("export", "--checkpoint", "models/tcfd_sim.pt", "--format", "onnx", "--out", "{tmp}/m.onnx"),
     "tcfd-ros export"),
    (("bringup", "--param", "recognizer.backend=torch",
      "--param", "recognizer.model_path=models/tcfd_sim.pt"), "backend 'torch'"),
])
def test_what_needs_pytorch_says_so_in_one_line(runtime_env: dict[str, str], tmp_path: Path,
                                                args: tuple, needed_for: str) -> None:
    r = _tcfd(runtime_env, *(a.format(tmp=tmp_path) for a in args), timeout=120)
    assert r.returncode == 2, (r.stdout[-1000:], r.stderr[-2000:])
    lines = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert needed_for in lines[0] and "needs torch" in lines[0] and "make setup" in lines[0]


def test_demo_retrain_says_it_needs_pytorch(runtime_env: dict[str, str]) -> None:
    r = subprocess.run([sys.executable, "-m", "tcfd_ros.demo", "--retrain"], cwd=REPO, env=runtime_env,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "--retrain" in r.stderr and "make setup" in r.stderr


def test_make_demo_installs_the_runtime_set_up_only(tmp_path: Path) -> None:
    """``make -n`` on a clone with no .venv: demo installs requirements-runtime.txt, test all of
    requirements.txt (which includes the runtime file)."""
    venv = tmp_path / "venv"

    def dry(target: str) -> str:
        r = subprocess.run(["make", "-n", target, f"VENV={venv}"], cwd=REPO, capture_output=True, text=True,
                           timeout=60, check=False)
        assert r.returncode == 0, r.stderr
        return r.stdout
    demo, test = dry("demo"), dry("test")
    assert "-r requirements-runtime.txt" in demo and "-r requirements.txt" not in demo
    assert "-r requirements.txt" in test and "python -m pytest" in test.replace(str(venv) + "/bin/", "")
    full = (REPO / "requirements.txt").read_text().splitlines()
    assert "-r requirements-runtime.txt" in full
    runtime = {line.split("[")[0] for line in (REPO / "requirements-runtime.txt").read_text().splitlines()
               if line and not line.startswith("#")}
    assert not runtime & {"torch", "torchvision", "open_clip_torch", "ultralytics"}
