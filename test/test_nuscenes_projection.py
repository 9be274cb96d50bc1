"""Real calibrated data: nuScenes pedestrians' LiDAR points, projected by the project's code, land in
their annotated 2-D boxes in all six cameras (and a 1 degree calibration error would show)."""

from __future__ import annotations

import numpy as np
import pytest

from tcfd_ros.geometry.calibration import RigidTransform, project_points
from tcfd_ros.perception.nuscenes_projection import CAMERAS, pedestrian_views, points_in_box, render_sheet


@pytest.fixture(scope="module")
def views(real_data):
    data = real_data / "lidar" / "nuscenes_n015"
    if not any(data.glob("*_info.json")):
        pytest.skip(f"no nuScenes sample at {data}")
    return pedestrian_views(data)


def test_every_pedestrians_points_land_in_its_box(views):
    vs, ctx = views
    assert {v.camera for v in vs} == set(CAMERAS)         # pedestrians in all six cameras
    assert len(vs) >= 25 and sum(len(v.uv) for v in vs) >= 120
    for v in vs:
        assert v.inside.all(), (v.camera, v.instance, v.uv[~v.inside], v.box2d)
    # the points are spread over the body, not a lucky single pixel: well-sampled pedestrians span
    # most of their box's height
    tall = [v for v in vs if len(v.uv) >= 8]
    assert len(tall) >= 4
    for v in tall:
        x0, y0, x1, y1 = v.box2d
        assert np.ptp(v.uv[:, 1]) > 0.5 * (y1 - y0)


def test_a_one_degree_extrinsic_error_would_be_caught(views):
    vs, ctx = views
    tilt = RigidTransform.from_xyz_rpy((0, 0, 0), (0, np.deg2rad(1.0), 0))   # about optical y: a pan
    outside = total = 0
    for v in vs:
        cam = ctx["cameras"][v.camera]
        pts = ctx["points"][points_in_box(ctx["points"], ctx["info"]["instances"][v.instance]["bbox_3d"])]
        uv, ok = project_points(pts, cam.intrinsics, tilt.compose(cam.cam_from_lidar))
        x0, y0, x1, y1 = v.box2d
        inside = (uv[:, 0] >= x0) & (uv[:, 0] <= x1) & (uv[:, 1] >= y0) & (uv[:, 1] <= y1)
        outside += int((ok & ~inside).sum() + (~ok).sum())
        total += len(uv)
    assert outside > 0.2 * total, (outside, total)


def test_contact_sheet_is_small_and_has_six_panels(views, tmp_path):
    import cv2

    vs, ctx = views
    out = render_sheet(vs, ctx, tmp_path / "sheet.png")
    img = cv2.imread(str(out))
    assert out.stat().st_size < 300_000
    assert img.shape[1] >= 1000 and img.shape[0] >= 500
