"""The camera tracker's recent images by stamp, for the clothing colours of the detections made from them.

The image reaches the tracker straight from the camera and its detections through the segmenter, so the
image is nearly always first; but the two arrive on different threads (the executor stores images, the
worker steps the tracker), and under load a frame's detections can be taken up a moment before its image
is stored. Stepping that frame without colours changes which track takes which box, so the same bag gave
different tracks, and hand-offs, from run to run (RESULTS.md, "A tracker that waits for its frame's
image"). ``get`` therefore waits, at most ``wait_s``, for an image that is still on its way (the tracker
node calls it before it takes its state lock, so the image callback can run): one whose
stamp is newer than every image stored so far while images are arriving (the newest within
``stream_gap_s`` of the asked stamp). An image that can no longer come (a newer one is stored: images
arrive in stamp order; or the stream stopped) is not waited for, nor is any while the last
``MISSES_BEFORE_NO_WAIT`` gets all found none (images whose stamps never match the detections', e.g. a
camera topic other than the segmenter's: waiting would only delay every frame). No ROS; thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

Stamp = tuple[int, int]     # (sec, nanosec) of a header stamp
NS_PER_S = 1_000_000_000
#: After this many gets in a row without their image, stop waiting until one is found again.
MISSES_BEFORE_NO_WAIT = 10


def _ns(stamp: Stamp) -> int:
    return stamp[0] * NS_PER_S + stamp[1]


class ImageCache:
    """The newest ``size`` images by stamp; ``get`` waits for one still on its way."""

    def __init__(self, size: int, wait_s: float, stream_gap_s: float) -> None:
        if size < 1 or wait_s < 0 or stream_gap_s < 0:
            raise ValueError(f"ImageCache(size={size}, wait_s={wait_s}, stream_gap_s={stream_gap_s}): "
                             "expected size >= 1 and non-negative times")
        self.size, self.wait_s, self.stream_gap_ns = size, wait_s, int(stream_gap_s * NS_PER_S)
        self._images: OrderedDict[Stamp, Any] = OrderedDict()
        self._newest: int | None = None       # newest stored stamp, ns
        self._cond = threading.Condition()
        self.waited = 0                        # gets that had to wait for their image (diagnostics)
        self.missing = 0                       # gets that found none
        self._missed_in_row = 0

    def put(self, stamp: Stamp, image: Any) -> None:
        with self._cond:
            self._images[stamp] = image
            self._images.move_to_end(stamp)
            while len(self._images) > self.size:
                self._images.popitem(last=False)
            self._newest = max(_ns(stamp), self._newest if self._newest is not None else _ns(stamp))
            self._cond.notify_all()

    def _on_its_way(self, stamp: Stamp) -> bool:
        """Not stored, but images are arriving and none as new as ``stamp`` has come yet."""
        return (stamp not in self._images and self._newest is not None and self._newest < _ns(stamp)
                and _ns(stamp) - self._newest <= self.stream_gap_ns)

    def get(self, stamp: Stamp) -> Any | None:
        """The image with ``stamp``, waiting at most ``wait_s`` for one still on its way; None if none."""
        with self._cond:
            if self._on_its_way(stamp) and self._missed_in_row < MISSES_BEFORE_NO_WAIT:
                self.waited += 1
                self._cond.wait_for(lambda: not self._on_its_way(stamp), timeout=self.wait_s)
            image = self._images.get(stamp)
            self.missing += image is None
            self._missed_in_row = 0 if image is not None else self._missed_in_row + 1
            return image
