"""``tcfd-ros replay --record OUT.mcap``: the graph's outputs as one mcap file for Foxglove and RViz.

Messages are written as the graph serialized them (raw CDR from the subscriptions, no re-encoding),
with the bag time they belong to (their header stamp, or the JSON ``stamp`` of tcfd_ros String
messages) as log time, so the file plays in step with the input bag. rosbags writes a bag folder; the
one ``.mcap`` inside it is moved to ``OUT.mcap`` when the file is complete, so an interrupted replay
never leaves a file that looks whole.

``--record-exclude REGEX`` leaves out every topic whose whole name matches (as ``ros2 bag record
--exclude-regex``): ``'.*/annotated'`` keeps tracks, tracklets, matches and markers, which is all a re-run
of the recognizer (``tcfd_ros.replay.rerun``) or ``tcfd-ros simulate tracklets`` reads, in 4-10 % of the
file (a 90 s 6-person disjoint replay: 1.29 GB, of which 1.24 GB annotated images). The report's key
frames and ``--video`` then draw the recorded tracks on the bag's own images instead.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
from pathlib import Path

from tcfd_ros.errors import ConfigError

log = logging.getLogger(__name__)

BAG_FORMAT_VERSION = 9          # rosbag2 metadata version rosbags writes (as tcfd-ros simulate bag)


def exclude_pattern(regex: str | None) -> re.Pattern[str] | None:
    """``--record-exclude``'s regular expression, compiled; a bad one is a one-line ConfigError."""
    if regex is None:
        return None
    try:
        return re.compile(regex)
    except re.error as e:
        raise ConfigError(f"--record-exclude {regex!r}: not a regular expression ({e})") from None


class OutputBag:
    """Thread-safe writer of (topic, type, log time, CDR) into ``path`` (an .mcap file); topics whose
    whole name matches ``exclude`` are counted in ``excluded`` and not written."""

    def __init__(self, path: Path, exclude: str | None = None) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        if path.suffix != ".mcap":
            raise ConfigError(f"--record {path}: expected a file name ending in .mcap")
        self.path = path
        self._exclude = exclude_pattern(exclude)
        self._tmp = path.with_name(path.name + ".partial")
        if self._tmp.exists():
            shutil.rmtree(self._tmp)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._typestore = get_typestore(Stores.ROS2_KILTED)
        self._writer = Writer(self._tmp, version=BAG_FORMAT_VERSION, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections: dict[str, object] = {}
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.errors: dict[str, str] = {}
        self.excluded: dict[str, int] = {}    # topic -> messages left out by ``exclude``
        self.failure: str | None = None   # why writing stopped (a full disk): nothing more is written

    def write(self, topic: str, msgtype: str, log_time_ns: int, data: bytes) -> None:
        """Append one serialized message; a type rosbags does not know is reported once, not raised."""
        with self._lock:
            if self.failure is not None:
                return
            if self._exclude is not None and self._exclude.fullmatch(topic):
                self.excluded[topic] = self.excluded.get(topic, 0) + 1
                return
            conn = self._connections.get(topic)
            if conn is None:
                try:
                    conn = self._writer.add_connection(topic, msgtype, typestore=self._typestore)
                except Exception as e:  # unknown type: keep recording the rest, say what is missing
                    self.errors.setdefault(topic, f"{msgtype}: {e}")
                    return
                self._connections[topic] = conn
            try:
                self._writer.write(conn, int(log_time_ns), bytes(data))
            except OSError as e:
                # a full disk: raised into the replay's subscription thread it stopped all recording
                # of outputs, and the replay then waited on outputs it could no longer see
                self.failure = f"writing failed after {sum(self.counts.values())} messages: {e}"
                log.error("--record %s: %s; recording stopped, the replay goes on", self.path, self.failure)
                return
            self.counts[topic] = self.counts.get(topic, 0) + 1

    def close(self) -> Path | None:
        """Finish the file and move it to ``path``; returns ``path``, or None (nothing left behind) where
        writing failed."""
        if self.failure is not None:
            self.abort()
            log.error("--record %s not written (%s); the replay's report and recording are complete",
                      self.path, self.failure)
            return None
        with self._lock:
            self._writer.close()
            inner = sorted(self._tmp.glob("*.mcap"))
            if len(inner) != 1:
                raise ConfigError(f"--record: expected one .mcap in {self._tmp}, found {len(inner)}")
            inner[0].replace(self.path)
            shutil.rmtree(self._tmp)
        left_out = ", ".join(f"{t} ({n})" for t, n in sorted(self.excluded.items()))
        log.info("recorded %d messages on %d topics to %s%s", sum(self.counts.values()), len(self.counts),
                 self.path, f"; left out by --record-exclude: {left_out}" if left_out else "")
        return self.path

    def abort(self) -> None:
        """Drop the partial file (a failed replay leaves nothing behind)."""
        with self._lock:
            try:
                self._writer.close()
            except Exception:  # already broken; the folder is removed either way
                pass
            shutil.rmtree(self._tmp, ignore_errors=True)
