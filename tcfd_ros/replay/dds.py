"""DDS settings for replaying large messages: a short reliable-writer heartbeat (Fast DDS).

A reliable sample that DDS splits into many fragments (a 1 MB image, a 2.5 MB cloud) and loses one
fragment of is repaired only after the writer's next heartbeat, 3 s by default in Fast DDS: on a
loaded host that turned a 4 s bag into a 70 s replay. The replay therefore hands Fast DDS an XML
profile with a short heartbeat, for its own writers and the graph's, unless the user already points
``FASTDDS_DEFAULT_PROFILES_FILE`` at a profile of their own. Other RMW implementations ignore it.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"

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
