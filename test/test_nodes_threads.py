"""Node processes pin numpy/OpenCV/OpenMP thread pools to one thread (tcfd_ros/nodes/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POOL_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_FOR_THREADS_NUM")


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in POOL_VARS}
    env.update(PYTHONPATH=str(REPO), **extra)
    return env


def test_a_node_process_runs_numpy_and_opencv_on_one_thread():
    code = ("import os, tcfd_ros.nodes.lidar_segmenter_node, cv2\n"
            "print(*[os.environ[v] for v in %r], cv2.getNumThreads())\n" % (POOL_VARS,))
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_child_env({}), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["1"] * (len(POOL_VARS) + 1)


def test_a_thread_count_the_user_exported_is_kept():
    code = "import os, tcfd_ros.nodes\nprint(os.environ['OMP_NUM_THREADS'])\n"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_child_env({"OMP_NUM_THREADS": "3"}),
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "3", r.stderr[-2000:]
