"""Trainer: exact resume, CLIP-cache equivalence, calibration into the checkpoint, baseline, 2-process DDP."""

import dataclasses
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from tcfd_ros.errors import CheckpointError, ConfigError
from tcfd_ros.model import load_checkpoint, tiny_model_config
from training.checkpoints import load_trained
from training.config import BaselineConfig, CalibrationConfig, DataConfig, TrainConfig
from training.sampler import SamplerConfig
from training.trainer import CLASSIFIER_KEYS, Trainer, build_model, same_recipe
from training_fixtures import write_sustech

SUBJECTS = tuple(f"{i:04d}" for i in range(6))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim") / "ds"
    part = write_sustech(root, subjects=SUBJECTS, seq_types=("00-nm", "01-nm"), views=("000", "090"))
    return DataConfig(root=str(root), partition=str(part), val_identities=2)


def _cfg(data, out, **kw):
    base = dict(name="t", model=tiny_model_config(), data=data, sampler=SamplerConfig(p=2, k=2, frames=4),
                iterations=4, checkpoint_every=2, log_every=1, out_dir=str(out), threads=1)
    base.update(kw)
    cfg = TrainConfig(**base)
    cfg.validate()
    return cfg


def _params(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_exact_resume_matches_uninterrupted_run(data, tmp_path):
    straight = Trainer(_cfg(data, tmp_path / "a"), show_progress=False)
    straight._setup()
    straight.train_steps()
    interrupted = Trainer(_cfg(data, tmp_path / "b"), show_progress=False)
    interrupted._setup()
    interrupted.train_steps(until=2)  # checkpoint_every=2 -> state saved at 2
    resumed = Trainer(_cfg(data, tmp_path / "b"), resume=True, show_progress=False)
    resumed._setup()
    assert resumed.start_iteration == 2 and resumed.sampler.iteration == 2
    resumed.train_steps()
    a, b = _params(straight.model), _params(resumed.model)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    log = (tmp_path / "b" / "t" / "log.csv").read_text().splitlines()
    assert log[0].startswith("iteration,lr,seconds,triplet") and len(log) == 5


def test_resume_refuses_missing_state_and_changed_config(data, tmp_path):
    with pytest.raises(CheckpointError, match="no training state"):
        Trainer(_cfg(data, tmp_path), resume=True)._setup()
    t = Trainer(_cfg(data, tmp_path), show_progress=False)
    t._setup()
    t.train_steps(until=2)
    with pytest.raises(CheckpointError, match="different config"):
        Trainer(_cfg(data, tmp_path, seed=5), resume=True)._setup()


def test_clip_cache_gives_the_same_loss_and_refuses_patch_exchange(data, tmp_path):
    off = dataclasses.replace(TrainConfig("x").patch_exchange, enabled=False)
    plain = Trainer(_cfg(data, tmp_path, patch_exchange=off), show_progress=False)
    cached = Trainer(_cfg(data, tmp_path, patch_exchange=off, clip_cache=True), show_progress=False)
    plain._setup()
    cached._setup()
    cached.model.load_state_dict(plain.model.state_dict())
    plain.model.eval()
    cached.model.eval()
    with torch.no_grad():
        o1 = plain._forward(plain.batch(0)).embeddings
        o2 = cached._forward(cached.batch(0)).embeddings
    torch.testing.assert_close(o1, o2, atol=2e-3, rtol=1e-3)  # cache stores float16 tokens
    with pytest.raises(ConfigError, match="Patch Exchange"):
        _cfg(data, tmp_path, clip_cache=True)


def test_training_convolves_channels_last_and_its_weights_load_into_a_plain_model(data, tmp_path):
    t = Trainer(_cfg(data, tmp_path), show_progress=False)
    t._setup()
    convs = [m for m in t.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    t.train_steps(until=1)
    plain = build_model(t.cfg, t.num_classes)  # what load_trained and export build: default layout
    plain.load_state_dict(t.model.state_dict())
    assert all(m.weight.is_contiguous() for m in plain.modules() if isinstance(m, torch.nn.Conv2d))
    t.model.eval()
    plain.eval()
    b = t.batch(1)
    with torch.no_grad():
        torch.testing.assert_close(t._forward(b).embeddings, plain(b["x"], b["modality"]).embeddings,
                                   atol=1e-4, rtol=1e-4)


def test_run_writes_calibrated_checkpoint_and_baseline(data, tmp_path):
    path = Trainer(_cfg(data, tmp_path), show_progress=False).run()
    ck = load_checkpoint(path)
    thr = ck.metadata["open_set_threshold"]
    assert isinstance(thr, float) and 0.0 <= thr <= 2.0
    assert ck.metadata["calibration_identities"] == 2
    assert ck.metadata["open_set_measured_fmr"] <= 0.1
    # the track level (aggregated tracklets, as the recognizer decides) is calibrated beside it
    assert isinstance(ck.metadata["open_set_threshold_track"], float)
    for k in ("genuine_accept_rate_tracklet", "genuine_accept_rate_track"):
        assert 0.0 <= ck.metadata[k] <= 1.0
    assert ck.metadata["calibration_tracks"] == 2 * 4  # 2 held-out people x 2 seq types x 2 views
    small = BaselineConfig(channels=(8, 8, 16, 16), dim=16, bins=(1, 2))
    bpath = Trainer(_cfg(data, tmp_path, name="b", architecture="baseline", baseline=small),
                    show_progress=False).run()
    model, meta, kind = load_trained(bpath)
    assert kind == "baseline" and meta["open_set_threshold"] is not None
    x = torch.zeros(2, 3, 3, 64, 64)
    assert model(x).embeddings.shape == (2, 3, 16)


def test_calibrate_only_recalibrates_a_finished_run_on_a_separate_set(data, tmp_path):
    path = Trainer(_cfg(data, tmp_path), show_progress=False).run()
    before = load_checkpoint(path)
    cal_root = tmp_path / "cal"
    cal_part = write_sustech(cal_root, subjects=("0100", "0101", "0102", "0103"),
                             seq_types=("00-nm", "01-nm"), views=("000", "090"), t_sync=24, seed=3)
    cal = CalibrationConfig(root=str(cal_root), partition=str(cal_part), track_tracklets=2, max_frames=0)
    path2 = Trainer(_cfg(data, tmp_path, calibration=cal), show_progress=False).calibrate_only()
    after = load_checkpoint(path2)
    assert path2 == path
    m = after.metadata
    # its TRAIN_SET: 3 people x 2 walks x 2 views, each 24 frames = 4 tracklets of 10 (hop 5), the newest
    # 2 form a track
    assert m["calibration_identities"] == 3 and m["calibration_tracks"] == 12
    assert m["calibration_tracklets_per_track"] == 2.0 and m["calibration_track_tracklets"] == 2
    assert m["calibration_data"] == str(cal_root)
    assert m["train_iterations"] == before.metadata["train_iterations"]   # training metadata kept
    for k, v in before.model.state_dict().items():                     # weights untouched
        assert torch.equal(v, after.model.state_dict()[k])
    with pytest.raises(ConfigError, match="different config"):
        Trainer(_cfg(data, tmp_path, seed=7, calibration=cal), show_progress=False).calibrate_only()


def test_same_recipe_lets_fields_added_since_a_run_keep_their_defaults():
    defaults = {"name": "t", "seed": 0, "init_from": "", "optim": {"lr": 0.001, "gamma": 0.1}}
    trained = {"name": "t", "seed": 0, "optim": {"lr": 0.001}, "calibration": {"target_fmr": 0.01}}
    ours = {"name": "t", "seed": 0, "init_from": "", "optim": {"lr": 0.001, "gamma": 0.1},
            "calibration": {"target_fmr": 0.001}}
    assert same_recipe(trained, ours, defaults)
    assert not same_recipe(trained, {**ours, "init_from": "models/x.pt"}, defaults)   # not the default
    assert not same_recipe(trained, {**ours, "optim": {"lr": 0.01, "gamma": 0.1}}, defaults)
    assert not same_recipe({**trained, "removed": 1}, ours, defaults)               # ours lacks a field


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, cfg, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    t = Trainer(cfg, show_progress=False)
    t.run()
    torch.save(_params(t.model), os.path.join(out, f"rank{rank}.pt"))


@pytest.mark.slow
@pytest.mark.parametrize("ablation", [{}, {"tfd": False, "resnet_bypass": False}], ids=["full", "ablated"])
def test_two_process_gloo_ddp(data, tmp_path, ablation):
    # DDP runs without the unused-parameter search: an ablated model, too, uses every parameter it has
    cfg = _cfg(data, tmp_path, iterations=2, sampler=SamplerConfig(p=2, k=2, frames=3),
               model=tiny_model_config(**ablation))
    mp.spawn(_ddp_worker, args=(cfg, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in r0:
        if "running" in k or "num_batches" in k:
            continue  # BN statistics are per rank under plain DDP
        assert torch.equal(r0[k], r1[k]), k
    assert (tmp_path / "t" / "model.pt").is_file()
    assert load_checkpoint(tmp_path / "t" / "model.pt").metadata["world_size"] == 2


def test_init_from_fine_tunes_a_trained_model_and_refuses_one_that_does_not_fit(data, tmp_path):
    path = Trainer(_cfg(data, tmp_path / "a"), show_progress=False).run()
    ft = Trainer(_cfg(data, tmp_path / "b", init_from=str(path)), show_progress=False)
    ft._setup()
    trained = load_checkpoint(path).model.state_dict()
    for k, v in ft.model.state_dict().items():
        assert torch.equal(v, trained[k]), k
    ft.train_steps()  # and trains on from there
    assert any(not torch.equal(v, trained[k]) for k, v in ft.model.state_dict().items())
    # other training identities (one fewer held out): all but the per-identity classifier carries over
    other = Trainer(_cfg(dataclasses.replace(data, val_identities=1), tmp_path / "c", init_from=str(path)),
                    show_progress=False)
    other._setup()
    for k, v in other.model.state_dict().items():
        if k in CLASSIFIER_KEYS:
            assert v.shape[-1] == trained[k].shape[-1] + 1, k
        else:
            assert torch.equal(v, trained[k]), k
    small = BaselineConfig(channels=(8, 8, 16, 16), dim=16, bins=(1, 2))
    with pytest.raises(ConfigError, match="is a tcfdnet checkpoint"):
        Trainer(_cfg(data, tmp_path / "d", architecture="baseline", baseline=small, init_from=str(path)),
                show_progress=False)._setup()
    with pytest.raises(ConfigError, match="does not fit"):
        Trainer(_cfg(data, tmp_path / "e", model=dataclasses.replace(tiny_model_config(), dim=24),
                     init_from=str(path)), show_progress=False)._setup()
    with pytest.raises(CheckpointError, match="file not found"):
        Trainer(_cfg(data, tmp_path / "f", init_from=str(tmp_path / "none.pt")), show_progress=False)._setup()


def test_init_from_share_goes_that_share_back_towards_the_start(data, tmp_path):
    start = Trainer(_cfg(data, tmp_path / "a"), show_progress=False).run()
    tuned = Trainer(_cfg(data, tmp_path / "b", init_from=str(start), seed=1), show_progress=False)
    tuned._setup()
    tuned.train_steps()
    tuned_sd = {k: v.clone() for k, v in tuned.model.state_dict().items()}
    before = load_checkpoint(start).model.state_dict()
    tuned._go_back_towards_init(start, 0.25)
    after = tuned.model.state_dict()
    moved = 0
    for k, v in after.items():
        if v.is_floating_point():
            torch.testing.assert_close(v, 0.25 * before[k] + 0.75 * tuned_sd[k])
            moved += not torch.equal(v, tuned_sd[k])
        else:
            assert torch.equal(v, tuned_sd[k]), k     # counters stay the fine-tuned ones
    assert moved > 0
    # a whole run records the share and writes the mixed, calibrated weights
    path = Trainer(_cfg(data, tmp_path / "c", init_from=str(start), init_from_share=0.5),
                   show_progress=False).run()
    ck = load_checkpoint(path)
    assert ck.metadata["init_from_share"] == 0.5 and ck.metadata["open_set_threshold"] is not None
    for bad, match in ((1.0, r"in \[0, 1\)"), (-0.1, r"in \[0, 1\)")):
        with pytest.raises(ConfigError, match=match):
            _cfg(data, tmp_path / "d", init_from=str(start), init_from_share=bad).validate()
    with pytest.raises(ConfigError, match="needs init_from"):
        _cfg(data, tmp_path / "e", init_from_share=0.5).validate()
