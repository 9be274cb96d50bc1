"""Read rosbag2 bags (sqlite3 and mcap) with ``rosbags`` for replay, failing clearly on damaged bags.

Messages stay serialized (CDR bytes): the player publishes them as they are. Only ``/ground_truth``
(std_msgs/String) is deserialized, with the rosbags type store, so this module needs no ROS install.
A bag that breaks part-way through yields every message before the damage and then raises
``BagError`` saying how far it got, so the caller can still report what was read.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.rosbag2 import ReaderError
from rosbags.typesys import Stores, get_typestore

from tcfd_ros.errors import BagError

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
# The rosbags readers and their storage back-ends raise many types on damaged data (their own errors,
# sqlite3.Error, struct.error, OverflowError from a garbage record length, ...). Reading a bag is a
# boundary with outside data, so every Exception there becomes a BagError that names the cause.
_READ_ERRORS = (AnyReaderError, ReaderError, sqlite3.Error, struct.error, Exception)


@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str        # rosbags spelling, e.g. "sensor_msgs/msg/Image"
    count: int          # messages according to the bag's index / metadata


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    stamp_ns: int       # the bag's receive time stamp
    data: bytes         # CDR, exactly as recorded


class BagSource:
    """An opened bag: its topics, time span, and an iterator over raw messages in time order."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"bag not found: {self.path} (expected a rosbag2 directory or .mcap/.db3 file)")
        self._typestore = get_typestore(Stores.ROS2_KILTED)
        self._salvage: _McapSalvage | None = None
        # Set when the bag could only be read in part; the player reports it after replaying the rest.
        self.damage: str | None = None
        try:
            self._reader = _any_reader(self.path, self._typestore)
            self._reader.open()
        except _READ_ERRORS as e:
            cause = f"{type(e).__name__}: {e}"
            mcap_file = _mcap_file(self.path)
            if mcap_file is None:
                raise BagError(f"cannot open bag {self.path}: {cause} (is it a complete rosbag2 bag, "
                               "sqlite3 or mcap, with its metadata.yaml?)") from e
            self._salvage = _McapSalvage(mcap_file)
            if not self._salvage.count:
                raise BagError(f"cannot open bag {self.path}: {cause}; no complete message could be salvaged "
                               f"from {mcap_file.name} either") from e
            if self._salvage.complete:
                # Read to its footer without a damaged record: a whole mcap file that merely lacks
                # rosbag2's metadata.yaml (or has one rosbags cannot use). Nothing is missing.
                log.info("bag %s could not be opened as a rosbag2 bag (%s); read %s on its own, to its "
                         "footer: %d messages (%.2f s)", self.path, cause, mcap_file.name,
                         self._salvage.count, self._salvage.span_s)
            else:
                self.damage = (f"bag {self.path} is truncated or corrupt ({cause}); "
                               f"read its {self._salvage.count} complete messages "
                               f"({self._salvage.span_s:.2f} s) in file order: {self._salvage.stop_reason}")
                log.warning("%s", self.damage)
        if self._salvage is not None:
            self.topics = {t: TopicInfo(t, ty, self._salvage.count_of[t])
                           for t, ty in sorted(self._salvage.types.items())}
            self.start_ns, self.end_ns = self._salvage.start_ns, self._salvage.end_ns
        else:
            counts: dict[str, int] = {}
            types: dict[str, str] = {}
            for c in self._reader.connections:
                counts[c.topic] = counts.get(c.topic, 0) + int(c.msgcount)
                types[c.topic] = c.msgtype
            self.topics = {t: TopicInfo(t, types[t], counts[t]) for t in sorted(types)}
            self.start_ns = int(self._reader.start_time) if self.topics else 0
            self.end_ns = int(self._reader.end_time) if self.topics else 0
        self.messages_read = 0
        self.last_stamp_ns: int | None = None

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / NS_PER_S

    def close(self) -> None:
        if self._salvage is None:
            self._reader.close()

    def __enter__(self) -> "BagSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def require_topics(self, required: Sequence[str] = (), any_of: Sequence[str] = ()) -> None:
        """Raise BagError naming every missing topic (all of ``required``; at least one of ``any_of``)."""
        missing = [t for t in required if t not in self.topics]
        if any_of and not any(t in self.topics for t in any_of):
            missing.append(" or ".join(any_of))
        if missing:
            have = ", ".join(f"{t.name} [{t.msgtype}]" for t in self.topics.values()) or "no topics at all"
            raise BagError(f"bag {self.path} lacks the expected topic(s) {', '.join(missing)}; it has {have}")

    def messages(self, topics: Sequence[str] | None = None) -> Iterator[BagMessage]:
        """Raw messages of ``topics`` (all when None) in receive-time order.

        Raises BagError after the last good message if the bag is damaged, or if it holds fewer messages
        than its index promises (a truncated recording).
        """
        if self._salvage is not None:
            for m in self._salvage.messages(topics):
                self.messages_read += 1
                self.last_stamp_ns = m.stamp_ns
                yield m
            return
        conns = [c for c in self._reader.connections if topics is None or c.topic in topics]
        expected = sum(int(c.msgcount) for c in conns)
        read = 0
        try:
            for conn, stamp, data in self._reader.messages(connections=conns):
                read += 1
                self.messages_read += 1
                self.last_stamp_ns = int(stamp)
                yield BagMessage(conn.topic, conn.msgtype, int(stamp), bytes(data))
        except _READ_ERRORS as e:
            raise BagError(self._damage(f"{type(e).__name__}: {e}", read, expected)) from e
        if read < expected:
            raise BagError(self._damage("fewer messages than the bag's index lists", read, expected))

    def _damage(self, cause: str, read: int, expected: int) -> str:
        where = (f"{(self.last_stamp_ns - self.start_ns) / NS_PER_S:.2f} s into the bag"
                 if self.last_stamp_ns is not None else "before the first message")
        return (f"bag {self.path} is truncated or corrupt: read {read} of {expected} messages, "
                f"stopped {where}: {cause}")

    def deserialize(self, msg: BagMessage) -> object:
        """Deserialize one message with the rosbags type store (used for std_msgs/String)."""
        try:
            return self._typestore.deserialize_cdr(msg.data, msg.msgtype)
        except _READ_ERRORS as e:
            raise BagError(f"bag {self.path}: message on {msg.topic} at {msg.stamp_ns} ns does not "
                           f"deserialize as {msg.msgtype}: {e}") from e


def _any_reader(path: Path, typestore: object) -> AnyReader:
    """rosbags' AnyReader, also for a rosbag2 folder named ``*.bag`` (``tcfd-ros simulate bag --out
    x.bag`` makes one): AnyReader takes any ``.bag`` path for a ROS 1 bag file, so such a folder is
    opened through a link without the suffix (kept in a temporary folder, removed at exit)."""
    if path.is_dir() and path.suffix == ".bag":
        import atexit
        import shutil
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="tcfd_bag_"))
        atexit.register(shutil.rmtree, tmp, True)
        link = tmp / path.stem
        link.symlink_to(path.resolve(), target_is_directory=True)
        return AnyReader([link], default_typestore=typestore)
    return AnyReader([path], default_typestore=typestore)


def _mcap_file(path: Path) -> Path | None:
    """The .mcap file of a bag directory (or the path itself), if the bag is mcap."""
    if path.is_file():
        return path if path.suffix == ".mcap" else None
    found = sorted(path.glob("*.mcap"))
    return found[0] if len(found) == 1 else None


class _McapSalvage:
    """Read the complete messages of an mcap file whose summary/footer is missing or damaged.

    A recorder killed mid-write leaves exactly that. The file is streamed record by record (the
    ``mcap`` library) until the first incomplete or corrupt record; nothing after it is trusted.
    ``complete`` says the scan reached the file's footer with every record intact (an mcap file that
    is whole, e.g. a bag directory without ``metadata.yaml``, is read through here too).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.types: dict[str, str] = {}
        self.count_of: dict[str, int] = {}
        self.count = 0
        self.start_ns = 0
        self.end_ns = 0
        self.stop_reason = "end of file"
        self.complete = False
        for topic, _, stamp, _ in self._scan(None):
            self.count_of[topic] = self.count_of.get(topic, 0) + 1
            self.count += 1
            self.start_ns = stamp if self.count == 1 else min(self.start_ns, stamp)
            self.end_ns = max(self.end_ns, stamp)

    @property
    def span_s(self) -> float:
        return (self.end_ns - self.start_ns) / NS_PER_S

    def _scan(self, topics: Sequence[str] | None) -> Iterator[tuple[str, str, int, bytes]]:
        from mcap.records import Channel, Footer, Message, Schema
        from mcap.stream_reader import StreamReader

        schemas: dict[int, str] = {}
        channels: dict[int, tuple[str, str]] = {}
        with open(self.path, "rb") as f:
            try:
                for rec in StreamReader(f, validate_crcs=True).records:
                    if isinstance(rec, Schema):
                        schemas[rec.id] = rec.name
                    elif isinstance(rec, Channel):
                        channels[rec.id] = (rec.topic, schemas.get(rec.schema_id, ""))
                        self.types.setdefault(rec.topic, channels[rec.id][1])
                    elif isinstance(rec, Message) and rec.channel_id in channels:
                        topic, msgtype = channels[rec.channel_id]
                        if topics is None or topic in topics:
                            yield topic, msgtype, int(rec.log_time), bytes(rec.data)
                    elif isinstance(rec, Footer):
                        self.complete = True
            except _READ_ERRORS as e:
                self.complete = False
                size = self.path.stat().st_size
                self.stop_reason = f"stopped at byte {f.tell()} of {size}: {type(e).__name__} {e}".rstrip()

    def messages(self, topics: Sequence[str] | None) -> Iterator[BagMessage]:
        for topic, msgtype, stamp, data in self._scan(topics):
            yield BagMessage(topic, msgtype, stamp, data)
