"""All-or-nothing output folders for the simulator: write into a sibling temporary folder, then rename.

Shared by the bag writer and the data-set writer, so a failed or interrupted run never leaves a
half-written bag or data set where the user asked for one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tcfd_ros.errors import ConfigError


def prepare_output(out: Path, force: bool) -> Path:
    """Check the destination (exists without ``force``, not a folder, unwritable) and return a new
    temporary folder beside it to write into."""
    out = Path(out)
    if out.exists() and not force:
        raise ConfigError(f"output {out} already exists; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {out} exists and is not a directory")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    except OSError as e:
        raise ConfigError(f"cannot write output {out}: {e}") from e


def commit_output(written: Path, out: Path) -> None:
    """Replace ``out`` with the finished folder ``written`` (the old tree is removed after the rename)."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    written.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
