"""Hand-off scored per track life: a track id the tracker carried over to another person after the
recognizer forgot the track is two tracks to the recognizer, and so to the scorer."""

from __future__ import annotations

import math

from tcfd_ros.replay import adapters
from tcfd_ros.replay.config import ScoringConfig
from tcfd_ros.replay.recording import Received, Recording
from tcfd_ros.replay.records import GTFrame, GTPerson, MatchEvent, Observation, OutputFrame, RunInfo
from tcfd_ros.replay import scoring
from tcfd_ros.replay.scoring import score_run, score_tracking
from tcfd_ros.replay.track_lives import LIFE_ID_STRIDE, TrackLives, life_id, split_matches, track_lives

CFG = ScoringConfig()
TIMEOUT_S = 10.0


def _tracklets(*spans: tuple[float, float]) -> list[tuple[float, float, float]]:
    """One tracklet a second over each (first, last) span: (stamp, first frame, last frame)."""
    return [(t, t - 0.9, t) for first, last in spans for t in range(int(first), int(last) + 1)]


def test_a_track_is_split_where_its_tracklets_pause_longer_than_the_timeout():
    lives = track_lives({("lidar", 5): _tracklets((2, 8), (40, 45)),       # 32 s without a tracklet
                         ("lidar", 6): _tracklets((2, 8), (17, 20)),       # 9 s: one life
                         ("camera", 1): _tracklets((3, 9))}, TIMEOUT_S)
    assert set(lives.spans) == {("lidar", 5)}
    assert lives.spans[("lidar", 5)] == ((1.1, 8), (39.1, 45))
    assert lives.counts[("lidar", 5)] == (7, 6) and lives.starts[("lidar", 5)] == (2, 40)
    assert lives.life_at(("lidar", 5), 8.5) == 0 and lives.life_at(("lidar", 5), 40.0) == 1
    assert lives.life_at(("lidar", 6), 30.0) == 0 and lives.of_sensor("camera") == {}
    assert lives.scored_id(("lidar", 5), 40.0) == life_id(5, 1) and lives.scored_id(("lidar", 6), 30.0) == 6
    assert lives.tracklet_counts({("lidar", 5): 13, ("lidar", 6): 11}) == {
        ("lidar", 5): 7, ("lidar", 6): 11, ("lidar", life_id(5, 1)): 6}
    assert life_id(5, 0) == 5 and life_id(5, 2) == 5 + 2 * LIFE_ID_STRIDE


def test_match_events_belong_to_the_life_they_were_published_in():
    lives = track_lives({("lidar", 5): _tracklets((2, 8), (40, 45))}, TIMEOUT_S)
    ms = [MatchEvent(6.0, "lidar", 5, 3, 0.1, True), MatchEvent(41.0, "lidar", 5, 7, 0.1, True),
          MatchEvent(6.0, "camera", 5, 3, 0.1, True)]
    got = split_matches(ms, lives)
    assert [(m.sensor, m.track_id, m.global_id) for m in got] == [
        ("lidar", 5, 3), ("lidar", life_id(5, 1), 7), ("camera", 5, 3)]
    assert split_matches(ms, TrackLives()) == ms


def _world() -> tuple[dict, dict, list]:
    """Person 1 walks past the camera (track 1), then the LiDAR (track 5, 0-8 s); person 2 walks past the
    LiDAR at 40-45 s, where the LiDAR tracker carries id 5 over to them; the camera sees person 2 at
    30-35 s (track 2). The recognizer links camera 1 and LiDAR 5's first life (person 1), and camera 2
    with LiDAR 5's second life (person 2): both right."""
    gt = {"camera": [], "lidar": []}
    out = {"camera": [], "lidar": []}
    for t in range(0, 9):
        gt["lidar"].append(GTFrame("lidar", float(t), (GTPerson(1, None, (5.0 + t, 0.0), True),)))
        out["lidar"].append(OutputFrame("lidar", float(t), (Observation(5, position=(5.0 + t, 0.0)),)))
    for t in range(40, 46):
        gt["lidar"].append(GTFrame("lidar", float(t), (GTPerson(2, None, (5.0 + t, 0.0), True),)))
        out["lidar"].append(OutputFrame("lidar", float(t), (Observation(5, position=(5.0 + t, 0.0)),)))
    for t, pid, tid in [*((t, 1, 1) for t in range(20, 26)), *((t, 2, 2) for t in range(30, 36))]:
        box = (100.0 + t, 100.0, 140.0 + t, 200.0)
        gt["camera"].append(GTFrame("camera", float(t), (GTPerson(pid, box, None, True),)))
        out["camera"].append(OutputFrame("camera", float(t), (Observation(tid, image_box=box),)))
    matches = [MatchEvent(2.0, "lidar", 5, 100, math.nan, False),
               MatchEvent(21.0, "camera", 1, 100, 0.01, True),
               MatchEvent(31.0, "camera", 2, 200, math.nan, False),
               MatchEvent(41.0, "lidar", 5, 200, 0.01, True)]
    return gt, out, matches


def test_hand_off_is_scored_per_life_and_tracking_per_track():
    gt, out, matches = _world()
    mods = {"camera": "2d", "lidar": "3d"}
    lives = track_lives({("lidar", 5): _tracklets((1, 8), (41, 45)), ("camera", 1): _tracklets((21, 25)),
                         ("camera", 2): _tracklets((31, 35))}, TIMEOUT_S)
    per_track = score_run(gt, mods, out, out, matches, [], 50.0, CFG)
    # per track (what it used to say): LiDAR 5 is person 1 and ends in camera 2's identity: 0 of 2, 1 false
    assert (per_track.handoff.handed_off, per_track.handoff.false_links) == (0, 1)
    per_life = score_run(gt, mods, out, out, matches, [], 50.0, CFG, lives)
    h = per_life.handoff
    assert (h.people_both, h.handed_off, h.false_links) == (2, 2, 0)
    lidar = per_life.tracking["lidar"]
    assert lidar.idf1 == per_track.tracking["lidar"].idf1 < 1.0     # the tracker's error still counts
    assert lidar.track_to_person == {5: 1}                                       # 9 frames of 1, 6 of 2
    assert lidar.life_to_person == {5: 1, life_id(5, 1): 2}
    assert scoring.per_life({"lidar": lidar})["lidar"].track_to_person == {5: 1, life_id(5, 1): 2}


def test_a_life_is_labelled_only_by_the_frames_within_its_tracklets():
    # the track coasted on in /tracks between its lives, following person 2 from 20 s: those frames
    # count for the track as a whole, not for either life
    gt, out, _ = _world()
    for t in range(20, 40):
        gt["lidar"].append(GTFrame("lidar", float(t), (GTPerson(2, None, (30.0, 0.0), True),)))
        out["lidar"].append(OutputFrame("lidar", float(t), (Observation(5, position=(30.0, 0.0)),)))
    gt["lidar"].sort(key=lambda f: f.stamp_s)
    out["lidar"].sort(key=lambda f: f.stamp_s)
    spans = track_lives({("lidar", 5): _tracklets((1, 8), (41, 45))}, TIMEOUT_S).of_sensor("lidar")
    s = score_tracking(gt["lidar"], out["lidar"], "3d", CFG, spans)
    assert s.track_to_person == {5: 2} and s.life_to_person == {5: 1, life_id(5, 1): 2}


def test_tracklet_times_are_read_from_the_recording_and_bad_messages_left_out():
    rec = Recording(RunInfo("bag", 1.0, {}), sensors={"lidar": "3d"})
    good = {"sensor": "lidar", "track_id": 5, "stamp": {"sec": 3, "nanosec": 0}, "frame_stamps": [2.1, 3.0]}
    for payload in (good, {**good, "stamp": None}, {**good, "frame_stamps": []}, {"sensor": "lidar"},
                    {**good, "track_id": "5"}):
        rec.received.append(Received("/lidar/tracklets", "string", 0.0, 3_000_000_000, {"json": payload}))
    assert adapters.tracklet_times(rec) == {("lidar", 5): [(3.0, 2.1, 3.0)]}


def test_the_reports_hand_off_moments_pair_lives_under_their_published_track_ids():
    from tcfd_ros.replay.verdict import handoff_events

    gt, out, matches = _world()
    mods = {"camera": "2d", "lidar": "3d"}
    lives = track_lives({("lidar", 5): _tracklets((1, 8), (41, 45))}, TIMEOUT_S)
    score = score_run(gt, mods, out, out, matches, [], 50.0, CFG, lives)
    events = handoff_events(matches, score.tracking, mods, lives)
    assert [(e.camera, e.lidar, e.camera_person, e.lidar_person) for e in events] == [
        (("camera", 1), ("lidar", 5), 1, 1), (("camera", 2), ("lidar", 5), 2, 2)]
    per_track = handoff_events(matches, score.tracking, mods)
    assert [(e.camera_person, e.lidar_person) for e in per_track] == [(2, 1)]


def test_a_reruns_final_track_state_is_labelled_with_its_last_lifes_person(monkeypatch):
    """Calibration and the decision benchmarks label each track's final state (its last life's evidence)."""
    from tcfd_ros.replay.scoring import TrackingScore
    from training import harvest

    lidar = TrackingScore(track_to_person={5: 1, 6: 3}, life_to_person={5: 1, life_id(5, 1): 2})
    monkeypatch.setattr(harvest, "tracking_scores", lambda rec, scoring, lives: {"lidar": lidar})
    times = {("lidar", 5): _tracklets((1, 8), (41, 45)), ("lidar", 6): _tracklets((1, 9))}
    monkeypatch.setattr(harvest.adapters, "tracklet_times", lambda rec: times)
    assert harvest.final_life_persons(None, CFG, TIMEOUT_S) == {"lidar": {5: 2, 6: 3}}
    assert harvest.final_life_persons(None, CFG, 60.0) == {"lidar": {5: 1, 6: 3}}     # one life each


def test_a_frame_belongs_to_the_life_whose_tracklets_span_it():
    lives = track_lives({("lidar", 5): _tracklets((2, 8), (40, 45))}, TIMEOUT_S)
    assert [lives.life_of_frame(("lidar", 5), t) for t in (1.5, 8.0, 20.0, 39.5, 45.0)] == [0, 0, None, 1, 1]
    assert lives.life_of_frame(("lidar", 6), 20.0) == 0        # a track of one life


def _recorded_tracklets(path, tracklets):
    """An outputs.mcap of ``tracklets``: (sensor, track, frame stamps, frame value) each."""
    import numpy as np
    from rosbags.typesys import Stores, get_typestore

    from tcfd_ros.replay.output_bag import OutputBag
    from tcfd_ros.track_messages import TrackletMsg

    store = get_typestore(Stores.ROS2_KILTED)
    String = store.types["std_msgs/msg/String"]
    bag = OutputBag(path)
    for sensor, track, stamps, value in tracklets:
        sec = int(stamps[-1])
        msg = TrackletMsg({"sec": sec, "nanosec": 0}, "lidar", sensor, "3d", track, tuple(stamps), (0.0, 0.0),
                          np.full((len(stamps), 3, 64, 64), value, np.uint8))
        bag.write(f"/{sensor}/tracklets", "std_msgs/msg/String", sec * 1_000_000_000,
                  store.serialize_cdr(String(data=msg.to_json()), "std_msgs/msg/String"))
    bag.close()


def test_training_sequences_are_cut_and_labelled_per_life(tmp_path, monkeypatch):
    """``tcfd-ros simulate tracklets``: a LiDAR id carried over to another walker gives each walker's
    frames to their own person, not all of them to the person the whole track followed most."""
    from training import harvest

    _recorded_tracklets(tmp_path / "outputs.mcap", [
        ("lidar", 5, [1.0, 2.0, 3.0], 1), ("lidar", 5, [2.0, 3.0, 4.0], 1),      # life 0: 1-4 s
        ("lidar", 5, [40.0, 41.0, 42.0], 2),                                     # life 1: 36 s later
        ("lidar", 6, [5.0, 6.0], 3)])
    lives = track_lives({("lidar", 5): [(4.0, 1.0, 4.0), (42.0, 40.0, 42.0)]}, TIMEOUT_S)
    seqs = harvest.track_sequences(tmp_path / "outputs.mcap", lives)
    assert {k: (v[1].shape[0], int(v[1].max())) for k, v in seqs.items()} == {
        ("lidar", 5): (4, 1), ("lidar", life_id(5, 1)): (3, 2), ("lidar", 6): (2, 3)}
    assert set(harvest.track_sequences(tmp_path / "outputs.mcap")) == {("lidar", 5), ("lidar", 6)}

    monkeypatch.setattr(harvest, "load_recording", lambda d: None)
    monkeypatch.setattr(harvest, "life_persons", lambda rec, scoring, timeout_s: (
        lives, {"lidar": {5: 11, life_id(5, 1): 12, 6: 13}}))
    people = harvest.harvest_replay(tmp_path)
    assert {p: [int(f.max()) for f in v["3d"]] for p, v in people.items()} == {11: [1], 12: [2], 13: [3]}


def test_life_persons_label_each_life_and_keep_single_lives(monkeypatch):
    from tcfd_ros.replay.scoring import TrackingScore
    from training import harvest

    lidar = TrackingScore(track_to_person={5: 1, 6: 3}, life_to_person={5: 1, life_id(5, 1): 2})
    monkeypatch.setattr(harvest, "tracking_scores", lambda rec, scoring, lives: {"lidar": lidar})
    times = {("lidar", 5): _tracklets((1, 8), (41, 45)), ("lidar", 6): _tracklets((1, 9))}
    monkeypatch.setattr(harvest.adapters, "tracklet_times", lambda rec: times)
    lives, persons = harvest.life_persons(None, CFG, TIMEOUT_S)
    assert set(lives.spans) == {("lidar", 5)} and persons == {"lidar": {5: 1, 6: 3, life_id(5, 1): 2}}
