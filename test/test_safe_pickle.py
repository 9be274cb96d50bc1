import os
import pickle

import numpy as np
import pytest

from tcfd_ros.errors import DatasetError
from tcfd_ros.safe_pickle import safe_load, safe_loads


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
