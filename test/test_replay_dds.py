"""A replay's ROS domain (replay/dds.py): kept when the user names one, else one free on this host."""

from __future__ import annotations

import os
import socket

import pytest

from tcfd_ros.errors import ConfigError
from tcfd_ros.replay import dds


def _port(domain: int, participant: int = 0) -> int:
    return dds.RTPS_PB + dds.RTPS_DG * domain + dds.RTPS_D1 + dds.RTPS_PG * participant


@pytest.fixture
def no_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(dds.DOMAIN_ENV, raising=False)
    monkeypatch.delenv(dds.DISCOVERY_RANGE_ENV, raising=False)


def test_the_users_domain_is_kept_and_the_environment_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dds.DOMAIN_ENV, "37")
    with dds.replay_domain() as d:
        assert d == 37 and os.environ[dds.DOMAIN_ENV] == "37"
    with dds.replay_domain(12) as d:
        assert d == 12 and os.environ[dds.DOMAIN_ENV] == "12"
    assert os.environ[dds.DOMAIN_ENV] == "37"
    with pytest.raises(ConfigError, match="outside 0..232"):
        with dds.replay_domain(300):
            pass
    monkeypatch.setenv(dds.DOMAIN_ENV, "robot")
    with pytest.raises(ConfigError, match="'robot' is not a domain id"):
        with dds.replay_domain():
            pass


def test_without_a_domain_a_free_one_is_taken_and_released(no_domain: None,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dds.os, "getpid", lambda: 41)          # start the search at domain 42
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("", _port(42, participant=3)))               # someone's 4th participant on domain 42
        assert dds.domain_in_use(42)
        with dds.replay_domain() as a:
            assert a != 42 and not dds.domain_in_use(a)
            assert os.environ[dds.DOMAIN_ENV] == str(a)
            assert os.environ[dds.DISCOVERY_RANGE_ENV] == "LOCALHOST"
            os.environ.pop(dds.DOMAIN_ENV)                      # a second replay started beside it
            with dds.replay_domain() as b:
                assert b not in (42, a)                         # a's claim holds before its graph runs
        assert dds.DOMAIN_ENV not in os.environ and dds.DISCOVERY_RANGE_ENV not in os.environ
        with dds.replay_domain() as again:
            assert again == a                                   # claims end with the replay


@pytest.mark.ros
def test_a_live_dds_participant_marks_its_domain_in_use(no_domain: None) -> None:
    import rclpy

    with dds.replay_domain() as d:
        assert not dds.domain_in_use(d)
        ctx = rclpy.Context()
        rclpy.init(context=ctx, domain_id=d)
        try:
            node = rclpy.create_node("someone_else", context=ctx)
            assert dds.domain_in_use(d)
            node.destroy_node()
        finally:
            rclpy.shutdown(context=ctx)
