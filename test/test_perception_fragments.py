"""Fragments of one walk: an identity a re-acquired track founded alone joins its person's
(perception.fragments).

The scene of most checks: LiDAR track 7 sees person 0 for 2 s, the tracker loses them, LiDAR track 8 picks
them up 3 s later and founds an identity of its own (no camera evidence exists yet to hand it off to), and
10 s later camera track 1 joins one of the two by gait. Both LiDAR tracks have ended by then, so nothing but
the fragment rule ever brings the other into the camera's identity.
"""

from __future__ import annotations

import numpy as np
import pytest

from tcfd_ros.gallery import Gallery
from tcfd_ros.perception.colocation import GroundTracks
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.cue_combination import CUE_CONFIG_KEY, METADATA_KEY, cue_config
from tcfd_ros.perception.cue_evidence import CueEvidence
from tcfd_ros.perception.identity import IdentityManager, TrackObservation
from tcfd_ros.perception.track_spans import TrackSpans

P, D = 4, 16
THR = 0.3
PEOPLE = np.random.default_rng(7).normal(size=(4, P, D))    # random directions: distance ~1 apart
GAP_S = 15.0


def _emb(direction: np.ndarray, seed: int) -> np.ndarray:
    return direction + np.random.default_rng(seed).normal(0, 0.1, (P, D))


def _obs(sensor, t, track, direction, pos=None):
    modality = "2d" if sensor == "camera" else "3d"
    seed = int(t * 100) + 5_000 + track + (0 if sensor == "camera" else 10_000)
    return TrackObservation(t, sensor, modality, track, _emb(direction, seed),
                            None if pos is None else np.asarray(pos, float))


def _mgr(gallery=None, **kw):
    kw.setdefault("gait_min_tracklets", 2)
    kw.setdefault("fragment_max_gap_s", GAP_S)
    # B's gait is set apart from A's on purpose in several checks; the rule for successive tracks that fit
    # far apart (test_perception_identity) is not what these test
    kw.setdefault("successive_fit_ratio", 0.0)
    return IdentityManager(IdentityConfig(open_set_threshold=THR, **kw), gallery=gallery)


def _split_walk(m, *, b_start=5.0, b_tracklets=3, b_direction=None, b_x=None, placed=True, cam_t=None):
    """A: LiDAR 7 at t 0..2 (x 0..1, 0.5 m/s); B: LiDAR 8 from ``b_start`` (x from ``b_x``, default where A's
    walk went on to), then camera 1 (person 0). Returns the camera's matches and every revision published."""
    b_direction = PEOPLE[0] if b_direction is None else b_direction
    b_x = 1.0 + 0.5 * (b_start - 2.0) if b_x is None else b_x
    revisions = []
    for k in range(3):
        m.update([_obs("lidar", float(k), 7, PEOPLE[0], (0.5 * k, 0.0) if placed else None)])
    for k in range(b_tracklets):
        m.update([_obs("lidar", b_start + k, 8, b_direction, (b_x + 0.5 * k, 0.0) if placed else None)])
        revisions += m.take_revisions()
    out = []
    cam_t = b_start + b_tracklets + 10.0 if cam_t is None else cam_t
    for k in range(3):
        out += m.update([_obs("camera", cam_t + k, 1, PEOPLE[0])])
        revisions += m.take_revisions()
    return out, revisions


def test_a_fragment_of_one_walk_joins_the_identity_its_person_was_handed_off_to():
    m = _mgr()
    out, revisions = _split_walk(m)
    assert out[-1].known and out[-1].decided_by == "gait"
    assert len(m.identities()) == 1 and m.fragments_gathered == 1
    (rev,) = revisions
    assert rev.sensor == "lidar" and rev.track_id in (7, 8) and rev.global_id == out[-1].global_id
    assert rev.known and rev.switched and rev.decided_by == "gait" and rev.distance < THR
    assert rev.confidence > 0.5
    counts = m.identities()[0].num_embeddings
    assert counts == {"2d": 1, "3d": 2}               # both LiDAR tracks' evidence now counts for the person


def test_the_rule_is_on_by_default():
    """Shipped on (RESULTS.md, "Fragments of one walk, on by default"): the default settings gather."""
    m = IdentityManager(IdentityConfig(open_set_threshold=THR, gait_min_tracklets=2))
    _split_walk(m)
    assert len(m.identities()) == 1 and m.fragments_gathered == 1


def test_off_leaves_the_fragment_its_own_identity():
    m = _mgr(fragment_max_gap_s=0.0)
    out, revisions = _split_walk(m)
    assert out[-1].known and len(m.identities()) == 2 and not revisions and m.fragments_gathered == 0


@pytest.mark.parametrize("b_start, gathered", [(2.0 + GAP_S - 1.0, True), (2.0 + GAP_S + 1.0, False)])
def test_only_a_track_that_follows_within_the_gap_is_a_fragment(b_start, gathered):
    m = _mgr()
    _split_walk(m, b_start=b_start)
    assert len(m.identities()) == (1 if gathered else 2)


def test_two_tracks_one_sensor_saw_at_the_same_time_are_two_people():
    m = _mgr()
    _split_walk(m, b_start=1.5)                        # B begins before A's last tracklet
    assert len(m.identities()) == 2 and m.fragments_gathered == 0


def test_a_track_out_of_walking_reach_or_never_placed_is_no_fragment():
    m = _mgr()
    _split_walk(m, b_x=100.0)                          # 99 m in 3 s
    assert len(m.identities()) == 2
    m = _mgr(max_walking_speed_mps=0.0, fragment_continuation_m=0.0)   # both rules off: gathered
    _split_walk(m, b_x=100.0)
    assert len(m.identities()) == 1
    m = _mgr()
    _split_walk(m, placed=False)                       # no positions: one walk cannot be told
    assert len(m.identities()) == 2


@pytest.mark.parametrize("b_x, limit_m, gathered", [
    (2.5, 2.5, True),      # where A's 0.5 m/s walk went on to
    (4.5, 2.5, True),      # 2 m on from there
    (-2.0, 2.5, False),    # 3 m from A's end in 3 s, but back the way A came: 4.5 m off its walk
    (-2.0, 0.0, True),     # the continuation rule off
])
def test_a_fragment_goes_on_from_its_neighbours_walk(b_x, limit_m, gathered):
    m = _mgr(fragment_continuation_m=limit_m)
    _split_walk(m, b_x=b_x)
    assert len(m.identities()) == (1 if gathered else 2)


def test_the_continuation_rule_is_off_by_default():
    """Shipped off (RESULTS.md, "A fragment its own person claims"): a walker back the way they came
    is gathered by default."""
    assert IdentityConfig().fragment_continuation_m == 0.0
    m = IdentityManager(IdentityConfig(open_set_threshold=THR, gait_min_tracklets=2,
                                       successive_fit_ratio=0.0))
    _split_walk(m, b_x=-2.0)
    assert len(m.identities()) == 1 and m.fragments_gathered == 1


def test_a_fragment_whose_gait_misses_or_that_delivered_too_little_stays_apart():
    m = _mgr()
    _split_walk(m, b_direction=PEOPLE[1])              # someone else
    assert len(m.identities()) == 2
    m = _mgr()
    _split_walk(m, b_tracklets=1)                      # fewer than gait_min_tracklets
    assert len(m.identities()) == 2
    m = _mgr(gait_min_tracklets=1)
    _split_walk(m, b_tracklets=1)
    assert len(m.identities()) == 1


def test_a_fragment_that_fits_another_identity_better_stays_apart():
    """B fits the camera's person (distance ~0.21, within the threshold) but fits an identity camera track 2
    founded far away earlier better (~0.11; it could not have walked there, so it never joined it): ambiguous,
    so it is left alone."""
    p0, p3 = PEOPLE[0], PEOPLE[3]
    b_dir = p0 + 0.55 * p3
    far_dir = p0 + 1.4 * p3                             # ~0.58 from person 0: neither the camera's nor A's
    for other_camera, expected in ((False, 1), (True, 3)):
        m = _mgr()
        if other_camera:
            for k in range(2):
                m.update([_obs("camera", -10.0 + k, 2, far_dir, (300.0, 0.0))])
        _split_walk(m, b_direction=b_dir)
        assert len(m.identities()) == expected


@pytest.mark.parametrize("release", [True, False])
def test_a_fragment_its_own_person_claims_leaves_for_them(release):
    """B walks like person 0, a little (~0.21, within the threshold): camera 1 (person 0) gathers it, as no
    camera track fits it better yet. Camera 2, B's own person, comes while camera 1 still delivers (so it
    cannot join camera 1's identity) and fits B far better: B leaves for an identity of its own, which
    camera 2 then takes; camera 1 keeps A. Without the rule B stays with camera 1."""
    b_dir = PEOPLE[0] + 0.55 * PEOPLE[3]
    m = _mgr(fragment_release=release, concurrent_overlap_s=0.0)
    out, revisions = _split_walk(m, b_direction=b_dir)
    assert m.fragments_gathered == 1 and len(m.identities()) == 1
    cam2 = []
    for k in range(6):                                  # claims from its 2nd tracklet, 3 in a row
        cam2 += m.update([_obs("camera", 19.5 + k, 2, b_dir)])
        revisions += m.take_revisions()
        m.update([_obs("camera", 21.0 + k, 1, PEOPLE[0])])   # camera 1 walks on beside it
        revisions += m.take_revisions()
    lidar8 = _stored_in(m, ("lidar", 8))
    assert _stored_in(m, ("lidar", 7)) == out[-1].global_id
    if release:
        assert m.fragments_released == 1 and lidar8 != out[-1].global_id
        assert cam2[-1].global_id == lidar8 and cam2[-1].known
        assert any(r.sensor == "lidar" and r.track_id == 8 and r.global_id == lidar8 for r in revisions)
    else:
        assert m.fragments_released == 0 and lidar8 == out[-1].global_id != cam2[-1].global_id


def test_a_released_fragment_is_not_gathered_back():
    """After B left camera 1's identity, camera 1 delivering again (B still fits it) does not gather it."""
    b_dir = PEOPLE[0] + 0.55 * PEOPLE[3]
    m = _mgr(concurrent_overlap_s=0.0)
    out, _ = _split_walk(m, b_direction=b_dir)
    for k in range(6):
        m.update([_obs("camera", 19.5 + k, 2, b_dir)])
        m.update([_obs("camera", 21.0 + k, 1, PEOPLE[0])])
    assert m.fragments_gathered == 1 and m.fragments_released == 1
    assert _stored_in(m, ("lidar", 8)) != m.binding("camera", 1)


@pytest.mark.parametrize("patience, released_at", [(3, 4), (1, 2)])
def test_a_claim_releases_after_switch_patience_tracklets(patience, released_at):
    """Camera 2 claims B from its 2nd tracklet (gait_min_tracklets 2); B leaves after ``patience`` claims."""
    b_dir = PEOPLE[0] + 0.55 * PEOPLE[3]
    m = _mgr(concurrent_overlap_s=0.0, switch_patience=patience)
    _split_walk(m, b_direction=b_dir)
    for k in range(5):
        m.update([_obs("camera", 19.5 + k, 2, b_dir)])
        assert m.fragments_released == (1 if k + 1 >= released_at else 0)
        m.update([_obs("camera", 21.0 + k, 1, PEOPLE[0])])


def _stored_in(m: IdentityManager, key) -> int:
    """The identity that stores ``key``'s evidence (an ended track is bound to none)."""
    (gid,) = [g for g in m.store.ids if key in m.store.own_rows(g, key[0])]
    return gid


def test_a_fragment_seen_apart_from_the_camera_track_stays_apart():
    """The camera's tracker placed its person 30 m from B while B delivered: a geometric veto (pace rule off,
    so the veto alone decides). The camera joins A's identity, closer to its gait than B's either way."""
    for far, expected in ((False, 1), (True, 2)):
        m = _mgr(max_walking_speed_mps=0.0)
        for k in range(3):
            m.update([_obs("lidar", float(k), 7, PEOPLE[0], (0.5 * k, 0.0))])
        for k in range(5):
            t = 5.0 + 0.5 * k
            if far:
                m.observe_positions("camera", t, "map", [(1, (30.0, 0.0, 0.0), 0.3)])
            batch = [_obs("lidar", t, 8, PEOPLE[0] + 0.4 * PEOPLE[3], (1.0 + 0.25 * k, 0.0))]
            m.update(batch + ([_obs("camera", t, 1, PEOPLE[0])] if k >= 3 else []))
        assert m.binding("camera", 1) == m.binding("lidar", 7) != m.binding("lidar", 8) or not far
        assert len(m.identities()) == expected, far


def test_a_named_identity_is_never_gathered():
    """B is enrolled as "visitor"; the camera's person is closer to A's evidence than to B's, so it joins A's
    identity, which then may not gather the named one."""
    for enrol in (False, True):
        m = _mgr()
        for k in range(3):
            m.update([_obs("lidar", float(k), 7, PEOPLE[0], (0.5 * k, 0.0))])
        for k in range(3):
            m.update([_obs("lidar", 5.0 + k, 8, PEOPLE[0] + 0.4 * PEOPLE[3], (1.0 + 0.5 * k, 0.0))])
        visitor = m.enrol("lidar", 8, "visitor") if enrol else m.binding("lidar", 8)
        for k in range(3):
            (out,) = m.update([_obs("camera", 20.0 + k, 1, PEOPLE[0])])
        assert out.global_id != visitor
        assert len(m.identities()) == (2 if enrol else 1) and m.fragments_gathered == (0 if enrol else 1)


def test_the_gallery_forgets_the_gathered_identity_and_keeps_its_evidence(tmp_path):
    with Gallery(tmp_path / "g.sqlite") as g:
        m = _mgr(gallery=g, persist_unenrolled_embeddings=True)
        out, _ = _split_walk(m)
        assert [r.identity_id for r in g.list_identities()] == [out[-1].global_id]
        mods = sorted(e.modality for e in g.embeddings(out[-1].global_id))
        assert mods.count("3d") >= 2 and "2d" in mods


def test_gap_between_two_spans():
    spans = TrackSpans()
    spans.add(("lidar", 1), 0.0, 2.0)
    spans.add(("lidar", 2), 5.0, 7.0)
    spans.add(("lidar", 3), 1.0, 6.0)
    assert spans.gap_s(("lidar", 1), ("lidar", 2)) == spans.gap_s(("lidar", 2), ("lidar", 1)) == 3.0
    assert spans.gap_s(("lidar", 1), ("lidar", 3)) == -1.0
    assert spans.gap_s(("lidar", 1), ("lidar", 9)) is None


def test_cues_of_a_gathered_identity_keep_the_newer_measurement_per_sensor():
    cfg = IdentityConfig()
    cues = CueEvidence(cfg, {METADATA_KEY: 2.0, CUE_CONFIG_KEY: cue_config(cfg)}, GroundTracks(cfg), THR)
    for key, h in ((("lidar", 1), 1.70), (("lidar", 2), 1.90), (("camera", 9), 1.90)):
        for i in range(cfg.stature_min_samples):
            cues.add_stature(key, 0.1 * i, h)
    emb = np.ones((P, D))
    cues.remember(TrackObservation(1.0, "lidar", "3d", 1, emb), gid=1)
    cues.remember(TrackObservation(4.0, "lidar", "3d", 2, emb), gid=2)       # newer, 1.90 m
    gait = np.array([0.2, 0.2])
    mine = cues.of_track(("camera", 9))
    before = cues.identity_scores(mine, "camera", [1, 2], gait)
    assert before[1] < 0.2 < before[0]                  # 1.90 m agrees with identity 2, not with 1
    cues.absorb(2, 1)
    after = cues.identity_scores(mine, "camera", [1, 2], gait)
    assert after[0] == pytest.approx(before[1]) and after[1] == 0.2   # 2 is gone: gait alone
    assert cues.remembered(1, "lidar") == {"stature": 1.90} and cues.remembered(1, "camera") == {}


def test_an_ended_fragment_is_compared_by_the_cues_its_identity_remembers():
    """With a model whose threshold is on the cue-corrected score, gait alone (~0.02) misses it and an
    agreeing stature (x ~0.01) passes. B's own stature samples expire with the track; its identity remembers
    them."""
    cfg = IdentityConfig(gait_min_tracklets=2, fragment_max_gap_s=GAP_S, speed_evidence=False)
    meta = {"open_set_threshold_track": 0.002, METADATA_KEY: 8.0, CUE_CONFIG_KEY: cue_config(cfg)}
    m = IdentityManager(cfg, model_metadata=meta)

    def walk(sensor, track, t0, n, x0, direction):
        out = []
        for k in range(n):
            t = t0 + k
            for i in range(cfg.stature_min_samples):     # the tracker's frames before the tracklet
                m.observe_positions(sensor, t - 0.5 + 0.05 * i, "map",
                                    [(track, (x0 + 0.5 * k, 0.0, 0.0), 0.1, True, 1.75)])
            out += m.update([_obs(sensor, t, track, direction, (x0 + 0.5 * k, 0.0))])
        return out

    walk("lidar", 7, 0.0, 3, 0.0, PEOPLE[0])
    walk("lidar", 8, 5.0, 3, 1.0, PEOPLE[0])
    out = walk("camera", 1, 20.0, 3, 20.0, PEOPLE[0])
    assert out[-1].known and not m.cues(("lidar", 8))            # B's own samples are gone
    assert len(m.identities()) == 1 and m.fragments_gathered == 1
