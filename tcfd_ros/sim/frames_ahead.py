"""A simulated bag's sensor frames made ahead in worker processes and handed back in order.

Ray casting and noise are nearly all of a bag's cost. Camera frames are cast by a pool of workers: a
frame's scene depends only on the world and its time (``BagSimulation.camera_scene``). The random parts
are drawn in frame order, each stream by one worker of its own: the camera's noise
(``BagSimulation.camera_noise``; 14 ms a 640x480 frame) and the LiDAR's frames, whose noise is drawn as
they are scanned. Each worker builds its own equal simulation from the spec, so the bag is the same byte
for byte for any number of workers (test/test_sim_bag.py). Images, noise and clouds come back through
shared memory: a pipe moves a 3.7 MB scene in about 20 ms on a small VM, longer than casting half of it.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import signal
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from tcfd_ros.errors import TcfdError
from tcfd_ros.sim.scan import POINT_DTYPE

if TYPE_CHECKING:
    from tcfd_ros.sim.bag import BagSimulation, BagSpec

#: Frames in flight per worker: enough that no worker waits on the writer, few enough to bound memory
#: (one 640x480 colour scene is 3.7 MB, one HDL-64 cloud at most 2.9 MB).
AHEAD_PER_WORKER = 3
#: Camera frames below which a bag is written in one process: starting the workers (each builds the
#: simulation) costs about a second, what ~30 frames of 640x480 take.
MIN_FRAMES_FOR_WORKERS = 100
#: Bytes per pixel of the largest scene: BGR float32 (an IR scene is one float64 per pixel).
SCENE_BYTES_PER_PIXEL = 12

_WORKER: dict[str, Any] = {}    # this worker process's simulation and slots (set by _init)


class Slots:
    """A ring of fixed-size shared-memory slots for arrays a worker hands back; inherited on fork. An
    array larger than a slot goes through the pipe instead (slower, same result)."""

    def __init__(self, ctx, count: int, slot_bytes: int) -> None:
        self.count = count
        self.slot_bytes = slot_bytes
        self._buf = ctx.RawArray("B", count * slot_bytes)

    def put(self, slot: int, arr: np.ndarray | None) -> tuple:
        """Store ``arr`` in ``slot``; returns what ``take`` needs (the array itself if it is too big)."""
        if arr is None:
            return ("none",)
        arr = np.ascontiguousarray(arr)
        if arr.nbytes > self.slot_bytes:
            return ("inline", arr)
        dst = np.frombuffer(self._buf, np.uint8, count=arr.nbytes, offset=slot * self.slot_bytes)
        dst[:] = arr.reshape(-1).view(np.uint8)
        return ("slot", slot, arr.dtype, arr.shape)

    def take(self, ref: tuple) -> np.ndarray | None:
        """The array ``put`` stored: a view of its slot, valid until the slot is written again."""
        if ref[0] == "none":
            return None
        if ref[0] == "inline":
            return ref[1]
        _, slot, dtype, shape = ref
        n = math.prod(shape)
        return np.frombuffer(self._buf, dtype, count=n, offset=slot * self.slot_bytes).reshape(shape)


def _init(spec: BagSpec, prefetch: bool, slots: Slots) -> None:
    from tcfd_ros.sim.bag import BagSimulation

    # Ctrl-C reaches the whole process group: the writer stops, and its close() stops the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sim = BagSimulation(spec)
    if not prefetch:    # a camera worker gets frames out of order: a robot's next pose would be cast in vain
        sim.close()
    _WORKER["sim"] = sim
    _WORKER["slots"] = slots


def _camera_scene(k: int, slot: int):
    scene, lighting, gt = _WORKER["sim"].camera_scene(k)
    return _WORKER["slots"].put(slot, scene), lighting, gt


def _camera_noise(k: int, slot: int):
    return (_WORKER["slots"].put(slot, _WORKER["sim"].camera_noise(k)),)


def _lidar_frame(j: int, slot: int):
    pts, gt = _WORKER["sim"].lidar_frame(j)
    return _WORKER["slots"].put(slot, pts), gt


class _Ahead:
    """``get(i)`` for i = 0, 1, 2, ... in order: ``task(i, slot)`` run ahead by ``pool``, frame ``i``
    in slot ``i % slots.count``. Frame ``i``'s arrays are views of its slot, valid until ``get(i + 1)``
    hands the slot to frame ``i + slots.count`` (no copy: 4 ms a frame)."""

    def __init__(self, task: Callable[[int, int], Any], n: int, pool: ProcessPoolExecutor,
                 slots: Slots) -> None:
        self.task, self.n, self.pool, self.slots = task, n, pool, slots
        self._pending: deque[tuple[int, Future]] = deque()
        self._next = 0

    def get(self, i: int):
        while self._next < self.n and len(self._pending) < self.slots.count:
            slot = self._next % self.slots.count
            self._pending.append((self._next, self.pool.submit(self.task, self._next, slot)))
            self._next += 1
        if not self._pending or self._pending[0][0] != i:
            raise RuntimeError(f"frames must be taken in order: asked for {i}, next is "
                               f"{self._pending[0][0] if self._pending else self.n}")
        try:
            ref, *rest = self._pending.popleft()[1].result()   # a worker's error raises here
        except BrokenProcessPool as e:
            raise TcfdError(f"a process writing the bag's frames died before frame {i} ({e}); out of memory? "
                            "--workers 1 writes the bag in one process") from e
        return (self.slots.take(ref), *rest)


class FramesAhead:
    """The bag writer's source of frames. ``workers == 1``, or a bag shorter than
    ``MIN_FRAMES_FOR_WORKERS`` camera frames: everything in this process, in order.
    ``workers > 1``: camera scenes from ``workers`` processes, and the camera's noise and the LiDAR's
    frames from one more each, all running ahead of the writer, which keeps the messages and the file.
    Then each method's arrays are valid only until its next call (shared memory, reused)."""

    def __init__(self, sim: BagSimulation, workers: int) -> None:
        self.sim = sim
        self._pools: list[ProcessPoolExecutor] = []
        self._camera: _Ahead | None = None
        self._noise: _Ahead | None = None
        self._lidar: _Ahead | None = None
        if workers > 1 and len(sim.cam_t) >= MIN_FRAMES_FOR_WORKERS:
            # fork: cheap, and a worker uses nothing of the writer's state but the spec and the slots (it
            # builds its own simulation). The writer's simulation never starts its prefetch threads here;
            # the only threads alive when a later pool forks are the earlier pools' own manager threads,
            # whose queues the new workers never touch. Python >= 3.12 warns about such forks.
            ctx = mp.get_context("fork")
            cam = sim.cam_model
            image_bytes = cam.width * cam.height * SCENE_BYTES_PER_PIXEL
            self._camera = self._stream(ctx, workers, _camera_scene, len(sim.cam_t), image_bytes, False)
            self._noise = self._stream(ctx, 1, _camera_noise, len(sim.cam_t), image_bytes, False)
            self._lidar = self._stream(ctx, 1, _lidar_frame, len(sim.lidar_t),
                                       sim.scanner.t_static.size * POINT_DTYPE.itemsize, True)

    def _stream(self, ctx, workers: int, task, n: int, slot_bytes: int, prefetch: bool) -> _Ahead:
        slots = Slots(ctx, AHEAD_PER_WORKER * workers, slot_bytes)
        pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init,
                                   initargs=(self.sim.spec, prefetch, slots))
        self._pools.append(pool)
        return _Ahead(task, n, pool, slots)

    def camera_scene(self, k: int):
        """Camera frame ``k``'s (scene, lighting, ground truth), as ``BagSimulation.camera_scene(k)``."""
        return self.sim.camera_scene(k) if self._camera is None else self._camera.get(k)

    def camera_noise(self, k: int):
        """Camera frame ``k``'s noise, as ``BagSimulation.camera_noise(k)``: in order only."""
        return self.sim.camera_noise(k) if self._noise is None else self._noise.get(k)[0]

    def lidar_frame(self, j: int):
        """LiDAR frame ``j``'s (points, ground truth), as ``BagSimulation.lidar_frame(j)``: in order only."""
        return self.sim.lidar_frame(j) if self._lidar is None else self._lidar.get(j)

    def close(self) -> None:
        """Stop the workers (frames still in flight are dropped)."""
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)
        self._pools = []
