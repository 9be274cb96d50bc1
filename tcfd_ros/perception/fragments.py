"""Fragments of one walk: an identity one track founded alone that belongs to a person already handed off.

A LiDAR tracker that loses a far walker and picks them up again a few seconds later delivers a second
track. That track founds an identity of its own when its gait, on its own, misses the threshold against
every identity (or the identity it should join is blocked for it), and the person's hand-off then counts
only for the first track. On 41 disjoint replays, 24 of the 42 genuine camera-LiDAR pairs the recognizer
left unlinked were such second tracks (RESULTS.md, "Fragments of one walk").

The rule, checked after each update for a track ``T`` that gait or geometry holds in identity ``G``: an
identity ``F`` that one track ``B`` of another sensor founded and alone holds (live or ended; unnamed, not
enrolled, not a track's past) is gathered into ``G`` when

* ``G`` holds a track of ``B``'s sensor, none seen at the same time as ``B``, the nearest ended or began
  within ``fragment_max_gap_s`` of ``B`` (one walk broken by the tracker, not a second visit);
* with ``fragment_continuation_m`` (off by default), ``B`` goes on from that track's walk: it began
  within that many metres of where a walk at either track's own mean velocity would have carried the
  earlier one's end (``TrackSpans.continuation_miss_m``). On 108 development re-runs gait had put 8 of
  24 gathered fragments with the wrong person, 3 of them several metres off any such walk; at 2.5 m the
  rule removed those, and one more wrong join took the place of one of them;
* every track ``G`` holds could have become ``B`` at a walking pace (``max_walking_speed_mps``; the
  nearest one of ``B``'s sensor must have been placed) and none was seen apart from ``B`` (a geometric veto);
* ``B`` delivered ``gait_min_tracklets`` tracklets, its gait evidence passes the threshold against ``T``'s
  (the cue-corrected score, ``CueEvidence.score``), and ``G`` is the identity ``B`` scores best against
  among all that hold evidence of the other modality.

On by default at 15 s (``fragment_max_gap_s``; 0 turns it off): on 24 fresh disjoint bags it linked 2 more
of 157 genuine camera-LiDAR track pairs where gait decides and 1 more of 786 impostor pairs (before, on 32, 8
more of 224 and 1 more of 1120). Its false links seen so far: a track whose first gait link was wrong for a
while gathers the fragment, which stays when the track moves on; and a track the tracker began where it lost
two walkers at once, which gait puts with the wrong one (RESULTS.md, "Fragments of one walk" and "Fragments
of one walk, on by default").

A gathered fragment is not bound for good (``fragment_release``): gait chose its identity among the tracks
seen by then, and its own person's track of the other modality may come later. When a live track of the
holder's modality, outside the fragment's identity, passes against the fragment and fits it
``gait_revision_nats`` better than the holder does (``FragmentRules.claimed``) on ``switch_patience``
consecutive tracklets, the fragment leaves for an identity of its own, which the claimant may then take by
the usual revision; it is not gathered into the identity it left again. On the development re-runs of
2026-12-07, at the bags' ends such a claimant existed for 5 of the 8 fragments gait had gathered into the
wrong person's identity and for none of the 16 right ones (RESULTS.md, "A fragment its own person claims").

Pure Python and NumPy; the identity manager applies what this returns (``IdentityManager``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Collection, Mapping

import numpy as np

from tcfd_ros.distance import cross_modal_distance
from tcfd_ros.perception.colocation import GroundTracks
from tcfd_ros.perception.config import IdentityConfig
from tcfd_ros.perception.cue_evidence import CueEvidence
from tcfd_ros.perception.identity_store import IdentityStore
from tcfd_ros.perception.identity_types import PastKey, TrackKey, is_past
from tcfd_ros.perception.track_spans import TrackSpans


@dataclass(frozen=True)
class Fragment:
    """Identity ``gid``, founded and held by track ``source`` alone, belongs in identity ``into``."""

    gid: int
    source: TrackKey
    into: int
    modality: str
    distance: float     # gait distance between the source's evidence and the holding track's
    score: float        # the same, corrected by the cues both measured (what passed the threshold)


@dataclass(frozen=True)
class HeldTrack:
    """A track that gait or geometry holds in identity ``gid`` now, with its aggregated gait evidence."""

    key: TrackKey
    gid: int
    modality: str
    evidence: np.ndarray      # (parts, dim)


@dataclass(frozen=True)
class Gathered:
    """Fragment ``source`` was gathered into identity ``gid`` by ``holder`` (of ``holder_modality``)."""

    source: TrackKey
    gid: int
    holder: TrackKey
    holder_modality: str


@dataclass(frozen=True)
class FragmentRules:
    """What the rule reads: the recognizer's settings, threshold and memory (see module docstring)."""

    cfg: IdentityConfig
    threshold: float
    store: IdentityStore
    spans: TrackSpans
    ground: GroundTracks
    cues: CueEvidence

    def gatherable(self, held: HeldTrack,
                   holdings: Mapping[int, Collection[TrackKey | PastKey]]) -> list[Fragment]:
        """The identities ``held``'s identity may gather now; ``holdings``: per identity, the tracks it
        holds (stored evidence and live bindings). With ``fragment_max_gap_s`` 0 no gap passes: none."""
        out = []
        mine = holdings.get(held.gid, ())
        for gid, ident in self.store.ids.items():
            source = ident.founder
            if (gid == held.gid or source is None or is_past(source) or source[0] == held.key[0]
                    or not self.store.only_from(gid, source)):
                continue
            frag = self._check(held, gid, source, mine)
            if frag is not None:
                out.append(frag)
        return out

    def _check(self, held: HeldTrack, gid: int, source: TrackKey,
               mine: Collection[TrackKey | PastKey]) -> Fragment | None:
        cfg, bank = self.cfg, self.store.bank
        row = self.store.own_rows(gid, source[0]).get(source)
        if row is None or (bank.tracklets[row] or 0) < cfg.gait_min_tracklets:
            return None
        modality = bank.modality[row]
        if modality == held.modality and not cfg.gait_same_modality:
            return None
        if not self._one_walk(source, mine):
            return None
        emb = bank.vector(row)
        cues = self._cues(gid, source)
        distance = float(cross_modal_distance(emb[None], held.evidence[None])[0, 0])
        score = self.cues.score(distance, cues, self.cues.of_track(held.key))
        if not score <= self.threshold or self._best_identity(source, modality, emb, cues) != held.gid:
            return None
        return Fragment(gid, source, held.gid, modality, distance, float(score))

    def claimed(self, gathered: Gathered, claimant: TrackKey, evidence: np.ndarray,
                holder_evidence: np.ndarray) -> bool:
        """Whether ``claimant``, a track of the holder's modality outside the fragment's identity with the
        aggregated gait ``evidence``, passes the threshold against the gathered fragment's evidence and
        scores better than the holder (``holder_evidence``) by the revision margin
        (``CueEvidence.beats``: ``gait_revision_nats``, else ``switch_margin``), each with its cues. Gait
        gathered the fragment by the best fit among the tracks seen by then; its own person may come later."""
        g = gathered
        row = self.store.own_rows(g.gid, g.source[0]).get(g.source)
        if row is None:
            return False
        cues, holder_cues = self._cues(g.gid, g.source), self._cues(g.gid, g.holder)
        d = cross_modal_distance(self.store.bank.vector(row)[None], np.stack([evidence, holder_evidence]))[0]
        mine = self.cues.score(float(d[0]), cues, self.cues.of_track(claimant))
        theirs = self.cues.score(float(d[1]), cues, holder_cues)
        return mine <= self.threshold and self.cues.beats(mine, theirs)

    def _cues(self, gid: int, key: TrackKey) -> dict[str, float]:
        """``key``'s cues: its own while it delivers, else what its sensor last measured of identity ``gid``
        (an ended track's own cues expire with it; its identity remembers what they were)."""
        return {**self.cues.remembered(gid, key[0]), **self.cues.of_track(key)}

    def _one_walk(self, source: TrackKey, mine: Collection[TrackKey | PastKey]) -> bool:
        """Whether ``source`` continues (or precedes) a track of its sensor the identity holds, within
        ``fragment_max_gap_s`` and a walking pace of everything the identity holds, vetoed by none."""
        same = [k for k in mine if k[0] == source[0] and k != source]
        gaps = [self.spans.gap_s(k, source) for k in same]
        if not same or any(g is None or g <= 0.0 for g in gaps):
            return False
        nearest = same[int(np.argmin(gaps))]
        if min(gaps) > self.cfg.fragment_max_gap_s or self.spans.required_speed_mps(nearest, source) is None:
            return False
        limit_m = self.cfg.fragment_continuation_m
        miss = self.spans.continuation_miss_m(nearest, source)
        if limit_m > 0 and miss is not None and miss > limit_m:
            return False
        limit = self.cfg.max_walking_speed_mps
        for k in mine:
            if k == source:
                continue
            need = self.spans.required_speed_mps(source, k)
            if limit > 0 and need is not None and need > limit:
                return False
            if not is_past(k) and k[0] != source[0] and self.ground.vetoed(source, k):
                return False
        return True

    def _best_identity(self, source: TrackKey, modality: str, emb: np.ndarray,
                       cues: Mapping[str, float]) -> int | None:
        """The identity ``source``'s evidence (with its ``cues``) scores best against, among those holding
        evidence of another modality (``gait_min_tracklets`` or more tracklets); None if none does."""
        gids = list(self.store.ids)
        same = None if self.cfg.gait_same_modality else modality
        gait, _ = self.store.distances(emb, source, gids, exclude_modality=same,
                                       min_tracklets=self.cfg.gait_min_tracklets)
        score = self.cues.identity_scores(cues, source[0], gids, gait)
        finite = np.isfinite(score)
        if not finite.any():
            return None
        return gids[int(np.argmin(np.where(finite, score, math.inf)))]
