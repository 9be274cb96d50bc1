"""SUSTech1K-layout synthetic data sets: exact file names, shapes, sync pairing, determinism, realism."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from tcfd_ros.errors import ConfigError
from tcfd_ros.safe_pickle import safe_load
from tcfd_ros.sim.dataset import DatasetSpec, file_names, write_dataset

TINY = dict(identities=3, views=(0, 90), conditions=("nm", "cl"), frames=5, seed=11, workers=1)
SEQS = ("00-nm", "01-nm", "01-cl")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "sim"
    write_dataset(DatasetSpec(out=out, **TINY))
    return out


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_file_names_are_sustech1k(dataset):
    part = json.loads((dataset / "partition.json").read_text())
    assert set(part) == {"TRAIN_SET", "TEST_SET"}
    assert part["TRAIN_SET"] and part["TEST_SET"] and not set(part["TRAIN_SET"]) & set(part["TEST_SET"])
    assert sorted(part["TRAIN_SET"] + part["TEST_SET"]) == ["0000", "0001", "0002"]
    for pid in ("0000", "0001", "0002"):
        assert sorted(p.name for p in (dataset / pid).iterdir()) == sorted(SEQS)
        for seq in SEQS:
            assert sorted(p.name for p in (dataset / pid / seq).iterdir()) == ["000", "090"]
    names = sorted(p.name for p in (dataset / "0001" / "01-cl" / "090").iterdir())
    assert names == sorted(file_names("090").values())
    assert "01-090-LiDAR-PCDs_depths.pkl" in names and "06-090-Camera-Sils_aligned.pkl" in names
    assert "09-sync-090-LiDAR-PCDs_depths.pkl" in names and "14-sync-090-Camera-Sils_aligned.pkl" in names
    assert "00-090-LiDAR-PCDs.pkl" in names
    assert not [p for p in dataset.parent.iterdir() if p.name.startswith(".")]   # no temp leftovers


def test_arrays_have_sustech1k_shapes_and_are_never_empty(dataset):
    for folder in sorted(dataset.glob("*/*/*")):
        n = file_names(folder.name)
        depth = safe_load(folder / n["depth"])
        sils = safe_load(folder / n["sil"])
        pcds = safe_load(folder / n["pcd"])
        assert depth.dtype == np.uint8 and depth.shape == (TINY["frames"], 3, 64, 64)
        assert sils.dtype == np.uint8 and sils.shape == (TINY["frames"], 64, 64)
        assert isinstance(pcds, list) and len(pcds) == TINY["frames"] and pcds[0].shape[1] == 3
        # every frame: the person is in range, so depth maps and silhouettes have content
        assert (depth.reshape(len(depth), -1).max(axis=1) > 0).all()
        assert (sils.reshape(len(sils), -1).max(axis=1) == 255).all()
        sd, ss = safe_load(folder / n["sync_depth"]), safe_load(folder / n["sync_sil"])
        # the camera is triggered by the LiDAR, so every frame pairs within SUSTech1K's 20 ms
        assert len(sd) == len(ss) == TINY["frames"]
        np.testing.assert_array_equal(sd, depth)
        np.testing.assert_array_equal(ss, sils)


def test_silhouettes_keep_a_human_aspect_ratio(dataset):
    for folder in sorted(dataset.glob("*/0?-nm/*")):
        sils = safe_load(folder / file_names(folder.name)["sil"])
        for s in sils:
            occ = s > 0
            rows = np.flatnonzero(occ.any(axis=1))
            cols = np.flatnonzero(occ.any(axis=0))
            height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
            assert height >= 60                       # aligned: the person fills the height
            assert 1.4 < height / width < 6.0, (folder, height, width)


def test_same_seed_is_byte_identical_regardless_of_workers(dataset, tmp_path):
    out = tmp_path / "again"
    write_dataset(DatasetSpec(out=out, **{**TINY, "workers": 2}))
    assert _tree_digest(out) == _tree_digest(dataset)


def test_loads_through_the_training_sustech1k_loader(dataset):
    sustech = pytest.importorskip("training.datasets.sustech1k")
    ds = sustech.SUSTech1K(dataset, dataset / "partition.json", split="all", sync=True)
    assert len(ds.records) == 3 * len(SEQS) * 2


@pytest.mark.parametrize("kwargs,match", [
    (dict(identities=1), "identities"),
    (dict(frames=0), "frames"),
    (dict(lidar="vlp64"), "unknown LiDAR model"),
    (dict(conditions=("nm", "zz")), "condition"),
    (dict(views=(0, 360)), "view 360"),
    (dict(lidar_height_m=0.0), "sensor heights"),
    (dict(camera_tilt_deg=80.0), "camera_tilt_deg"),
    (dict(min_distance_m=9.0, max_distance_m=6.0), "distances"),
    (dict(mixed_mounting=1.5), "mixed_mounting"),
])
def test_bad_arguments_raise_and_leave_nothing(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        write_dataset(DatasetSpec(out=tmp_path / "bad", **{**TINY, **kwargs}))
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_kept_without_force_and_replaced_with_it(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "old.txt").write_text("x")
    small = {**TINY, "identities": 2, "views": (90,), "conditions": ("nm",), "frames": 2}
    with pytest.raises(ConfigError, match="--force"):
        write_dataset(DatasetSpec(out=out, **small))
    assert (out / "old.txt").exists()
    write_dataset(DatasetSpec(out=out, force=True, **small))
    assert not (out / "old.txt").exists() and (out / "partition.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_pole_mounting_changes_what_the_sensors_see(tmp_path, capsys):
    """--lidar-height/--camera-height/--camera-tilt/--distance place the rig like a pole's sensors: the
    same walk seen from 4.5 m up, 20 deg down, is a different silhouette from the 1.15 m rig's."""
    from tcfd_ros.cli import main

    def sils(out: Path, *extra: str) -> np.ndarray:
        assert main(["simulate", "dataset", "--out", str(out), "--identities", "2", "--views", "90",
                     "--conditions", "nm", "--frames", "3", "--workers", "1", "--seed", "4", *extra]) == 0
        capsys.readouterr()
        return safe_load(out / "0000" / "00-nm" / "090" / "14-sync-090-Camera-Sils_aligned.pkl")

    low = sils(tmp_path / "rig")
    pole = sils(tmp_path / "pole", "--lidar-height", "2.2", "--camera-height", "4.5", "--camera-tilt", "20",
                "--distance", "9,12")
    assert low.shape == pole.shape and np.mean(low != pole) > 0.02
    with pytest.raises(SystemExit) as e:
        main(["simulate", "dataset", "--out", str(tmp_path / "x"), "--identities", "2", "--distance", "9"])
    assert e.value.code == 2 and "MIN,MAX" in capsys.readouterr().err


def test_cli_dataset_and_preview(tmp_path, capsys):
    import cv2

    from tcfd_ros.cli import main

    out = tmp_path / "cli_ds"
    assert main(["simulate", "dataset", "--out", str(out), "--identities", "2", "--views", "90",
                 "--conditions", "bg", "--frames", "2", "--workers", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["sequences"] == 4
    assert (out / "0001" / "01-bg" / "090" / "06-090-Camera-Sils_aligned.pkl").exists()
    assert main(["simulate", "dataset", "--out", str(out), "--identities", "2"]) == 2
    assert "--force" in capsys.readouterr().err
    png = tmp_path / "sheet.png"
    assert main(["simulate", "preview", "--out", str(png), "--identities", "1", "--views", "90",
                 "--conditions", "nm,ub"]) == 0
    sheet = cv2.imread(str(png))
    assert sheet is not None and sheet.shape[0] == 2 * 128 and sheet.std() > 10


def test_free_running_camera_pairs_within_20_ms_and_occlusion_hides_points(tmp_path):
    from tcfd_ros.sim.dataset import Rig, _pair_frames, simulate_sequence

    spec = DatasetSpec(out=tmp_path / "unused", identities=2, views=(90,), conditions=("nm", "oc"), frames=6,
                       camera_hz=30.0)
    rig = Rig(spec)
    res = simulate_sequence(spec, rig, 0, 1, "01-nm", "nm", 90)
    assert len(res["sils"]) in (17, 18)                 # 0.6 s at 30 Hz
    li, ci = _pair_frames(res["lidar_t"], res["cam_t"], np.ones(6, bool), np.ones(len(res["cam_t"]), bool))
    assert len(li) == 6 and np.abs(res["lidar_t"][li] + 0.05 - res["cam_t"][ci]).max() <= 0.020
    occluded = simulate_sequence(spec, rig, 0, 1, "01-oc", "oc", 90)
    n_nm = np.mean([p.shape[0] for p in res["pcds"]])
    n_oc = np.mean([p.shape[0] for p in occluded["pcds"]])
    assert n_oc < 0.85 * n_nm


def test_mixed_mounting_changes_a_share_of_the_sequences_and_keeps_the_others(tmp_path):
    """Mixed sequences see the person from a pole / robot mounting; the rest are the plain data set's."""
    from tcfd_ros.sim.dataset import (AIM_JITTER_DEG, MIXED_CAMERA_HEIGHT_M, MIXED_LIDAR_HEIGHT_M, Rig,
                                      sequence_mounting,
                                      simulate_sequence, spec_mounting)

    plain = DatasetSpec(out=tmp_path / "unused", identities=40, views=(0, 90, 180, 270), frames=4, seed=3)
    mixed = DatasetSpec(**{**plain.__dict__, "mixed_mounting": 0.5})
    keys = [(pid, si, v) for pid in range(40) for si in range(3) for v in plain.views]
    mounts = [sequence_mounting(mixed, *key) for key in keys]
    assert all(sequence_mounting(plain, *key) == spec_mounting(plain) for key in keys)
    assert mounts == [sequence_mounting(mixed, *key) for key in keys]     # deterministic
    moved = [m for m in mounts if m != spec_mounting(mixed)]
    assert 0.4 < len(moved) / len(mounts) < 0.6
    for m in moved:
        assert MIXED_LIDAR_HEIGHT_M[0] <= m.lidar_height_m <= MIXED_LIDAR_HEIGHT_M[1]
        assert MIXED_CAMERA_HEIGHT_M[0] <= m.camera_height_m <= MIXED_CAMERA_HEIGHT_M[1]
        # aimed at the walk: higher cameras look further down
        assert -AIM_JITTER_DEG <= m.camera_tilt_deg < 40.0
    high = max(moved, key=lambda m: m.camera_height_m)
    low = min(moved, key=lambda m: m.camera_height_m)
    assert high.camera_tilt_deg > low.camera_tilt_deg

    kept = next(i for i, m in enumerate(mounts) if m == spec_mounting(mixed))
    pid, si, view = keys[kept]
    a = simulate_sequence(plain, Rig(plain), pid, si, "x", "nm", view)
    b = simulate_sequence(mixed, Rig(mixed), pid, si, "x", "nm", view)
    assert all(np.array_equal(x, y) for x, y in zip(a["sils"], b["sils"]))
    moved_i = next(i for i, m in enumerate(mounts) if m.lidar_height_m > 2.0)
    pid, si, view = keys[moved_i]
    up = simulate_sequence(mixed, Rig(mixed, mounts[moved_i]), pid, si, "x", "nm", view)
    level = simulate_sequence(plain, Rig(plain), pid, si, "x", "nm", view)
    z_up = np.median(np.concatenate([p[:, 2] for p in up["pcds"]]))
    z_level = np.median(np.concatenate([p[:, 2] for p in level["pcds"]]))
    assert z_up < z_level - 0.5         # sensor frame: the person is further below a higher LiDAR
