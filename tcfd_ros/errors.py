"""The project's exception types.

Each error says what was wrong, the offending value, what was expected and, where it helps, how to fix
it. Callers at a boundary (a node callback, the CLI) catch ``TcfdError`` and report it.
"""

from __future__ import annotations


class TcfdError(Exception):
    """Base class of every error raised on purpose by tcfd_ros."""


class ConfigError(TcfdError, ValueError):
    """A configuration file or value is unknown, missing or out of range."""


class MessageFormatError(TcfdError, ValueError):
    """A ROS message (PointCloud2, Image, CompressedImage) is malformed or has an unsupported encoding.

    The message names the offending field and its value(s).
    """


class CheckpointError(TcfdError):
    """A checkpoint or exported model is missing, corrupt, truncated or does not match the config."""


class DatasetError(TcfdError):
    """A data set on disk does not have the expected layout or content."""


class MissingWeightsError(TcfdError, FileNotFoundError):
    """Pretrained weights (CLIP, YOLO) are not where the config says; the message says what to put where."""


class MissingPackageError(TcfdError, ImportError):
    """A package of the full set-up (PyTorch, open_clip, ultralytics) is not installed; the message says how
    to install it (``optional_packages.py``)."""


class BagError(TcfdError):
    """A rosbag2 bag is missing, truncated, corrupt or lacks the expected topics."""


class ForeignTrafficError(TcfdError):
    """Another process's messages reached a replay's graph: the run measured a mixture."""


class GeometryError(TcfdError, ValueError):
    """Input to a projection or alignment has the wrong shape, is empty, or a parameter is out of range."""


class GalleryError(TcfdError):
    """The SQLite gallery is corrupt or has an unexpected schema."""
