"""Static-object memory for LiDAR person candidates: what never moves is not a person.

Bollards, posts and low walls can be person-sized in one sweep, above all on sparse sensors where the
beam gaps hide their flat tops. People walk. Each frame's person candidates (cluster centroids in the
sensor frame) are associated with short tracks by greedy nearest neighbour; a track that has stayed
within ``radius_m`` of where it was first seen for ``after_frames`` frames is static, and its place is
remembered for ``forget_frames`` frames, so that the object is suppressed at once when it reappears
(after a passer-by occluded or merged with it). A candidate born at a remembered place is static until
it has moved ``radius_m``: a person who steps out from behind a bollard is reported a few frames later.

Limits (documented in the README): a person who stands still for ``after_frames`` frames is not
reported until they move (gait needs walking anyway); single scans (KITTI, nuScenes) are unaffected
(no track is old enough). On a moving platform fixed objects move in the sensor frame: there the
segmenter passes positions (and cell keys) in the fixed frame, from the platform pose at each cloud's
stamp, so that what stands still in the world is still here (``LidarSegmenter.segment``'s
``fixed_from_sensor``).

A second, coarser memory (``StaticCellMap``) learns which pillar cells are occupied nearly all the
time (walls, bollards, parked cars); the segmenter leaves those cells out before clustering, so a
walker who passes close to a low wall is not merged with it into one too-wide cluster. A walker's
cells were empty a moment ago; a cluster whose cells were mostly occupied before (the rest of a car
whose static cells were left out, a learned bollard) is not a walker.

API::

    f = StaticObjectFilter(after_frames=8, radius_m=0.4, gate_m=1.0, forget_frames=600)
    static = f.update(positions)   # (K, 2) x, y of this frame's candidates -> (K,) bool
    cells = StaticCellMap(time_constant_frames=20)
    static, occupancy = cells.update(keys)  # sorted unique int64 cell keys -> (K,) bool, (K,) float
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A track not matched for this many frames in a row ends (a person occluded longer is a new track).
MAX_MISSED_FRAMES = 5
#: Bounds on memory: tracks and remembered places (the oldest go first).
MAX_TRACKS = 256
MAX_PLACES = 1024


@dataclass
class _Track:
    anchor: np.ndarray          # (2,) where it was first seen
    last: np.ndarray            # (2,) where it was last seen
    seen: int = 1               # frames matched
    missed: int = 0             # frames in a row without a match
    moved: bool = False         # left the anchor's radius once: a mover, never static again
    from_place: bool = False    # born at a remembered static place


class StaticObjectFilter:
    """Flags candidates that sit still (see module docstring). Not thread-safe."""

    def __init__(self, after_frames: int, radius_m: float, gate_m: float, forget_frames: int) -> None:
        self.after_frames = after_frames
        self.radius_m = radius_m
        self.gate_m = gate_m
        self.forget_frames = forget_frames
        self.frame = 0
        self._tracks: list[_Track] = []
        self._places = np.zeros((0, 2))          # (P, 2) remembered static positions
        self._place_seen = np.zeros(0, np.int64)  # frame each place was last confirmed

    @property
    def places(self) -> np.ndarray:
        """(P, 2) remembered static places (x, y in the frame of the positions given to ``update``)."""
        return self._places.copy()

    def _near_place(self, p: np.ndarray) -> int:
        if self._places.shape[0] == 0:
            return -1
        d = np.hypot(*(self._places - p).T)
        k = int(np.argmin(d))
        return k if d[k] <= self.radius_m else -1

    def _remember(self, p: np.ndarray) -> None:
        k = self._near_place(p)
        if k >= 0:
            self._place_seen[k] = self.frame
            return
        self._places = np.vstack([self._places, p])[-MAX_PLACES:]
        self._place_seen = np.append(self._place_seen, self.frame)[-MAX_PLACES:]

    def update(self, positions: np.ndarray) -> np.ndarray:
        """(K, 2) candidate positions of this frame -> (K,) True where the candidate is static."""
        pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
        self.frame += 1
        keep = self._place_seen >= self.frame - self.forget_frames
        self._places, self._place_seen = self._places[keep], self._place_seen[keep]
        static = np.zeros(pos.shape[0], dtype=bool)
        matched_t: set[int] = set()
        matched_c: set[int] = set()
        if self._tracks and pos.shape[0]:
            last = np.stack([t.last for t in self._tracks])
            d = np.hypot(pos[:, None, 0] - last[None, :, 0], pos[:, None, 1] - last[None, :, 1])
            for flat in np.argsort(d, axis=None, kind="stable"):
                c, t = divmod(int(flat), d.shape[1])
                if d[c, t] > self.gate_m:
                    break
                if c in matched_c or t in matched_t:
                    continue
                matched_c.add(c)
                matched_t.add(t)
                tr = self._tracks[t]
                tr.last, tr.seen, tr.missed = pos[c], tr.seen + 1, 0
                if np.hypot(*(pos[c] - tr.anchor)) > self.radius_m:
                    tr.moved = True
                static[c] = self._is_static(tr)
        survivors = [t for k, t in enumerate(self._tracks) if k in matched_t]
        for k, t in enumerate(self._tracks):
            if k not in matched_t and t.missed + 1 <= MAX_MISSED_FRAMES:
                t.missed += 1
                survivors.append(t)
        for c in range(pos.shape[0]):
            if c in matched_c:
                continue
            tr = _Track(anchor=pos[c], last=pos[c], from_place=self._near_place(pos[c]) >= 0)
            survivors.append(tr)
            static[c] = self._is_static(tr)
        self._tracks = sorted(survivors, key=lambda t: t.missed)[:MAX_TRACKS]
        return static

    def _is_static(self, tr: _Track) -> bool:
        if tr.moved:
            return False
        if tr.from_place or tr.seen >= self.after_frames:
            self._remember(tr.anchor)
            return True
        return False


class StaticCellMap:
    """Pillar cells that are occupied nearly all the time (walls, bollards, parked cars).

    Each cell's occupancy is an exponential moving average over frames (time constant
    ``time_constant_frames``); a cell becomes static at ``on`` and stops being static below ``off``
    (a bollard hidden by a passer-by for a second stays static; a cell left by a car, or stale after
    the platform moved, is released within ~``time_constant_frames`` / 2 frames).
    """

    ON = 0.9
    OFF = 0.5
    #: Cells whose occupancy fell below this are dropped from the table (bounded memory).
    FORGET = 0.01

    def __init__(self, time_constant_frames: int) -> None:
        self.rate = 1.0 / time_constant_frames
        self._keys = np.zeros(0, np.int64)    # sorted
        self._occ = np.zeros(0, np.float64)
        self._static = np.zeros(0, bool)

    def __len__(self) -> int:
        return int(self._keys.size)

    @property
    def n_static(self) -> int:
        return int(self._static.sum())

    def update(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """This frame's occupied cells (sorted unique int64) -> ((K,) static, (K,) occupancy before).

        The verdicts use the map before this frame (a new static cell is left out from the next one).
        """
        keys = np.asarray(keys, np.int64)
        out = np.zeros(keys.size, dtype=bool)
        occ = np.zeros(keys.size)
        if self._keys.size:
            pos = np.minimum(np.searchsorted(self._keys, keys), self._keys.size - 1)
            known = self._keys[pos] == keys
            out[known] = self._static[pos[known]]
            occ[known] = self._occ[pos[known]]
            hit = np.zeros(self._keys.size, dtype=bool)
            hit[pos[known]] = True
        else:
            known = np.zeros(keys.size, dtype=bool)
            hit = np.zeros(0, dtype=bool)
        self._occ += self.rate * (hit - self._occ)
        self._static = (self._occ >= self.ON) | (self._static & (self._occ >= self.OFF))
        keep = self._occ >= self.FORGET
        new = keys[~known]
        allk = np.concatenate([self._keys[keep], new])
        order = np.argsort(allk, kind="stable")
        self._keys = allk[order]
        self._occ = np.concatenate([self._occ[keep], np.full(new.size, self.rate)])[order]
        self._static = np.concatenate([self._static[keep], np.zeros(new.size, bool)])[order]
        return out, occ
