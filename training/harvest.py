"""A training set of the perception pipeline's own tracklets, labelled by a simulated bag's ground truth.

Why: the reference model learns from the simulator's clean, rig-cut sequences, but the recognizer meets
what the pipeline cuts out of a bag: silhouettes from a detector and segmenter at 6-13 m, depth maps
from a clustered, sparse scan, tracks that start, break and end where the tracker says. On those the
model's distances separate people much worse (RESULTS.md, "What gait adds where the recognizer
decides"). A replay of a simulated bag (``tcfd-ros replay BAG --record OUT/outputs.mcap --out OUT``)
holds both: the tracklets the pipeline published and the ground truth, which the replay scorer's
track-to-person votes turn into a label per track (per track life, where the
recognizer would start a track anew).

Each labelled track becomes one frame sequence (its tracklets overlap; frames are keyed by their
stamps, so each frame counts once). Every person with a camera track and a LiDAR track of at least
``min_frames`` frames each gives paired sequences in the SUSTech1K layout that ``training.datasets``
reads: ``<ID>/<NN>-pl/000/`` with ``NN-sync-000-Camera-Sils_aligned.pkl`` and
``NN-sync-000-LiDAR-PCDs_depths.pkl``, one per (camera track, LiDAR track) pair, the longer of the two
cut into consecutive windows of the shorter one's length (training pairs frames by index; the two
sensors saw the person at different times, so the pairing is by identity only, as in the loss).

API::

    people = harvest_replay(Path("out/replays/h1"))          # person -> {"2d": [frames], "3d": [frames]}
    n = write_people(people, root, prefix="h1", min_frames=10)
    add_to_partition(root / "partition.json", ids)           # first in TRAIN_SET

Training holds out the last ``data.val_identities`` subjects of TRAIN_SET to calibrate the open-set
thresholds; harvested people go in front of them, so a clean data set extended with a replay's tracks
still calibrates on the clean identities it held out before (a handful of bag people could not resolve
a 0.1 % false-match rate).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path
from typing import Iterator

import numpy as np

from tcfd_ros.errors import DatasetError, MessageFormatError
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.replay import adapters
from tcfd_ros.replay.config import ScoringConfig
from tcfd_ros.replay.losses import foreign_inputs
from tcfd_ros.replay.reader import BagSource
from tcfd_ros.replay.recording import Recording
from tcfd_ros.replay.scoring import TrackingScore, per_life, score_tracking
from tcfd_ros.replay.track_lives import TrackLives, life_id, track_lives
from tcfd_ros.sim.dataset import PICKLE_PROTOCOL, file_names
from tcfd_ros.track_messages import TrackletMsg
from training.datasets.common import read_partition

log = logging.getLogger(__name__)

#: the view folder of harvested sequences: a track has no single view (the person turns within it)
HARVEST_VIEW = "000"
#: the sequence type of harvested sequences ("pl": the pipeline's tracklets)
HARVEST_TYPE = "pl"
#: windows cut from the longer track of a pair, at most (more repeat the shorter one's frames too often)
MAX_WINDOWS = 3
#: SUSTech1K's names of a sequence's files, as the simulated data sets write them
SEQUENCE_FILES = file_names(HARVEST_VIEW)

People = dict[int, dict[str, list[np.ndarray]]]


def tracking_scores(rec: Recording, scoring: ScoringConfig,
                    lives: TrackLives = TrackLives()) -> dict[str, TrackingScore]:
    """Per sensor, the replay scorer's tracking score of a recording's ``/<sensor>/tracks``; its
    ``track_to_person`` is the ground-truth person each track followed most (and ``life_to_person`` each
    life's of the tracks in ``lives``)."""
    gt = adapters.ground_truth_frames(rec.ground_truth)
    return {s: score_tracking(gt.get(s, ()), adapters.track_frames(rec, s, f"/{s}/tracks"), m, scoring,
                              lives.of_sensor(s))
            for s, m in rec.sensors.items()}


def track_persons(rec: Recording, scoring: ScoringConfig) -> dict[str, dict[int, int]]:
    """Per sensor, track id -> the ground-truth person it followed most."""
    return {s: t.track_to_person for s, t in tracking_scores(rec, scoring).items()}


def recording_lives(rec: Recording, timeout_s: float) -> TrackLives:
    """Where the recognizer (``identity.track_timeout_s`` = ``timeout_s``) started the recording's tracks
    anew (``tcfd_ros.replay.track_lives``)."""
    return track_lives(adapters.tracklet_times(rec), timeout_s)


def life_persons(rec: Recording, scoring: ScoringConfig,
                 timeout_s: float) -> tuple[TrackLives, dict[str, dict[int, int]]]:
    """The tracks the recognizer would start anew (no tracklet for ``timeout_s``) and, per sensor, the
    person of each track life under its scored id (``life_id``): a tracker that carried an id over to
    another walker labels each walker's frames with their own person (RESULTS.md, "Hand-off scored per
    track life")."""
    lives = recording_lives(rec, timeout_s)
    return lives, {s: t.track_to_person for s, t in per_life(tracking_scores(rec, scoring, lives)).items()}


def final_life_persons(rec: Recording, scoring: ScoringConfig, timeout_s: float) -> dict[str, dict[int, int]]:
    """Per sensor, track id -> the person of the track's last life: what a re-run's final track state
    (``final_track_states``) holds evidence of. A track the recognizer started anew (no tracklet for
    ``timeout_s``, its ``identity.track_timeout_s``) may have carried its id over to another walker
    (RESULTS.md, "Hand-off scored per track life"); any other track's person is its majority one."""
    lives = recording_lives(rec, timeout_s)
    out = {}
    for sensor, t in tracking_scores(rec, scoring, lives).items():
        persons = dict(t.track_to_person)
        for tid, spans in lives.of_sensor(sensor).items():
            last = t.life_to_person.get(life_id(tid, len(spans) - 1))
            if last is not None:
                persons[tid] = last
        out[sensor] = persons
    return out


def recorded_tracklets(mcap: Path) -> Iterator[TrackletMsg]:
    """The tracklets a replay recorded (``--record``), in time order; a malformed one is skipped and
    counted in one warning at the end (the rest are still good training and calibration data)."""
    bad, first = 0, ""
    with BagSource(mcap) as src:
        for m in src.messages([t for t in src.topics if t.endswith("/tracklets")]):
            try:
                yield TrackletMsg.from_json(src.deserialize(m).data)
            except MessageFormatError as e:
                bad, first = bad + 1, first or f"{m.topic}: {e}"
    if bad:
        log.warning("%s: skipped %d malformed tracklet message(s), the first: %s", mcap, bad, first)


def track_sequences(mcap: Path, lives: TrackLives = TrackLives()
                    ) -> dict[tuple[str, int], tuple[str, np.ndarray]]:
    """Each recorded track's frames in time order, once each: (sensor, track) -> (modality, frames). A
    track of several ``lives`` gives a sequence per life, under its scored id (``life_id``); frames
    between two lives belong to neither."""
    frames: dict[tuple[str, int], dict[float, np.ndarray]] = {}
    modality: dict[tuple[str, int], str] = {}
    for t in recorded_tracklets(mcap):
        track = (t.sensor, int(t.track_id))
        for stamp, frame in zip(t.frame_stamps, t.frames):
            life = lives.life_of_frame(track, float(stamp))
            if life is None:
                continue
            key = (t.sensor, life_id(track[1], life))
            modality[key] = t.modality
            frames.setdefault(key, {}).setdefault(round(float(stamp), 6), frame)
    return {k: (modality[k], np.stack([per[s] for s in sorted(per)])) for k, per in frames.items()}


def load_recording(replay_dir: Path) -> Recording:
    """A replay's ``recording.jsonl`` with ground truth, or one DatasetError line saying what is wrong."""
    path = replay_dir / "recording.jsonl"
    try:
        rec = Recording.load(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DatasetError(f"{path}: not a replay's recording ({type(e).__name__}: {e}); expected the "
                           "--out directory of tcfd-ros replay") from e
    if not rec.ground_truth:
        raise DatasetError(f"{replay_dir}: the replay has no ground truth (/ground_truth); only replays of "
                           "simulated bags can label their tracks")
    heard = foreign_inputs(rec.info.stages)
    if heard:
        more = "; ..." if len(heard) > 1 else ""
        raise DatasetError(f"{replay_dir}: another publisher's messages reached this replay's graph "
                           f"({heard[0]}{more}): its tracks mix two runs; replay the bag again on a domain "
                           "of its own")
    return rec


def harvest_replay(replay_dir: Path, mcap: Path | None = None, scoring: ScoringConfig = ScoringConfig(),
                   timeout_s: float = IdentityConfig().track_timeout_s) -> People:
    """The labelled track sequences of one recorded replay: person -> modality -> [frames per track].

    A track whose tracklets pause longer than ``timeout_s`` (the recognizer's ``identity.track_timeout_s``)
    is one sequence per life, each labelled with its own person. Tracks the scorer could not tie to a
    person (clutter, a track that never overlapped anyone) are left out. A replay without ground truth
    (a real bag) cannot be harvested."""
    rec = load_recording(replay_dir)
    lives, persons = life_persons(rec, scoring, timeout_s)
    out: People = {}
    tracks = track_sequences(mcap or replay_dir / "outputs.mcap", lives)
    for (sensor, track), (mod, frames) in sorted(tracks.items()):
        pid = persons.get(sensor, {}).get(track)
        if pid is not None:
            out.setdefault(int(pid), {"2d": [], "3d": []})[mod].append(frames)
    return out


def windows(n: int, length: int) -> list[slice]:
    """Up to MAX_WINDOWS consecutive windows of ``length`` frames out of ``n``, spread over all of them."""
    count = min(MAX_WINDOWS, n // length)
    starts = np.linspace(0, n - length, count).round().astype(int) if count > 1 else [(n - length) // 2]
    return [slice(int(s), int(s) + length) for s in starts]


def _write(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(np.ascontiguousarray(arr, dtype=np.uint8), f, protocol=PICKLE_PROTOCOL)
    os.replace(tmp, path)


def write_people(people: People, root: Path, prefix: str, min_frames: int) -> list[str]:
    """Write each person's (camera track, LiDAR track) pairs under ``root/<prefix>-<person>/``; the ids
    written. A person without both a camera and a LiDAR track of ``min_frames`` frames is skipped."""
    ids = []
    for pid, mods in sorted(people.items()):
        cams = [f for f in mods["2d"] if len(f) >= min_frames]
        lids = [f for f in mods["3d"] if len(f) >= min_frames]
        if not cams or not lids:
            continue
        sid = f"{prefix}-{pid}"
        seq = 0
        for cam in cams:
            for lid in lids:
                length = min(len(cam), len(lid))
                for wc in windows(len(cam), length):
                    for wl in windows(len(lid), length):
                        folder = root / sid / f"{seq:02d}-{HARVEST_TYPE}" / HARVEST_VIEW
                        folder.mkdir(parents=True, exist_ok=True)
                        _write(folder / SEQUENCE_FILES["sync_depth"], lid[wl])
                        _write(folder / SEQUENCE_FILES["sync_sil"], cam[wc])
                        seq += 1
        ids.append(sid)
    return ids


def add_to_partition(path: Path, ids: list[str]) -> None:
    """Put ``ids`` first in TRAIN_SET of the partition file ``path`` (created if absent), keeping the
    held-out identities at its end; ids it already lists (a replay harvested twice) are not repeated."""
    empty: dict[str, list[str]] = {"TRAIN_SET": [], "TEST_SET": []}
    part = read_partition(path, ("TRAIN_SET", "TEST_SET")) if path.exists() else empty
    known = set(part["TRAIN_SET"]) | set(part["TEST_SET"])
    part["TRAIN_SET"] = [i for i in dict.fromkeys(ids) if i not in known] + part["TRAIN_SET"]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(part, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
