from dataclasses import dataclass, field

import pytest

from tcfd_ros.config_io import from_dict, load_dataclass, to_dict
from tcfd_ros.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    k: int = 3
    name: str = "x"


@dataclass(frozen=True)
class Outer:
    rate_hz: float
    inner: Inner = field(default_factory=Inner)
    sizes: tuple[int, ...] = (1, 2)

    def validate(self) -> None:
        if self.rate_hz <= 0:
            raise ConfigError(f"rate_hz must be > 0, got {self.rate_hz}")


def test_nested_and_coercion():
    o = from_dict(Outer, {"rate_hz": 10, "inner": {"k": 5}, "sizes": [4, 5, 6]})
    assert o.rate_hz == 10.0 and o.inner.k == 5 and o.sizes == (4, 5, 6)
    assert to_dict(o) == {"rate_hz": 10.0, "inner": {"k": 5, "name": "x"}, "sizes": [4, 5, 6]}


def test_unknown_key_names_dotted_path():
    with pytest.raises(ConfigError, match=r"inner\.kk"):
        from_dict(Outer, {"rate_hz": 1, "inner": {"kk": 1}})


def test_missing_required_and_wrong_type_and_validate():
    with pytest.raises(ConfigError, match="missing required key rate_hz"):
        from_dict(Outer, {})
    with pytest.raises(ConfigError, match="inner.k: expected an integer"):
        from_dict(Outer, {"rate_hz": 1, "inner": {"k": "three"}})
    with pytest.raises(ConfigError, match="rate_hz must be > 0"):
        from_dict(Outer, {"rate_hz": -1})


def test_load_from_file_names_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("outer:\n  rate_hz: 2\n  bogus: 1\n")
    with pytest.raises(ConfigError, match="c.yaml"):
        load_dataclass(Outer, p, section="outer")
