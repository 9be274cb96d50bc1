"""A restricted unpickler for data files from the outside world (SUSTech1K / FreeGait pickles).

Only numpy arrays, numpy scalars/dtypes and plain containers (list, dict, tuple, set, str, bytes,
numbers) can be reconstructed; any other global in the stream raises ``DatasetError`` naming it, so a
crafted file cannot run code.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from tcfd_ros.errors import DatasetError

# (module, name) pairs that numpy and the pickle protocol need to rebuild arrays and containers.
_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy", "float32"), ("numpy", "float64"), ("numpy", "int64"), ("numpy", "int32"),
        ("numpy", "uint8"), ("numpy", "uint16"), ("numpy", "bool_"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.dtypes", "UInt8DType"), ("numpy.dtypes", "Float32DType"), ("numpy.dtypes", "Float64DType"),
        ("numpy.dtypes", "Int64DType"), ("numpy.dtypes", "Int32DType"), ("numpy.dtypes", "UInt16DType"),
        ("numpy.dtypes", "BoolDType"),
        ("_codecs", "encode"),
        ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "bytearray"),
        ("builtins", "complex"), ("builtins", "slice"),
        ("collections", "OrderedDict"),
    }
)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":  # protocol <= 2 streams name builtins the Python 2 way
            module = "builtins"
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise DatasetError(
            f"refusing to unpickle global {module}.{name}: only numpy arrays and plain containers "
            "are accepted from data files"
        )


def safe_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` allowing numpy arrays and plain containers only."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data)).load()
    except DatasetError as e:
        raise DatasetError(f"{source}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise DatasetError(f"{source}: not a readable pickle ({type(e).__name__}: {e})") from e


def safe_load(path: str | Path) -> Any:
    """Read and restricted-unpickle one file; a missing, truncated or hostile file raises DatasetError."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise DatasetError(f"cannot read {p}: {e}") from e
    return safe_loads(data, str(p))
