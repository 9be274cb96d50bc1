"""Packages the runtime set-up leaves out, and the one line that says so.

The node graph with the shipped ONNX model, ``bringup``, ``replay``, ``simulate`` and the demo need only
``requirements-runtime.txt``; training, export, evaluation, the torch embedding backend and the YOLO camera
backend need the rest of ``requirements.txt`` (PyTorch and what comes with it, several GB). Where one of
those is missing, the user gets this line instead of a traceback from deep inside an import.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from tcfd_ros.errors import MissingPackageError

# Top-level modules installed by requirements.txt but not by requirements-runtime.txt.
FULL_SETUP_ONLY = frozenset({"torch", "torchvision", "open_clip", "ultralytics"})
FULL_SETUP_COMMAND = "`make setup`, or `pip install -r requirements.txt -c constraints.txt`"


def missing_package(error: ModuleNotFoundError, needed_for: str) -> MissingPackageError | None:
    """The one-line error for a module only the full set-up installs; None for any other missing module
    (a broken installation, which the caller lets through as it is)."""
    root = (error.name or "").split(".")[0]
    if root not in FULL_SETUP_ONLY:
        return None
    return MissingPackageError(
        f"{needed_for} needs {root}, which this environment lacks (the runtime set-up, "
        f"requirements-runtime.txt, leaves it out): install the full set-up with {FULL_SETUP_COMMAND}")


@contextmanager
def needs_full_setup(needed_for: str) -> Iterator[None]:
    """Around an import (or a command) that may reach a package only the full set-up installs: a missing one
    becomes ``missing_package``'s one-line error; any other missing module goes through as it is."""
    try:
        yield
    except ModuleNotFoundError as e:
        missing = missing_package(e, needed_for)
        if missing is None:
            raise
        raise missing from e
