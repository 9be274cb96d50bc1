"""Cross-sensor identity decisions: one global identity per person across cameras and LiDARs.

This is the recognizer's logic without ROS (assignment and hysteresis; what is remembered and saved
is ``identity_store.IdentityStore``, the geometry is ``colocation.GroundTracks``). API::

    mgr = IdentityManager(IdentityConfig(), gallery=Gallery(path) | None, model_metadata=embedder.metadata)
    mgr.observe_positions(sensor, stamp_s, fixed_frame,
                          [(track_id, ground_xyz, sigma_m, measured, stature_m), ...])
    matches: list[IdentityMatch] = mgr.update([TrackObservation(stamp_s, sensor, modality, track_id,
                                                                embedding (p, d), position=None), ...])
    mgr.enrol(sensor, track_id, label=None) -> global_id    # the "enrol the current track" service
    mgr.erase(global_id) -> bool                            # the "erase an identity" service
    mgr.identities() -> list[IdentitySummary]               # the "list" service
    mgr.apply_retention(now_s) -> list[int]
    mgr.threshold                                           # the open-set threshold in use (settable)

How identities are decided:

1. Track-level evidence. Each track keeps its newest ``track_evidence_tracklets`` tracklet
   embeddings; its evidence is their aggregate (``tcfd_ros.distance.aggregate_track_embedding``).
   An identity's gait distance is the smallest cross-modal distance between that aggregate and the
   identity's stored track-level embeddings of *other* tracks (or the gallery), so a track never
   confirms itself. The open-set ``threshold`` is ``cfg.open_set_threshold`` if set, else the model
   metadata's ``open_set_threshold_track`` (calibrated for track embeddings), else its
   ``open_set_threshold``. Gait supports an identity when the distance is within the threshold and
   the track has delivered at least ``gait_min_tracklets`` tracklets; with ``transit_prior`` also
   only if the person reached this sensor between ``transit_min_s`` and ``transit_max_s`` after the
   identity was last seen by another sensor. With ``speed_evidence`` / ``stature_evidence`` /
   ``step_frequency_evidence``, walking speed, stature and step frequency weigh in per identity
   (``walking_speed.py``, ``stature.py``, ``step_frequency.py``; kept per track and identity and
   weighed by ``cue_evidence.py``): the track's values against what the identity was last measured at
   on another sensor give likelihood ratios. A model calibrated on
   replays (metadata ``open_set_cue_exponent_track`` k, written by ``tcfd-ros calibrate``) reads
   gait and cues as one likelihood ratio: the score is the gait distance times their product to the
   power -k (``cue_combination.py``), and its threshold was set on that score. An older model with
   only ``open_set_fmr_curve_track`` moves the threshold along that curve instead: to the curve's at
   the base threshold's false-match rate times their product (where stature counts, at
   ``stature_open_set_fmr`` times it). What decides (gait support, assignment cost, hysteresis,
   confidence) is that score (``_Candidates.score``, ``decision_score``); matches report the gait
   distance itself. With such a model and ``relative_accept_factor`` on, gait also supports the
   best-scoring admissible identity that misses the threshold by at most that factor when every other
   admissible identity scores ``relative_accept_margin_nats`` (nats of the cues' ratio) worse (at least
   one must) and holds no other track of this track's sensor: a clear first among strangers.
2. Geometry (``use_geometry``; ``colocation.py``). From every sensor's ``tracks`` (fixed-frame
   ``ground``), a camera track and a LiDAR track that stayed co-located over enough simultaneous
   samples, with no other candidate near either, are LINKED: that alone is enough to share an
   identity (the lower global id wins; the other track moves to it). Tracks seen at the same moment
   far apart are VETOED: no gait score puts them in one identity, and the one that joined an identity
   later leaves it. Tracks never seen at the same time (disjoint fields) are left to gait.
3. Assignment. Per sensor, the unbound tracks of a batch go to identities by the Hungarian method
   (geometric links first, then gait distance). An identity bound to another track *of the same
   sensor* that delivered a tracklet within ``concurrent_window_s`` is not a candidate (one sensor
   sees two people at once as two tracks); a track that stopped earlier (a fragment the tracker lost)
   does not block it, so a re-acquired person gets their identity back. One the sensor saw at the same
   time as this track for ``concurrent_overlap_s`` (``track_spans.py``), whether it has ended or still
   delivers (unless the identity holds it by geometry: then it blocks), is another person: the
   identity is a candidate only if this track's gait fits its other-modality evidence better (by
   ``rival_fit_margin``; with ``rival_fit_cues``, by their decision scores, each track's gait with the
   cues it measured, where both measured the same cues: a rival's cues stay with the identity after its
   track ends), and joining it moves that track to an identity of its own (its new binding is a
   revision, ``take_revisions``: published after the update's matches); a geometric link to the
   identity is exempt (a camera tracker's second track on one walker overlaps the first, too). Nor
   may a track join by gait an identity holding a track it could only have come from, or gone to,
   faster than ``max_walking_speed_mps`` (where one's tracklets ended and the other's began, or,
   for tracks seen at overlapping times, their first and newest tracklets 2 s or more apart:
   ``track_spans.py``; the geometric veto of two tracks seen apart is forgotten with their positions,
   this is not); a geometric link is exempt here too, and so is a track of this sensor seen beside this
   one for ``concurrent_overlap_s`` that geometry does not hold: two people, for the rule above to judge
   by gait (``_rival``), not one person in two places. With ``successive_fit_ratio`` set, of two tracks of
   one sensor an identity holds one after the other (not together), both by gait, the one whose gait fits
   the identity's other-modality evidence that many times worse leaves (``_successive_rivals``): moved out
   when the other joins or delivers, leaving itself when it delivers, barred from joining while it fits
   that much worse; nor may the fragment rule below gather it (RESULTS.md, "Of two
   successive tracks of one sensor, the far worse fit leaves"). An unsupported track gets a new identity
   (``known`` False). After the assignment, with ``fragment_max_gap_s`` set (15 s by default), an identity
   that one track of a sensor founded and alone holds joins the identity of a track gait or geometry holds
   when it is a fragment of that person's walk (``fragments.py``: it follows or precedes, with no
   overlap, within that gap and at a walking pace, a track of its sensor the identity holds; its gait
   passes against the holding track's and fits that identity best); its track's new binding is a
   revision, ``known``, decided by gait. With ``fragment_release`` a gathered fragment leaves again for
   an identity of its own (a revision, not ``known``) when a live track of the holder's modality fits it
   better and passes (``FragmentRules.claimed``): gait gathered it among the tracks seen by then.
4. Hysteresis. A bound track keeps its identity while geometry or gait supports it. Without
   support, it moves to another identity only on ``switch_patience`` consecutive tracklets where that
   identity's gait distance is within the threshold and ``switch_margin`` closer; a track still alone
   in the identity it founded moves on the first such tracklet (its aggregate is the accumulated
   evidence, and ``gait_min_tracklets`` already held back its first link). A binding gait alone holds
   (no geometric link) moves, with a model that carries a cue exponent k, to another identity gait
   also accepts once that one scores ``gait_revision_nats`` of the cues' ratio better (``log(score /
   other) / k``) on ``switch_patience`` consecutive tracklets: a first link is made at
   ``gait_min_tracklets``, often as the speed cue first arrives, and a stranger who passes then must not
   keep the track when its own person's identity later scores better (RESULTS.md, "A first gait link that
   later evidence overturns"). With a cue exponent an unsupported binding moves by that margin in nats
   too: its scores, ``d x LR^-k``, are ~1e-8 on replays, and ``switch_margin`` is a gait distance, so a
   binding that stopped passing never moved to the identity that passed instead (RESULTS.md, "An
   unsupported binding that never moved"). A geometric link or veto acts at once: it rests on sustained
   evidence already. An identity left behind by the only track that made it is forgotten (no ghosts); one
   other tracks still hold keeps nothing of the track that left: its stored embeddings and the cues it
   measured go with it (``_leave``), so the identity is compared, and holds tracks for the rules above,
   only by what its own tracks showed.
5. Memory and gallery: ``identity_store.py``. A track unseen for ``track_timeout_s`` releases its
   binding (its identity stays, for re-entry). One that delivers again after that is a new track: what
   it delivered before (span, places, stored embeddings) is kept as an ended track of its own
   (``PastKey``), so the walking-pace and same-sensor rules do not read two people as one track.

``decided_by`` says what holds the track in its identity: ``"geometry"``, ``"gait"``, ``"both"`` (what
supports it now, else what last supported this binding, e.g. after the geometric partner's track
ended), or None (nothing but the track itself: a new or unknown person, ``known`` False). The decision's
``ground`` is the inverse-variance mean of the positions of the track and its geometric partners.
``confidence`` = sigmoid of the decision score's margin to the threshold: with the model's cue exponent k,
``log(threshold / score) / k`` (nats of the cues' likelihood ratio), else ``(threshold - score) /
confidence_temperature``; 1 for geometry alone, 0 without a distance. Bad input (unknown modality,
non-finite or mis-shaped embedding, timestamps going backwards for a track) raises ``MessageFormatError``
before any state changes.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from tcfd_ros.distance import aggregate_track_embedding
from tcfd_ros.errors import ConfigError, MessageFormatError
from tcfd_ros.gallery import Gallery
from tcfd_ros.messages import MODALITIES
from tcfd_ros.modalities import FRAME_SHAPES
from tcfd_ros.perception.colocation import GroundTracks, Relation
from tcfd_ros.perception.config import SPLIT_WINDOW_S, IdentityConfig
from tcfd_ros.perception.cue_evidence import CueEvidence
from tcfd_ros.perception.fragments import Fragment, FragmentRules, Gathered, HeldTrack
from tcfd_ros.perception.identity_store import IdentityStore, StoredIdentity
from tcfd_ros.perception.identity_types import (IdentityMatch, IdentitySummary, PastKey,  # noqa: F401
                                                TrackKey, TrackObservation, is_past)
from tcfd_ros.perception.track_spans import PLACE_SIGMAS, TrackSpans

log = logging.getLogger(__name__)

_FORBIDDEN = 1e6
_GEOMETRY_COST = -1.0     # a geometric link is preferred over any gait distance in the assignment


@dataclass
class _TrackState:
    gid: int
    last_stamp_s: float
    joined_s: float
    contrary: int = 0
    contrary_gid: int | None = None
    reason: str | None = None      # what last supported this binding ("geometry", "gait", "both")


@dataclass
class _Evidence:
    first_stamp_s: float
    tracklets: deque = field(default_factory=deque)
    count: int = 0
    last_stamp_s: float = -math.inf

    def aggregate(self, trim_share: float) -> np.ndarray:
        return aggregate_track_embedding(np.stack(self.tracklets), trim_share)


@dataclass
class _Candidates:
    """What supports each identity for one observation."""

    gids: list[int]
    gait: np.ndarray            # gait distance to each identity (other tracks), inf if none
    score: np.ndarray           # what decides: gait corrected by walking speed and stature
    own: np.ndarray             # distance to the track's own stored embedding
    admissible: np.ndarray      # bool: not blocked by a same-sensor track or a geometric veto
    gait_ok: np.ndarray         # bool: gait supports it
    links: dict[int, list[TrackKey]]   # gid -> geometric partners bound to it
    rivals: dict[int, list[TrackKey]] = field(default_factory=dict)   # gid -> its tracks that leave if
    #                                   this track joins (seen beside it by its sensor; concurrent_overlap_s)
    barred: np.ndarray | None = None    # bool: a track of this sensor it holds fits it far better
    #                                   (successive_fit_ratio); None: none is

    def support(self, j: int) -> str | None:
        geo = self.gids[j] in self.links
        if geo and self.gait_ok[j]:
            return "both"
        return "geometry" if geo else ("gait" if self.gait_ok[j] else None)


def threshold_from(cfg: IdentityConfig, meta: Mapping[str, Any]) -> tuple[float, str]:
    """(open-set threshold, where it came from) for track-level decisions."""
    for value, source in ((cfg.open_set_threshold, "identity.open_set_threshold"),
                          (meta.get("open_set_threshold_track"), "model open_set_threshold_track"),
                          (meta.get("open_set_threshold"), "model open_set_threshold")):
        if value is not None:
            thr = float(value)
            if not 0.0 < thr < 2.0:
                raise ConfigError(f"open_set_threshold = {thr} ({source}): expected 0 < value < 2")
            return thr, source
    raise ConfigError("open_set_threshold: not set in the identity config and absent from the model "
                      "metadata; calibrate the model (tcfd-ros evaluate) or set identity.open_set_threshold")


class IdentityManager:
    """Global identities across sensors (see module docstring). Not thread-safe: one caller."""

    def __init__(self, cfg: IdentityConfig = IdentityConfig(), gallery: Gallery | None = None,
                 model_metadata: Mapping[str, Any] | None = None) -> None:
        cfg.validate()
        meta = model_metadata or {}
        self.threshold, self.threshold_source = threshold_from(cfg, meta)
        shape = (int(meta["parts"]), int(meta["dim"])) if "parts" in meta and "dim" in meta else None
        self.store = IdentityStore(cfg, gallery, shape)
        self.ground = GroundTracks(cfg)
        self.cue_evidence = CueEvidence(cfg, meta, self.ground, self.threshold)
        self._cfg = cfg
        self._tracks: dict[TrackKey, _TrackState] = {}
        self._evidence: dict[TrackKey, _Evidence] = {}
        self.spans = TrackSpans()
        self._pasts = 0                 # tracks' pasts set apart so far (``_set_apart``)
        self._revisions: list[IdentityMatch] = []
        self.fragments_gathered = 0     # identities gathered into another as fragments of one walk
        self._gathered: dict[TrackKey, Gathered] = {}   # gathered fragments, by their track
        self._released: set[tuple[TrackKey, int]] = set()  # (fragment, identity) it left: never again
        self._claims: dict[tuple[TrackKey, TrackKey], int] = {}   # (fragment, claimant) -> consecutive claims
        self.fragments_released = 0     # gathered fragments that a better-fitting track claimed
        # (track, identity) -> the track for which the rival rule moved the first out of that identity
        self._displaced: dict[tuple[TrackKey, int], TrackKey] = {}
        self.displaced_returned = 0     # tracks that went back when the track that displaced them left
        self.tracks_split = 0           # tracks that moved faster than a walker and went on as new ones

    @property
    def cfg(self) -> IdentityConfig:
        return self._cfg

    @cfg.setter
    def cfg(self, cfg: IdentityConfig) -> None:
        """New thresholds apply to the next tracklet; identities and bindings are kept."""
        cfg.validate()
        self._cfg = self.store.cfg = self.ground.cfg = self.cue_evidence.cfg = cfg

    @property
    def gallery(self) -> Gallery | None:
        return self.store.gallery

    # ---- positions -------------------------------------------------------------------------
    def observe_positions(self, sensor: str, stamp_s: float, fixed_frame: str,
                          tracks: Iterable[tuple[Any, ...]]) -> int:
        """Record one frame of a sensor's track positions (``tracks`` v2, v3); returns how many were kept.

        ``tracks``: ``(track_id, ground, sigma)``, ``(track_id, ground, sigma, measured)`` or
        ``(track_id, ground, sigma, measured, stature_m)``. A track that coasted this frame (``measured``
        False: no detection, ``tracks`` ``detection`` -1) gives its filter's prediction, not a position:
        geometry neither links nor vetoes on predictions (a track coasting behind an occluder drifts on,
        metres from where its person is). ``stature_m`` (None: not measured) feeds ``stature_evidence``.
        """
        if not (self.cfg.use_geometry or self.cfg.cues_on) or not fixed_frame:
            return 0
        kept = 0
        for track_id, ground, sigma, *rest in tracks:
            if rest and not rest[0]:
                continue
            if ground is not None:
                kept += self.ground.add((sensor, int(track_id)), stamp_s, fixed_frame, ground, sigma)
            if len(rest) > 1 and rest[1] is not None:
                self.cue_evidence.add_stature((sensor, int(track_id)), stamp_s, float(rest[1]))
        return kept

    # ---- validation ------------------------------------------------------------------------
    def _check(self, observations: Sequence[TrackObservation]) -> None:
        shape = None
        for i, o in enumerate(observations):
            if o.modality not in MODALITIES:
                raise MessageFormatError(
                    f"observations[{i}].modality = {o.modality!r}: expected one of {MODALITIES}")
            e = np.asarray(o.embedding)
            if e.ndim != 2 or e.size == 0 or not np.isfinite(e).all():
                raise MessageFormatError(
                    f"observations[{i}].embedding shape {e.shape}: expected a finite (parts, dim) array")
            if shape is not None and e.shape != shape:
                raise MessageFormatError(
                    f"observations[{i}].embedding shape {e.shape} != {shape} of the batch")
            if self.store.bank.shape is not None and e.shape != self.store.bank.shape:
                raise MessageFormatError(
                    f"observations[{i}].embedding shape {e.shape} != {self.store.bank.shape} of the stored "
                    f"embeddings (model metadata or gallery): a different model?")
            shape = e.shape
            if o.frames is not None and (np.shape(o.frames)[1:] != FRAME_SHAPES[o.modality]
                                         or len(o.frames) != len(o.frame_stamps)):
                raise MessageFormatError(
                    f"observations[{i}].frames shape {np.shape(o.frames)} with {len(o.frame_stamps)} stamps: "
                    f"expected (T, {FRAME_SHAPES[o.modality]}) frames, one stamp each")
            if not isinstance(o.stamp_s, (int, float)) or not math.isfinite(o.stamp_s):
                raise MessageFormatError(
                    f"observations[{i}].stamp_s = {o.stamp_s!r}: expected finite seconds")
            ev = self._evidence.get(o.key)
            if ev is not None and o.stamp_s < ev.last_stamp_s:
                raise MessageFormatError(
                    f"observations[{i}] ({o.sensor} track {o.track_id}) stamp {o.stamp_s:.6f} is earlier "
                    f"than its previous tracklet {ev.last_stamp_s:.6f}: timestamps must not go backwards")
            if o.position is not None:
                p = np.asarray(o.position, dtype=np.float64)
                if p.shape not in ((2,), (3,)) or not np.isfinite(p).all():
                    raise MessageFormatError(
                        f"observations[{i}].position = {o.position!r}: expected 2 or 3 finite numbers")

    # ---- evidence --------------------------------------------------------------------------
    def _gather(self, o: TrackObservation) -> _Evidence:
        cfg = self.cfg
        if (cfg.split_speed_mps > 0 and o.key in self._evidence
                and self.ground.moved_faster(o.key, cfg.split_speed_mps, SPLIT_WINDOW_S, PLACE_SIGMAS)):
            self._split(o.key)
        ev = self._evidence.get(o.key)
        if ev is None:
            if o.key in self.spans:
                self._set_apart(o.key)
            ev = self._evidence[o.key] = _Evidence(o.stamp_s, deque(maxlen=self.cfg.track_evidence_tracklets))
        if ev.tracklets.maxlen != self.cfg.track_evidence_tracklets:
            ev.tracklets = deque(ev.tracklets, maxlen=self.cfg.track_evidence_tracklets)
        ev.tracklets.append(np.asarray(o.embedding, dtype=np.float32).copy())
        ev.count += 1
        ev.last_stamp_s = o.stamp_s
        self.spans.add(o.key, min(o.frame_stamps[0], o.stamp_s) if o.frame_stamps else o.stamp_s, o.stamp_s)
        if o.position is not None and (self.cfg.use_geometry or self.cfg.cues_on):
            p = np.zeros(3)
            p[: len(o.position)] = np.asarray(o.position, dtype=np.float64)
            self.ground.add(o.key, o.stamp_s, o.fixed_frame, p, o.position_sigma_m)
            # Placed where its gait evidence was gathered, as its times are: between tracklets (a far walker's
            # sparse clusters) a tracker may follow someone else, and the walking-pace rule would then place
            # the evidence's person where another was (RESULTS.md, "Where the walking-pace rule places").
            self.spans.place(o.key, o.stamp_s, o.fixed_frame, p, o.position_sigma_m)
        if o.frames is not None:
            self.cue_evidence.add_frames(o.key, o.frame_stamps, o.frames, o.modality)
        return ev

    def _split(self, key: TrackKey) -> None:
        """``key`` moved faster than a person walks (``split_speed_mps``): its tracker followed someone else
        from there. It ends here as if it had timed out (binding, evidence and positions go; ``_set_apart``
        keeps what it delivered as an ended track) and goes on as a new track: its speed and gait evidence
        would otherwise mix two walkers (RESULTS.md, "Camera tracks that jump")."""
        log.info("%s track %d moved faster than %.1f m/s: the tracker followed someone else; it goes on as a "
                 "new track", key[0], key[1], self.cfg.split_speed_mps)
        self.tracks_split += 1
        self._tracks.pop(key, None)
        self._evidence.pop(key, None)
        self.ground.forget(key)

    def _set_apart(self, key: TrackKey) -> None:
        """``key`` delivers again after its evidence expired (no tracklet for ``track_timeout_s``): to the
        recognizer it is a new track, as its binding and evidence already say. What it delivered before (its
        span, places, stored embeddings, the identity it founded) becomes an ended track of its own, so the
        walking-pace and same-sensor rules read the two as two tracks: a LiDAR tracker that loses a walker
        where two cross at the edge of its range often carries on with the other (RESULTS.md, "A track's past
        set apart")."""
        self._pasts += 1
        past: PastKey = (key[0], key[1], self._pasts)
        self.spans.rename(key, past)
        self.store.rename_source(key, past)
        self.cue_evidence.rename_track(key, past)
        log.debug("%s track %d: no tracklet for over %.1f s; its earlier tracklets are set apart as an ended "
                  "track", key[0], key[1], self.cfg.track_timeout_s)

    def _concurrent_on_sensor(self, key: TrackKey, stamp_s: float | None, other: TrackKey,
                              other_state: _TrackState) -> bool:
        """``other`` is another track of ``key``'s sensor, seen within ``concurrent_window_s`` of
        ``stamp_s`` (at any time when None): one sensor sees two people at once as two tracks."""
        return other[0] == key[0] and other != key and (
            stamp_s is None or abs(stamp_s - other_state.last_stamp_s) <= self.cfg.concurrent_window_s)

    def _blocked_same_sensor(self, o: TrackObservation, gid: int) -> bool:
        """A track of ``o``'s sensor bound to ``gid`` and delivering now keeps ``o``'s track out, unless it
        is a rival ``_overlapped_rivals`` may move out: seen together with it for ``concurrent_overlap_s``
        and held by gait (not geometry). Else two alike walkers on one sensor leave the identity to whichever
        passed first (RESULTS.md, "Two walkers on one sensor: the better gait fit takes the identity")."""
        return any(st.gid == gid and self._concurrent_on_sensor(o.key, o.stamp_s, key, st)
                   and not self._contestable(o.key, key, st) for key, st in self._tracks.items())

    def _contestable(self, key: TrackKey, other: TrackKey, other_state: _TrackState | None) -> bool:
        """``other``, of ``key``'s sensor, was seen beside it for ``concurrent_overlap_s`` and geometry does
        not hold it (``other_state`` None: an ended track, which nothing holds now): two people, whom gait
        tells apart (``_overlapped_rivals``)."""
        return (self.cfg.concurrent_overlap_s > 0
                and (other_state is None or other_state.reason not in ("geometry", "both"))
                and self._seen_together(key, other))

    def _seen_together(self, key: TrackKey, other: TrackKey) -> bool:
        """Two tracks (of one sensor) seen at the same time for ``concurrent_overlap_s``: two people."""
        return self.spans.overlap_s(key, other) >= self.cfg.concurrent_overlap_s

    def _transit_ok(self, o: TrackObservation, ev: _Evidence, gid: int) -> bool:
        if not self.cfg.transit_prior:
            return True
        ident = self.store.ids[gid]
        others = [t for s, t in ident.last_seen_by.items() if s != o.sensor]
        if not others:
            return True
        gap = ev.first_stamp_s - max(others)
        return gap < 0 or self.cfg.transit_min_s <= gap <= self.cfg.transit_max_s

    def _candidates(self, o: TrackObservation, ev: _Evidence, agg: np.ndarray) -> _Candidates:
        gids = list(self.store.ids)
        same = None if self.cfg.gait_same_modality else o.modality
        gait, own = self.store.distances(agg, o.key, gids, exclude_modality=same,
                                         min_tracklets=self.cfg.gait_min_tracklets)
        links: dict[int, list[TrackKey]] = {}
        vetoed: set[int] = set()
        if self.cfg.use_geometry and self.ground.last_stamp(o.key) is not None:
            for key, st in self._tracks.items():
                if key[0] == o.sensor or key == o.key:
                    continue
                rel = self.ground.relation(o.key, key)
                if rel == Relation.LINK:
                    links.setdefault(st.gid, []).append(key)
                elif rel == Relation.VETO:
                    vetoed.add(st.gid)
        for gid in vetoed:
            links.pop(gid, None)              # a veto with one of its tracks outweighs a link with another
        sources = self._bank_sources()
        too_far = self._unreachable(o, sources, set(links)) if self.cfg.max_walking_speed_mps > 0 else set()
        admissible = np.array([g in self.store.ids and g not in vetoed and g not in too_far
                               and not self._blocked_same_sensor(o, g) for g in gids], dtype=bool)
        score = self.cue_evidence.scores(o, gids, gait)
        rivals = (self._overlapped_rivals(o, gids, gait, score, admissible, set(links), sources)
                  if self.cfg.concurrent_overlap_s > 0 else {})
        barred = None
        if self.cfg.successive_fit_ratio > 0 and ev.count >= self.cfg.gait_min_tracklets:
            barred = np.zeros(len(gids), dtype=bool)
            for gid, keys in self._successive_rivals(o, gids, gait, admissible, barred, set(links),
                                                     sources).items():
                rivals.setdefault(gid, []).extend(keys)
        enough = ev.count >= self.cfg.gait_min_tracklets
        gait_ok = np.array([bool(admissible[j] and enough and score[j] <= self.threshold
                                 and self._transit_ok(o, ev, g)) for j, g in enumerate(gids)], dtype=bool)
        if enough and self._accepts_relative():
            best = self._clear_first(score, admissible)
            if (best is not None and not gait_ok[best] and self._transit_ok(o, ev, gids[best])
                    and not self._holds_sensor_track(gids[best], o.key, sources)):
                gait_ok[best] = True
        if barred is not None:
            gait_ok &= ~barred          # after the clear first: a barred identity still competes there
        links = {g: k for g, k in links.items() if admissible[gids.index(g)]}
        return _Candidates(gids, gait, score, own, admissible, gait_ok, links, rivals, barred)

    def _accepts_relative(self) -> bool:
        """Whether ``relative_accept_factor`` is on: it compares scores by their ratio."""
        return self.cfg.relative_accept_factor > 1.0 and self.cue_evidence.scores_are_ratios

    def _holds_sensor_track(self, gid: int, key: TrackKey, sources: dict[int, dict[TrackKey, int]]) -> bool:
        """Whether identity ``gid`` holds a track of ``key``'s sensor other than ``key`` (its stored
        embeddings' or a bound one): a clear first is for an identity this sensor has not seen; a person
        only this sensor saw would otherwise join the stranger its sensor already matched."""
        return any(k[0] == key[0] and k != key for k in self._held_tracks(sources).get(gid, ()))

    def _clear_first(self, score: np.ndarray, admissible: np.ndarray) -> int | None:
        """The admissible identity that scores within ``relative_accept_factor`` of the threshold and
        ``relative_accept_margin_nats`` better than every other admissible one with a score, if any. The
        margin is in nats of the cues' likelihood ratio (``nats_below``), as ``gait_revision_nats`` is: a
        raw log of the scores is k times that, so each calibration's exponent k would move the rule."""
        idx = sorted((j for j in range(len(score)) if admissible[j] and np.isfinite(score[j])),
                     key=lambda j: score[j])
        if len(idx) < 2:
            return None
        best, second = idx[0], idx[1]
        if score[best] > self.threshold * self.cfg.relative_accept_factor:
            return None
        if score[best] <= 0.0:
            return best if score[second] > 0.0 else None
        margin = self.cue_evidence.nats_below(float(score[best]), float(score[second]))
        return best if margin >= self.cfg.relative_accept_margin_nats else None

    def _bank_sources(self) -> dict[int, dict[TrackKey, int]]:
        """Per identity, the tracks its stored embeddings came from and a bank row of each (one pass over
        the bank, not one per identity)."""
        bank = self.store.bank
        out: dict[int, dict[TrackKey, int]] = {}
        for r in range(bank.size):
            k = bank.source[r]
            if k is not None:
                out.setdefault(int(bank.owner[r]), {})[k] = r
        return out

    def _held_tracks(self, sources: dict[int, dict[TrackKey, int]]) -> dict[int, set[TrackKey]]:
        """Per identity, the tracks it holds: those its stored embeddings came from (``sources``,
        ``_bank_sources``) and those bound to it now."""
        held: dict[int, set[TrackKey]] = {g: set(keys) for g, keys in sources.items()}
        for key, st in self._tracks.items():
            held.setdefault(st.gid, set()).add(key)
        return held

    def _unreachable(self, o: TrackObservation, sources: dict[int, dict[TrackKey, int]],
                     linked: set[int]) -> set[int]:
        """Identities ``o``'s track may not join by gait: one of their tracks (stored or bound) was seen
        where ``o``'s person could only have come from, or gone to, faster than ``max_walking_speed_mps``
        (``TrackSpans.required_speed_mps``). Not ``o``'s own identity (the rule decides joining, not
        staying) and not one ``o`` is geometrically ``linked`` to (co-location seen beats a speed guessed
        from two ends)."""
        limit = self.cfg.max_walking_speed_mps
        own = self._tracks[o.key].gid if o.key in self._tracks else None
        out: set[int] = set()
        for gid, keys in self._held_tracks(sources).items():
            if gid == own or gid in linked:
                continue
            for k in keys:
                if k == o.key or self._rival(o.key, k):
                    continue
                need = self.spans.required_speed_mps(o.key, k)
                if need is not None and need > limit:
                    out.add(gid)
                    log.debug("%s track %d: identity %d's %s track %d would need %.1f m/s; no candidate",
                              o.sensor, o.track_id, gid, k[0], k[1], need)
                    break
        return out

    def _rival(self, key: TrackKey, other: TrackKey) -> bool:
        """``other`` is a track of ``key``'s sensor, live or ended, that ``_contestable`` leaves to gait: not
        for the walking-pace rule, which would read the pair as one person in two places and rule the
        identity out for the second comer, however much better its gait fits."""
        return other[0] == key[0] and self._contestable(key, other, self._tracks.get(other))

    def _overlapped_rivals(self, o: TrackObservation, gids: list[int], gait: np.ndarray, score: np.ndarray,
                           admissible: np.ndarray, linked: set[int],
                           sources: dict[int, dict[TrackKey, int]]) -> dict[int, list[TrackKey]]:
        """Per identity, the tracks of ``o``'s sensor it holds that this sensor saw at the same time as
        ``o``'s track for ``concurrent_overlap_s`` (two people), whether they have ended or still deliver
        (``_blocked_same_sensor`` leaves those to this rule unless the identity holds them by geometry).
        ``o``'s track may join only if its gait fits the identity's other-modality evidence better than each
        of theirs (by ``rival_fit_margin``: two alike would take turns), and then they leave (returned); else
        the identity is no candidate (``admissible`` set False). Gait alone for both, or with
        ``rival_fit_cues`` their decision scores (``score``, and the cues each rival last measured in the
        identity) where both measured the same cues.
        An identity ``o``'s track is geometrically ``linked`` to is exempt: sustained co-location outweighs
        a time overlap, which a tracker's second track on one walker gives too."""
        out: dict[int, list[TrackKey]] = {}
        ce = self.cue_evidence
        by_cues = self.cfg.rival_fit_cues and ce.scores_are_ratios
        my_cues = None                  # this track's cues, read once and only when a rival needs them
        held = None                     # every identity's tracks, read once and only for rival_alternative
        for j, gid in enumerate(gids):
            rivals = {k: r for k, r in sources.get(gid, {}).items()
                      if k[0] == o.sensor and k != o.key and self._seen_together(o.key, k)}
            if not rivals or not admissible[j] or gid in linked:
                continue
            others, shared = {}, frozenset()     # the identity's other sensors' cues; those both compare
            if by_cues and math.isfinite(score[j]):
                my_cues = ce.of_track(o.key) if my_cues is None else my_cues
                others = ce.others_measured(gid, o.sensor)
                shared = ce.shared_cues(my_cues, others)
            fits = [self._rival_fit(k, r, gid, others, shared) for k, r in rivals.items()]
            by_score = all(cued is not None for _, cued in fits)
            theirs = [cued if by_score else fit for fit, cued in fits]
            mine = (score[j] if by_score else gait[j]) * (1.0 + self.cfg.rival_fit_margin)
            if (by_score and self.cfg.rival_fit_own) or self.cfg.rival_alternative:
                mine *= self._left_behind(o.key, gid, gids, score)    # both sides' other places: the pair's
            if self.cfg.rival_alternative:                            # two bindings weighed as one
                held = self._held_tracks(sources) if held is None else held
                theirs = [d * self._elsewhere(k, r, gid, held)[1]
                          for d, (k, r) in zip(theirs, rivals.items())]
            if math.isfinite(mine) and all(mine < d for d in theirs):
                out[gid] = list(rivals)
            else:
                admissible[j] = False
        return out

    def _elsewhere(self, key: TrackKey, row: int, gid: int, held: Mapping[int, set[TrackKey]]
                   ) -> tuple[int | None, float]:
        """(the identity other than ``gid`` that ``key``, a rival in ``gid`` (bank ``row``), would go to,
        threshold / its score there) when ``rival_alternative`` finds one: the best-scoring identity it
        passes (its stored evidence and remembered cues against that identity's other-sensor evidence and
        cues) that holds no track of its sensor, that geometry does not veto for it and that the
        walking-pace rule allows (``held``: each identity's tracks, ``_held_tracks``); else (None, 1.0):
        leaving ``gid`` costs the rival the threshold at best."""
        if not self.cfg.rival_alternative:
            return None, 1.0
        bank, ce = self.store.bank, self.cue_evidence
        gids = [g for g in self.store.ids if g != gid]
        if not gids:
            return None, 1.0
        same = None if self.cfg.gait_same_modality else bank.modality[row]
        gait, _ = self.store.distances(bank.vector(row), key, gids, exclude_modality=same,
                                       min_tracklets=self.cfg.gait_min_tracklets)
        score = ce.identity_scores(ce.remembered_of_track(gid, key), key[0], gids, gait)
        limit = self.cfg.max_walking_speed_mps
        for j in np.argsort(score, kind="stable"):
            if not score[j] < self.threshold:
                break
            keys = held.get(gids[j], set())
            if any(k[0] == key[0] for k in keys) or any(self.ground.vetoed(key, k) for k in keys):
                continue
            if limit > 0 and any((self.spans.required_speed_mps(key, k) or 0.0) > limit for k in keys):
                continue
            return gids[j], self.threshold / float(score[j]) if score[j] > 0 else math.inf
        return None, 1.0

    def _left_behind(self, key: TrackKey, gid: int, gids: list[int], score: np.ndarray) -> float:
        """threshold / ``key``'s score in the identity it is bound to, when that is not ``gid`` and it passes
        there (else 1): taking ``gid`` from a rival trades that link for one the rival had, so the fit must
        beat the rival's by as much as the link it leaves beats a new identity's (``rival_fit_own``)."""
        st = self._tracks.get(key)
        if st is None or st.gid == gid or st.gid not in gids:
            return 1.0
        own = float(score[gids.index(st.gid)])
        return self.threshold / own if 0.0 < own < self.threshold else 1.0

    def _rival_fit(self, key: TrackKey, row: int, gid: int, others: Mapping[str, float],
                   shared: frozenset[str]) -> tuple[float, float | None]:
        """(stored gait fit, decision score or None) of ``key``, a rival in identity ``gid``: the score is
        its fit with the cues it last measured there against ``others`` (the identity's other sensors'),
        where it measured the same cues, ``shared`` (non-empty), as the track it is compared with."""
        fit = self._stored_fit(key, row, gid)
        if not shared or not math.isfinite(fit):
            return fit, None
        ce = self.cue_evidence
        theirs = ce.remembered_of_track(gid, key)
        if ce.shared_cues(theirs, others) != shared:
            return fit, None
        return fit, float(ce.score(fit, theirs, others))

    def _successive_rivals(self, o: TrackObservation, gids: list[int], gait: np.ndarray,
                           admissible: np.ndarray, barred: np.ndarray, linked: set[int],
                           sources: dict[int, dict[TrackKey, int]]) -> dict[int, list[TrackKey]]:
        """Per identity, the tracks of ``o``'s sensor it holds one after the other with ``o``'s track that fit
        its other-modality evidence ``successive_fit_ratio`` times worse (``_successive_fits``): they leave
        if ``o``'s track joins or stays (returned). One that fits that much better bars the identity
        (``barred`` set True): gait does not join ``o``'s track to it, and a track bound to it leaves
        (``_update_bound``). Exempt: an identity ``o``'s track is geometrically ``linked`` to."""
        out: dict[int, list[TrackKey]] = {}
        for j, gid in enumerate(gids):
            if not admissible[j] or gid in linked:
                continue
            worse, better = self._successive_fits(o.key, float(gait[j]), gid, sources)
            barred[j] = better
            if worse and not better:
                out[gid] = worse
        return out

    def _successive_fits(self, key: TrackKey, distance: float, gid: int,
                         sources: dict[int, dict[TrackKey, int]]) -> tuple[list[TrackKey], bool]:
        """``key``'s track, at gait ``distance`` from identity ``gid``'s other-modality evidence, against the
        tracks of its sensor ``gid`` holds that its sensor saw before or after it (not beside it:
        ``_overlapped_rivals``) and geometry does not hold, each with ``gait_min_tracklets``: (those that fit
        ``successive_fit_ratio`` times worse, whether one fits that much better). A stranger whose track of a
        sensor joined first otherwise keeps the identity when its person's own track of that sensor joins
        later (RESULTS.md, "Of two successive tracks of one sensor, the far worse fit leaves"); a person's two
        fragments fit alike."""
        ratio, least = self.cfg.successive_fit_ratio, self.cfg.gait_min_tracklets
        worse: list[TrackKey] = []
        if ratio <= 0 or not math.isfinite(distance):
            return worse, False
        bank = self.store.bank
        for k, r in sources.get(gid, {}).items():
            st = self._tracks.get(k)
            if (k[0] != key[0] or k == key or (bank.tracklets[r] or 0) < least
                    or (st is not None and st.reason in ("geometry", "both")) or self._seen_together(key, k)):
                continue
            theirs = self._stored_fit(k, r, gid)
            if not math.isfinite(theirs):
                continue
            if distance > ratio * theirs:
                return [], True
            if theirs > ratio * distance:
                worse.append(k)
        return worse, False

    def _stored_fit(self, key: TrackKey, row: int, gid: int) -> float:
        """The gait distance of ``key``'s stored evidence (bank ``row``) to identity ``gid``'s evidence from
        other tracks (of another modality unless ``gait_same_modality``; each of ``gait_min_tracklets``)."""
        bank = self.store.bank
        same = None if self.cfg.gait_same_modality else bank.modality[row]
        return float(self.store.distances(bank.vector(row), key, [gid], exclude_modality=same,
                                          min_tracklets=self.cfg.gait_min_tracklets)[0][0])

    def _fragment_fits_far_worse(self, frag: Fragment, sources: dict[int, dict[TrackKey, int]]) -> bool:
        """Whether ``frag``'s track fits the identity it would join ``successive_fit_ratio`` times worse than
        a track of its sensor that identity holds (``_successive_fits``): no piece of that person's walk."""
        if self.cfg.successive_fit_ratio <= 0:
            return False
        row = sources.get(frag.gid, {}).get(frag.source)
        if row is None:
            return False
        return self._successive_fits(frag.source, self._stored_fit(frag.source, row, frag.into), frag.into,
                                     sources)[1]

    def _move_out(self, key: TrackKey, gid: int, stamp_s: float, by: TrackKey) -> None:
        """``key``, of the sensor of the track ``by`` now taking or keeping identity ``gid`` and fitting it
        less (seen beside ``by``: ``_overlapped_rivals``; or one after the other, ``successive_fit_ratio``
        times worse: ``_successive_rivals``), leaves for an identity of its own; its new binding goes out as
        a revision (``take_revisions``). Remembered: should ``by`` leave ``gid`` again, ``key`` may go back
        (``_return_displaced``)."""
        row = self.store.own_rows(gid, key[0]).get(key)
        if row is None:                 # moved already by an earlier decision of this batch
            return
        self._displaced[(key, gid)] = by
        modality = self.store.bank.modality[row]
        alt, gain = self._elsewhere(key, row, gid, self._held_tracks(self._bank_sources()))
        ident = self._split_off(key, gid, stamp_s)
        if alt is not None:             # ``rival_alternative``: to the identity it passes, not one of its own
            self._join(ident.gid, alt)
            ident = self.store.ids[alt]
        if is_past(key):                # its track (``_set_apart``) publishes its own identity
            return
        log.info("%s track %d: fits identity %d less than %s track %d, which takes or keeps it; identity "
                 "%d -> %d", key[0], key[1], gid, by[0], by[1], gid, ident.gid)
        known = alt is not None
        conf = self._confidence(self.threshold / gain) if known else 0.0
        self._revisions.append(IdentityMatch(stamp_s, key[0], modality, key[1], ident.gid, None, conf,
                                             known, ident.label, switched=True,
                                             decided_by="gait" if known else None))

    def _split_off(self, key: TrackKey, gid: int, stamp_s: float) -> StoredIdentity:
        """``key`` leaves identity ``gid`` for a new one of its own, with its evidence and cues; a live
        track is bound there, held by nothing yet."""
        ident = self.store.split_off(gid, key, stamp_s, self._bound())
        self.cue_evidence.move_track(key, gid, ident.gid)
        st = self._tracks.get(key)
        if st is not None:
            st.gid, st.reason, st.contrary, st.contrary_gid = ident.gid, None, 0, None
        return ident

    def _leave(self, key: TrackKey, gid: int) -> None:
        """``key`` left identity ``gid`` for another: what it stored and measured there goes with it, so that
        ``gid`` neither holds the track (the same-sensor and walking-pace rules, ``_move_out``) nor compares
        other tracks against its evidence or cues (RESULTS.md, "A track that leaves an identity takes its
        evidence with it")."""
        self.store.release(gid, key)
        self.cue_evidence.move_track(key, gid)

    def take_revisions(self) -> list[IdentityMatch]:
        """The matches of tracks the last ``update`` moved without a tracklet of theirs (``_move_out``): to
        be published after that update's matches, so that every track's newest match says its identity."""
        out, self._revisions = self._revisions, []
        return out

    # ---- the cues beside gait (cue_evidence.CueEvidence) --------------------------------------
    @property
    def cue_weighting(self) -> str:
        """How walking speed, stature and step frequency weigh in, for diagnostics."""
        return self.cue_evidence.weighting

    def cues(self, key: TrackKey) -> dict[str, float]:
        """The track's measured cues beside gait: ``speed`` (m/s, only while walking), ``stature`` (m),
        ``step_frequency`` (Hz)."""
        return self.cue_evidence.of_track(key)

    def decision_score(self, gait: float, mine: Mapping[str, float], theirs: Mapping[str, float]) -> float:
        """What the recognizer compares with the threshold for a gait distance between a track with cues
        ``mine`` and evidence with cues ``theirs`` (``CueEvidence.score``)."""
        return self.cue_evidence.score(gait, mine, theirs)

    def track_evidence(self, key: TrackKey) -> tuple[np.ndarray, int] | None:
        """A track's aggregated gait embedding (its newest ``track_evidence_tracklets``) and how many
        tracklets it has delivered, or None for a track not seen (or expired)."""
        ev = self._evidence.get(key)
        if ev is None or not ev.tracklets:
            return None
        return self._aggregate(ev), ev.count

    def _aggregate(self, ev: _Evidence) -> np.ndarray:
        """A track's evidence as one embedding, trimmed as the current settings say."""
        return ev.aggregate(self.cfg.track_evidence_trim)

    # ---- the update ------------------------------------------------------------------------
    def update(self, observations: Sequence[TrackObservation]) -> list[IdentityMatch]:
        """Decide a global identity for every observation (in input order)."""
        self._check(observations)
        self._revisions = []
        if not observations:
            return []
        self._expire(max(o.stamp_s for o in observations))
        latest: dict[TrackKey, int] = {}
        for i, o in enumerate(observations):
            self._gather(o)
            latest[o.key] = i  # a track twice in one batch: its last tracklet decides
        results: dict[int, IdentityMatch] = {}
        for sensor in dict.fromkeys(o.sensor for o in observations):
            unbound = []
            for i in (i for i in latest.values() if observations[i].sensor == sensor):
                o = observations[i]
                if o.key in self._tracks and self._tracks[o.key].gid in self.store.ids:
                    results[i] = self._update_bound(o)
                else:
                    self._tracks.pop(o.key, None)
                    unbound.append(i)
            for i, m in self._assign_unbound([observations[i] for i in unbound]):
                results[unbound[i]] = m
        batch = [observations[i] for i in latest.values()]
        self._release_fragments(batch)
        self._gather_fragments(batch)
        return [results.get(i) or results[latest[o.key]] for i, o in enumerate(observations)]

    def _gather_fragments(self, observations: Sequence[TrackObservation]) -> None:
        """Identities that tracks of this batch, held by gait or geometry, show to be fragments of their
        person's walk join those tracks' identities (``fragments.py``); each moved track's new binding is a
        revision (``take_revisions``)."""
        if self.cfg.fragment_max_gap_s <= 0:
            return
        rules = FragmentRules(self.cfg, self.threshold, self.store, self.spans, self.ground,
                              self.cue_evidence)
        holdings = self._held_tracks(self._bank_sources())     # changes only where an identity is absorbed
        for o in observations:
            evidence = self._aggregate(self._evidence[o.key])
            while True:
                st = self._tracks.get(o.key)
                if st is None or st.reason is None or st.gid not in self.store.ids:
                    break
                found = rules.gatherable(HeldTrack(o.key, st.gid, o.modality, evidence), holdings)
                if found and self.cfg.successive_fit_ratio > 0:
                    sources = self._bank_sources()
                    found = [f for f in found if not self._fragment_fits_far_worse(f, sources)]
                found = [f for f in found if (f.source, f.into) not in self._released]
                if not found:
                    break
                self._absorb(found[0], o.stamp_s)
                if self.cfg.fragment_release:
                    self._gathered[found[0].source] = Gathered(found[0].source, found[0].into, o.key,
                                                               o.modality)
                holdings = self._held_tracks(self._bank_sources())

    def _release_fragments(self, observations: Sequence[TrackObservation]) -> None:
        """A gathered fragment that a track of this batch claims (``FragmentRules.claimed``) on
        ``switch_patience`` consecutive tracklets leaves for an identity of its own (``fragment_release``;
        a claimant's first tracklets are thin evidence); its track's new binding is a revision."""
        if not self.cfg.fragment_release:
            return
        # a fragment whose identity is gone, or that left it (or whose rows it dropped), is no longer held
        self._gathered = {k: g for k, g in self._gathered.items()
                          if g.gid in self.store.ids and k in self.store.own_rows(g.gid, k[0])}
        if not self._gathered:
            return
        rules = FragmentRules(self.cfg, self.threshold, self.store, self.spans, self.ground,
                              self.cue_evidence)
        for o in observations:
            ev, st = self._evidence.get(o.key), self._tracks.get(o.key)
            if ev is None or ev.count < self.cfg.gait_min_tracklets:
                continue
            evidence = self._aggregate(ev)
            for g in list(self._gathered.values()):
                if (g.holder == o.key or g.holder_modality != o.modality
                        or (st is not None and st.gid == g.gid)):
                    continue
                held = self._track_vector(g.holder, g.gid)
                claim = (g.source, o.key)
                if held is None or not rules.claimed(g, o.key, evidence, held):
                    self._claims.pop(claim, None)
                    continue
                self._claims[claim] = self._claims.get(claim, 0) + 1
                if self._claims[claim] >= self.cfg.switch_patience:
                    self._release(g, o)

    def _track_vector(self, key: TrackKey, gid: int) -> np.ndarray | None:
        """A track's aggregated evidence: live, else what identity ``gid`` stored of it; None if neither."""
        ev = self._evidence.get(key)
        if ev is not None and ev.tracklets:
            return self._aggregate(ev)
        row = self.store.own_rows(gid, key[0]).get(key)
        return None if row is None else self.store.bank.vector(row)

    def _release(self, g: Gathered, by: TrackObservation) -> None:
        """Fragment ``g`` leaves its identity for one of its own, claimed by ``by``."""
        row = self.store.own_rows(g.gid, g.source[0])[g.source]
        modality = self.store.bank.modality[row]
        del self._gathered[g.source]
        self._claims = {k: n for k, n in self._claims.items() if k[0] != g.source}
        self._released.add((g.source, g.gid))
        ident = self._split_off(g.source, g.gid, by.stamp_s)
        self.fragments_released += 1
        log.info("%s track %d: %s track %d fits it better than %s track %d, which gathered it as a fragment; "
                 "identity %d -> %d", g.source[0], g.source[1], by.sensor, by.track_id, g.holder[0],
                 g.holder[1], g.gid, ident.gid)
        if not is_past(g.source):
            self._revisions.append(IdentityMatch(by.stamp_s, g.source[0], modality, g.source[1], ident.gid,
                                                 None, 0.0, False, ident.label, switched=True))

    def _absorb(self, frag: Fragment, stamp_s: float) -> None:
        """Identity ``frag.gid`` joins ``frag.into``; its track, live or ended, is published there."""
        self.fragments_gathered += 1
        key = frag.source
        log.info("%s track %d: a fragment of the walk identity %d holds (gait score %.3g); identity %d -> %d",
                 key[0], key[1], frag.into, frag.score, frag.gid, frag.into)
        self._join(frag.gid, frag.into)
        self._publish_joined(key, frag.modality, frag.into, stamp_s, frag.distance,
                             self._confidence(frag.score))

    def _join(self, gid: int, into: int) -> None:
        """Identity ``gid`` becomes part of ``into``: its embeddings, cues and bound tracks."""
        self.store.absorb(gid, into)
        self.cue_evidence.absorb(gid, into)
        for st in self._tracks.values():
            if st.gid == gid:
                st.gid, st.reason, st.contrary, st.contrary_gid = into, "gait", 0, None

    def _publish_joined(self, key: TrackKey, modality: str, gid: int, stamp_s: float,
                        distance: float | None, confidence: float) -> None:
        """``key``, live or ended, is published in identity ``gid``, joined without a tracklet of its own."""
        self._revisions.append(IdentityMatch(stamp_s, key[0], modality, key[1], gid, distance, confidence,
                                             True, self.store.ids[gid].label, switched=True,
                                             decided_by="gait"))

    def _return_displaced(self, by: TrackKey, gid: int, stamp_s: float) -> None:
        """``by`` left identity ``gid``: the tracks its arrival there moved out (``_move_out``) go back, each
        that still sits in an identity only it holds and that no other track of its sensor seen beside it
        holds in ``gid``. The rival rule gave ``gid`` to the better gait fit of two; when that fit moves on
        (its evidence grew and fits another identity better), the first holder is again the best there is."""
        back = [k for (k, g), b in self._displaced.items() if g == gid and b == by]
        for key in back:
            del self._displaced[(key, gid)]
        if gid not in self.store.ids:
            return
        held = self._held_tracks(self._bank_sources())     # changes only where an identity is joined
        for key in back:
            own = [g for g, keys in held.items() if key in keys]
            if len(own) != 1 or own[0] == gid or held[own[0]] != {key}:
                continue
            if any(k[0] == key[0] and k != key and self._seen_together(key, k) for k in held.get(gid, ())):
                continue
            row = self.store.own_rows(own[0], key[0]).get(key)
            if row is None:
                continue
            modality = self.store.bank.modality[row]
            log.info("%s track %d: the track that moved it out of identity %d left it; back from %d", key[0],
                     key[1], gid, own[0])
            self.displaced_returned += 1
            self._join(own[0], gid)
            held = self._held_tracks(self._bank_sources())
            if not is_past(key):        # its track (``_set_apart``) publishes its own identity
                self._publish_joined(key, modality, gid, stamp_s, None, 0.0)

    def _decide(self, o: TrackObservation, ident: StoredIdentity, cand: _Candidates | None, agg: np.ndarray,
                switched: bool = False) -> IdentityMatch:
        """Bind ``o``'s track to ``ident``, store its evidence, and say why."""
        if cand is not None:
            for key in cand.rivals.get(ident.gid, []):
                self._move_out(key, ident.gid, o.stamp_s, o.key)
        st = self._tracks.get(o.key)
        if st is None or st.gid != ident.gid:
            old = None if st is None else st.gid
            st = self._tracks[o.key] = _TrackState(ident.gid, o.stamp_s, o.stamp_s)
            if old is not None and old in self.store.ids:
                if self.store.only_from(old, o.key):
                    self.store.erase(old)      # the identity only this track ever made: no ghost left behind
                else:
                    self._leave(o.key, old)
                    self._return_displaced(o.key, old, o.stamp_s)
        else:
            st.last_stamp_s = o.stamp_s
        self.store.record(ident, o.modality, o.key, agg, o.stamp_s, self._evidence[o.key].count)
        self.cue_evidence.remember(o, ident.gid)
        decided, d, score, partners = None, None, None, [o.key]
        if cand is not None and ident.gid in cand.gids:
            j = cand.gids.index(ident.gid)
            decided = cand.support(j)
            d = cand.gait[j] if math.isfinite(cand.gait[j]) else (cand.own[j] if math.isfinite(cand.own[j])
                                                                  else None)
            score = cand.score[j] if math.isfinite(cand.score[j]) else d
            partners += cand.links.get(ident.gid, [])
        # a link keeps the reason it was made while nothing contradicts it (e.g. the partner track ended)
        decided = st.reason = decided or st.reason
        conf = self._confidence(score if decided != "geometry" else None)
        if decided == "geometry":
            conf = 1.0
        fused = self.ground.fuse(partners, o.stamp_s) if self.cfg.use_geometry else None
        return IdentityMatch(o.stamp_s, o.sensor, o.modality, int(o.track_id), ident.gid,
                             None if d is None else float(d), conf, decided is not None, ident.label,
                             switched, decided, None if fused is None else tuple(float(v) for v in fused[0]),
                             None if fused is None else fused[1], "" if fused is None else fused[2])

    def _confidence(self, score: float | None) -> float:
        """sigmoid of the decision's margin: with the model's cue exponent k, in nats of the cues' likelihood
        ratio, ``log(threshold / score) / k`` (scores and thresholds of ~1e-10 leave a difference of
        distances no meaning); else ``(threshold - score) / confidence_temperature``."""
        if score is None or not math.isfinite(score):
            return 0.0
        if self.cue_evidence.scores_are_ratios and self.threshold > 0:
            z = self.cue_evidence.nats_below(score, self.threshold)
        else:
            z = (self.threshold - score) / self.cfg.confidence_temperature
        return float(1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0))))

    def _best_alternative(self, cand: _Candidates, exclude: int) -> int:
        """Index of the best other identity: a geometric link (lowest id) first, else the closest gait."""
        linked = [j for j, g in enumerate(cand.gids) if g != exclude and g in cand.links]
        if linked:
            return min(linked, key=lambda j: cand.gids[j])
        ok = [j for j, g in enumerate(cand.gids) if g != exclude and cand.gait_ok[j]]
        return min(ok, key=lambda j: cand.score[j]) if ok else -1

    def _update_bound(self, o: TrackObservation) -> IdentityMatch:
        st = self._tracks[o.key]
        ev = self._evidence[o.key]
        agg = self._aggregate(ev)
        cand = self._candidates(o, ev, agg)
        cur = cand.gids.index(st.gid)
        # a geometric veto with a track that joined the identity earlier: this track leaves at once; so does
        # one a track of its sensor held one after the other with it fits far better (successive_fit_ratio)
        vetoed = not cand.admissible[cur] and self._vetoed_by_elder(o, st)
        if vetoed or (cand.barred is not None and cand.barred[cur]):
            j = self._best_alternative(cand, st.gid)
            log.info("%s track %d: %s; leaves it", o.sensor, o.track_id,
                     f"seen apart from identity {st.gid}'s other track" if vetoed else
                     f"another track of its sensor fits identity {st.gid} over "
                     f"{self.cfg.successive_fit_ratio:g} times better")
            ident = self.store.ids[cand.gids[j]] if j >= 0 else self.store.create(o.stamp_s, o.key,
                                                                                  self._bound())
            return self._decide(o, ident, cand, agg, switched=True)
        # a geometric link to an identity with a lower id: join it (the partner keeps its id); to a higher
        # one while nothing else holds this track: the partner joins this identity on its next tracklet
        # (the person keeps the identity they had first, so a later veto against a third track moves
        # that one, not this pair), unless it cannot, then this track joins the partner's
        linked = [g for g in cand.links if g != st.gid]
        if linked and (st.gid not in cand.links) and (
                min(linked) < st.gid or (cand.support(cur) is None
                                         and not self._can_join(cand.links[min(linked)], st.gid))):
            target = min(linked)
            log.info("%s track %d: co-located with %s; identity %d -> %d", o.sensor, o.track_id,
                     cand.links[target], st.gid, target)
            return self._decide(o, self.store.ids[target], cand, agg, switched=True)
        # gait hysteresis: an unsupported binding moves, on repeated evidence (a track alone in the identity
        # it founded has nothing to protect: its aggregate already is the evidence); with a cue exponent, so
        # does one gait alone holds, and both by a margin in nats of the cues' ratio (scores of ~1e-8 leave
        # a margin in distance units no meaning: an unsupported binding would never move); without, an
        # unsupported binding moves by switch_margin and a gait-held one stays (CueEvidence.beats)
        revises = self.cue_evidence.revises_by_nats
        held = cand.support(cur) not in ((None, "gait") if revises else (None,)) or not cand.admissible[cur]
        j = -1 if held else self._best_alternative(cand, st.gid)
        against = (j >= 0 and not (revises and cand.gids[j] in cand.links)
                   and self.cue_evidence.beats(float(cand.score[j]), float(cand.score[cur])))
        if against and st.contrary_gid == cand.gids[j]:
            st.contrary += 1
        elif against:
            st.contrary, st.contrary_gid = 1, cand.gids[j]
        else:
            st.contrary, st.contrary_gid = 0, None
        patience = 1 if self.store.only_from(st.gid, o.key) else self.cfg.switch_patience
        if st.contrary >= patience:
            log.info("%s track %d: identity %d -> %d (distance %.3f vs %.3f on %d tracklets)", o.sensor,
                     o.track_id, st.gid, cand.gids[j], cand.gait[j], cand.gait[cur], st.contrary)
            return self._decide(o, self.store.ids[cand.gids[j]], cand, agg, switched=True)
        return self._decide(o, self.store.ids[st.gid], cand, agg)

    def _can_join(self, keys: list[TrackKey], gid: int) -> bool:
        """Whether every one of ``keys`` may move to identity ``gid``: no track bound to it was seen apart
        from them, and none of their own sensor holds it now."""
        for key in keys:
            ks = self._tracks.get(key)
            stamp = ks.last_stamp_s if ks is not None else self.ground.last_stamp(key)
            for other, ost in self._tracks.items():
                if other == key or ost.gid != gid:
                    continue
                if self._concurrent_on_sensor(key, stamp, other, ost):
                    return False
                if other[0] != key[0] and self.ground.vetoed(key, other):
                    return False
        return True

    def _vetoed_by_elder(self, o: TrackObservation, st: _TrackState) -> bool:
        """True if a track bound to ``o``'s identity earlier was seen far from ``o`` (or a same-sensor
        track holds it now): then ``o`` is the one that leaves."""
        for key, other in self._tracks.items():
            if key == o.key or other.gid != st.gid:
                continue
            if self._concurrent_on_sensor(o.key, o.stamp_s, key, other):
                if other.joined_s <= st.joined_s:
                    return True
            elif key[0] != o.sensor and self.ground.vetoed(o.key, key) and other.joined_s <= st.joined_s:
                return True
        return False

    def _bound(self) -> set[int]:
        return {st.gid for st in self._tracks.values()}

    def _assign_unbound(self, obs: list[TrackObservation]) -> list[tuple[int, IdentityMatch]]:
        if not obs:
            return []
        out: list[tuple[int, IdentityMatch]] = []
        taken: set[int] = set()
        aggs = [self._aggregate(self._evidence[o.key]) for o in obs]
        cands = [self._candidates(o, self._evidence[o.key], a) for o, a in zip(obs, aggs)]
        gids = list(self.store.ids)
        if gids:
            cost = np.full((len(obs), len(gids)), _FORBIDDEN)
            for i, c in enumerate(cands):
                for j, g in enumerate(c.gids):
                    if g in c.links:
                        cost[i, j] = _GEOMETRY_COST + (c.gait[j] if math.isfinite(c.gait[j]) else 1.0) * 1e-3
                    elif c.gait_ok[j]:
                        cost[i, j] = c.score[j]
            rows, cols = linear_sum_assignment(cost)
            for r, col in zip(rows, cols):
                if cost[r, col] < _FORBIDDEN:
                    taken.add(int(r))
                    out.append((int(r), self._decide(obs[r], self.store.ids[gids[col]], cands[r], aggs[r])))
        for i, o in enumerate(obs):
            if i not in taken:
                ident = self.store.create(o.stamp_s, o.key, self._bound())
                out.append((i, self._decide(o, ident, None, aggs[i])))
        return out

    def _expire(self, now_s: float) -> None:
        timeout = self.cfg.track_timeout_s
        for key in [k for k, st in self._tracks.items() if now_s - st.last_stamp_s > timeout]:
            del self._tracks[key]
        for key in [k for k, ev in self._evidence.items() if now_s - ev.last_stamp_s > timeout]:
            del self._evidence[key]
        self.ground.expire(now_s, timeout)
        self.cue_evidence.expire(now_s, timeout, self.store.ids)
        self._displaced = {k: v for k, v in self._displaced.items() if k[1] in self.store.ids}
        # bounded memory: identities gone, claimants that stopped delivering (``_gathered``: at each release)
        self._released = {k for k in self._released if k[1] in self.store.ids}
        self._claims = {k: n for k, n in self._claims.items()
                        if k[0] in self._gathered and k[1] in self._evidence}

    # ---- services --------------------------------------------------------------------------
    def enrol(self, sensor: str, track_id: int, label: str | None = None) -> int:
        """Enrol the identity of a live track (named ``label``); its embeddings are saved."""
        st = self._tracks.get((sensor, int(track_id)))
        if st is None or st.gid not in self.store.ids:
            raise MessageFormatError(f"enrol: no live track {track_id} of sensor {sensor!r}; "
                                     f"live tracks: {sorted(self._tracks)}")
        self.store.enrol(st.gid, label)
        return st.gid

    def erase(self, global_id: int) -> bool:
        """Forget an identity (memory and gallery); its tracks get new identities on their next tracklet."""
        found = self.store.erase(int(global_id))
        self._unbind(int(global_id))
        return found

    def _unbind(self, gid: int) -> None:
        for key in [k for k, st in self._tracks.items() if st.gid == gid]:
            del self._tracks[key]

    def apply_retention(self, now_s: float | None = None) -> list[int]:
        """Apply the gallery's retention and forget the deleted identities."""
        gone = self.store.apply_retention(now_s)
        for gid in gone:
            self._unbind(gid)
        return gone

    def identities(self) -> list[IdentitySummary]:
        counts = self.store.embedding_counts()
        return [IdentitySummary(i.gid, i.label, i.enrolled, i.last_seen_s, counts.get(i.gid, {}),
                                tuple(sorted(k for k, st in self._tracks.items() if st.gid == i.gid)))
                for i in sorted(self.store.ids.values(), key=lambda x: x.gid)]

    def binding(self, sensor: str, track_id: int) -> int | None:
        """The global id a live track is bound to, or None."""
        st = self._tracks.get((sensor, int(track_id)))
        return None if st is None else st.gid
