"""Each sensor's track statures against the ground truth, and what a perfect stature would buy.

Stature is cross-sensor evidence beside gait (``perception/stature.py``). This reads recorded replays
(``tcfd-ros replay BAG --fast --out DIR --record DIR/outputs.mcap``; the camera's ``annotated`` images may
be stripped) and, per sensor, compares every labelled track's stature, as the recognizer estimates it from
the recorded per-frame values (``track_stature`` with the identity config's ``stature_min_samples`` and
``stature_max_spread_m``), with its person's true height: the median height of that person's 3-D box in the
simulator's ``/ground_truth``. It prints the census (tracks, tracks without a stature, the median error
(the sensor's bias), the robust SD of the errors, and the tracks off by more than ``--far`` metres from
the bias) and the same split by how far a track's per-frame values spread (their robust SD), which says
whether a spread predicts a wrong stature.

Tracks and hand-off are scored per track life, as the replay scores them (``tcfd_ros.replay.track_lives``:
a track the recognizer started anew is two tracks, each labelled with its own person).

With ``--oracle camera|lidar|both`` it then re-runs the recognizer on each recording (as
``recognizer_rerun.py`` does) twice: as recorded, and with every labelled track of the named sensors given
its person's true height plus that sensor's measured bias (and 1 cm of noise, seeded) in each frame it
measured a stature, and prints both hand-offs: the ceiling a perfect stature measurement would reach on
these recordings, with the rest of the pipeline as it is. Not collected by pytest.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/stature_truth.py out/replay_a out/replay_b [--oracle camera]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from recognizer_rerun import DEFAULT_MODEL, identity_config, rerun, rerun_handoff  # noqa: E402
from tcfd_ros.messages import stamp_to_seconds  # noqa: E402
from tcfd_ros.perception.stature import robust_sd, track_stature  # noqa: E402
from tcfd_ros.replay.config import ReplayConfig  # noqa: E402
from tcfd_ros.replay.recording import Recording  # noqa: E402
from tcfd_ros.replay.rerun import RecordedInput, recorded_inputs  # noqa: E402
from tcfd_ros.replay.scoring import TrackingScore, per_life  # noqa: E402
from tcfd_ros.replay.track_lives import TrackLives  # noqa: E402
from training.harvest import recording_lives, tracking_scores  # noqa: E402

#: Robust-SD bands (metres) of a track's per-frame statures in the census's second table.
SPREAD_BANDS_M = (0.0, 0.015, 0.025, 0.035, 0.05, 0.07, float("inf"))
#: The oracle's per-frame noise (metres, SD) and its seed.
ORACLE_NOISE_M = 0.01
ORACLE_SEED = 0


@dataclass(frozen=True)
class TrackStature:
    """One labelled track's per-frame statures, its estimate and its person's true height."""

    sensor: str
    track_id: int
    person: int
    truth_m: float
    samples_m: np.ndarray
    estimate_m: float | None

    @property
    def spread_m(self) -> float:
        return robust_sd(self.samples_m)


def true_heights(rec: Recording) -> dict[int, float]:
    """Each person's median 3-D box height over the recording's ground truth, metres."""
    heights: dict[int, list[float]] = defaultdict(list)
    for frame in rec.ground_truth:
        for p in frame.get("people", []):
            box = p.get("box3d") or {}
            if box.get("size"):
                heights[int(p["id"])].append(float(box["size"][2]))
    return {k: float(np.median(v)) for k, v in heights.items()}


def scored_key(msg: dict, track: dict, lives: TrackLives) -> tuple[str, int]:
    """(sensor, the id the replay scores a ``tracks`` message's track under: its life's, ``life_id``)."""
    key = (msg["sensor"], int(track["track_id"]))
    return key[0], lives.scored_id(key, stamp_to_seconds(msg["stamp"]))


def per_frame_statures(inputs: list[RecordedInput], lives: TrackLives) -> dict[tuple[str, int], list[float]]:
    """Every recorded ``tracks`` message's per-frame statures, per (sensor, scored track or life id)."""
    out: dict[tuple[str, int], list[float]] = defaultdict(list)
    for _, kind, _, text in inputs:
        if kind:
            continue
        msg = json.loads(text)
        for t in msg.get("tracks", []):
            if t.get("stature_m") is not None:
                out[scored_key(msg, t, lives)].append(float(t["stature_m"]))
    return out


def track_statures(rec: Recording, tracking: dict[str, TrackingScore], inputs: list[RecordedInput],
                   lives: TrackLives, min_samples: int, max_spread_m: float) -> list[TrackStature]:
    """The labelled tracks (``tracking``'s track-to-person labels, the replay scorer's) with enough
    per-frame statures."""
    labels = {s: t.track_to_person for s, t in per_life(tracking).items()}
    truth = true_heights(rec)
    out = []
    for (sensor, tid), values in per_frame_statures(inputs, lives).items():
        person = labels.get(sensor, {}).get(tid)
        if person is None or person not in truth or len(values) < min_samples:
            continue
        s = np.asarray(values)
        out.append(TrackStature(sensor, tid, person, truth[person], s,
                                track_stature(s, min_samples, max_spread_m)))
    return out


def census(tracks: list[TrackStature], far_m: float) -> dict:
    """Per sensor: tracks, none, bias, robust SD of the errors, far-off tracks, and the spread bands."""
    out = {}
    for sensor in sorted({t.sensor for t in tracks}):
        mine = [t for t in tracks if t.sensor == sensor]
        measured = [t for t in mine if t.estimate_m is not None]
        err = np.array([t.estimate_m - t.truth_m for t in measured])
        bias = float(np.median(err)) if err.size else float("nan")
        off = np.abs(err - bias)
        bands = []
        spreads = np.array([t.spread_m for t in measured])
        for lo, hi in zip(SPREAD_BANDS_M[:-1], SPREAD_BANDS_M[1:]):
            m = (spreads >= lo) & (spreads < hi)
            if m.any():
                bands.append({"spread_m": [lo, hi], "tracks": int(m.sum()),
                              "far": int((off[m] > far_m).sum())})
        out[sensor] = {"tracks": len(mine), "none": len(mine) - len(measured), "bias_m": round(bias, 4),
                       "robust_sd_m": round(robust_sd(err, bias), 4) if err.size else None,
                       "far": int((off > far_m).sum()), "by_spread": bands}
    return out


def with_true_statures(inputs: list[RecordedInput], tracks: list[TrackStature], bias: dict[str, float],
                       sensors: set[str], lives: TrackLives, rng: np.random.Generator) -> list[RecordedInput]:
    """``inputs`` with the per-frame statures of ``tracks`` of ``sensors`` set to truth + bias + noise."""
    truth = {(t.sensor, t.track_id): t.truth_m + bias[t.sensor] for t in tracks if t.sensor in sensors}
    out = []
    for ns, kind, topic, text in inputs:
        if not kind:
            msg = json.loads(text)
            for t in msg.get("tracks", []):
                h = truth.get(scored_key(msg, t, lives))
                if h is not None and t.get("stature_m") is not None:
                    t["stature_m"] = round(h + float(rng.normal(0.0, ORACLE_NOISE_M)), 4)
            text = json.dumps(msg)
        out.append((ns, kind, topic, text))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("replay_dirs", type=Path, nargs="+", help="replay --out directories (recording.jsonl, "
                    "outputs.mcap)")
    ap.add_argument("--oracle", choices=("camera", "lidar", "both"), default=None,
                    help="also re-run with these sensors' labelled tracks given their person's true height")
    ap.add_argument("--far", type=float, default=0.06, help="a track this far (m) from the bias is off")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--identity", action="append", default=[], metavar="NAME=VALUE",
                    help="override an IdentityConfig field (YAML value)")
    args = ap.parse_args()
    cfg = identity_config(args.identity)
    scoring = ReplayConfig().scoring
    loaded = []
    for d in args.replay_dirs:
        rec = Recording.load(d / "recording.jsonl")
        inputs = recorded_inputs(d / "outputs.mcap")
        lives = recording_lives(rec, cfg.track_timeout_s)   # scored per track life, as the replay does
        trk = tracking_scores(rec, scoring, lives)
        tracks = track_statures(rec, trk, inputs, lives, cfg.stature_min_samples, cfg.stature_max_spread_m)
        loaded.append((d, rec, trk, lives, inputs, tracks))
    table = census([t for *_, tracks in loaded for t in tracks], args.far)
    print(json.dumps({"census": table}))
    if args.oracle is None:
        return 0
    sensors = {"camera", "lidar"} if args.oracle == "both" else {args.oracle}
    bias = {s: v["bias_m"] for s, v in table.items()}
    rng = np.random.default_rng(ORACLE_SEED)
    total = {"as_recorded": [0, 0, 0], "oracle": [0, 0, 0]}
    for d, rec, trk, lives, inputs, tracks in loaded:
        row = {}
        oracle = with_true_statures(inputs, tracks, bias, sensors, lives, rng)
        for name, feed in (("as_recorded", inputs), ("oracle", oracle)):
            hand = rerun_handoff(rec, rerun(feed, args.model, cfg), scoring, trk, lives)
            row[name] = [hand.handed_off, hand.people_both, hand.false_links]
            total[name] = [a + b for a, b in zip(total[name], row[name])]
        print(json.dumps({"replay": str(d), **row}), flush=True)
    print(json.dumps({"total": total, "oracle_sensors": sorted(sensors), "keys": "handed_off, people_both, "
                      "false_links"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
