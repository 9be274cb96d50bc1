"""Loaders in the real layouts, the P x K sampler and Patch Exchange."""

import pickle

import numpy as np
import pytest
import torch

from tcfd_ros.errors import ConfigError, DatasetError
from training.augment import PatchExchangeConfig, patch_exchange
from training.datasets import FreeGait, SUSTech1K
from training.datasets.freegait import probe_key
from training.sampler import CrossModalPKSampler, SamplerConfig, frame_indices
from training_fixtures import write_freegait, write_sustech


def test_sustech_picks_sync_files_by_suffix_not_index(tmp_path):
    part = write_sustech(tmp_path / "sus")
    ds = SUSTech1K(tmp_path / "sus", part, split="train")
    assert len(ds) == 2 * 3 * 2
    r = ds.records[0]
    assert r.sil_path.name == "14-sync-000-Camera-Sils_aligned.pkl"
    assert r.depth_path.name == "09-sync-000-LiDAR-PCDs_depths.pkl"
    assert {x.seq_type for x in ds.records} == {"00-nm", "01-nm", "01-bg"}
    assert {x.view for x in ds.records} == {"000", "090"}
    sil, dep = ds.load_pair(0)
    assert sil.shape == (9, 64, 64) and dep.shape == (9, 3, 64, 64)
    native = SUSTech1K(tmp_path / "sus", part, split="test", sync=False)
    assert native.records[0].sil_path.name == "06-000-Camera-Sils_aligned.pkl"
    assert native.load_modality(0, "3d").shape == (12, 3, 64, 64)
    assert {x.subject for x in native.records} == {"0002"}


def test_sustech_missing_file_is_named(tmp_path):
    part = write_sustech(tmp_path / "sus", skip=("09-sync-{v}-LiDAR-PCDs_depths.pkl",))
    with pytest.raises(DatasetError, match=r"missing file NN-sync-<view>-LiDAR-PCDs_depths\.pkl"):
        SUSTech1K(tmp_path / "sus", part)


def test_sustech_bad_content_and_unequal_sync_lengths(tmp_path):
    part = write_sustech(tmp_path / "sus")
    ds = SUSTech1K(tmp_path / "sus", part)
    bad = ds.records[0].sil_path
    bad.write_bytes(pickle.dumps(np.zeros((4, 32, 32), np.uint8)))
    with pytest.raises(DatasetError, match="expected silhouettes uint8"):
        ds.load_pair(0)
    ds.records[0].sil_path.write_bytes(pickle.dumps(np.zeros((4, 64, 64), np.uint8)))
    with pytest.raises(DatasetError, match="equal length"):
        ds.load_pair(0)


def test_sustech_partition_and_hostile_pickle(tmp_path):
    part = write_sustech(tmp_path / "sus")
    part.write_text('{"TRAIN_SET": ["0000", "9999"], "TEST_SET": []}')
    with pytest.raises(DatasetError, match="9999"):
        SUSTech1K(tmp_path / "sus", part)
    part.write_text('{"TRAIN_SET": ["0000"], "TEST_SET": []}')
    ds = SUSTech1K(tmp_path / "sus", part)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    ds.records[0].depth_path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DatasetError, match="refusing to unpickle"):
        ds.load_modality(0, "3d")


def test_freegait_layout_probe_set_and_pairing(tmp_path):
    part = write_freegait(tmp_path / "fg")
    ds = FreeGait(tmp_path / "fg", part, split="test")
    assert len(ds) == 8
    assert ds.probe_mask().sum() == 1
    assert probe_key(ds.records[int(np.flatnonzero(ds.probe_mask())[0])]) == "0001-devid_1-seq_01_new"
    sil, dep = ds.load_pair(0)  # 15 silhouettes, 10 depth frames -> paired by relative time
    assert sil.shape == (10, 64, 64) and dep.shape == (10, 3, 64, 64)
    counts = ds.frame_counts(("2d", "3d"))
    assert (counts["2d"][0], counts["3d"][0]) == (15, 10) and ds.pair_length(0, 15, 10) == 10


def test_frame_counts_read_every_file_of_the_modalities_asked(tmp_path):
    part = write_sustech(tmp_path / "sus")
    ds = SUSTech1K(tmp_path / "sus", part, split="train")
    assert ds.frame_counts(("3d",)) == {"3d": [9] * len(ds)}
    ds.records[-1].sil_path.write_bytes(pickle.dumps(np.zeros((4, 32, 32), np.uint8)))
    assert ds.frame_counts(("3d",)) == {"3d": [9] * len(ds)}  # silhouettes not asked for: not read
    with pytest.raises(DatasetError, match="expected silhouettes uint8"):
        ds.frame_counts(("3d", "2d"))
    with pytest.raises(DatasetError, match="equal length"):
        ds.pair_length(0, 9, 8)


def _labels():
    return [f"id{i}" for i in range(5) for _ in range(3)]


def test_pk_sampler_layout_and_checks():
    s = CrossModalPKSampler(_labels(), SamplerConfig(p=4, k=4, frames=10), seed=1)
    plan = s.plan(0)
    assert len(plan.records) == 16
    labs = np.array(plan.labels).reshape(4, 4)
    assert (labs == labs[:, :1]).all() and len(set(labs[:, 0])) == 4
    lab_names = _labels()
    assert all(lab_names[r] == s.classes[c] for r, c in zip(plan.records, plan.labels))
    with pytest.raises(ConfigError, match="sampler.p = 6"):
        CrossModalPKSampler(_labels(), SamplerConfig(p=6, k=2))
    with pytest.raises(ConfigError, match="divisible by the world size"):
        CrossModalPKSampler(_labels(), SamplerConfig(p=3, k=2), world_size=2)


def test_pk_sampler_exact_resume_and_ranks():
    cfg = SamplerConfig(p=4, k=2)
    a = CrossModalPKSampler(_labels(), cfg, seed=3)
    it = iter(a)
    first = [next(it) for _ in range(5)]
    b = CrossModalPKSampler(_labels(), cfg, seed=0)
    b.load_state_dict({"seed": 3, "iteration": 3})
    assert next(iter(b)) == first[3]
    r0 = CrossModalPKSampler(_labels(), cfg, seed=3, rank=0, world_size=2).plan(7)
    r1 = CrossModalPKSampler(_labels(), cfg, seed=3, rank=1, world_size=2).plan(7)
    whole = a.plan(7)
    assert r0.records + r1.records == whole.records
    assert not set(r0.labels) & set(r1.labels)


def test_frame_indices_ordered_unordered():
    rng = np.random.default_rng(0)
    idx = frame_indices(30, 10, "ordered", rng)
    assert (np.diff(idx) == 1).all() and idx.size == 10
    short = frame_indices(4, 10, "ordered", rng)
    assert short.size == 10 and (np.diff(short) >= 0).all() and short.max() < 4
    un = frame_indices(30, 10, "unordered", rng)
    assert un.size == 10 and len(set(un.tolist())) == 10


def test_patch_exchange_swaps_same_cells_both_ways():
    x2 = torch.zeros(3, 2, 3, 64, 64)
    x3 = torch.ones(3, 2, 3, 64, 64)
    cfg = PatchExchangeConfig(prob=1.0, patch_size=16, patch_prob=0.3)
    a2, a3, cells = patch_exchange(x2, x3, cfg, np.random.default_rng(0))
    assert cells.shape == (3, 4, 4) and cells.any(axis=(1, 2)).all()
    assert torch.equal(a2 + a3, torch.ones_like(a2))  # exchanged, never lost or duplicated
    m = torch.from_numpy(np.kron(cells[0], np.ones((16, 16)))).bool()
    assert torch.equal(a2[0, 1, 2].bool(), m) and torch.equal(a2[0, 0, 0].bool(), m)
    off = PatchExchangeConfig(enabled=False)
    b2, b3, c = patch_exchange(x2, x3, off, np.random.default_rng(0))
    assert b2 is x2 and not c.any()
    with pytest.raises(ConfigError, match="patch_size"):
        PatchExchangeConfig(patch_size=10).validate()
