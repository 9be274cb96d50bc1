"""A restricted unpickler for data files from the outside world (SUSTech1K / FreeGait pickles).

Only numpy arrays of plain numbers, numpy scalars/dtypes and plain containers (list, dict, tuple,
set, str, bytes, numbers) can be reconstructed; any other global in the stream raises
``DatasetError`` naming it, so a crafted file cannot run code.

Hostile files cannot make it allocate more than a small multiple of their own size either:

- the stream is read by the pure-Python unpickler, whose counted opcodes (BINBYTES8, LONG4, ...)
  read what the file holds instead of allocating the declared length first, and whose memo is a
  dict (the C unpickler grows an array to the largest PUT index: a 6-byte file asks for gigabytes);
- every allowed callable is a checked wrapper: ``bytearray`` only copies bytes from the stream
  (``bytearray(10**12)`` is refused), arrays are only ever built from data bytes in the stream
  (their size must equal shape x itemsize), dtypes are single plain numbers (no objects, no
  sub-arrays, no fields), ``_codecs.encode`` only converts latin-1 text;
- BUILD (``__setstate__``) is accepted on arrays and dtypes only, with the states numpy writes.

Whatever goes wrong while reading (``MemoryError``, ``OverflowError``, ``RecursionError``,
``SystemError``, ``SyntaxError``, a bad opcode or argument) is a ``DatasetError`` naming the file.
"""

from __future__ import annotations

import io
import math
import pickle
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tcfd_ros.errors import DatasetError

# numpy dtype kinds accepted in data files: bool, signed/unsigned integers, floats, complex.
_PLAIN_KINDS = frozenset("biufc")
MAX_ITEMSIZE = 16                   # bytes per element of an accepted dtype (complex128)
LATIN1 = frozenset({"latin1", "latin-1", "iso-8859-1"})


class _NdarrayClass:
    """Stands for ``numpy.ndarray`` in the stream: usable only as ``_reconstruct``'s first argument."""

    def __repr__(self) -> str:
        return "numpy.ndarray"


_NDARRAY = _NdarrayClass()


def _plain_dtype(dt: Any) -> np.dtype:
    if not isinstance(dt, np.dtype):
        raise DatasetError(f"expected a numpy dtype, got {type(dt).__name__}")
    if dt.kind not in _PLAIN_KINDS or dt.fields is not None or dt.subdtype is not None \
            or dt.hasobject or dt.itemsize > MAX_ITEMSIZE:
        raise DatasetError(f"dtype {dt!r} refused: only plain numbers (bool, int, float, complex)")
    return dt


def _shape(shape: Any) -> tuple[int, ...]:
    if not isinstance(shape, tuple) or len(shape) > 32 or \
            not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise DatasetError(f"array shape {shape!r} refused: expected a tuple of sizes")
    return shape


def _nbytes(shape: tuple[int, ...], dt: np.dtype) -> int:
    return math.prod(shape) * dt.itemsize


def _dtype(obj: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(obj, str) or len(obj) > 8:
        raise DatasetError(f"dtype({obj!r}) refused: only plain number types by name")
    return _plain_dtype(np.dtype(obj, bool(align), bool(copy)))


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's ``_reconstruct(ndarray, (0,), b'b')``: an empty array that BUILD then fills."""
    if subtype is not _NDARRAY:
        raise DatasetError(f"_reconstruct({subtype!r}) refused: only numpy.ndarray")
    dt = _plain_dtype(np.dtype(dtype)) if isinstance(dtype, (bytes, str)) else _plain_dtype(dtype)
    if _nbytes(_shape(shape), dt) > 0:
        raise DatasetError(f"_reconstruct shape {shape!r} refused: arrays take their data from the file")
    return np.ndarray(shape, dt)


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """numpy's protocol-5 array: data bytes from the stream, viewed with a dtype and shape."""
    if isinstance(buf, memoryview):      # a read-only in-band buffer (READONLY_BUFFER)
        buf = buf.tobytes()
    if not isinstance(buf, (bytes, bytearray)):
        raise DatasetError(f"_frombuffer of {type(buf).__name__} refused: expected bytes from the file")
    dt = _plain_dtype(dtype)
    if _nbytes(_shape(shape), dt) != len(buf) or order not in ("C", "F"):
        raise DatasetError(f"array of {len(buf)} bytes cannot have shape {shape} of {dt} (order {order!r})")
    return np.frombuffer(buf, dt).reshape(shape, order=order)


def _scalar(dtype: Any, data: Any) -> Any:
    dt = _plain_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dt.itemsize:
        raise DatasetError(f"numpy scalar of {dt} refused: expected {dt.itemsize} data bytes")
    return np.frombuffer(data, dt)[0]


def _bytearray(*args: Any) -> bytearray:
    if len(args) == 1 and isinstance(args[0], bytes):
        return bytearray(args[0])
    if len(args) == 2 and isinstance(args[0], str) and str(args[1]).lower() in LATIN1:
        return bytearray(args[0], "latin-1")
    if not args:
        return bytearray()
    raise DatasetError("bytearray(...) refused: only a copy of bytes in the file")


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or str(encoding).lower() not in LATIN1:
        raise DatasetError("_codecs.encode refused: only latin-1 text (numpy's protocol-2 array data)")
    return text.encode("latin-1")


def _container(kind: type) -> Callable[..., Any]:
    def build(*args: Any) -> Any:
        if len(args) > 1 or (args and not isinstance(args[0], (list, tuple, set, frozenset, dict))):
            raise DatasetError(f"{kind.__name__}(...) refused: expected at most one container argument")
        return kind(*args)
    build.__name__ = kind.__name__
    return build


def _number(kind: type) -> Callable[..., Any]:
    def build(*args: Any) -> Any:
        if len(args) > 2 or not all(isinstance(a, (int, float)) or (isinstance(a, str) and len(a) <= 64)
                                    for a in args):
            raise DatasetError(f"{kind.__name__}(...) refused: expected plain numbers")
        return kind(*args)
    build.__name__ = kind.__name__
    return build


def _numpy_scalar_type(kind: type) -> Callable[..., Any]:
    def build(*args: Any) -> Any:
        if len(args) > 1 or (args and not isinstance(args[0], (int, float, bool))):
            raise DatasetError(f"numpy.{kind.__name__}(...) refused: expected one plain number")
        return kind(*args)
    build.__name__ = kind.__name__
    return build


def _dtype_class(kind: type) -> Callable[[], np.dtype]:
    def build() -> np.dtype:
        return _plain_dtype(kind())
    build.__name__ = kind.__name__
    return build


_NP_SCALARS = {n: getattr(np, n)
               for n in ("float32", "float64", "int64", "int32", "uint8", "uint16", "bool_")}
_DTYPE_CLASSES = ("UInt8DType", "Float32DType", "Float64DType", "Int64DType", "Int32DType", "UInt16DType",
                  "BoolDType")

# (module, name) -> what the stream gets in its place.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    **{("numpy", n): _numpy_scalar_type(t) for n, t in _NP_SCALARS.items()},
    **{(m, "_reconstruct"): _reconstruct for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "scalar"): _scalar for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "_frombuffer"): _frombuffer for m in ("numpy.core.numeric", "numpy._core.numeric")},
    **{("numpy.dtypes", n): _dtype_class(getattr(np.dtypes, n)) for n in _DTYPE_CLASSES},
    ("_codecs", "encode"): _encode,
    ("builtins", "set"): _container(set), ("builtins", "frozenset"): _container(frozenset),
    ("builtins", "bytearray"): _bytearray,
    ("builtins", "complex"): _number(complex), ("builtins", "slice"): slice,
    ("collections", "OrderedDict"): _container(OrderedDict),
}


def _dtype_state_ok(state: Any) -> bool:
    """The BUILD state numpy writes for a plain dtype: (3, byteorder, None, None, None, -1, -1, 0)."""
    return (isinstance(state, tuple) and len(state) == 8 and state[0] == 3
            and state[1] in ("<", ">", "|", "=") and state[2:5] == (None, None, None)
            and state[5:] == (-1, -1, 0))


class _RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined]  # the pure-Python one
    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":  # protocol <= 2 streams name builtins the Python 2 way
            module = "builtins"
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise DatasetError(
            f"refusing to unpickle global {module}.{name}: only numpy arrays and plain containers "
            "are accepted from data files"
        )

    def load_newobj(self) -> None:
        raise DatasetError("NEWOBJ refused: data files build objects through allowed calls only")

    def load_newobj_ex(self) -> None:
        raise DatasetError("NEWOBJ_EX refused: data files build objects through allowed calls only")

    def load_inst(self) -> None:
        raise DatasetError("INST refused: data files build objects through allowed calls only")

    def load_obj(self) -> None:
        raise DatasetError("OBJ refused: data files build objects through allowed calls only")

    def load_bytearray8(self) -> None:
        """The stdlib allocates the declared length first; here only the bytes the file holds."""
        (n,) = struct.unpack("<Q", self.read(8))
        data = self.read(n)
        if len(data) != n:
            raise DatasetError(f"BYTEARRAY8 declares {n} bytes, the file holds {len(data)}")
        self.append(bytearray(data))

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is np.ndarray:
            _check_array_state(state)
            inst.__setstate__(state)
        elif isinstance(inst, np.dtype) and _dtype_state_ok(state):
            inst.__setstate__(state)
            _plain_dtype(inst)
        else:
            raise DatasetError(f"BUILD on {type(inst).__name__} refused: only numpy arrays and dtypes")

    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.INST[0]] = load_inst
    dispatch[pickle.OBJ[0]] = load_obj
    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


def _check_array_state(state: Any) -> None:
    """ndarray's BUILD state (version, shape, dtype, fortran, data): data bytes must fill the shape."""
    if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
        raise DatasetError("ndarray state refused: expected (1, shape, dtype, is_fortran, data)")
    _, shape, dt, fortran, data = state
    dt = _plain_dtype(dt)
    if not isinstance(fortran, bool) or not isinstance(data, (bytes, bytearray)) \
            or _nbytes(_shape(shape), dt) != len(data):
        size = len(data) if isinstance(data, (bytes, bytearray)) else "no"
        raise DatasetError(f"ndarray state refused: {size} data bytes for shape {shape!r} of {dt}")


def safe_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` allowing numpy arrays and plain containers only."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data)).load()
    except DatasetError as e:
        raise DatasetError(f"{source}: {e}") from None
    except Exception as e:  # noqa: BLE001 - hostile input: every failure is the data error
        raise DatasetError(f"{source}: not a readable pickle ({type(e).__name__}: {str(e)[:200]})") from None


def safe_load(path: str | Path) -> Any:
    """Read and restricted-unpickle one file; a missing, truncated or hostile file raises DatasetError."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise DatasetError(f"cannot read {p}: {e}") from e
    return safe_loads(data, str(p))
