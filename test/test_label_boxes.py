"""``label_boxes``: the camera tracker's box per instance label, checked against scipy's ``find_objects``."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from tcfd_ros.perception.sensor_tracking import camera_measurements, label_boxes


def reference(labels: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    return [(k, sl[0].start, sl[0].stop, sl[1].start, sl[1].stop)
            for k, sl in enumerate(ndimage.find_objects(labels), start=1) if sl is not None]


@settings(max_examples=200, deadline=None)
@given(arrays(st.sampled_from([np.uint8, np.uint16, np.int32]),
              st.tuples(st.integers(1, 24), st.integers(1, 24)), elements=st.integers(0, 7)))
def test_boxes_are_find_objects_boxes(labels: np.ndarray) -> None:
    assert label_boxes(labels) == reference(labels)


def test_a_label_that_fills_the_image_and_gaps_in_the_numbering() -> None:
    assert label_boxes(np.full((5, 7), 4, np.uint16)) == [(4, 0, 5, 0, 7)]
    labels = np.zeros((40, 30), np.int32)
    labels[2:9, 3:5] = 1
    labels[20:31, 10:25] = 5
    assert label_boxes(labels) == [(1, 2, 9, 3, 5), (5, 20, 31, 10, 25)]
    assert label_boxes(np.zeros((6, 6), np.int32)) == []


def test_measurements_keep_each_label_box_and_id() -> None:
    labels = np.zeros((120, 80), np.int32)
    labels[10:90, 5:25] = 2
    labels[30:110, 50:70] = 3
    ms = camera_measurements(labels)
    assert [m.payload[1:] for m in ms] == [((5, 10, 25, 90), 2), ((50, 30, 70, 110), 3)]
    assert [m.size for m in ms] == [(20, 80), (20, 80)]
