"""GMTD: the shipped dictionary validates, the schema rejects bad files, embeddings are cached by hash."""

from __future__ import annotations

import copy

import pytest
import torch

from tcfd_ros.config_io import load_yaml
from tcfd_ros.errors import ConfigError
from tcfd_ros.model.gmtd import (GMTD_VIEWS_DEG, cache_key, load_gmtd, parse_gmtd, resolve_gmtd_path,
                                 text_features)


@pytest.fixture(scope="module")
def raw() -> dict:
    return load_yaml(resolve_gmtd_path("models/gmtd.yaml"))


def test_shipped_dictionary(raw):
    g = load_gmtd("models/gmtd.yaml")
    assert g.rounds >= 4 and g.entries_per_modality == 8 * g.rounds
    for m in ("2d", "3d"):
        texts = g.flat(m)
        assert len(texts) == 8 * g.rounds and len(set(texts)) == len(texts)
    # modality-specific wording: silhouettes vs LiDAR depth
    assert all(any(w in t for w in ("silhouette", "mask", "white")) for t in g.flat("2d"))
    assert all("lidar" in t.lower() or "depth" in t or "range" in t for t in g.flat("3d"))
    assert g.entry("3d", g.rounds * 2 + 1) == (90, 2, raw["descriptions"]["3d"][90][1])
    assert len(g.sha256) == 64 and parse_gmtd(copy.deepcopy(raw)).sha256 == g.sha256


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["descriptions"]["2d"].pop(45), "views"),
    (lambda d: d["descriptions"]["3d"][90].pop(), "rounds"),
    (lambda d: d.update(rounds=3), "rounds"),
    (lambda d: d["descriptions"]["2d"][0].__setitem__(1, d["descriptions"]["2d"][0][0]), "duplicate"),
    (lambda d: d["descriptions"]["2d"][0].__setitem__(1, "  "), "non-empty"),
    (lambda d: d["descriptions"]["2d"][0].__setitem__(1, "word " * 61), "words"),
    (lambda d: d.update(version=1), "version"),
    (lambda d: d.update(extra=1), "keys"),
    (lambda d: d["descriptions"].pop("3d"), "modalities"),
    (lambda d: d.update(views_deg=[0, 90]), "views_deg"),
])
def test_schema_errors(raw, edit, match):
    d = copy.deepcopy(raw)
    edit(d)
    with pytest.raises(ConfigError, match=match):
        parse_gmtd(d, source="x.yaml")


def test_text_change_changes_hash(raw):
    d = copy.deepcopy(raw)
    d["descriptions"]["2d"][0][0] += " slowly"
    assert parse_gmtd(d).sha256 != parse_gmtd(raw).sha256


def test_embedding_cache_keyed_by_dictionary_and_clip(raw, tmp_path):
    g = parse_gmtd(copy.deepcopy(raw))
    calls = []

    def encode(texts):
        calls.append(len(texts))
        return torch.arange(len(texts) * 3, dtype=torch.float32).reshape(len(texts), 3)

    ident = {"variant": "v", "weights": "random", "seed": 0}
    a = text_features(g, ident, encode, tmp_path)
    assert a.shape == (2, g.entries_per_modality, 3) and calls == [40, 40]
    b = text_features(g, ident, encode, tmp_path)
    assert torch.equal(a, b) and calls == [40, 40], "second call must come from the cache"
    text_features(g, {**ident, "seed": 1}, encode, tmp_path)
    assert len(calls) == 4, "other CLIP weights must not reuse the cache"
    assert cache_key(g, ident) != cache_key(g, {**ident, "seed": 1})
    # a corrupt cache file is recomputed, not trusted
    (f,) = [p for p in tmp_path.iterdir() if cache_key(g, ident)[:32] in p.name]
    f.write_bytes(b"garbage")
    assert torch.equal(text_features(g, ident, encode, tmp_path), a) and len(calls) == 6


def test_views_are_the_eight_directions():
    assert GMTD_VIEWS_DEG == tuple(range(0, 360, 45))
