import os
import pickle
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcfd_ros.errors import DatasetError
from tcfd_ros.safe_pickle import safe_load, safe_loads


def _run_single_threaded(code: str, timeout_s: float) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter on this checkout, one BLAS/OpenMP thread; it must exit 0."""
    repo = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True,
                       timeout=timeout_s, env={**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1",
                                               "OPENBLAS_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    return r


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_arrays_and_containers_round_trip(protocol):
    obj = {"a": np.arange(12, dtype=np.uint8).reshape(3, 4), "b": [np.float32(1.5), (1, "x")], "c": {1, 2}}
    out = safe_loads(pickle.dumps(obj, protocol=protocol))
    np.testing.assert_array_equal(out["a"], obj["a"])
    assert out["a"].dtype == np.uint8
    assert out["b"][1] == (1, "x") and out["c"] == {1, 2}


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_code_execution_is_refused():
    with pytest.raises(DatasetError, match="refusing to unpickle global"):
        safe_loads(pickle.dumps(_Evil()))


def test_truncated_file_is_a_clear_error(tmp_path):
    p = tmp_path / "x.pkl"
    p.write_bytes(pickle.dumps(np.zeros((10, 64, 64), np.uint8))[:100])
    with pytest.raises(DatasetError, match="x.pkl"):
        safe_load(p)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="cannot read"):
        safe_load(tmp_path / "nope.pkl")


# ---- hostile files (issue 15): bounded allocations, one error type ------------------------------------
_Q = struct.Struct("<Q")
BOMBS = {
    # protocol 2: bytearray(0x7f000000) in 46 bytes
    "bytearray_size": b"\x80\x02c__builtin__\nbytearray\nq\x00J\x00\x00\x00\x7f\x85q\x01Rq\x02.",
    # the C unpickler grows its memo array to the largest PUT index
    "memo_index": b"\x80\x04Nr\xff\xff\xff\x7f.",
    "binbytes8_length": b"\x80\x04\x8e" + _Q.pack(1 << 40) + b"abc.",
    "bytearray8_length": b"\x80\x05\x96" + _Q.pack(1 << 40) + b"abc.",
    "binunicode8_length": b"\x80\x04\x8d" + _Q.pack(1 << 40) + b"abc.",
    "frame_length": b"\x80\x04\x95" + _Q.pack(1 << 40) + b"N.",
    "reconstruct_shape": (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                          b"J\x00\x00\x00@\x85U\x01b\x87R."),
    "ndarray_called": b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00@\x85\x85R.",
    "subarray_dtype": b"\x80\x02cnumpy\ndtype\nX\x0c\x00\x00\x00(99999999,)b\x85R.",
    "object_dtype": b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00O8\x85R.",
    "huge_long_text": b"L" + b"9" * 100_000 + b"L\n.",
    "newobj": b"\x80\x02c__builtin__\nset\n)\x81.",
    "codec": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R.",
    "build_on_set": b"\x80\x02c__builtin__\nset\n)R}b.",
}


HARMLESS_HERE = {"memo_index": None, "frame_length": None}  # the memo is a dict; a frame reads what is there


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_hostile_pickles_are_refused_cheaply(name):
    t0 = time.process_time()
    if name in HARMLESS_HERE:
        assert safe_loads(BOMBS[name], "bomb.pkl") == HARMLESS_HERE[name]
    else:
        with pytest.raises(DatasetError, match="bomb.pkl"):
            safe_loads(BOMBS[name], "bomb.pkl")
    assert time.process_time() - t0 < 0.5


def test_a_list_of_references_is_not_an_array(tmp_path):
    """200 kB of BINGETs to one 4 kB frame would be 400 MB through np.asarray."""
    from training.datasets.common import check_silhouettes
    frame = np.zeros((1, 64, 64), np.uint8)
    data = pickle.dumps([frame] * 100_000, protocol=4)
    assert len(data) < 400_000
    with pytest.raises(DatasetError, match="expected a numpy array, got list"):
        check_silhouettes(safe_loads(data), tmp_path / "x.pkl")


_MUTATION_SEEDS = [pickle.dumps(o, protocol=p) for p in (2, 4, 5) for o in (
    np.arange(48, dtype=np.uint8).reshape(3, 4, 4), {"a": [np.float32(1.5), (1, "x")], "b": {1, 2}},
    bytearray(b"abc"), np.zeros((2, 3), ">f8"))]


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        op, i = int(rng.integers(4)), int(rng.integers(len(b)))
        if op == 0:
            b[i] = int(rng.integers(256))
        elif op == 1:
            b[i:i] = bytes([int(rng.integers(256))]) * int(rng.integers(1, 9))
        elif op == 2:
            del b[i:i + int(rng.integers(1, 9))]
        else:  # a large little-endian length where a count was
            b[i:i + 4] = struct.pack("<I", int(rng.integers(1 << 20, 1 << 32)))
    return bytes(b)


def _load_or_refuse(data: bytes) -> None:
    try:
        safe_loads(data)
    except DatasetError:
        pass


def test_mutated_pickles_only_ever_raise_the_data_error():
    """Mutations of valid array/container pickles, in a child limited to 200 MB more than it holds."""
    code = (
        "import resource, sys, time\n"
        "sys.path.insert(0, 'test')\n"
        "import test_safe_pickle as t\n"
        "import numpy as np\n"
        "rss = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (rss + 200 * 2**20,) * 2)\n"
        "rng = np.random.default_rng(15)\n"
        "t0 = time.process_time(); worst = 0.0\n"
        "for k in range(4000):\n"
        "    data = t._mutate(t._MUTATION_SEEDS[k % len(t._MUTATION_SEEDS)], rng)\n"
        "    s = time.process_time(); t._load_or_refuse(data); worst = max(worst, time.process_time() - s)\n"
        "print('ok', worst)\n")
    r = _run_single_threaded(code, timeout_s=300)
    assert r.stdout.startswith("ok") and float(r.stdout.split()[1]) < 1.0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_ever_raise_the_data_error(data):
    _load_or_refuse(b"\x80\x04" + data)
    _load_or_refuse(data)


@pytest.mark.slow
def test_a_pickle_bomb_in_a_data_set_ends_evaluate_with_one_line_and_exit_2(tmp_path, capsys, model):
    from tcfd_ros.cli import main
    from training_fixtures import write_sustech
    root = tmp_path / "ds"
    part = write_sustech(root, subjects=("0000", "0001"), seq_types=("00-nm", "01-nm"), views=("000",))
    for f in root.rglob("*.pkl"):
        f.write_bytes(BOMBS["bytearray_size"])
    assert main(["evaluate", "--checkpoint", str(model), "--dataset", str(root), "--partition", str(part),
                 "--out", str(tmp_path / "eval")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tcfd-ros evaluate: error: ") and "bytearray(...) refused" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_loading_a_bomb_from_a_data_set_is_fast_and_small(tmp_path):
    """The data set path alone (no torch), in a child whose address space may grow by 200 MB only."""
    from training_fixtures import write_sustech
    root = tmp_path / "ds"
    part = write_sustech(root, subjects=("0000", "0001"), seq_types=("00-nm",), views=("000",))
    for f in root.rglob("*.pkl"):
        f.write_bytes(BOMBS["bytearray_size"])
    code = (
        "import resource, sys, time\n"
        "from training.datasets import SUSTech1K\n"
        "from tcfd_ros.errors import DatasetError\n"
        "rss = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (rss + 200 * 2**20,) * 2)\n"
        f"ds = SUSTech1K({str(root)!r}, {str(part)!r}, split='test')\n"
        "t0 = time.perf_counter()\n"
        "try:\n"
        "    ds.load_pair(0)\n"
        "except DatasetError as e:\n"
        "    print(time.perf_counter() - t0, e)\n")
    r = _run_single_threaded(code, timeout_s=120)
    seconds, message = r.stdout.split(" ", 1)
    assert float(seconds) < 1.0 and "refused" in message


def test_a_bomb_anywhere_in_the_split_ends_evaluate_before_torch_and_the_model(tmp_path):
    """The real ``tcfd-ros evaluate`` in a fresh interpreter, a bomb in the last file it reads: exit 2,
    one error line, and no torch, no model, peak RSS under 200 MB (issue 15: under a second, 200 MB)."""
    from training.datasets import SUSTech1K
    from training_fixtures import write_sustech
    root = tmp_path / "ds"
    part = write_sustech(root, subjects=("0000", "0001"), seq_types=("00-nm", "01-nm"), views=("000", "090"))
    SUSTech1K(root, part, split="test").records[-1].depth_path.write_bytes(BOMBS["bytearray_size"])
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"not read: the data set is refused first")
    argv = ["evaluate", "--checkpoint", str(checkpoint), "--dataset", str(root), "--partition", str(part),
            "--out", str(tmp_path / "eval")]
    code = (
        "import sys\n"
        "from tcfd_ros.cli import main\n"
        f"rc = main({argv!r})\n"
        # VmHWM, not getrusage: ru_maxrss carries the forking parent's peak (pytest's, torch's) over exec
        "peak_kb = [int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM:')][0]\n"
        "print(rc, 'torch' in sys.modules, peak_kb / 1024)\n")
    r = _run_single_threaded(code, timeout_s=120)
    rc, torch_imported, peak_mb = r.stdout.split()
    assert (rc, torch_imported) == ("2", "False")
    assert float(peak_mb) < 200
    errors = [line for line in r.stderr.splitlines() if "error" in line.lower() or "Traceback" in line]
    assert len(errors) == 1 and errors[0].startswith("tcfd-ros evaluate: error: ")
    assert "bytearray(...) refused" in errors[0] and "LiDAR-PCDs_depths.pkl" in errors[0]
