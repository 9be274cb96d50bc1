"""CameraSegmenter (background subtraction and YOLO), label images, annotation; real pedestrian video."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from tcfd_ros.config_io import from_dict
from tcfd_ros.errors import ConfigError, MessageFormatError, MissingWeightsError
from tcfd_ros.perception.annotate import Annotation, draw_annotations, id_colour_bgr
from tcfd_ros.perception.config import CameraSegmenterConfig
from tcfd_ros.perception.segment_camera import CameraSegmenter, label_image, split_columns

H, W = 120, 240
BG_GREY = 90


def _frames(n: int, people: int = 1, car: bool = False):
    """A static textured background with upright bright 'people' walking right (and a wide 'car')."""
    rng = np.random.default_rng(0)
    bg = np.clip(BG_GREY + rng.normal(0, 4, (H, W, 3)), 0, 255).astype(np.uint8)
    body = rng.integers(150, 255, (60, 18, 3), dtype=np.uint8)  # textured, moves with the person
    for i in range(n):
        f = bg.copy()
        for k in range(people):
            x = 5 + 3 * i + 80 * k
            f[30:90, x:x + 18] = body
        if car:
            f[95:115, 10 + i:70 + i] = (30, 30, 200)
        yield f


def test_background_backend_finds_moving_people_after_warmup():
    seg = CameraSegmenter(CameraSegmenterConfig(warmup_frames=10))
    results = []
    for f in _frames(40, people=2, car=True):
        results.append(seg.segment(f))
    assert all(r == [] for r in results[:10])             # warm-up: model only
    assert not seg.warming_up
    last = results[-1]
    assert len(last) == 2                                  # the wide 'car' fails the aspect gate
    for d in last:
        assert d.mask.shape == (H, W) and d.mask.dtype == bool
        x0, y0, x1, y1 = d.bbox_xyxy
        assert 50 <= y1 - y0 <= 62 and (y1 - y0) / (x1 - x0) >= 1.0
        assert d.mask[int(y0):int(y1), int(x0):int(x1)].sum() == d.mask.sum()
        sil = d.silhouette()
        assert sil.shape == (64, 64) and sil.dtype == np.uint8 and set(np.unique(sil)) <= {0, 255}
        assert sil.any()


def test_downscaled_background_model_finds_the_same_people():
    seg = CameraSegmenter(CameraSegmenterConfig(warmup_frames=10, bg_scale=0.5))
    for f in _frames(40, people=2, car=True):
        dets = seg.segment(f)
    assert len(dets) == 2
    for d in dets:
        assert d.mask.shape == (H, W)
        x0, y0, x1, y1 = d.bbox_xyxy
        assert 50 <= y1 - y0 <= 64


def _person_mask(h: int = 80, w: int = 30, stride: bool = False) -> np.ndarray:
    """A standing figure: head, torso, and legs that are apart at the bottom when striding."""
    m = np.zeros((h, w), bool)
    c = w // 2
    m[0:h // 8, c - 4:c + 4] = True                       # head
    m[h // 8:h // 2, c - 7:c + 7] = True                  # torso
    for r in range(h // 2, h):
        spread = int((r - h // 2) * (0.5 if stride else 0.1))
        m[r, max(c - 6 - spread, 0):max(c - 1 - spread, 1)] = True   # left leg
        m[r, min(c + 1 + spread, w - 1):min(c + 6 + spread, w)] = True  # right leg
    return m


def test_group_splitting_separates_side_by_side_people_not_a_stride():
    cfg = CameraSegmenterConfig()
    one = _person_mask(stride=True, w=44)
    assert split_columns(one, cfg) == [(0, 44)]                          # a wide stride stays one person
    pair = np.concatenate([_person_mask(w=26), _person_mask(w=26)], axis=1)
    pair[30:40, 20:32] = True                                            # touching arms
    parts = split_columns(pair, cfg)
    assert len(parts) == 2 and 18 <= parts[0][1] <= 34
    assert split_columns(pair, dataclasses.replace(cfg, split_groups=False)) == [(0, 52)]


def test_background_backend_splits_merged_walkers():
    seg = CameraSegmenter(CameraSegmenterConfig(warmup_frames=10))
    rng = np.random.default_rng(1)
    bg = np.clip(BG_GREY + rng.normal(0, 4, (H, W, 3)), 0, 255).astype(np.uint8)
    pair = np.concatenate([_person_mask(w=26), _person_mask(w=26)], axis=1)
    pair[30:40, 20:32] = True
    texture = rng.integers(150, 255, (80, 52, 3), dtype=np.uint8)  # clothes move with the people
    for i in range(30):
        f = bg.copy()
        x = 10 + 4 * i
        f[20:100, x:x + 52][pair] = texture[pair]
        dets = seg.segment(f)
    assert len(dets) == 2
    assert all((d.bbox_xyxy[3] - d.bbox_xyxy[1]) / (d.bbox_xyxy[2] - d.bbox_xyxy[0]) > 2 for d in dets)


def test_label_image_numbers_detections():
    seg = CameraSegmenter(CameraSegmenterConfig(warmup_frames=5))
    for f in _frames(30, people=2):
        dets = seg.segment(f)
    lab = label_image(dets, (H, W))
    assert lab.dtype == np.uint16 and set(np.unique(lab)) == {0, 1, 2}
    assert (lab == 1).sum() == dets[0].mask.sum()


def test_knn_backend_and_size_gate():
    cfg = CameraSegmenterConfig(bg_method="knn", warmup_frames=5)
    seg = CameraSegmenter(cfg)
    for f in _frames(30):
        dets = seg.segment(f)
    assert len(dets) == 1
    tall = CameraSegmenter(dataclasses.replace(cfg, min_height_px=80))
    for f in _frames(30):
        dets = tall.segment(f)
    assert dets == []                                        # 60 px people are below the gate


def test_image_size_change_restarts_the_model(caplog):
    seg = CameraSegmenter(CameraSegmenterConfig(warmup_frames=3))
    for f in _frames(5):
        seg.segment(f)
    assert not seg.warming_up
    seg.segment(np.zeros((60, 80, 3), np.uint8))
    assert seg.warming_up and "restarting" in caplog.text


@pytest.mark.parametrize("img,field", [
    (np.zeros((0, 10, 3), np.uint8), "zero-size"),
    (np.zeros((10, 0, 3), np.uint8), "zero-size"),
    (np.zeros((10, 10, 4), np.uint8), "shape"),
    (np.zeros((10, 10, 3, 1), np.uint8), "shape"),
    (np.zeros((10, 10, 3), np.float32), "dtype"),
    ([[1, 2, 3]], "numpy array"),
])
def test_bad_images_raise_clear_errors(img, field):
    with pytest.raises(MessageFormatError, match=field):
        CameraSegmenter().segment(img)


def test_config_validation():
    with pytest.raises(ConfigError, match="yolo_weights"):
        CameraSegmenterConfig(backend="yolo").validate()
    with pytest.raises(ConfigError, match="yolo_weights"):
        CameraSegmenterConfig(backend="yolo", yolo_weights="model.pth").validate()
    with pytest.raises(ConfigError, match="bg_methd"):
        from_dict(CameraSegmenterConfig, {"bg_methd": "mog2"})
    with pytest.raises(ConfigError, match="min_height_px"):
        from_dict(CameraSegmenterConfig, {"min_height_px": 3000})


def test_missing_yolo_weights_say_what_to_put_where(tmp_path):
    path = tmp_path / "yolov8n-seg.pt"
    with pytest.raises(MissingWeightsError, match=str(path)) as e:
        CameraSegmenter(CameraSegmenterConfig(backend="yolo", yolo_weights=str(path)))
    assert "background" in str(e.value) and "segmentation model" in str(e.value)


@pytest.fixture(scope="module")
def random_yolo(tmp_path_factory) -> Path:
    """A random-init YOLOv8n-seg built from the ultralytics yaml (no download), saved as .pt."""
    ultralytics = pytest.importorskip("ultralytics")
    path = tmp_path_factory.mktemp("yolo") / "rand-seg.pt"
    ultralytics.YOLO("yolov8n-seg.yaml").save(str(path))
    return path


def _check_yolo_dets(dets, shape, min_aspect=0.0):
    for d in dets:
        assert d.mask.shape == shape and d.mask.dtype == bool and d.mask.any()
        assert 0.0 <= d.score <= 1.0
        x0, y0, x1, y1 = d.bbox_xyxy
        assert (y1 - y0) / (x1 - x0) >= min_aspect


def test_yolo_backend_loads_a_local_pt_and_runs(random_yolo):
    """Plumbing, not accuracy: random weights give arbitrary masks; every returned one is well formed."""
    cfg = CameraSegmenterConfig(backend="yolo", yolo_weights=str(random_yolo), yolo_conf=0.0,
                                yolo_imgsz=160, min_height_px=1, min_area_px=0, min_fill_ratio=0.0,
                                min_aspect_h_over_w=0.01, max_aspect_h_over_w=100.0)
    seg = CameraSegmenter(cfg)
    assert not seg.warming_up
    frame = next(_frames(1))
    dets = seg.segment(frame)
    _check_yolo_dets(dets, (H, W))
    assert len(dets) >= 1                 # conf 0 keeps the random model's person-class proposals
    strict = CameraSegmenter(dataclasses.replace(cfg, min_aspect_h_over_w=1.0, max_aspect_h_over_w=5.0))
    _check_yolo_dets(strict.segment(frame), (H, W), min_aspect=1.0)


def test_yolo_backend_loads_an_onnx_export(random_yolo, tmp_path):
    pytest.importorskip("onnxruntime")
    from ultralytics import YOLO

    onnx_path = Path(YOLO(str(random_yolo)).export(format="onnx", imgsz=160, simplify=False))
    cfg = CameraSegmenterConfig(backend="yolo", yolo_weights=str(onnx_path), yolo_conf=0.0,
                                yolo_imgsz=160, min_height_px=1, min_area_px=0, min_fill_ratio=0.0,
                                min_aspect_h_over_w=0.01, max_aspect_h_over_w=100.0)
    dets = CameraSegmenter(cfg).segment(next(_frames(1)))
    _check_yolo_dets(dets, (H, W))


def test_annotation_draws_masks_boxes_and_ids():
    img = np.full((H, W, 3), 50, np.uint8)
    mask = np.zeros((H, W), bool)
    mask[20:80, 30:50] = True
    out = draw_annotations(img, [Annotation((30, 20, 50, 80), mask, track_id=4, global_id=7, known=True,
                                            distance=0.12)])
    assert out.shape == img.shape and out.dtype == np.uint8
    assert (img == 50).all()                                  # input untouched
    assert not np.array_equal(out[50, 40], img[50, 40])      # mask blended
    assert id_colour_bgr(7) != id_colour_bgr(8) and id_colour_bgr(7) == id_colour_bgr(7)
    with pytest.raises(MessageFormatError, match="mask shape"):
        draw_annotations(img, [Annotation((0, 0, 5, 5), np.zeros((5, 5), bool))])


def test_real_pedestrian_video(vtest_frames):
    """vtest (PETS-like courtyard, 480x360, people a few tens of px tall): people found on most frames."""
    seg = CameraSegmenter(CameraSegmenterConfig())
    counts, aspects, heights = [], [], []
    for i, frame in enumerate(vtest_frames(150)):
        dets = seg.segment(frame)
        if i >= 2 * seg.cfg.warmup_frames:
            counts.append(len(dets))
            for d in dets:
                x0, y0, x1, y1 = d.bbox_xyxy
                aspects.append((y1 - y0) / (x1 - x0))
                heights.append(y1 - y0)
    counts = np.array(counts)
    assert (counts >= 1).mean() >= 0.9                       # someone walks through nearly every frame
    assert np.median(counts) >= 2                            # and usually several people
    assert 1.5 <= np.median(aspects) <= 4.0                  # upright, person-like boxes
    assert 25 <= np.median(heights) <= 120


def test_contact_sheet_command_writes_a_png(real_data, tmp_path):
    from tcfd_ros.perception.contact_sheet import main

    out = tmp_path / "sheet.png"
    assert main(["--out", str(out), "--real-data", str(real_data)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 500 and img.shape[1] > 1000
    assert main(["--out", str(out), "--real-data", str(tmp_path / "nowhere")]) == 2
