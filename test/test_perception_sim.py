"""The segmenters and trackers on the project's synthetic world (sensors as written into bags).

Ground truth comes with every frame (``BagSimulation.lidar_frame`` / ``camera_frame``): the people
the simulator marks ``detectable`` must be found, and nothing else.
"""

from __future__ import annotations

import numpy as np
import pytest

from tcfd_ros.perception.config import TrackerConfig, camera_tracker_config
from tcfd_ros.perception.segment_camera import CameraSegmenter
from tcfd_ros.perception.segment_lidar import LidarSegmenter
from tcfd_ros.perception.track import Measurement, MultiTargetTracker
from tcfd_ros.sim.bag import BagSimulation, BagSpec
from tcfd_ros.sim.truth_match import detection_counts

MATCH_M = 0.7      # a cluster within this of a person's box centre found them
MATCH_PX = 30.0


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> BagSimulation:
    out = tmp_path_factory.mktemp("sim") / "bag"
    return BagSimulation(BagSpec(out=out, people=3, duration_s=14.0, layout="overlap", seed=1))


def test_lidar_segmenter_finds_the_simulated_people_with_default_config(sim):
    seg = LidarSegmenter()                     # defaults = the synthetic hdl64's resolution
    trk = MultiTargetTracker(TrackerConfig())
    found = total = false = 0
    confirmed_ids: set[int] = set()
    for j in range(0, len(sim.lidar_t), 3):
        pts, gt = sim.lidar_frame(j)
        xyz = np.stack([pts["x"], pts["y"], pts["z"]], axis=1)
        clusters = seg.segment(xyz)
        centres = [c.centroid[:2] for c in clusters]
        truth = [np.array(p["box3d"]["center"][:2]) for p in gt["people"]]
        counts = detection_counts(centres, truth, [p["detectable"] for p in gt["people"]], MATCH_M)
        found, total, false = found + counts[0], total + counts[1], false + counts[2]
        tracks = trk.update(float(sim.lidar_t[j]), [Measurement(c) for c in centres])
        confirmed_ids |= {t.track_id for t in tracks}
        for c in clusters:
            assert c.depth_map().shape == (3, 64, 64)
    assert total >= 60
    assert found / total >= 0.85 and false == 0
    assert 3 <= len(confirmed_ids) <= 6        # three walkers, few fragmented tracks


def test_camera_segmenter_finds_the_simulated_people(sim):
    seg = CameraSegmenter()
    trk = MultiTargetTracker(camera_tracker_config())
    found = total = 0
    confirmed_ids: set[int] = set()
    for k in range(90):
        img, gt = sim.camera_frame(k)
        dets = seg.segment(img)
        tracks = trk.update(float(sim.cam_t[k]), [Measurement(d.centre_xy, d.size_wh) for d in dets])
        confirmed_ids |= {t.track_id for t in tracks}
        if k < 2 * seg.cfg.warmup_frames:
            continue
        for p in gt["people"]:
            if p["detectable"] and p["image_box"] is not None:
                x0, y0, x1, y1 = p["image_box"]
                centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
                total += 1
                found += any(np.hypot(*(d.centre_xy - centre)) < MATCH_PX for d in dets)
    assert total >= 50 and found / total >= 0.9
    assert 1 <= len(confirmed_ids) <= 8
