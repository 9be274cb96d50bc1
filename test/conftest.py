"""Test-wide isolation: every run gets its own ROS 2 domain and localhost-only discovery.

This runs before any test imports rclpy, so DDS traffic from tests never leaves the machine and two
runs (or CI beside a developer) never see each other's topics.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

# Domain ids 1..100 are safe on Linux (port ranges); pick one per pytest process, unless the caller
# gives one (TCFD_TEST_ROS_DOMAIN_ID: several test runs side by side on one machine never collide).
os.environ["ROS_DOMAIN_ID"] = os.environ.get("TCFD_TEST_ROS_DOMAIN_ID") or str(
    random.Random(os.getpid()).randint(1, 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_STATIC_PEERS", None)
os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="tcfd_ros_log_"))
os.environ.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_REAL = REPO_ROOT.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The read-only real recordings beside the checkout; tests that need them skip if absent."""
    if not SHARED_REAL.is_dir():
        pytest.skip(f"real recordings not present at {SHARED_REAL}")
    return SHARED_REAL


@pytest.fixture(scope="session")
def vtest_frames(real_data: Path) -> Callable[[int], Iterator[np.ndarray]]:
    """The first ``n`` frames of the real courtyard video (vtest, 480x360 BGR at 10 fps); a frame that does
    not decode fails the test, naming it."""
    import cv2

    def frames(n: int) -> Iterator[np.ndarray]:
        cap = cv2.VideoCapture(str(real_data / "video" / "vtest_480x360.avi"))
        try:
            for i in range(n):
                ok, frame = cap.read()
                assert ok, f"could not decode vtest frame {i}"
                yield frame
        finally:
            cap.release()
    return frames


@pytest.fixture(scope="session")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init tiny TCFDNet checkpoint (seed 0, open-set threshold 0.5), written once per run."""
    import torch

    from tcfd_ros.model import TCFDNet, save_checkpoint, tiny_model_config

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny_random.pt"
    save_checkpoint(path, TCFDNet(tiny_model_config()).eval(), metadata={"open_set_threshold": 0.5})
    return path
