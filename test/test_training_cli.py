"""tcfd-ros train / evaluate / ablate end to end on a tiny tree in the SUSTech1K layout, and the shipped
experiment YAMLs (every one must load strictly)."""

import json
from pathlib import Path

import pytest
import yaml

from tcfd_ros.cli import main
from tcfd_ros.errors import ConfigError
from training.ablate import parse_switches, variants
from training.config import load_train_config
from training_fixtures import write_freegait, write_sustech

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "training" / "configs").glob("*.yaml"))

TINY_MODEL = {
    "dim": 16, "clip": {"variant": "tcfd-tiny", "weights": "random"}, "adapter": {"hidden": 16},
    "resnet": {"channels": [4, 8, 8, 16]}, "mf": {"heads": 2},
    "tfd": {"k_t": 4, "latent_dim": 8, "gate_hidden": 8},
    "fse": {"bottleneck": 4}, "head": {"bins": [1, 2]},
}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_load_strictly(path):
    cfg = load_train_config(path)
    assert cfg.name == path.stem


def test_unknown_key_is_named(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nsampler: {p: 2, kk: 3}\n")
    with pytest.raises(ConfigError, match="sampler.kk"):
        load_train_config(p)


def _write_cfg(tmp_path, root, part, **extra):
    cfg = {"name": "cli", "model": TINY_MODEL, "iterations": 3, "checkpoint_every": 3, "log_every": 1,
           "threads": 1, "out_dir": str(tmp_path / "runs"), "sampler": {"p": 2, "k": 2, "frames": 3},
           "data": {"root": str(root), "partition": str(part), "val_identities": 2}}
    cfg.update(extra)
    path = tmp_path / "cli.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_train_then_evaluate_writes_tables_and_plots(tmp_path, capsys):
    root = tmp_path / "ds"
    part = write_sustech(root, subjects=tuple(f"{i:04d}" for i in range(7)),
                         seq_types=("00-nm", "01-nm", "01-bg"), views=("000", "090", "180"))
    part_json = json.loads(part.read_text())
    part.write_text(json.dumps({"TRAIN_SET": part_json["TRAIN_SET"][:5],
                                "TEST_SET": part_json["TRAIN_SET"][5:] + part_json["TEST_SET"]}))
    cfg = _write_cfg(tmp_path, root, part)
    assert main(["train", "--config", str(cfg), "--no-progress"]) == 0
    ckpt = tmp_path / "runs" / "cli" / "model.pt"
    assert ckpt.is_file()
    assert main(["train", "--config", str(cfg), "--resume", "--no-progress"]) == 0  # already at the end
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(ckpt), "--dataset", str(root), "--partition", str(part),
                 "--direction", "both", "--out", str(out), "--open-set"]) == 0
    printed = capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    assert set(res["directions"]) == {"2d3d", "3d2d"}
    # open-set rates per tracklet and per track, at 1 % FMR here and at the checkpoint's thresholds
    op = res["open_set"]
    assert "open set: " in printed and op["tracklet_frames"] == 10
    assert 0.0 <= op["at_target_fmr"]["genuine_accept_rate_track"] <= 1.0
    assert set(op["at_checkpoint_thresholds"]) == {"tracklet", "track"}
    assert op["at_checkpoint_thresholds"]["track"]["pairs"]["impostor"] > 0
    overall = res["directions"]["3d2d"]["overall"]
    assert overall["num_pairs"] == 6 and 0.0 <= overall["rank1"] <= 100.0
    assert "bag" in res["directions"]["2d3d"]["conditions"]
    for name in ("results.md", "cmc.png", "rank1_views_2d3d.png", "rank1_views_3d2d.png"):
        assert (out / name).stat().st_size > 0
    assert "| overall | 6 |" in (out / "results.md").read_text()
    # calibrated where the recognizer decides, its track threshold is on another score: no track row
    from tcfd_ros.model.checkpoint import update_checkpoint_metadata
    update_checkpoint_metadata(ckpt, {"calibration_level_track": "pipeline",
                                      "open_set_threshold_track": 1e-8})
    assert main(["evaluate", "--checkpoint", str(ckpt), "--dataset", str(root), "--partition", str(part),
                 "--direction", "3d2d", "--out", str(tmp_path / "eval_p"), "--open-set"]) == 0
    op = json.loads((tmp_path / "eval_p" / "results.json").read_text())["open_set"]
    assert set(op["at_checkpoint_thresholds"]) == {"tracklet"}
    assert "calibrate" in op["track_threshold_not_applied"]
    assert "open set: the checkpoint's track threshold was set on replays'" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", str(tmp_path / "nope.pt"), "--dataset", str(root),
                 "--partition", str(part)]) == 2
    assert "file not found" in capsys.readouterr().err


def test_evaluate_freegait_protocol(tmp_path):
    root = tmp_path / "sus"
    part = write_sustech(root, subjects=tuple(f"{i:04d}" for i in range(5)), seq_types=("00-nm", "01-nm"),
                         views=("000",))
    cfg = _write_cfg(tmp_path, root, part)
    assert main(["train", "--config", str(cfg), "--no-progress"]) == 0
    fg = tmp_path / "fg"
    fpart = write_freegait(fg)
    out = tmp_path / "fgeval"
    ckpt = str(tmp_path / "runs" / "cli" / "model.pt")
    assert main(["evaluate", "--checkpoint", ckpt, "--dataset", str(fg),
                 "--partition", str(fpart), "--format", "freegait", "--direction", "3d2d",
                 "--out", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())["directions"]["3d2d"]
    assert r["protocol"] == "open" and r["num_probes"] == 1 and "mINP" in r


def test_ablation_variants_and_table(tmp_path):
    with pytest.raises(ConfigError, match="unknown"):
        parse_switches("gmtd,bogus")
    root = tmp_path / "ds"
    part = write_sustech(root, subjects=tuple(f"{i:04d}" for i in range(6)), seq_types=("00-nm", "01-nm"),
                         views=("000", "090"))
    cfg_path = _write_cfg(tmp_path, root, part, iterations=2)
    cfg = load_train_config(cfg_path)
    names = [(label, v.name, v.model.ablation.tfd) for label, v in variants(cfg, parse_switches("tfd,sw"))]
    assert names == [("TCFDNet (full)", "cli", True), ("w/o TFD", "cli_no_tfd", False),
                     ("w/o SW", "cli_no_sw", True)]
    out = tmp_path / "abl"
    assert main(["ablate", "--config", str(cfg_path), "--switches", "tfd", "--out", str(out)]) == 0
    rows = json.loads((out / "ablation.json").read_text())
    assert [r["variant"] for r in rows] == ["TCFDNet (full)", "w/o TFD"]
    assert "| w/o TFD |" in (out / "ablation.md").read_text()
