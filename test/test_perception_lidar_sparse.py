"""LiDAR person gates that follow the sensor's beams, and the static-object memory (bollards, walls).

Scenes: ``perception.scenes`` (analytic cylinders and boxes, rings known) and short ``tcfd_ros.sim``
bags with the VLP-16 / HDL-32E beam tables (seeds used only here).
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tcfd_ros.perception.config import LidarSegmenterConfig
from tcfd_ros.perception.scenes import SceneSpec, cast_scene_with_rings
from tcfd_ros.perception.segment_lidar import LidarSegmenter, beam_model_from_ring
from tcfd_ros.perception.static_objects import StaticCellMap, StaticObjectFilter
from tcfd_ros.sim.bag import BagSimulation, BagSpec

# a VLP-16: 16 beams -15..+15 deg (2 deg apart), 1800 columns (0.2 deg), 2.2 m up on a pole
VLP16 = dict(beams=16, elev_min_deg=-15.0, elev_max_deg=15.0, azimuth_steps=1800, sensor_height_m=2.2)
G = -2.2  # ground z of the VLP16 scenes


def _seg(**kw) -> LidarSegmenter:
    return LidarSegmenter(dataclasses.replace(LidarSegmenterConfig(), **kw))


def _found(clusters, xy, tol=0.5) -> bool:
    return any(math.hypot(c.centroid[0] - xy[0], c.centroid[1] - xy[1]) < tol for c in clusters)


def test_beam_model_is_measured_from_the_ring_field():
    pts, ring = cast_scene_with_rings(SceneSpec(**VLP16, people=((8.0, 1.0),)))
    bm = beam_model_from_ring(pts[:, :3].astype(np.float64), ring)
    assert bm is not None and bm.source == "ring"
    # only beams that hit something are measured: -15..-3 deg reach the ground within 80 m, -1 does not
    below = np.arange(-15.0, -2.0, 2.0)
    np.testing.assert_allclose(np.degrees(bm.elevations_rad[:below.size]), below, atol=0.05)
    assert abs(math.degrees(bm.hres_rad) - 0.2) < 0.01
    assert abs(math.degrees(bm.vres_rad) - 2.0) < 0.05


def test_beam_model_rejects_a_ring_field_that_is_not_a_spinning_lidar():
    xyz = np.random.default_rng(0).normal(0, 10, (500, 3))
    assert beam_model_from_ring(xyz, np.zeros(500, np.uint16)) is None       # one ring only
    assert beam_model_from_ring(xyz, np.full(500, 4000, np.uint16)) is None  # absurd beam number


def test_vlp16_people_pass_with_the_ring_field_and_fail_with_the_64_beam_defaults():
    """The shipped config's density gate is for a 64-beam sensor; the ring field corrects it."""
    people = ((5.0, 0.0), (10.0, 3.0), (16.0, -4.0))
    pts, ring = cast_scene_with_rings(SceneSpec(**VLP16, people=people))
    with_ring = _seg().segment(pts, ring=ring)
    assert all(_found(with_ring, p) for p in people), [c.centroid for c in with_ring]
    assert len(with_ring) == len(people)
    seg = _seg()
    assert seg.segment(pts) == []                       # x, y, z only: the 64-beam default resolution
    assert seg.last_stats.beams == "config"
    # the ring field can be switched off
    assert _seg(sensor_from_ring=False).segment(pts, ring=ring) == []


def test_a_ring_field_of_the_wrong_length_is_a_clear_error():
    from tcfd_ros.errors import MessageFormatError
    pts, ring = cast_scene_with_rings(SceneSpec(**VLP16, people=((8.0, 1.0),)))
    with pytest.raises(MessageFormatError, match="ring"):
        _seg().segment(pts, ring=ring[:-1])


def test_height_gate_uses_the_next_beam_above():
    """A 1 m bollard: a dense sensor's next beam passes just over it (rejected); a person is kept.

    On the VLP-16 the beam gap at 10 m is 0.35 m, so a 1.0 m box could be 1.35 m tall: the height gate
    cannot reject it there (the static-object memory does, see below).
    """
    bollard = ((10.0, -3.0, G + 0.5), (0.5, 0.6, 1.0))
    dense = SceneSpec(beams=64, elev_min_deg=-24.8, elev_max_deg=2.0, azimuth_steps=1875, sensor_height_m=2.2,
                      people=((10.0, 2.0),), boxes=(bollard,))
    pts, ring = cast_scene_with_rings(dense)
    seg = _seg()
    clusters = seg.segment(pts, ring=ring)
    assert len(clusters) == 1 and _found(clusters, (10.0, 2.0))
    assert seg.last_stats.rejected["height"] >= 1
    pts, ring = cast_scene_with_rings(SceneSpec(**VLP16, people=((10.0, 2.0),), boxes=(bollard,)))
    assert len(_seg(static_after_frames=0).segment(pts, ring=ring)) == 2


def test_bottom_gate_is_waived_for_a_person_behind_a_low_wall():
    wall = ((9.0, 0.0, G + 0.55), (0.3, 3.0, 1.1))      # 1.1 m high, between the sensor and the person
    pts, ring = cast_scene_with_rings(SceneSpec(beams=64, elev_min_deg=-24.8, elev_max_deg=2.0,
                                                azimuth_steps=1875, sensor_height_m=2.2,
                                                people=((11.0, 0.0),), boxes=(wall,)))
    clusters = _seg().segment(pts, ring=ring)
    assert len(clusters) == 1 and _found(clusters, (11.0, 0.0))
    assert clusters[0].bottom_m > 0.8                    # only the upper body was seen
    seg = _seg(occluded_bottom_min_points=0)
    assert seg.segment(pts, ring=ring) == []
    assert seg.last_stats.rejected["bottom"] == 1
    # also once the wall has been learned as static (its cells are no longer clustered)
    seg = _seg()
    for k in range(60):
        seg.segment(*cast_scene_with_rings(SceneSpec(beams=64, elev_min_deg=-24.8, elev_max_deg=2.0,
                                                     azimuth_steps=1875, sensor_height_m=2.2, boxes=(wall,),
                                                     seed=k)))
    clusters = seg.segment(pts, ring=ring)
    assert seg.last_stats.n_static_cells > 0
    assert len(clusters) == 1 and _found(clusters, (11.0, 0.0))


def test_static_object_filter_flags_what_stays_and_never_a_walker():
    f = StaticObjectFilter(after_frames=5, radius_m=0.4, gate_m=1.0, forget_frames=100)
    post, walker = np.array([10.0, -3.0]), np.array([5.0, -6.0])
    verdicts = []
    for k in range(12):
        jitter = 0.05 * np.array([math.sin(k), math.cos(k)])
        verdicts.append(f.update(np.stack([post + jitter, walker + [0.0, 0.14 * k]])))
    v = np.array(verdicts)
    assert not v[:, 1].any()                          # walking 1.4 m/s at 10 Hz: never static
    assert not v[:4, 0].any() and v[4:, 0].all()      # the post: static from its 5th frame on
    assert f.places.shape == (1, 2)
    # the post disappears (a passer-by hides it) and reappears: static at once
    for _ in range(7):
        f.update(np.zeros((0, 2)))
    assert f.update(post[None]).tolist() == [True]
    # someone who steps out from there is released once they have moved
    g = StaticObjectFilter(after_frames=5, radius_m=0.4, gate_m=1.0, forget_frames=100)
    for _ in range(6):
        g.update(post[None])
    for _ in range(7):
        g.update(np.zeros((0, 2)))
    out = [bool(g.update((post + [0.0, 0.15 * k])[None])[0]) for k in range(6)]
    assert out[0] and not out[-1]


def test_static_places_are_forgotten():
    f = StaticObjectFilter(after_frames=2, radius_m=0.4, gate_m=1.0, forget_frames=10)
    for _ in range(3):
        f.update(np.array([[3.0, 3.0]]))
    assert f.places.shape[0] == 1
    for _ in range(11):
        f.update(np.zeros((0, 2)))
    assert f.places.shape[0] == 0


def test_static_cell_map_learns_and_releases_cells():
    m = StaticCellMap(time_constant_frames=10)
    wall, passer = np.array([5, 6, 7], np.int64), np.array([100], np.int64)
    first_static = None
    for k in range(60):
        keys = np.union1d(wall, passer) if k % 10 < 3 else wall
        static, occ = m.update(keys)
        if first_static is None and static[np.searchsorted(keys, 5)]:
            first_static = k
    assert first_static is not None and 15 <= first_static <= 30
    s, _ = m.update(np.union1d(wall, passer))
    assert s.tolist() == [True, True, True, False]    # the passer-by's cell never becomes static
    for _ in range(10):                               # the wall is gone (or the platform moved)
        m.update(np.zeros(0, np.int64))
    assert m.update(wall)[0].tolist() == [False] * 3
    assert len(m) <= 4


def test_a_mannequin_is_reported_until_it_proves_static_and_a_walker_throughout():
    mannequin = (8.0, -3.0)
    seg = _seg()
    seen_mannequin, seen_walker = [], []
    for k in range(20):
        walker = (6.0 + 0.14 * k, 4.0)
        pts, ring = cast_scene_with_rings(SceneSpec(**VLP16, people=(mannequin, walker), seed=k))
        clusters = seg.segment(pts, ring=ring)
        seen_mannequin.append(_found(clusters, mannequin))
        seen_walker.append(_found(clusters, walker))
    assert all(seen_walker)
    assert all(seen_mannequin[:7]) and not any(seen_mannequin[8:])
    assert seg.last_stats.n_static == 1 or seg.last_stats.rejected.get("static_cells", 0) >= 1
    # with the memory off, it stays a person
    seg = _seg(static_after_frames=0, static_cell_frames=0)
    for k in range(12):
        pts, ring = cast_scene_with_rings(SceneSpec(**VLP16, people=(mannequin,), seed=k))
        assert _found(seg.segment(pts, ring=ring), mannequin)


def test_a_walker_next_to_a_learned_low_wall_is_not_merged_with_it():
    wall = ((10.0, 0.0, G + 0.5), (0.4, 1.6, 1.0))      # a low wall, 1.6 m long
    seg = _seg()
    for k in range(60):                                  # the wall is learned as static
        pts, ring = cast_scene_with_rings(SceneSpec(**VLP16, boxes=(wall,), seed=k))
        seg.segment(pts, ring=ring)
    pts, ring = cast_scene_with_rings(SceneSpec(**VLP16, people=((10.0, 1.05),), boxes=(wall,), seed=99))
    assert _found(seg.segment(pts, ring=ring), (10.0, 1.05), tol=0.3)
    assert seg.last_stats.n_static_cells > 0
    fresh = _seg()
    assert not _found(fresh.segment(pts, ring=ring), (10.0, 1.05), tol=0.3)   # merged with the wall


@pytest.mark.parametrize("lidar,min_recall", [("vlp16", 0.7), ("hdl32", 0.85)])
def test_simulated_sparse_lidars_with_the_shipped_config(lidar, min_recall):
    """A short simulated bag (seed 611, only here): recall and precision of the default segmenter."""
    sim = BagSimulation(BagSpec(out=Path(tempfile.gettempdir()) / "unused", people=3, duration_s=4.0,
                                layout="overlap", seed=611, lidar=lidar))
    seg = LidarSegmenter()
    found = total = false = 0
    for j in range(len(sim.lidar_t)):
        pts, gt = sim.lidar_frame(j)
        clusters = seg.segment(np.stack([pts["x"], pts["y"], pts["z"]], axis=1), ring=pts["ring"])
        truth = [p["box3d"]["center"][:2] for p in gt["people"]]
        total += sum(p["detectable"] for p in gt["people"])
        found += sum(p["detectable"] and _found(clusters, p["box3d"]["center"][:2]) for p in gt["people"])
        false += sum(not any(math.hypot(c.centroid[0] - t[0], c.centroid[1] - t[1]) < 0.5 for t in truth)
                     for c in clusters)
    assert total > 20
    assert found / total >= min_recall, (found, total)
    assert false <= 0.1 * max(found, 1), (false, found)


def test_beam_model_of_the_real_nuscenes_hdl32(real_data):
    """The real HDL-32E sweep interleaves its 32 rings point by point: every ring must be measured."""
    (binf,) = (real_data / "lidar" / "nuscenes_n015").glob("*LIDAR_TOP*.pcd.bin")
    rec = np.fromfile(binf, dtype=np.float32).reshape(-1, 5)            # x y z intensity ring
    bm = beam_model_from_ring(rec[:, :3].astype(np.float64), rec[:, 4].astype(np.uint16))
    assert bm is not None and bm.n_beams == 32
    assert abs(math.degrees(bm.vres_rad) - 1.33) < 0.03          # HDL-32E: -30.67..+10.67 deg
    assert abs(math.degrees(bm.hres_rad) - 0.33) < 0.02          # 20 Hz
    assert abs(math.degrees(bm.elevations_rad[0]) + 30.67) < 0.3
