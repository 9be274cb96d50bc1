"""Where model files are found: the shipped reference model and relative ``model_path`` values.

A relative path is looked up, in order, in the working directory, the source tree (a clone run with
``pip install -e .`` or ``PYTHONPATH``) and the installed package's share directory (``colcon build``
installs ``models/tcfd_sim.onnx`` there), so the default works from any directory.
"""

from __future__ import annotations

from pathlib import Path

from tcfd_ros.errors import CheckpointError

PACKAGE = "tcfd_ros"
#: The reference model committed with the repository (models/MODEL_CARD.md; ``make model`` rebuilds it).
DEFAULT_MODEL = "models/tcfd_sim.onnx"
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def _share_dir() -> Path | None:
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(PACKAGE))
    except (PackageNotFoundError, ValueError, LookupError, OSError):  # OSError: no AMENT_PREFIX_PATH
        return None


def model_search_dirs() -> list[Path]:
    """Directories a relative model path is tried against, in order."""
    dirs = [Path.cwd(), SOURCE_ROOT]
    share = _share_dir()
    if share is not None:
        dirs.append(share)
    return list(dict.fromkeys(dirs))


def resolve_model_path(path: str | Path) -> Path:
    """The existing model file ``path`` names; CheckpointError in one line when there is none."""
    p = Path(path).expanduser()
    if p.is_absolute():
        if p.exists():
            return p
        raise CheckpointError(f"model {p}: file not found")
    tried = [d / p for d in model_search_dirs()]
    for cand in tried:
        if cand.exists():
            return cand
    hint = (" (the shipped reference model: restore it with `git checkout -- models/tcfd_sim.onnx` "
            "or rebuild it with `make model`)" if p.as_posix() == DEFAULT_MODEL else "")
    raise CheckpointError(f"model {p}: not found in {', '.join(str(c.parent) for c in tried)}{hint}")
