"""Replay scoring on hand-made ground truth and outputs whose scores are known by construction."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tcfd_ros.replay.config import ScoringConfig
from tcfd_ros.replay.records import (GTFrame, GTPerson, MatchEvent, Observation, OutputFrame, RunInfo,
                                     StageLatency)
from tcfd_ros.replay.report import summary_lines, track_pairs_line, write_report
from tcfd_ros.replay.scoring import (PairCounts, TrackPairScore, cmc_curve, latency_percentiles,
                                     score_detection, score_handoff, score_run, score_track_pairs,
                                     score_tracking)

CFG = ScoringConfig()


def cam_person(pid: int, x: float, detectable: bool = True) -> GTPerson:
    return GTPerson(pid, (x, 100.0, x + 40.0, 200.0), None, detectable)


def lid_person(pid: int, x: float, detectable: bool = True) -> GTPerson:
    return GTPerson(pid, None, (x, 0.0), detectable)


def cam_obs(tid: int, x: float) -> Observation:
    return Observation(tid, image_box=(x, 100.0, x + 40.0, 200.0))


def lid_obs(tid: int, x: float) -> Observation:
    return Observation(tid, position=(x, 0.1))


def test_detection_counts_with_dont_care() -> None:
    gt = [GTFrame("camera", 1.0, (cam_person(1, 0), cam_person(2, 200),
                                  cam_person(3, 400, detectable=False))),
          GTFrame("camera", 2.0, (cam_person(1, 10),))]
    # TP, don't care, FP; then FN
    out = [OutputFrame("camera", 1.0, (cam_obs(-1, 2), cam_obs(-1, 402), cam_obs(-1, 600))),
           OutputFrame("camera", 2.0, ())]
    s = score_detection(gt, out, "2d", CFG)
    assert (s.frames, s.true_positives, s.false_positives, s.false_negatives) == (2, 1, 1, 2)
    assert s.precision == pytest.approx(0.5) and s.recall == pytest.approx(1 / 3)


def test_detection_recall_split_by_walkers_overlapping_in_the_image() -> None:
    # frame 1: people 1 and 2 share columns (x 0-40 and 30-70), one blob found for person 1; person 3 alone
    # and found. Frame 2: person 1 alone, missed. Person 4 is don't care and overlaps no one who counts.
    gt = [GTFrame("camera", 1.0, (cam_person(1, 0), cam_person(2, 30), cam_person(3, 200),
                                  cam_person(4, 210, detectable=False))),
          GTFrame("camera", 2.0, (cam_person(1, 10),))]
    out = [OutputFrame("camera", 1.0, (cam_obs(-1, 0), cam_obs(-1, 200))), OutputFrame("camera", 2.0, ())]
    s = score_detection(gt, out, "2d", CFG)
    assert (s.true_positives, s.false_negatives, s.overlapping, s.overlapping_hits) == (2, 2, 2, 1)
    assert s.overlap_share == pytest.approx(0.5)
    assert s.recall_overlapping == pytest.approx(0.5) and s.recall_alone == pytest.approx(0.5)
    lidar = score_detection([GTFrame("lidar", 1.0, (lid_person(1, 5.0), lid_person(2, 5.1)))],
                            [OutputFrame("lidar", 1.0, (lid_obs(-1, 5.0),))], "3d", CFG)
    assert lidar.overlapping == 0 and math.isnan(lidar.recall_overlapping)


def test_lidar_detection_uses_ground_plane_distance() -> None:
    gt = [GTFrame("lidar", 1.0, (lid_person(1, 5.0), lid_person(2, 9.0)))]
    out = [OutputFrame("lidar", 1.0, (lid_obs(-1, 5.3), lid_obs(-1, 9.8)))]   # 0.32 m hit, 0.81 m miss
    s = score_detection(gt, out, "3d", CFG)
    assert (s.true_positives, s.false_positives, s.false_negatives) == (1, 1, 1)


def test_tracking_perfect_and_with_a_switch() -> None:
    gt = [GTFrame("lidar", float(t), (lid_person(1, t), lid_person(2, t + 3))) for t in range(6)]
    perfect = [OutputFrame("lidar", float(t), (lid_obs(7, t), lid_obs(8, t + 3))) for t in range(6)]
    s = score_tracking(gt, perfect, "3d", CFG)
    assert s.mota == pytest.approx(1.0) and s.idf1 == pytest.approx(1.0)
    assert s.track_to_person == {7: 1, 8: 2}
    switched = [OutputFrame("lidar", float(t), (lid_obs(7 if t < 3 else 9, t), lid_obs(8, t + 3)))
                for t in range(6)]
    s2 = score_tracking(gt, switched, "3d", CFG)
    assert s2.id_switches == 1
    assert s2.mota == pytest.approx(1 - 1 / 12)
    assert s2.idf1 < 1.0


def _world(both: bool) -> tuple[dict, dict]:
    """Person 1 walks past the camera then the LiDAR; person 2 only the LiDAR (or the camera only)."""
    cam = [GTFrame("camera", float(t), (cam_person(1, 10 * t),)) for t in range(5)]
    lid = [GTFrame("lidar", float(t),
                   (lid_person(2, t),) + ((lid_person(1, t + 4),) if both and t >= 2 else ()))
           for t in range(5)]
    trk_cam = [OutputFrame("camera", float(t), (cam_obs(1, 10 * t),)) for t in range(5)]
    trk_lid = [OutputFrame("lidar", float(t),
                           (lid_obs(5, t),) + ((lid_obs(6, t + 4),) if both and t >= 2 else ()))
               for t in range(5)]
    return {"camera": cam, "lidar": lid}, {"camera": trk_cam, "lidar": trk_lid}


def test_handoff_correct_and_time_to_match() -> None:
    gt, trk = _world(both=True)
    mods = {"camera": "2d", "lidar": "3d"}
    tracking = {s: score_tracking(gt[s], trk[s], mods[s], CFG) for s in gt}
    matches = [MatchEvent(1.0, "camera", 1, 100, math.nan, False),
               MatchEvent(1.0, "lidar", 5, 101, math.nan, False),
               MatchEvent(3.5, "lidar", 6, 100, 0.2, True)]
    h = score_handoff(gt, mods, tracking, matches, 3600.0, CFG)
    assert (h.people_both, h.handed_off, h.cross_links, h.false_links) == (1, 1, 1, 0)
    assert h.accuracy == 1.0 and h.time_to_match_s == [pytest.approx(1.5)]
    assert h.false_matches_per_hour == 0.0


def test_handoff_false_link_counts_per_hour() -> None:
    gt, trk = _world(both=True)
    mods = {"camera": "2d", "lidar": "3d"}
    tracking = {s: score_tracking(gt[s], trk[s], mods[s], CFG) for s in gt}
    # the camera person is wrongly linked to LiDAR track 5 (person 2)
    matches = [MatchEvent(1.0, "camera", 1, 100, math.nan, False),
               MatchEvent(1.5, "lidar", 5, 100, 0.3, True),
               MatchEvent(3.0, "lidar", 6, 102, math.nan, False)]
    h = score_handoff(gt, mods, tracking, matches, 1800.0, CFG)
    assert (h.handed_off, h.cross_links, h.false_links) == (0, 1, 1)
    assert h.false_matches_per_hour == pytest.approx(2.0)
    assert h.unscored_links == 0 and h.links_by == {"none": 1} and h.false_links_by == {"none": 1}  # v1
    # match v2 says what decided each link: the later joiner's reason
    matches[1] = MatchEvent(1.5, "lidar", 5, 100, 0.3, True, "gait")
    h = score_handoff(gt, mods, tracking, matches, 1800.0, CFG)
    assert h.links_by == {"gait": 1} and h.false_links_by == {"gait": 1}


def test_people_seen_by_one_sensor_only() -> None:
    gt, trk = _world(both=False)
    mods = {"camera": "2d", "lidar": "3d"}
    tracking = {s: score_tracking(gt[s], trk[s], mods[s], CFG) for s in gt}
    matches = [MatchEvent(1.0, "camera", 1, 100, math.nan, False),
               MatchEvent(1.0, "lidar", 5, 101, math.nan, False)]
    h = score_handoff(gt, mods, tracking, matches, 5.0, CFG)
    assert h.people_both == 0 and h.cross_links == 0 and math.isnan(h.accuracy)


def test_track_pairs_of_decided_labelled_tracks_are_counted_and_linked_by_identity() -> None:
    person = {"camera": {1: 100, 2: 200, 3: 100}, "lidar": {4: 100, 5: 200, 6: 300}, "radar": {9: 100}}
    modality = {"camera": "2d", "lidar": "3d", "radar": "other"}
    # camera 3 never delivered a tracklet: none of its pairs counts; lidar 5 joined camera 1's identity
    bindings = {("camera", 1): 10, ("camera", 2): 11, ("lidar", 4): 10, ("lidar", 5): 10, ("lidar", 6): 12,
                ("radar", 9): 10}
    # camera 2 delivered 3 tracklets: too few for gait at 4, so gait cannot decide its pairs
    tracklets = {("camera", 1): 9, ("camera", 2): 3, ("lidar", 4): 4, ("lidar", 5): 12, ("lidar", 6): 8}
    tp = score_track_pairs(bindings, person, modality, tracklets, 4)
    # genuine: (1, 4) linked, (2, 5) not; impostor: (1, 5) linked, (1, 6), (2, 4), (2, 6) not
    assert tp.tracks == PairCounts(genuine=2, genuine_linked=1, impostor=4, impostor_linked=1)
    assert tp.tracks.gar == 0.5 and tp.tracks.fmr == 0.25
    # where gait can decide (camera 1's pairs): (1, 4) genuine linked; (1, 5) linked and (1, 6) impostors
    assert tp.gait == PairCounts(genuine=1, genuine_linked=1, impostor=2, impostor_linked=1)
    both = tp + tp
    assert both.tracks.genuine == 4 and both.gait.impostor_linked == 2 and both.min_tracklets == 4
    assert math.isnan(PairCounts().gar) and math.isnan(PairCounts().fmr)
    with pytest.raises(ValueError, match="min_tracklets"):
        tp + score_track_pairs(bindings, person, modality, tracklets, 6)
    assert "where both tracks delivered >= 4 tracklets (gait can decide): genuine 1/1 (100.0%), " \
        "impostor 1/2 (50.0%)" in track_pairs_line(tp)


def test_cmc_curve_by_hand() -> None:
    import numpy as np
    dist = np.array([[0.1, 0.5, 0.9],     # query person 1: right at rank 1
                     [0.1, 0.2, 0.3],     # query person 2: right (gallery idx 2) at rank 3
                     [0.5, 0.5, 0.5]])    # query person 9: no gallery entry, left out
    cmc, n = cmc_curve([1, 2, 9], [1, 3, 2], dist, 3)
    assert n == 2 and cmc == [0.5, 0.5, 1.0]


def test_latency_percentiles_in_ms() -> None:
    lat = latency_percentiles([StageLatency("a", v / 1000) for v in range(1, 101)])
    assert lat["a"]["n"] == 100 and lat["a"]["p50"] == pytest.approx(50.5)


def test_report_files_and_content(tmp_path: Path) -> None:
    gt, trk = _world(both=True)
    mods = {"camera": "2d", "lidar": "3d"}
    matches = [MatchEvent(1.0, "camera", 1, 100, math.nan, False),
               MatchEvent(3.5, "lidar", 6, 100, 0.2, True)]
    lat = [StageLatency("/lidar/clusters", 0.01 * k) for k in range(1, 20)]
    score = score_run(gt, mods, trk, trk, matches, lat, 5.0, CFG)
    score.cmc, score.cmc_queries = [1.0] * 10, 1
    score.track_pairs = TrackPairScore(4, PairCounts(2, 1, 4, 0), PairCounts(1, 1, 2, 0))
    info = RunInfo("bagdir", 5.0, {"/lidar/points": 5}, {"/lidar/points": 5}, {"/matches": 2}, wall_s=2.5)
    report = write_report(tmp_path, info, score, gt, trk, matches, lat, {}, 0.0)
    md = report.read_text()
    assert "| lidar | 5 | 8 | 0 | 0 | 1.000 | 1.000 | 1.000 | 1.000 | 0 |" in md
    assert "hand-off: 1/1 people" in md and "real-time factor 2.00" in md
    assert "| genuine-accept rate where gait can decide (both tracks >= 4 tracklets; 1 pair) | 1.000 |" in md
    pairs = json.loads((tmp_path / "score.json").read_text())["score"]["track_pairs"]
    assert pairs["tracks"]["gar"] == 0.5 and pairs["gait"]["fmr"] == 0.0 and pairs["min_tracklets"] == 4
    assert "track pairs linked: genuine 1/2 (50.0%)" in "\n".join(summary_lines(info, score, {}))
    assert "overlapping another walker" not in md          # no one overlaps in this world
    for f in ("report.html", "timeline.png", "latency.png", "cmc.png", "score.json"):
        assert (tmp_path / f).stat().st_size > 0


def test_report_without_ground_truth_lists_what_was_seen(tmp_path: Path) -> None:
    info = RunInfo("bagdir", 4.0, {"/lidar/points": 40}, {"/lidar/points": 40}, wall_s=2.0)
    report = write_report(tmp_path, info, None, {}, {}, [], [StageLatency("/lidar/clusters", 0.1)],
                          {"lidar detections": 33}, 0.0)
    md = report.read_text()
    assert "no /ground_truth in the bag: not scored; saw lidar detections 33" in md
    assert "| lidar detections | 33 |" in md and "| /lidar/clusters | 1 | 100.000 |" in md
    assert json.loads((tmp_path / "score.json").read_text())["score"] is None


def test_report_says_how_crowded_the_camera_was(tmp_path: Path) -> None:
    gt = {"camera": [GTFrame("camera", t, (cam_person(1, 0), cam_person(2, 30), cam_person(3, 300)))
                     for t in (1.0, 2.0)]}
    det = {"camera": [OutputFrame("camera", t, (cam_obs(-1, 0), cam_obs(-1, 300))) for t in (1.0, 2.0)]}
    score = score_run(gt, {"camera": "2d"}, det, {}, [], [], 2.0, CFG)
    info = RunInfo("bagdir", 2.0, {"/camera/image_raw": 2}, {"/camera/image_raw": 2}, wall_s=1.0)
    md = write_report(tmp_path, info, score, gt, {}, [], [], {}, 0.0).read_text()
    assert "| camera | 4 of 6 (67 %) | 1.000 | 0.500 |" in md
    assert "camera: 67% of the people's frames overlap another walker in the image; recall 1.000 alone, " \
           "0.500 overlapping" in summary_lines(info, score, {})
    dumped = json.loads((tmp_path / "score.json").read_text())["score"]["detection"]["camera"]
    assert dumped["overlap_share"] == pytest.approx(4 / 6)
    assert dumped["recall_overlapping"] == pytest.approx(0.5)
