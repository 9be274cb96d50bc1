"""The camera tracker's images by stamp (nodes.image_cache): a frame's detections get its image also when
the image is stored a moment after they are taken up, and never wait for one that cannot come."""

from __future__ import annotations

import threading
import time

import pytest

from tcfd_ros.nodes import image_cache
from tcfd_ros.nodes.image_cache import ImageCache


def _cache(wait_s: float = 2.0) -> ImageCache:
    return ImageCache(size=3, wait_s=wait_s, stream_gap_s=1.0)


def test_an_image_stored_after_its_detections_were_taken_up_is_waited_for():
    c = _cache()
    c.put((10, 0), "frame 10.0")
    later = threading.Timer(0.1, c.put, args=((10, 100_000_000), "frame 10.1"))
    later.start()
    t0 = time.monotonic()
    assert c.get((10, 100_000_000)) == "frame 10.1"
    assert 0.05 < time.monotonic() - t0 < 1.5 and c.waited == 1 and c.missing == 0
    later.join()


def test_no_wait_for_a_stored_image_a_lost_one_or_a_stopped_stream():
    c = _cache()
    t0 = time.monotonic()
    assert c.get((10, 0)) is None                       # nothing ever arrived: no stream to wait on
    c.put((10, 0), "a")
    c.put((10, 200_000_000), "c")
    assert c.get((10, 0)) == "a"                        # stored
    assert c.get((10, 100_000_000)) is None             # a newer one came: this one was lost
    assert c.get((12, 0)) is None                       # 1.8 s past the newest: the stream stopped
    assert time.monotonic() - t0 < 0.5 and c.waited == 0 and c.missing == 3


def test_the_wait_is_bounded():
    c = _cache(wait_s=0.1)
    c.put((10, 0), "a")
    t0 = time.monotonic()
    assert c.get((10, 100_000_000)) is None             # on its way, but never stored
    assert 0.09 < time.monotonic() - t0 < 1.0 and c.waited == 1 and c.missing == 1


def test_only_the_newest_images_are_kept():
    c = _cache()
    for k in range(5):
        c.put((20, k), k)
    assert [c.get((20, k)) for k in range(5)] == [None, None, 2, 3, 4]


@pytest.mark.parametrize("size, wait_s, gap_s", [(0, 0.1, 1.0), (3, -1.0, 1.0), (3, 0.1, -1.0)])
def test_bad_settings_are_refused(size, wait_s, gap_s):
    with pytest.raises(ValueError, match="ImageCache"):
        ImageCache(size, wait_s, gap_s)


def test_images_whose_stamps_never_match_stop_being_waited_for(monkeypatch):
    """A camera topic stamped otherwise than the detections: after a run of misses nothing waits; a found
    image starts the waiting again."""
    monkeypatch.setattr(image_cache, "MISSES_BEFORE_NO_WAIT", 3)
    c = _cache(wait_s=0.05)
    for k in range(6):
        c.put((30, k * 100_000_000), "10 ms early")
        c.get((30, k * 100_000_000 + 10_000_000))          # never stored: each a miss
    assert c.missing == 6 and c.waited == 3
    c.put((31, 0), "a match")
    assert c.get((31, 0)) == "a match"
    c.get((31, 10_000_000))
    assert c.waited == 4
