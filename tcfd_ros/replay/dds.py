"""DDS settings of a replay: a ROS domain of its own, and a short reliable-writer heartbeat (Fast DDS).

A replay's graph must hear only the replay. Two replays on one domain (ROS 2's default 0 for both) feed
each other's trackers and recognizer: each tracker's track ids arrive at both recognizers under the same
sensor name, and every score of both runs is garbage without an error anywhere. So unless the user names
a domain (``--domain-id``, or ``ROS_DOMAIN_ID`` in the environment), the replay takes one that no
participant on this host uses and no other ``tcfd-ros replay`` has claimed (``replay_domain``); the report
checks afterwards that no stage received more than was published (``losses.foreign_inputs``).

A reliable sample that DDS splits into many fragments (a 1 MB image, a 2.5 MB cloud) and loses one
fragment of is repaired only after the writer's next heartbeat, 3 s by default in Fast DDS: on a
loaded host that turned a 4 s bag into a 70 s replay. The replay therefore hands Fast DDS an XML
profile with a short heartbeat, for its own writers and the graph's, unless the user already points
``FASTDDS_DEFAULT_PROFILES_FILE`` at a profile of their own. Other RMW implementations ignore it.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from tcfd_ros.errors import ConfigError

log = logging.getLogger(__name__)

PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"
DOMAIN_ENV = "ROS_DOMAIN_ID"
DISCOVERY_RANGE_ENV = "ROS_AUTOMATIC_DISCOVERY_RANGE"
#: RTPS's default port mapping (DDSI-RTPS 2.3, 9.6.1.1), which Fast DDS and Cyclone DDS follow:
#: participant p of domain d takes UDP port PB + DG x d + d1 + PG x p for its discovery traffic.
RTPS_PB, RTPS_DG, RTPS_D1, RTPS_PG = 7400, 250, 10, 2
#: participants probed per domain (a one-process-per-node graph has ~6, a host with RViz a few more)
PROBED_PARTICIPANTS = 16
#: the domains valid for ROS 2 (ROS 2 docs, "The ROS_DOMAIN_ID"): higher ones overflow the port range
MAX_DOMAIN_ID = 232
#: where a replay looks for a free domain of its own: ids 1..101 stay below Linux's ephemeral port
#: range; 0 is ROS 2's default (a robot's live graph).
AUTO_DOMAINS = range(1, 102)

_PROFILE = """<?xml version="1.0" encoding="UTF-8" ?>
<!-- Written by tcfd-ros replay (tcfd_ros/replay/dds.py): short heartbeat for reliable writers. -->
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <data_writer profile_name="tcfd_replay_writer" is_default_profile="true">
      <times>
        <heartbeat_period><sec>0</sec><nanosec>{nanosec}</nanosec></heartbeat_period>
      </times>
    </data_writer>
  </profiles>
</dds>
"""


@contextmanager
def replay_profile(out_dir: Path, heartbeat_ms: float) -> Iterator[str | None]:
    """While active, this process (and children it starts) use a profile with a short heartbeat.

    Yields the profile path, or None when the user's own profile is kept. The environment is restored
    on exit; Fast DDS itself reads the file once per process, at its first participant.
    """
    if os.environ.get(PROFILE_ENV):
        log.info("keeping the user's Fast DDS profile %s", os.environ[PROFILE_ENV])
        yield None
        return
    path = out_dir / "fastdds_replay.xml"
    path.write_text(_PROFILE.format(nanosec=int(heartbeat_ms * 1e6)), encoding="utf-8")
    os.environ[PROFILE_ENV] = str(path.resolve())
    try:
        yield str(path)
    finally:
        os.environ.pop(PROFILE_ENV, None)


def domain_in_use(domain: int) -> bool:
    """Some DDS participant on this host holds one of ``domain``'s first discovery ports."""
    for p in range(PROBED_PARTICIPANTS):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("", RTPS_PB + RTPS_DG * domain + RTPS_D1 + RTPS_PG * p))
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    return True
                raise
    return False


def _claim(domain: int) -> IO[str] | None:
    """An exclusive lock on ``domain`` among this host's replays (released when the file closes)."""
    f = open(Path(tempfile.gettempdir()) / f"tcfd_ros_replay_domain_{domain}.lock", "w", encoding="utf-8")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


@contextmanager
def replay_domain(requested: int | None = None) -> Iterator[int]:
    """While active, this process and the graph it starts use one ROS domain; yields its id.

    ``requested`` (``--domain-id``) or the environment's ``ROS_DOMAIN_ID`` is kept, with a warning when
    other participants on this host are already there. Otherwise the first id of ``AUTO_DOMAINS`` (from
    an offset by process id, so that replays started together try different ones) that no participant
    uses and no other replay has claimed, with DDS discovery kept on this host unless the environment
    says otherwise. The environment is restored on exit."""
    saved = {k: os.environ.get(k) for k in (DOMAIN_ENV, DISCOVERY_RANGE_ENV)}
    claim = None
    try:
        if requested is None and saved[DOMAIN_ENV]:
            try:
                requested = int(saved[DOMAIN_ENV])
            except ValueError:
                raise ConfigError(f"{DOMAIN_ENV}={saved[DOMAIN_ENV]!r} is not a domain id "
                                  f"(0..{MAX_DOMAIN_ID})") from None
        if requested is not None:
            if not 0 <= requested <= MAX_DOMAIN_ID:
                raise ConfigError(f"ROS domain id {requested} is outside 0..{MAX_DOMAIN_ID}")
            domain = requested
            if domain_in_use(domain):
                log.warning("ROS domain %d already has DDS participants on this host: a graph or driver "
                            "there that publishes the replay's topics would mix its messages into this run "
                            "(the report checks); without --domain-id and %s the replay picks a free one",
                            domain, DOMAIN_ENV)
        else:
            ids = list(AUTO_DOMAINS)
            start = os.getpid() % len(ids)
            for domain in ids[start:] + ids[:start]:
                if domain_in_use(domain):
                    continue
                claim = _claim(domain)
                if claim is not None and not domain_in_use(domain):
                    break
                if claim is not None:
                    claim.close()
                    claim = None
            else:
                raise ConfigError(f"no free ROS domain in {AUTO_DOMAINS.start}..{AUTO_DOMAINS.stop - 1} on "
                                  "this host: name one with --domain-id")
            os.environ.setdefault(DISCOVERY_RANGE_ENV, "LOCALHOST")
            log.info("replay graph on ROS domain %d (free on this host; --domain-id N to choose one, e.g. "
                     "to watch it in RViz)", domain)
        os.environ[DOMAIN_ENV] = str(domain)
        yield domain
    finally:
        if claim is not None:
            claim.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
