"""Checkpoints: exact round trip, metadata slot, and a clear CheckpointError for every bad file."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tcfd_ros.errors import CheckpointError
from tcfd_ros.model import TCFDNet, load_checkpoint, save_checkpoint, tiny_model_config
from tcfd_ros.model.checkpoint import CHECKPOINT_FORMAT, read_checkpoint_dict, update_checkpoint_metadata


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    cfg = tiny_model_config(num_classes=4)
    cfg = dataclasses.replace(cfg, gmtd=dataclasses.replace(cfg.gmtd, cache_dir=str(root / "cache")))
    torch.manual_seed(0)
    model = TCFDNet(cfg)
    # one optimiser step so BN running stats and weights differ from any fresh init
    model.train()
    opt = torch.optim.Adam(model.trainable_parameters(), lr=1e-2)
    x = torch.randn(4, 3, 3, 64, 64)
    m = torch.tensor([0, 1, 0, 1])
    model(x, m).embeddings.square().mean().backward()
    opt.step()
    model.eval()
    path = save_checkpoint(root / "model.pt", model, metadata={"open_set_threshold": 0.42, "note": "t"},
                           extra={"step": 7})
    return model, path, (x, m)


def test_round_trip_is_exact(saved):
    model, path, (x, m) = saved
    ck = load_checkpoint(path)
    a, b = model.state_dict(), ck.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not ck.model.training and not ck.model.clip.training
    with torch.no_grad():
        assert torch.equal(model(x, m).embeddings, ck.model(x, m).embeddings)
    assert ck.config == model.cfg
    assert ck.metadata["open_set_threshold"] == 0.42 and ck.extra == {"step": 7}
    assert ck.clip["weights"] == "random" and ck.clip["variant"] == "tcfd-tiny"
    assert ck.gmtd["sha256"] == model.gmtd_sha256 and ck.gmtd["entries"] == 40
    assert ck.model.clip_identity == model.clip_identity


def test_metadata_update_keeps_weights(saved, tmp_path):
    _, path, _ = saved
    copy = tmp_path / "c.pt"
    copy.write_bytes(path.read_bytes())
    assert update_checkpoint_metadata(copy, {"open_set_threshold": 0.3})["open_set_threshold"] == 0.3
    assert load_checkpoint(copy).metadata == {"open_set_threshold": 0.3, "note": "t"}


def test_truncated_checkpoint(saved, tmp_path):
    _, path, _ = saved
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(bad)


def test_garbage_and_missing_files(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a checkpoint" * 50)
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(junk)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")


def _rewrite(path, tmp_path, change):
    blob = read_checkpoint_dict(path)
    change(blob)
    out = tmp_path / "changed.pt"
    torch.save(blob, out)
    return out


def test_wrong_format_and_version(saved, tmp_path):
    _, path, _ = saved
    with pytest.raises(CheckpointError, match="format"):
        load_checkpoint(_rewrite(path, tmp_path, lambda b: b.update(format="other")))
    with pytest.raises(CheckpointError, match="format_version"):
        load_checkpoint(_rewrite(path, tmp_path, lambda b: b.update(format_version=99)))
    torch.save({"a": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match=CHECKPOINT_FORMAT):
        load_checkpoint(tmp_path / "plain.pt")


def test_state_dict_not_matching_config(saved, tmp_path):
    _, path, _ = saved
    # config says 2 fusion layers, weights have 1 -> missing tensors named

    def more_layers(b):
        b["model_config"]["mf"]["layers"] = 2
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(_rewrite(path, tmp_path, more_layers))

    def wrong_shape(b):
        b["state_dict"]["fcs.weight"] = torch.zeros(1, 2, 3)
    with pytest.raises(CheckpointError, match="shape mismatch.*fcs.weight"):
        load_checkpoint(_rewrite(path, tmp_path, wrong_shape))

    def nan(b):
        b["state_dict"]["fcs.weight"] = b["state_dict"]["fcs.weight"] * float("nan")
    with pytest.raises(CheckpointError, match="non-finite"):
        load_checkpoint(_rewrite(path, tmp_path, nan))

    def bad_key(b):
        b["model_config"]["head"]["bogus"] = 1
    with pytest.raises(CheckpointError, match="head.bogus"):
        load_checkpoint(_rewrite(path, tmp_path, bad_key))


def test_expected_config_mismatch(saved):
    model, path, _ = saved
    other = model.cfg.replace_ablation(sw=False)
    with pytest.raises(CheckpointError, match="differs"):
        load_checkpoint(path, expect_config=other)
