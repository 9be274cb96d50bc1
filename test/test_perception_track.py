"""MultiTargetTracker (constant-velocity Kalman + Hungarian) and TrackletBuffer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcfd_ros.errors import ConfigError, MessageFormatError
from tcfd_ros.perception.config import (PART_RESCUE_COVERAGE, TrackerConfig, TrackletConfig,
                                        camera_tracker_config)
from tcfd_ros.perception.appearance import N_BINS, Appearance
from tcfd_ros.perception.body_cue import describe_cluster
from tcfd_ros.perception.track import PART_RELEARN_FRAMES, Measurement, MultiTargetTracker
from tcfd_ros.perception.tracklet import TrackletBuffer

DT = 0.1


def _walk(trk, n, starts, vels, t0=0.0, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        ms = [Measurement(np.asarray(s) + np.asarray(v) * i * DT + rng.normal(0, noise, 2))
              for s, v in zip(starts, vels)]
        out.append(trk.update(t0 + i * DT, ms))
    return out


def test_two_crossing_walkers_keep_their_ids_and_velocities():
    trk = MultiTargetTracker(TrackerConfig())
    # walkers cross at t = 2 s (x = 0); 1.4 m/s, ground plane, 5 cm noise
    hist = _walk(trk, 40, [(-2.8, 0.3), (2.8, -0.3)], [(1.4, 0.0), (-1.4, 0.0)], noise=0.05)
    first = {t.track_id: t.position[0] < 0 for t in hist[5]}
    last = hist[-1]
    assert len(last) == 2 and set(first) == {t.track_id for t in last}
    for t in last:
        assert first[t.track_id] == (t.velocity[0] > 0)      # the left walker still moves right
        assert abs(abs(t.velocity[0]) - 1.4) < 0.3
        assert t.measurement_index in (0, 1)


def test_birth_needs_min_hits_and_death_follows_max_missed():
    cfg = TrackerConfig(min_hits=3, max_missed_frames=2, max_age_s=10.0)
    trk = MultiTargetTracker(cfg)
    m = [Measurement((1.0, 1.0))]
    assert trk.update(0.0, m) == [] and trk.update(0.1, m) == []
    (t,) = trk.update(0.2, m)
    assert t.confirmed and t.hits == 3
    assert [x.track_id for x in trk.update(0.3, [])] == [t.track_id]      # coasting
    assert trk.update(0.3, [])[0].measurement_index == -1
    assert trk.update(0.4, []) == []                                        # 3 misses > 2: dead
    assert trk.tracks == []
    assert trk.update(0.5, m) == [] and trk.tracks[0].track_id != t.track_id  # ids never reused


def test_death_by_age_and_tentative_tracks_die_on_first_miss():
    trk = MultiTargetTracker(TrackerConfig(min_hits=1, max_age_s=0.5, max_missed_frames=100))
    assert len(trk.update(0.0, [Measurement((0, 0))])) == 1
    assert trk.update(1.0, []) == []
    trk2 = MultiTargetTracker(TrackerConfig(min_hits=3))
    trk2.update(0.0, [Measurement((0, 0))])
    trk2.update(0.1, [])
    assert trk2.tracks == []


def test_gating_starts_a_new_track_for_a_far_measurement():
    trk = MultiTargetTracker(TrackerConfig(min_hits=1))
    (a,) = trk.update(0.0, [Measurement((0, 0))])
    tracks = trk.update(0.1, [Measurement((5.0, 5.0))])
    assert {t.track_id for t in tracks} == {a.track_id, a.track_id + 1}
    assert [t.measurement_index for t in tracks if t.track_id == a.track_id] == [-1]


def test_camera_boxes_in_pixels_with_sizes():
    trk = MultiTargetTracker(camera_tracker_config())
    for i in range(10):
        tracks = trk.update(i / 15, [Measurement((100 + 6 * i, 200), size=(30, 80), payload=i)])
    (t,) = tracks
    assert abs(t.velocity[0] - 90.0) < 10.0 and np.allclose(t.size, (30, 80)) and t.payload == 9


def test_timestamps_going_backwards_are_rejected_without_changing_state():
    trk = MultiTargetTracker(TrackerConfig(min_hits=1))
    trk.update(1.0, [Measurement((0, 0))])
    before = trk.tracks[0].x.copy()
    with pytest.raises(MessageFormatError, match="backwards"):
        trk.update(0.5, [Measurement((0, 0))])
    np.testing.assert_array_equal(trk.tracks[0].x, before)
    assert len(trk.update(1.0, [Measurement((0, 0))])) == 1   # equal stamps are fine


@pytest.mark.parametrize("m,field", [(Measurement((np.nan, 0)), "position"),
                                     (Measurement((1, 2, 3)), "position"),
                                     (Measurement((0, 0), size=(-1, 2)), "size")])
def test_bad_measurements_raise(m, field):
    with pytest.raises(MessageFormatError, match=field):
        MultiTargetTracker().update(0.0, [m])
    with pytest.raises(MessageFormatError, match="stamp_s"):
        MultiTargetTracker().update(float("nan"), [])


def test_track_count_is_capped():
    trk = MultiTargetTracker(TrackerConfig(min_hits=1, max_tracks=5, max_gate_distance=0.1))
    rng = np.random.default_rng(0)
    for i in range(20):
        trk.update(i * DT, [Measurement(p) for p in rng.uniform(-50, 50, (8, 2))])
        assert len(trk.tracks) <= 5


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-100, 100), st.floats(-100, 100)), min_size=0, max_size=6),
       st.integers(1, 5))
def test_any_input_keeps_invariants(points, steps):
    trk = MultiTargetTracker(TrackerConfig(min_hits=2))
    for k in range(steps):
        out = trk.update(k * DT, [Measurement(p) for p in points])
        ids = [t.track_id for t in out]
        assert len(ids) == len(set(ids))
        idx = [t.measurement_index for t in out if t.measurement_index >= 0]
        assert len(idx) == len(set(idx)) and all(0 <= i < len(points) for i in idx)


# ---- tracklet buffers ---------------------------------------------------------------------------

def _sil(v: int) -> np.ndarray:
    return np.full((64, 64), v, np.uint8)


def test_tracklet_emission_with_stride_and_hop():
    buf = TrackletBuffer(s=4, stride=2, max_age=1.0, modality="2d", hop=2)
    ready = [buf.push(7, i * DT, _sil(i)) for i in range(16)]
    emitted = [(i, t) for i, t in enumerate(ready) if t is not None]
    # frames 0,2,4,6 -> first at push 6; then every 2 taken frames (= 4 pushes)
    assert [i for i, _ in emitted] == [6, 10, 14]
    i, t = emitted[0]
    assert t.frames.shape == (4, 64, 64) and t.frames.dtype == np.uint8
    assert [int(f[0, 0]) for f in t.frames] == [0, 2, 4, 6]
    np.testing.assert_allclose(t.stamps, [0.0, 0.2, 0.4, 0.6])
    assert t.track_id == 7 and t.modality == "2d" and t.stamp == pytest.approx(0.6)
    assert [int(f[0, 0]) for f in emitted[1][1].frames] == [4, 6, 8, 10]


def test_depth_tracklets_and_positions():
    buf = TrackletBuffer.from_config(TrackletConfig(frames=3, hop=3), "3d")
    for i in range(3):
        t = buf.push(1, i * DT, np.full((3, 64, 64), i, np.uint8), position=(i, 0.0))
    assert t.frames.shape == (3, 3, 64, 64) and tuple(t.position) == (2.0, 0.0)


def test_memory_is_bounded_at_any_rate_and_any_number_of_tracks():
    buf = TrackletBuffer(s=10, stride=1, max_age=2.0, modality="2d", hop=5, max_tracks=8)
    frame = _sil(1)
    # 1 kHz input for 5 s over 200 track ids
    for i in range(5000):
        buf.push(i % 200, i * 1e-3, frame)
        assert buf.frames_held <= buf.max_frames == 8 * 10
    assert buf.num_tracks <= 8 and buf.evicted > 0
    assert buf.nbytes <= 8 * 10 * 64 * 64


def test_stale_frames_are_dropped_and_old_tracks_pruned():
    buf = TrackletBuffer(s=2, stride=1, max_age=1.0, modality="2d")
    buf.push(1, 1.0, _sil(0))
    assert buf.push(1, 0.5, _sil(0)) is None and buf.dropped_stale == 1
    assert buf.push(1, 1.0, _sil(0)) is None and buf.dropped_stale == 2
    buf.push(2, 1.9, _sil(0))
    assert buf.prune(2.5) == [1] and buf.num_tracks == 1
    buf.drop(2)
    assert buf.num_tracks == 0


@pytest.mark.parametrize("frame", [np.zeros((64, 64), np.float32), np.zeros((32, 32), np.uint8),
                                   np.zeros((3, 64, 64), np.uint8), "frame"])
def test_wrong_frames_raise(frame):
    with pytest.raises(MessageFormatError, match="expected uint8"):
        TrackletBuffer(s=2, modality="2d").push(1, 0.0, frame)


@pytest.mark.parametrize("kw", [dict(s=0), dict(s=2, stride=0), dict(s=2, max_age=0),
                                dict(s=2, modality="rgb"), dict(s=2, hop=0)])
def test_bad_buffer_parameters(kw):
    with pytest.raises(ConfigError):
        TrackletBuffer(**kw)


def test_real_video_segment_track_and_buffer(vtest_frames):
    """vtest (10 fps): camera segmenter -> tracker -> tracklet buffer, the nodes' real path."""
    from tcfd_ros.perception.segment_camera import CameraSegmenter

    seg = CameraSegmenter()
    trk = MultiTargetTracker(camera_tracker_config())
    buf = TrackletBuffer(s=10, stride=1, max_age=2.0, modality="2d", hop=5)
    life: dict[int, int] = {}
    tracklets = []
    for i, frame in enumerate(vtest_frames(160)):
        t = i / 10.0
        dets = seg.segment(frame)
        tracks = trk.update(t, [Measurement(d.centre_xy, d.size_wh, payload=d) for d in dets])
        for tr in tracks:
            life[tr.track_id] = life.get(tr.track_id, 0) + 1
            if tr.measurement_index >= 0:
                ready = buf.push(tr.track_id, t, dets[tr.measurement_index].silhouette())
                if ready is not None:
                    tracklets.append(ready)
        buf.prune(t)
    long_tracks = [n for n in life.values() if n >= 40]
    assert len(long_tracks) >= 4                      # several people followed for 4 s or more
    assert len(tracklets) >= 20
    for tl in tracklets:
        assert tl.frames.shape == (10, 64, 64) and tl.frames.dtype == np.uint8
        assert np.all(np.diff(tl.stamps) > 0) and tl.frames.any()


# --- camera: people crossing in the image at different depths (issue 12) ---------------------------

FPS = 15.0


def _box(foot_x: float, foot_y: float, w: float, h: float) -> tuple[float, float, float, float]:
    return (foot_x - w / 2, foot_y - h, foot_x + w / 2, foot_y)


def _measurement(box) -> Measurement:
    x0, y0, x1, y1 = box
    return Measurement(((x0 + x1) / 2, (y0 + y1) / 2), size=(x1 - x0, y1 - y0))


def _cross_at_depths(cfg, seconds=6.0, seed=3):
    """A far person (small box, feet higher in the image) walks right behind a near one walking left.

    While their boxes overlap, a background-subtraction segmenter sees one blob: the union box.
    Returns the tracker's outputs per frame and each frame's true boxes (far, near).
    """
    rng = np.random.default_rng(seed)
    trk = MultiTargetTracker(cfg)
    hist, truth = [], []
    for i in range(int(seconds * FPS)):
        t = i / FPS
        far = _box(300 + 20 * t + rng.normal(0, 0.7), 200 + rng.normal(0, 0.7), 20, 50)
        near = _box(420 - 20 * t + rng.normal(0, 0.7), 260 + rng.normal(0, 0.7), 30, 80)
        overlap = far[0] < near[2] and near[0] < far[2]
        boxes = [(min(far[0], near[0]), min(far[1], near[1]), max(far[2], near[2]), max(far[3], near[3]))] \
            if overlap else [far, near]
        hist.append(trk.update(t, [_measurement(b) for b in boxes]))
        truth.append((far, near))
    return hist, truth


def _ids_by_side(tracks, truth):
    """track id -> 'far' / 'near': whichever true box the track's box centre is closer to."""
    out = {}
    for tr in tracks:
        d = [np.hypot(tr.position[0] - (b[0] + b[2]) / 2, tr.position[1] - (b[1] + b[3]) / 2) for b in truth]
        out[tr.track_id] = "far" if d[0] < d[1] else "near"
    return out


def test_camera_people_crossing_at_different_depths_keep_their_ids_with_the_foot_point():
    cfg = dataclasses.replace(camera_tracker_config(), box_point_y=1.0)
    hist, truth = _cross_at_depths(cfg)
    merged = [i for i, (far, near) in enumerate(truth) if far[0] < near[2] and near[0] < far[2]]
    assert len(merged) > cfg.max_missed_frames + 5       # longer than a plain miss may last
    before = _ids_by_side(hist[merged[0] - 5], truth[merged[0] - 5])
    after = _ids_by_side(hist[-1], truth[-1])
    assert sorted(before.values()) == ["far", "near"]
    assert after == before                                # same two ids, each on its own person
    during = hist[merged[len(merged) // 2]]
    hidden = [t for t in during if t.hidden]
    assert [before[t.track_id] for t in hidden] == ["far"]      # the far one waits behind the near one
    near = next(t for t in during if before.get(t.track_id) == "near")
    assert abs(near.size[1] - 80) < 5                     # the merged blob did not inflate its box
    assert near.size_kept and not near.part               # ... because it kept its size: it says so
    assert not any(t.size_kept for t in hist[merged[0] - 5])
    foot_y = near.position[1] + near.size[1] / 2
    assert abs(foot_y - 260) < 4                          # its feet stayed where they were


def test_camera_box_centre_tracking_loses_the_far_person_in_the_same_crossing():
    """The failure the camera defaults fix: box centres, no occlusion handling, Mahalanobis cost."""
    old = dataclasses.replace(camera_tracker_config(), process_accel_std=200.0, box_point_y=0.5,
                              occlusion_coverage=0.0, likelihood_cost=False)
    hist, truth = _cross_at_depths(old)
    merged = [i for i, (far, near) in enumerate(truth) if far[0] < near[2] and near[0] < far[2]]
    before = _ids_by_side(hist[merged[0] - 5], truth[merged[0] - 5])
    assert _ids_by_side(hist[-1], truth[-1]) != before


def test_hidden_track_dies_by_age_and_positions_are_box_centres():
    cfg = dataclasses.replace(camera_tracker_config(), min_hits=1, max_missed_frames=2, max_age_s=1.0)
    trk = MultiTargetTracker(cfg)
    big, small = _box(200, 300, 40, 100), _box(200, 250, 16, 40)
    (a,) = trk.update(0.0, [_measurement(small)])
    np.testing.assert_allclose(a.position, (200, 230))      # the centre, though the filter holds the foot
    tracks = trk.update(0.1, [_measurement(small), _measurement(big)])
    for i in range(2, 10):                                   # 0.8 s inside the big box: not dead
        tracks = trk.update(i / 10, [_measurement(big)])
        hid = [t for t in tracks if t.track_id == a.track_id]
        assert hid and hid[0].hidden and hid[0].missed == 0
    tracks = trk.update(1.2, [_measurement(big)])            # 1.1 s unseen > max_age_s
    assert a.track_id not in {t.track_id for t in tracks}


def _legs_lost(part_coverage: float, partial: set[int]) -> tuple[MultiTargetTracker, list[list]]:
    """A person walks right at 75 px/s (15 Hz; box 34 x 92 px, as on the disjoint bags); in the frames
    ``partial`` the segmenter loses the legs and gives the upper body (20 x 47 px, the same top)."""
    trk = MultiTargetTracker(dataclasses.replace(camera_tracker_config(), part_rescue_coverage=part_coverage))
    hist = []
    for k in range(45):
        x = 30.0 + 5.0 * k
        box = (x - 10, 244.0, x + 10, 291.0) if k in partial else (x - 17, 244.0, x + 17, 336.0)
        hist.append(trk.update(k / 15.0, [_measurement(box)]))
    return trk, hist


def test_a_part_of_a_person_is_the_persons_track():
    """Legs lost for 3 frames in every 8: the person keeps one track, measured in every frame, its box the
    whole person's; without the rule a track born on the upper body takes turns with it for as long."""
    partial = {k for k in range(10, 45) if (k - 10) % 8 < 3}
    trk, hist = _legs_lost(PART_RESCUE_COVERAGE, partial)
    assert trk.parts_rescued == len(partial)
    assert {t.track_id for ts in hist[3:] for t in ts} == {1}
    assert all(t.measurement_index == 0 for ts in hist[3:] for t in ts)
    for k in partial:
        (t,) = hist[k]
        assert abs(t.size[1] - 92) < 1 and abs(t.position[1] - 290) < 4     # size and row kept
        assert abs(t.position[0] - (30 + 5 * k)) < 4                        # the column followed
    trk, both = _legs_lost(0.0, partial)
    assert trk.parts_rescued == 0
    measured = [[t.track_id for t in ts if t.measurement_index == 0] for ts in both]
    assert measured[40:] == [[1], [1], [2], [2], [2]]


def _parts_on() -> MultiTargetTracker:
    """The camera tracker with parts taken (off in its defaults)."""
    return MultiTargetTracker(dataclasses.replace(camera_tracker_config(),
                                                  part_rescue_coverage=PART_RESCUE_COVERAGE))


def test_a_box_that_stays_a_part_is_the_persons_size_after_a_while():
    """A track whose size came from a blob of two (60 x 120 px) keeps its size for PART_RELEARN_FRAMES
    shorter boxes inside it, then learns its person's (30 x 90 px)."""
    trk = _parts_on()
    for k in range(6):
        trk.update(k / 15.0, [_measurement((100.0, 200.0, 160.0, 320.0))])
    sizes = []
    for k in range(6, 6 + PART_RELEARN_FRAMES + 12):
        (t,) = trk.update(k / 15.0, [_measurement((110.0, 215.0, 140.0, 305.0))])
        assert t.track_id == 1 and t.measurement_index == 0
        sizes.append(t.size[1])
    assert sizes[:PART_RELEARN_FRAMES] == [120.0] * PART_RELEARN_FRAMES
    assert abs(sizes[-1] - 90.0) < 1.0


def test_a_part_must_lie_inside_the_predicted_box_and_be_shorter():
    trk = _parts_on()
    for k in range(6):
        trk.update(k / 15.0, [_measurement((100.0, 244.0, 134.0, 336.0))])
    out = trk.update(6 / 15.0, [_measurement((120.0, 244.0, 150.0, 291.0))])    # half of it outside
    assert [(t.track_id, t.measurement_index) for t in out] == [(1, -1)]
    trk.update(7 / 15.0, [_measurement((100.0, 244.0, 134.0, 336.0))])
    out = trk.update(8 / 15.0, [_measurement((112.0, 200.0, 122.0, 330.0))])    # inside, yet taller
    assert [(t.track_id, t.measurement_index) for t in out] == [(1, -1)]


def test_lidar_tracker_defaults_are_unchanged():
    c = TrackerConfig()
    assert (c.box_point_y, c.occlusion_coverage, c.likelihood_cost, c.process_accel_std) == \
        (0.5, 0.0, False, 2.0)
    with pytest.raises(ConfigError, match="occlusion_coverage"):
        MultiTargetTracker(TrackerConfig(occlusion_coverage=1.5))
    with pytest.raises(ConfigError, match="box_point_y"):
        MultiTargetTracker(TrackerConfig(box_point_y=-0.1))


# --- clothing colour (appearance_cost): people who meet and part ---------------------------------------

def _colour_hist(hue_bin: int) -> np.ndarray:
    """Torso and legs both mostly one hue bin (a plain shirt and trousers of one colour)."""
    h = np.full((2, N_BINS), 0.02)
    h[:, hue_bin] = 1.0
    return h / h.sum(axis=1, keepdims=True)


def _meet_and_turn_back(cfg, colours: bool, seconds=4.0, seed=5):
    """Two people at equal depth walk towards each other, merge into one blob, stop, and each walks back
    the way it came: the motion model says they crossed, their clothes say they did not. Returns the
    tracker outputs per frame and each frame's true boxes (left person, right person)."""
    rng = np.random.default_rng(seed)
    trk = MultiTargetTracker(cfg)
    red, blue = Appearance(_colour_hist(0), 0.9), Appearance(_colour_hist(5), 0.9)
    hist, truth = [], []
    turn = seconds / 2
    for i in range(int(seconds * FPS)):
        t = i / FPS
        gap = 8 + 40 * abs(t - turn)                           # centre distance, px: 88 -> 8 -> 88
        left = _box(300 - gap / 2 + rng.normal(0, 0.5), 300 + rng.normal(0, 0.5), 30, 90)
        right = _box(300 + gap / 2 + rng.normal(0, 0.5), 300 + rng.normal(0, 0.5), 30, 90)
        if left[2] > right[0]:                                 # one blob: no colour of one person
            blob = (left[0], min(left[1], right[1]), right[2], max(left[3], right[3]))
            mixed = Appearance((red.hist + blue.hist) / 2, 0.9)
            meas = [dataclasses.replace(_measurement(blob), appearance=mixed if colours else None)]
        else:
            meas = [dataclasses.replace(_measurement(left), appearance=red if colours else None),
                    dataclasses.replace(_measurement(right), appearance=blue if colours else None)]
        hist.append(trk.update(t, meas))
        truth.append((left, right))
    return hist, truth


def _sides(tracks, truth):
    """track id -> 'left' / 'right': the true box its centre is nearer to."""
    return {k: ("left" if v == "far" else "right") for k, v in _ids_by_side(tracks, truth).items()}


def test_people_in_different_clothes_who_meet_and_turn_back_keep_their_ids():
    hist, truth = _meet_and_turn_back(camera_tracker_config(), colours=True)
    merged = [i for i, (lt, rt) in enumerate(truth) if lt[2] > rt[0]]
    assert merged and merged[-1] < len(truth) - 10
    before = _sides(hist[merged[0] - 3], truth[merged[0] - 3])
    assert sorted(before.values()) == ["left", "right"]
    assert _sides(hist[-1], truth[-1]) == before


def test_without_colours_the_same_people_swap():
    """The failure appearance fixes: by motion alone the two tracks carry on through each other."""
    for cfg, colours in ((camera_tracker_config(), False),
                         (dataclasses.replace(camera_tracker_config(), appearance_cost=0.0,
                                              appearance_reacquire_gate=1.0), True)):
        hist, truth = _meet_and_turn_back(cfg, colours)
        merged = [i for i, (lt, rt) in enumerate(truth) if lt[2] > rt[0]]
        before = _sides(hist[merged[0] - 3], truth[merged[0] - 3])
        after = _sides(hist[-1], truth[-1])
        assert set(after) & set(before)
        assert any(after[k] != before[k] for k in set(after) & set(before))


def test_colour_of_a_blob_of_two_people_is_not_learned():
    trk = MultiTargetTracker(dataclasses.replace(camera_tracker_config(), min_hits=1))
    red, blue = Appearance(_colour_hist(0), 0.9), Appearance(_colour_hist(5), 0.9)
    a, b = _box(200, 300, 30, 90), _box(240, 300, 30, 90)
    trk.update(0.0, [dataclasses.replace(_measurement(a), appearance=red),
                     dataclasses.replace(_measurement(b), appearance=blue)])
    learned = {t.track_id: t.appearance.copy() for t in trk.tracks}
    blob = (a[0], a[1], b[2], a[3])                           # one blob, both colours
    mixed = Appearance((red.hist + blue.hist) / 2, 0.9)
    (took,) = [t for t in trk.update(1 / FPS, [dataclasses.replace(_measurement(blob), appearance=mixed)])
               if t.measurement_index == 0]
    for t in trk.tracks:
        np.testing.assert_array_equal(t.appearance, learned[t.track_id])
    other = Appearance(_colour_hist(1), 0.9)                  # apart again: a clear box is learned
    trk.update(2 / FPS, [dataclasses.replace(_measurement(a), appearance=other),
                         dataclasses.replace(_measurement(b), appearance=blue)])
    red_id = next(k for k, v in learned.items() if np.argmax(v[0]) == 0)
    red_now = next(t for t in trk.tracks if t.track_id == red_id)
    assert red_now.appearance[0, 1] > learned[red_id][0, 1] + 0.05
    assert took.track_id in learned


def _reappear(cfg):
    """A red person walks right, vanishes for 4 frames (a segmenter miss), and where the track expects
    them a person in blue appears: the tracks after that."""
    trk = MultiTargetTracker(cfg)
    red, blue = Appearance(_colour_hist(0), 0.9), Appearance(_colour_hist(5), 0.9)
    for i in range(10):
        box = _box(200 + 2 * i, 300, 30, 90)
        trk.update(i / FPS, [dataclasses.replace(_measurement(box), appearance=red)])
    first = {t.track_id for t in trk.tracks}
    for i in range(10, 14):
        trk.update(i / FPS, [])
    out = trk.update(14 / FPS, [dataclasses.replace(_measurement(_box(228, 300, 30, 90)), appearance=blue)])
    return first, out


def test_a_track_does_not_take_back_a_person_in_other_clothes_after_a_miss():
    first, out = _reappear(camera_tracker_config())
    assert len(first) == 1
    (old,) = [t for t in out if t.track_id in first]
    assert old.measurement_index < 0                      # the red track coasts on
    off = dataclasses.replace(camera_tracker_config(), appearance_reacquire_gate=1.0)
    first, out = _reappear(off)
    assert [t.measurement_index for t in out if t.track_id in first] == [0]   # without the gate: taken


def test_appearance_config_is_checked_and_off_for_lidar():
    assert TrackerConfig().appearance_cost == 0.0 and camera_tracker_config().appearance_cost > 0
    assert TrackerConfig().appearance_reacquire_gate == 1.0
    for kw in ({"appearance_cost": -1.0}, {"appearance_memory": 1.0}, {"appearance_reacquire_gate": 1.5},
               {"appearance_update_overlap": -0.1}):
        with pytest.raises(ConfigError, match=next(iter(kw))):
            MultiTargetTracker(TrackerConfig(**kw))


# --- LiDAR body cue (body_height_gate_m, body_intensity_gate): people whose clusters merge and part ---

_TALL_BRIGHT = np.array([1.80, 100.0, 60.0])     # top z (m), torso and leg mean intensity
_SHORT_DARK = np.array([1.62, 50.0, 90.0])


def _lidar_meet_and_turn_back(cfg, seed=3):
    """Two people walk towards each other on one line at 1.2 m/s, their clusters merge into one (centroid
    between them, cues mixed) while closer than 0.6 m, and they turn back where they met. Returns
    {track id: side (-1 left, +1 right) before the merge} and the same after they parted."""
    trk = MultiTargetTracker(cfg)
    rng = np.random.default_rng(seed)
    speed, meet_s, n = 1.2, 1.5, 36
    sides_before: dict[int, int] = {}
    out = []
    for i in range(n):
        t = i * DT
        off = 1.8 - speed * (t if t <= meet_s else 2 * meet_s - t)   # half the distance between them
        xs = [-off, off]
        bodies = [c + rng.normal(0, [0.02, 2.0, 2.0]) for c in (_TALL_BRIGHT, _SHORT_DARK)]
        if 2 * off < 0.6:
            ms = [Measurement((rng.normal(0, 0.03), 0.0), size=(0.5 + 2 * off, 0.5),
                              body=(bodies[0] + bodies[1]) / 2)]
        else:
            ms = [Measurement((x + rng.normal(0, 0.03), 0.0), size=(0.5, 0.5), body=b)
                  for x, b in zip(xs, bodies)]
        out = trk.update(t, ms)
        if i == 8:
            sides_before = {tr.track_id: int(np.sign(tr.position[0])) for tr in out}
    after = {tr.track_id: int(np.sign(tr.position[0])) for tr in out if tr.measurement_index >= 0}
    return sides_before, after


def test_lidar_people_of_different_build_keep_their_tracks_through_a_merged_cluster():
    before, after = _lidar_meet_and_turn_back(TrackerConfig())
    assert sorted(before.values()) == [-1, 1]
    kept = set(before) & set(after)
    assert kept and all(after[k] == before[k] for k in kept)        # no track came out on the other person


def test_without_the_body_gate_the_lidar_tracks_swap():
    off = dataclasses.replace(TrackerConfig(), body_height_gate_m=0.0, body_intensity_gate=0.0)
    before, after = _lidar_meet_and_turn_back(off)
    assert any(after[k] != before[k] for k in set(before) & set(after))


def test_body_cue_of_a_merged_lidar_cluster_is_not_learned():
    trk = MultiTargetTracker(dataclasses.replace(TrackerConfig(), min_hits=1))
    trk.update(0.0, [Measurement((-0.5, 0.0), size=(0.5, 0.5), body=_TALL_BRIGHT),
                     Measurement((0.5, 0.0), size=(0.5, 0.5), body=_SHORT_DARK)])
    learned = {t.track_id: t.body.copy() for t in trk.tracks}
    trk.update(DT, [Measurement((0.0, 0.0), size=(1.5, 0.5), body=(_TALL_BRIGHT + _SHORT_DARK) / 2)])
    for t in trk.tracks:
        np.testing.assert_array_equal(t.body, learned[t.track_id])
    assert camera_tracker_config().body_intensity_gate == 0.0 and TrackerConfig().body_intensity_gate > 0
    with pytest.raises(ConfigError, match="body_height_gate_m"):
        MultiTargetTracker(TrackerConfig(body_height_gate_m=-1.0))


def test_body_cue_of_a_cluster():
    rng = np.random.default_rng(4)
    z = rng.uniform(0.0, 1.7, 400)
    xyz = np.stack([rng.normal(5, 0.1, 400), rng.normal(0, 0.1, 400), z], axis=1)
    intensity = np.where(z > 0.85, 100.0, 40.0) + rng.normal(0, 1, 400)     # bright shirt, dark trousers
    top, torso, legs = describe_cluster(xyz, intensity)
    assert 1.55 < top < 1.7 and abs(torso - 100) < 2 and abs(legs - 40) < 2
    assert np.isnan(describe_cluster(xyz, np.zeros(400))[1:]).all()      # a cloud without intensity
    assert describe_cluster(xyz[:5], intensity[:5]) is None


# --- re-acquisition of a lost person (reacquire_window_s) ----------------------------------------------

_CAMERA_REACQUIRE = dict(reacquire_window_s=8.0, reacquire_speed=1.0, reacquire_radius=1.0,
                         reacquire_in_box_heights=True)
_RED, _BLUE = Appearance(_colour_hist(0), 0.9), Appearance(_colour_hist(5), 0.9)


def _frames(trk, t0, seconds, people, fps=FPS):
    """Update ``trk`` at ``fps`` for ``seconds``; ``people``: (foot x at t0, px/s, colour) walking right,
    90 px tall (none: empty frames, nobody seen). Returns the last update's tracks."""
    out = []
    for i in range(int(round(seconds * fps))):
        t = t0 + i / fps
        boxes = [(_box(x + v * (t - t0), 300, 30, 90), c) for x, v, c in people]
        out = trk.update(t, [dataclasses.replace(_measurement(b), appearance=c) for b, c in boxes])
    return out


def _lost_and_found(cfg, second, gap_s=3.0, jump_px=0.0):
    """A person in red walks 2 s at 40 px/s, is unseen for ``gap_s`` (far longer than the tracker keeps a
    track), then a person in ``second`` appears where the first would be by now (plus ``jump_px``) and
    walks on: the two track ids."""
    trk = MultiTargetTracker(cfg)
    (a,) = _frames(trk, 0.0, 2.0, [(100.0, 40.0, _RED)])
    _frames(trk, 2.0, gap_s, [])
    t1 = 2.0 + gap_s
    (b,) = _frames(trk, t1, 1.0, [(100.0 + 40.0 * t1 + jump_px, 40.0, second)])
    return a.track_id, b.track_id


def test_a_person_the_camera_lost_for_seconds_keeps_their_track_when_found_again():
    cfg = dataclasses.replace(camera_tracker_config(), **_CAMERA_REACQUIRE)
    a, b = _lost_and_found(cfg, _RED)
    assert a == b
    a, b = _lost_and_found(camera_tracker_config(), _RED)              # off (the default): a new track
    assert a != b
    for kw in ({"second": _BLUE},                      # someone in other clothes
               {"second": _RED, "gap_s": 9.0},         # after the window
               {"second": _RED, "jump_px": 450.0},     # beyond reach (1 + 3 s x 1 box heights)
               {"second": None}):                      # no colour: position alone is not enough
        a, b = _lost_and_found(cfg, **kw)
        assert a != b, kw


def test_re_acquisition_takes_only_a_one_to_one_fit():
    cfg = dataclasses.replace(camera_tracker_config(), **_CAMERA_REACQUIRE)
    # two people in red lost at once side by side: the one found between them fits both and stays apart
    trk = MultiTargetTracker(cfg)
    lost = {t.track_id for t in _frames(trk, 0.0, 2.0, [(100.0, 20.0, _RED), (200.0, 20.0, _RED)])}
    _frames(trk, 2.0, 3.0, [])
    out = _frames(trk, 5.0, 1.0, [(190.0, 20.0, _RED)])
    assert len(lost) == 2 and len(out) == 1 and out[0].track_id not in lost
    # one person lost, two in red confirmed in one update near where they were: neither takes the id
    trk = MultiTargetTracker(cfg)
    (a,) = _frames(trk, 0.0, 2.0, [(100.0, 40.0, _RED)])
    _frames(trk, 2.0, 3.0, [])
    out = _frames(trk, 5.0, 1.0, [(250.0, 40.0, _RED), (350.0, 40.0, _RED)])
    assert len(out) == 2 and a.track_id not in {t.track_id for t in out}


def test_lidar_re_acquisition_needs_a_matching_body_cue():
    cfg = dataclasses.replace(TrackerConfig(), reacquire_window_s=8.0)
    for body, same in ((_TALL_BRIGHT, True), (_SHORT_DARK, False), (_TALL_BRIGHT + [0.2, 0.0, 0.0], False)):
        trk = MultiTargetTracker(cfg)
        ids = []
        for i in range(60):                          # 1.2 m/s along x; unseen from 2 s to 5 s
            t = i * DT
            seen = not 2.0 <= t < 5.0
            cue = _TALL_BRIGHT if t < 2 else body
            out = trk.update(t, [Measurement((1.2 * t, 0.0), size=(0.5, 0.5), body=cue)] if seen else [])
            ids += [o.track_id for o in out if o.measurement_index >= 0]
        assert (len(set(ids)) == 1) is same, body
        assert trk.reacquired == int(same)


def test_re_acquisition_config_is_checked():
    for kw in ({"reacquire_window_s": -1.0}, {"reacquire_speed": -0.5}, {"reacquire_radius": -1.0},
               {"reacquire_cue_fraction": 1.5}):
        with pytest.raises(ConfigError, match=next(iter(kw))):
            MultiTargetTracker(TrackerConfig(**kw))
    assert camera_tracker_config().reacquire_window_s == 0.0 < TrackerConfig().reacquire_window_s
