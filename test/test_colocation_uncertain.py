"""Geometric fusion with uncertain samples: a far camera foot point (metres of sigma) is no evidence of
co-location, so it neither makes a stranger a competitor nor a partner (issue 12, robot patrol)."""

from __future__ import annotations

import numpy as np
import pytest

from tcfd_ros.errors import ConfigError
from tcfd_ros.perception.colocation import GroundTracks, Relation
from tcfd_ros.perception.config import IdentityConfig

CAMERA_HZ, LIDAR_HZ = 15.0, 10.0
FAR_SIGMA_M = 4.5      # a camera foot point ~30 m away (simulated robot bags: 4.7 m)
NEAR_SIGMA_M = 0.5


def feed(g: GroundTracks, key: tuple[str, int], t0: float, t1: float, hz: float, path, sigma) -> None:
    for t in np.arange(t0, t1, 1.0 / hz):
        g.add(key, float(t), "map", (*path(t), 0.0), sigma(t) if callable(sigma) else sigma)


def scene(cfg: IdentityConfig) -> GroundTracks:
    """A camera track starts on a far, uncertain detection (1 s, sigma 4.5 m, 8 m from a LiDAR clutter
    track), then follows a person a LiDAR track also follows (3 s, co-located within 0.2 m)."""
    g = GroundTracks(cfg)
    person = lambda t: (10.0 + 0.8 * t, 2.0)                       # noqa: E731
    cam_path = lambda t: (24.0, 4.0) if t < 1.0 else (person(t)[0] + 0.2, 2.1)   # noqa: E731
    feed(g, ("camera", 1), 0.0, 4.0, CAMERA_HZ, cam_path, lambda t: FAR_SIGMA_M if t < 1.0 else NEAR_SIGMA_M)
    feed(g, ("lidar", 5), 0.0, 1.0, LIDAR_HZ, lambda t: (17.0, 0.0), 0.1)     # clutter, gone after 1 s
    feed(g, ("lidar", 7), 0.0, 4.0, LIDAR_HZ, person, 0.1)
    return g


def test_an_uncertain_start_does_not_make_a_stranger_a_competitor():
    g = scene(IdentityConfig())
    clutter = g.evidence(("camera", 1), ("lidar", 5))
    assert clutter.simultaneous == 0 and clutter.colocated == 0   # 8 m off at 4.5 m sigma: no evidence
    assert g.relation(("camera", 1), ("lidar", 7)) == Relation.LINK
    assert g.relation(("camera", 1), ("lidar", 5)) == Relation.UNKNOWN


def test_without_the_cap_the_uncertain_samples_block_the_link():
    # the rule the cap replaces: a 13.5 m co-location radius made the clutter track a competitor
    g = scene(IdentityConfig(geometry_gate_max_m=100.0))
    assert g.evidence(("camera", 1), ("lidar", 5)).colocated >= 3
    assert g.relation(("camera", 1), ("lidar", 7)) == Relation.UNKNOWN


def test_uncertain_samples_still_veto_when_far_beyond_their_sigma():
    g = GroundTracks(IdentityConfig())
    feed(g, ("camera", 1), 0.0, 1.0, CAMERA_HZ, lambda t: (40.0, 0.0), FAR_SIGMA_M)
    feed(g, ("lidar", 7), 0.0, 1.0, LIDAR_HZ, lambda t: (5.0, 0.0), 0.1)     # 35 m > 5 sigma, > 2 m
    e = g.evidence(("camera", 1), ("lidar", 7))
    assert e.apart == e.simultaneous == 10 and e.colocated == 0
    assert g.relation(("camera", 1), ("lidar", 7)) == Relation.VETO


def test_certain_samples_are_unchanged_by_the_cap():
    g = GroundTracks(IdentityConfig())
    feed(g, ("camera", 1), 0.0, 2.0, CAMERA_HZ, lambda t: (5.0 + t, 1.0), 0.9)   # radius 2.7 m <= 3 m
    feed(g, ("lidar", 7), 0.0, 2.0, LIDAR_HZ, lambda t: (5.0 + t + 1.5, 1.0), 0.1)
    e = g.evidence(("camera", 1), ("lidar", 7))
    assert e.simultaneous == e.colocated == 20 and e.apart == 0


def test_the_cap_is_validated():
    with pytest.raises(ConfigError, match="geometry_gate_max_m"):
        IdentityConfig(geometry_gate_max_m=0.2).validate()       # below geometry_gate_floor_m (0.75)


def _fragments(cam_second_start: float) -> GroundTracks:
    """One LiDAR track follows a person for 4 s; the camera follows the same person with track 1 (0-1 s)
    and then track 2 (from ``cam_second_start``)."""
    g = GroundTracks(IdentityConfig())
    person = lambda t: (6.0 + 0.8 * t, 1.0)                        # noqa: E731
    near = lambda t: (person(t)[0] + 0.15, 1.05)                   # noqa: E731
    feed(g, ("lidar", 7), 0.0, 4.0, LIDAR_HZ, person, 0.1)
    feed(g, ("camera", 1), 0.0, 1.0, CAMERA_HZ, near, NEAR_SIGMA_M)
    feed(g, ("camera", 2), cam_second_start, 4.0, CAMERA_HZ, near, NEAR_SIGMA_M)
    return g


def test_an_earlier_fragment_of_the_same_person_is_not_a_second_candidate():
    g = _fragments(1.1)                            # the camera tracker lost and re-acquired the person
    assert g.relation(("camera", 2), ("lidar", 7)) == Relation.LINK


def test_a_concurrent_second_camera_track_on_the_same_place_is_ambiguous():
    g = _fragments(0.0)                            # two camera tracks at once: two people, or a duplicate
    assert g.relation(("camera", 2), ("lidar", 7)) == Relation.UNKNOWN
