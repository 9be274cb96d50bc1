"""Cross-sensor identity management: one global identity per person across cameras and LiDARs.

This is the recognizer's logic without ROS. API::

    mgr = IdentityManager(IdentityConfig(), gallery=Gallery(path) | None, model_metadata=embedder.metadata)
    matches: list[IdentityMatch] = mgr.update([TrackObservation(stamp_s, sensor, modality, track_id,
                                                                embedding (p, d), position=None), ...])
    m.to_dict()    # the per-track entry of the ``matches`` JSON: stamp, sensor, modality, track_id,
                   # global_id, distance (None when there is nothing to compare with), confidence,
                   # known, label
    mgr.enrol(sensor, track_id, label=None) -> global_id    # the "enrol the current track" service
    mgr.erase(global_id) -> bool                            # the "erase an identity" service
    mgr.identities() -> list[IdentitySummary]               # the "list" service
    mgr.apply_retention(now_s) -> list[int]
    mgr.threshold                                           # the open-set threshold in use (settable)

How identities are decided (distance = ``tcfd_ros.distance.cross_modal_distance`` between one
tracklet embedding and each stored embedding of an identity, of either modality; an identity's
distance is the minimum over its embeddings that came from *other* tracks, so a track never
confirms itself):

1. Open set. ``threshold`` is ``cfg.open_set_threshold`` if set, else the model metadata's
   ``open_set_threshold`` (calibrated on validation data to a target false-match rate). An unbound
   track whose best identity is farther than the threshold gets a new identity (``known`` False).
2. Assignment. Per sensor, the unbound tracks of a batch are assigned to identities by the Hungarian
   method on the distance matrix. An identity bound to another track *of the same sensor* that
   delivered a tracklet within ``concurrent_window_s`` is not a candidate (one sensor sees two
   people at once as two tracks); a track that stopped earlier (a fragment the tracker lost) does
   not block its identity, so a re-acquired person gets it back. A camera track and a LiDAR track
   can share an identity: that is the cross-sensor match.
3. Geometry (``use_geometry``). When an observation and a live track of another sensor bound to the
   candidate identity both carry positions in the common frame, observed within
   ``geometric_max_dt_s``: farther apart than ``geometric_gate_m`` vetoes that identity (one person
   cannot be in two places); closer confirms it and lowers the distance used for the decision by
   ``geometric_bonus`` (the reported distance stays the embedding distance). Geometry alone never
   creates a match: the lowered distance must still be within the threshold.
4. Hysteresis. A bound track keeps its identity unless the evidence against it is strong: its
   distance to its identity is above the threshold AND another admissible identity is closer by at
   least ``switch_margin`` and itself within the threshold, on ``switch_patience`` consecutive
   tracklets. Then it switches (logged). One bad tracklet never changes an id.
5. Memory. Each identity keeps the newest ``max_embeddings_per_identity`` embeddings per modality,
   in one ``EmbeddingBank`` (a single array: one vectorised distance call per tracklet); at most
   ``max_identities`` identities are held (the least recently seen, unbound, unenrolled go first).
   A track unseen for ``track_timeout_s`` releases its binding (its identity stays, for re-entry).
   The bank's (parts, dim) comes from the model metadata (``parts``, ``dim``) when present; gallery
   embeddings of another shape are skipped with a warning.
6. Gallery. With a gallery, global ids are gallery ids (persistent, never reused), identities and
   embeddings are loaded at start, and new identities are written; embeddings of identities that are
   not enrolled are written only if ``persist_unenrolled_embeddings``.

``known`` is True when the track was matched to an existing identity (the person was seen before,
by any sensor, or is in the gallery): by assignment or a switch, or, for a bound track, when its
identity's other embeddings are within the threshold (geometric confirmation included).
``confidence`` = sigmoid((threshold - distance) / confidence_temperature), 0 without a distance.
Bad input (unknown modality, non-finite or mis-shaped embedding, timestamps going backwards for a
track) raises ``MessageFormatError`` before any state changes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from tcfd_ros.errors import ConfigError, MessageFormatError
from tcfd_ros.gallery import Gallery
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.embedding_bank import EmbeddingBank

log = logging.getLogger(__name__)

MODALITIES = ("2d", "3d")
MATCH_SCHEMA = "tcfd_ros/match"
MATCH_SCHEMA_VERSION = 1
_FORBIDDEN = 1e6

TrackKey = tuple[str, int]


@dataclass(frozen=True)
class TrackObservation:
    """The embedding of one ready tracklet of one track of one sensor."""

    stamp_s: float
    sensor: str
    modality: str               # "2d" (camera) or "3d" (LiDAR)
    track_id: int
    embedding: np.ndarray       # (parts, dim) float
    position: np.ndarray | None = None  # (2,) or (3,) metres in the common frame, if calibrated

    @property
    def key(self) -> TrackKey:
        return (self.sensor, int(self.track_id))


@dataclass(frozen=True)
class IdentityMatch:
    """The decision for one observation (one entry of the ``matches`` message)."""

    stamp_s: float
    sensor: str
    modality: str
    track_id: int
    global_id: int
    distance: float | None
    confidence: float
    known: bool
    label: str | None = None
    switched: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"stamp": self.stamp_s, "sensor": self.sensor, "modality": self.modality,
                "track_id": self.track_id, "global_id": self.global_id,
                "distance": None if self.distance is None else round(float(self.distance), 6),
                "confidence": round(float(self.confidence), 6), "known": self.known, "label": self.label}


@dataclass(frozen=True)
class IdentitySummary:
    global_id: int
    label: str | None
    enrolled: bool
    last_seen_s: float
    num_embeddings: dict[str, int]
    bound_tracks: tuple[TrackKey, ...]


@dataclass
class _Identity:
    gid: int
    last_seen_s: float
    label: str | None = None
    enrolled: bool = False


@dataclass
class _TrackState:
    gid: int
    last_stamp_s: float
    position: np.ndarray | None = None
    contrary: int = 0
    contrary_gid: int | None = None


class IdentityManager:
    """Global identities across sensors (see module docstring). Not thread-safe: one caller."""

    def __init__(self, cfg: IdentityConfig = IdentityConfig(), gallery: Gallery | None = None,
                 model_metadata: Mapping[str, Any] | None = None) -> None:
        cfg.validate()
        self.cfg = cfg
        self.gallery = gallery
        thr = cfg.open_set_threshold
        if thr is None:
            thr = (model_metadata or {}).get("open_set_threshold")
            if thr is None:
                raise ConfigError(
                    "open_set_threshold: not set in the identity config and absent from the model "
                    "metadata; calibrate the model (tcfd-ros evaluate) or set identity.open_set_threshold")
        self.threshold = float(thr)
        if not 0.0 < self.threshold < 2.0:
            raise ConfigError(f"open_set_threshold = {self.threshold}: expected 0 < value < 2")
        self._ids: dict[int, _Identity] = {}
        self._tracks: dict[TrackKey, _TrackState] = {}
        self._next_gid = 1
        meta = model_metadata or {}
        shape = (int(meta["parts"]), int(meta["dim"])) if "parts" in meta and "dim" in meta else None
        self._bank = EmbeddingBank(shape)
        if gallery is not None:
            self._load_gallery(gallery)

    # ---- gallery ---------------------------------------------------------------------------
    def _load_gallery(self, gallery: Gallery) -> None:
        for rec in gallery.list_identities():
            self._ids[rec.identity_id] = _Identity(rec.identity_id, rec.last_seen, rec.label, rec.enrolled)
        skipped = 0
        for e in gallery.embeddings():
            ident = self._ids.get(e.identity_id)
            if ident is None:
                continue
            if self._bank.shape is not None and e.vector.shape != self._bank.shape:
                skipped += 1
                continue
            self._store(ident, e.modality, None, e.vector, e.stamp)
        if skipped:
            log.warning("%d gallery embeddings have another shape than the model's %s and were not loaded",
                        skipped, self._bank.shape)
        if self._ids:
            self._next_gid = max(self._ids) + 1
        log.info("identity manager: %d identities loaded from %s", len(self._ids), gallery.path)

    def _store(self, ident: _Identity, modality: str, source: TrackKey | None, emb: np.ndarray,
               stamp: float) -> None:
        self._bank.add(ident.gid, modality, source, emb, stamp)
        self._bank.trim(ident.gid, modality, self.cfg.max_embeddings_per_identity)

    def _forget(self, gid: int) -> None:
        self._ids.pop(gid, None)
        self._bank.remove_owner(gid)
        for key in [k for k, st in self._tracks.items() if st.gid == gid]:
            del self._tracks[key]

    def _new_identity(self, stamp_s: float) -> _Identity:
        if self.gallery is not None:
            gid = self.gallery.create_identity(stamp_s)
        else:
            gid = self._next_gid
        self._next_gid = max(self._next_gid, gid + 1)
        ident = _Identity(gid, stamp_s)
        self._ids[gid] = ident
        self._evict_identities()
        return ident

    def _evict_identities(self) -> None:
        excess = len(self._ids) - self.cfg.max_identities
        if excess <= 0:
            return
        bound = {t.gid for t in self._tracks.values()}
        for ident in sorted(self._ids.values(), key=lambda i: i.last_seen_s):
            if excess <= 0:
                break
            if ident.gid in bound or ident.enrolled:
                continue
            self._forget(ident.gid)
            excess -= 1

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
            if self._bank.shape is not None and e.shape != self._bank.shape:
                raise MessageFormatError(
                    f"observations[{i}].embedding shape {e.shape} != {self._bank.shape} of the stored "
                    f"embeddings (model metadata or gallery): a different model?")
            shape = e.shape
            if not isinstance(o.stamp_s, (int, float)) or not math.isfinite(o.stamp_s):
                raise MessageFormatError(
                    f"observations[{i}].stamp_s = {o.stamp_s!r}: expected finite seconds")
            st = self._tracks.get(o.key)
            if st is not None and o.stamp_s < st.last_stamp_s:
                raise MessageFormatError(
                    f"observations[{i}] ({o.sensor} track {o.track_id}) stamp {o.stamp_s:.6f} is earlier "
                    f"than its previous tracklet {st.last_stamp_s:.6f}: timestamps must not go backwards")
            if o.position is not None:
                p = np.asarray(o.position, dtype=np.float64)
                if p.shape not in ((2,), (3,)) or not np.isfinite(p).all():
                    raise MessageFormatError(
                        f"observations[{i}].position = {o.position!r}: expected 2 or 3 finite numbers")

    # ---- distances -------------------------------------------------------------------------
    def _distances(self, emb: np.ndarray, own: TrackKey, gids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(distance to each identity using other tracks' embeddings, distance using own only)."""
        other = np.full(len(gids), np.inf)
        mine = np.full(len(gids), np.inf)
        bank = self._bank
        if bank.size == 0 or not gids:
            return other, mine
        d = bank.distances(emb)
        order = np.argsort(np.asarray(gids))
        sorted_gids = np.asarray(gids)[order]
        pos = np.searchsorted(sorted_gids, bank.owner[: bank.size])
        pos = np.minimum(pos, len(gids) - 1)
        known = sorted_gids[pos] == bank.owner[: bank.size]
        col = order[pos]
        is_own = np.fromiter((src == own for src in bank.source), dtype=bool, count=bank.size)
        sel = known & ~is_own
        np.minimum.at(other, col[sel], d[sel])
        sel = known & is_own
        np.minimum.at(mine, col[sel], d[sel])
        return other, mine

    def _geometry(self, o: TrackObservation, gid: int) -> int:
        """-1: a live track of another sensor bound to ``gid`` is elsewhere (veto); +1: one is here
        (confirmation); 0: no comparable position (no geometry, no position, or too old)."""
        if not self.cfg.use_geometry or o.position is None:
            return 0
        p = np.asarray(o.position, dtype=np.float64)
        verdict = 0
        for key, st in self._tracks.items():
            if st.gid != gid or key[0] == o.sensor or st.position is None:
                continue
            if abs(o.stamp_s - st.last_stamp_s) > self.cfg.geometric_max_dt_s:
                continue
            n = min(p.size, st.position.size, 2)  # compare on the ground plane
            if float(np.linalg.norm(p[:n] - st.position[:n])) > self.cfg.geometric_gate_m:
                return -1
            verdict = 1
        return verdict

    def _effective(self, o: TrackObservation, gid: int, d: float) -> float | None:
        """Distance used for decisions: None if ``gid`` is not admissible for ``o``, lowered by
        ``geometric_bonus`` where positions confirm it."""
        window = self.cfg.concurrent_window_s
        for key, st in self._tracks.items():
            if (st.gid == gid and key[0] == o.sensor and key != o.key
                    and abs(o.stamp_s - st.last_stamp_s) <= window):
                return None
        geo = self._geometry(o, gid)
        if geo < 0:
            return None
        return d - self.cfg.geometric_bonus if geo > 0 else d

    def _confidence(self, d: float | None) -> float:
        if d is None or not math.isfinite(d):
            return 0.0
        z = (self.threshold - d) / self.cfg.confidence_temperature
        return float(1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0))))

    # ---- the update ------------------------------------------------------------------------
    def update(self, observations: Sequence[TrackObservation]) -> list[IdentityMatch]:
        """Decide a global identity for every observation (in input order)."""
        self._check(observations)
        if not observations:
            return []
        self._expire(max(o.stamp_s for o in observations))
        latest: dict[TrackKey, int] = {}
        for i, o in enumerate(observations):
            latest[o.key] = i  # a track twice in one batch: its last tracklet decides
        results: dict[int, IdentityMatch] = {}
        sensors = list(dict.fromkeys(o.sensor for o in observations))
        for sensor in sensors:
            idx = [i for i in latest.values() if observations[i].sensor == sensor]
            unbound = []
            for i in idx:
                o = observations[i]
                if o.key in self._tracks and self._tracks[o.key].gid in self._ids:
                    results[i] = self._update_bound(o)
                else:
                    self._tracks.pop(o.key, None)
                    unbound.append(i)
            for i, m in self._assign_unbound([observations[i] for i in unbound]):
                results[unbound[i]] = m
        out = []
        for i, o in enumerate(observations):
            m = results.get(i)
            if m is None:  # an earlier duplicate of a track in this batch: report the final decision
                m = results[latest[o.key]]
            out.append(m)
        return out

    def _record(self, o: TrackObservation, ident: _Identity) -> None:
        emb = np.asarray(o.embedding, dtype=np.float32).copy()
        self._store(ident, o.modality, o.key, emb, o.stamp_s)
        ident.last_seen_s = max(ident.last_seen_s, o.stamp_s)
        st = self._tracks.get(o.key)
        pos = None if o.position is None else np.asarray(o.position, dtype=np.float64).copy()
        if st is None or st.gid != ident.gid:
            self._tracks[o.key] = _TrackState(ident.gid, o.stamp_s, pos)
        else:
            st.last_stamp_s, st.position = o.stamp_s, pos if pos is not None else st.position
        if self.gallery is not None:
            if ident.enrolled or self.cfg.persist_unenrolled_embeddings:
                self.gallery.add_embedding(ident.gid, o.modality, o.sensor, o.stamp_s, emb,
                                           keep_last=self.cfg.max_embeddings_per_identity)
            else:
                self.gallery.touch(ident.gid, o.stamp_s)

    def _match(self, o: TrackObservation, ident: _Identity, d_other: float, d_own: float,
               known: bool, switched: bool = False) -> IdentityMatch:
        d = d_other if math.isfinite(d_other) else (d_own if math.isfinite(d_own) else None)
        self._record(o, ident)
        return IdentityMatch(o.stamp_s, o.sensor, o.modality, int(o.track_id), ident.gid, d,
                             self._confidence(d), bool(known), ident.label, switched)

    def _update_bound(self, o: TrackObservation) -> IdentityMatch:
        st = self._tracks[o.key]
        gids = list(self._ids)
        emb = np.asarray(o.embedding, dtype=np.float32)
        other, mine = self._distances(emb, o.key, gids)
        cur = gids.index(st.gid)
        d_cur = other[cur]
        geo_cur = self._geometry(o, st.gid)
        e_cur = d_cur - self.cfg.geometric_bonus if geo_cur > 0 else d_cur
        best_j, best_e = -1, np.inf
        for j, gid in enumerate(gids):
            if j == cur or other[j] - self.cfg.geometric_bonus >= best_e:
                continue
            e = self._effective(o, gid, other[j])
            if e is not None and e < best_e:
                best_j, best_e = j, e
        # evidence against the binding: its identity is beyond the threshold (inf: no other
        # evidence) while another admissible identity is within it and closer by the margin
        against = (e_cur > self.threshold and best_j >= 0 and best_e <= self.threshold
                   and best_e + self.cfg.switch_margin < e_cur)
        if against and st.contrary_gid == gids[best_j]:
            st.contrary += 1
        elif against:
            st.contrary, st.contrary_gid = 1, gids[best_j]
        else:
            st.contrary, st.contrary_gid = 0, None
        if st.contrary >= self.cfg.switch_patience:
            new = self._ids[gids[best_j]]
            log.info("%s track %d: identity %d -> %d (distance %.3f vs %.3f on %d tracklets)", o.sensor,
                     o.track_id, st.gid, new.gid, best_e, e_cur, st.contrary)
            return self._match(o, new, other[best_j], mine[best_j], known=True, switched=True)
        if geo_cur < 0:
            log.debug("%s track %d: position disagrees with identity %d's other tracks", o.sensor,
                      o.track_id, st.gid)
        return self._match(o, self._ids[st.gid], d_cur, mine[cur], known=bool(e_cur <= self.threshold))

    def _assign_unbound(self, obs: list[TrackObservation]) -> list[tuple[int, IdentityMatch]]:
        if not obs:
            return []
        gids = list(self._ids)
        out: list[tuple[int, IdentityMatch]] = []
        taken: set[int] = set()
        if gids:
            cost = np.full((len(obs), len(gids)), _FORBIDDEN)
            dists = []
            for i, o in enumerate(obs):
                other, mine = self._distances(np.asarray(o.embedding, dtype=np.float32), o.key, gids)
                dists.append((other, mine))
                for j in np.flatnonzero(other - self.cfg.geometric_bonus <= self.threshold):
                    e = self._effective(o, gids[j], other[j])
                    if e is not None and e <= self.threshold:
                        cost[i, j] = e
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] < _FORBIDDEN:
                    taken.add(int(r))
                    ident = self._ids[gids[c]]
                    out.append((int(r), self._match(obs[r], ident, dists[r][0][c], dists[r][1][c],
                                                    known=True)))
        for i, o in enumerate(obs):
            if i not in taken:
                ident = self._new_identity(o.stamp_s)
                out.append((i, self._match(o, ident, np.inf, np.inf, known=False)))
        return out

    def _expire(self, now_s: float) -> None:
        timeout = self.cfg.track_timeout_s
        for key in [k for k, st in self._tracks.items() if now_s - st.last_stamp_s > timeout]:
            del self._tracks[key]

    # ---- services --------------------------------------------------------------------------
    def enrol(self, sensor: str, track_id: int, label: str | None = None) -> int:
        """Enrol the identity of a live track (named ``label``); its embeddings are saved."""
        st = self._tracks.get((sensor, int(track_id)))
        if st is None or st.gid not in self._ids:
            raise MessageFormatError(f"enrol: no live track {track_id} of sensor {sensor!r}; "
                                     f"live tracks: {sorted(self._tracks)}")
        ident = self._ids[st.gid]
        ident.enrolled = True
        ident.label = label if label is not None else ident.label
        if self.gallery is not None:
            if not self.cfg.persist_unenrolled_embeddings:
                bank = self._bank
                for r in bank.rows_of(ident.gid):
                    src = bank.source[r]
                    if src is not None:
                        self.gallery.add_embedding(ident.gid, bank.modality[r], src[0], bank.stamp[r],
                                                   bank.vector(r),
                                                   keep_last=self.cfg.max_embeddings_per_identity)
            self.gallery.enrol(ident.gid, label)
        return ident.gid

    def erase(self, global_id: int) -> bool:
        """Forget an identity (memory and gallery); its tracks get new identities on their next tracklet."""
        found = int(global_id) in self._ids
        self._forget(int(global_id))
        if self.gallery is not None:
            found = self.gallery.erase(int(global_id)) or found
        return found

    def apply_retention(self, now_s: float | None = None) -> list[int]:
        """Apply the gallery's retention and forget the deleted identities."""
        if self.gallery is None:
            return []
        gone = self.gallery.apply_retention(now_s)
        for gid in gone:
            self._forget(gid)
        return gone

    def identities(self) -> list[IdentitySummary]:
        counts: dict[int, dict[str, int]] = {}
        for gid, mod in zip(self._bank.owner[: self._bank.size].tolist(), self._bank.modality):
            counts.setdefault(gid, {}).setdefault(mod, 0)
            counts[gid][mod] += 1
        return [IdentitySummary(i.gid, i.label, i.enrolled, i.last_seen_s, counts.get(i.gid, {}),
                                tuple(sorted(k for k, st in self._tracks.items() if st.gid == i.gid)))
                for i in sorted(self._ids.values(), key=lambda x: x.gid)]

    def binding(self, sensor: str, track_id: int) -> int | None:
        """The global id a live track is bound to, or None."""
        st = self._tracks.get((sensor, int(track_id)))
        return None if st is None else st.gid
