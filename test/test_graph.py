"""The graph description, the params file and bringup's planning: no DDS needed."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import math
from pathlib import Path

import pytest
import yaml

from tcfd_ros.errors import ConfigError
from tcfd_ros.graph import EXECUTABLES, NODE_NAMES, TopicNames, build_graph, graph_from_config
from tcfd_ros.nodes.bringup import NODE_CLASSES, parse_param, plan
from tcfd_ros.nodes.config_file import render_params_file, validate_params_file
from tcfd_ros.nodes.node_configs import node_defaults
from tcfd_ros.nodes.params import param_specs

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "crossmodal.yaml"


def setup_executables() -> dict[str, str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        targets = [getattr(t, "id", "") for t in getattr(node, "targets", [])]
        if isinstance(node, ast.Assign) and "NODE_EXECUTABLES" in targets:
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no NODE_EXECUTABLES")


def test_executables_agree_with_setup_py_and_bringup():
    exe = setup_executables()
    assert sorted(exe) == sorted(EXECUTABLES) == sorted(NODE_CLASSES)
    for name, target in exe.items():
        module, func = target.split(":")
        assert module == NODE_CLASSES[name][0]
        src = (ROOT / (module.replace(".", "/") + ".py")).read_text()
        assert f"def {func}(" in src


def test_default_graph_has_one_pipeline_per_sensor_and_one_recognizer():
    g = graph_from_config(CONFIG)
    assert g.node_names() == ["/camera/camera_segmenter", "/camera/camera_tracker", "/lidar/lidar_segmenter",
                              "/lidar/lidar_tracker", "/recognizer"]
    seg = g.nodes[0]
    assert dict(seg.remappings) == {"image_raw": "image_raw", "camera_info": "camera_info",
                                    "matches": "/matches"}


def test_several_sensors_namespace_and_topics():
    g = build_graph(["cam_left", "cam_right"], ["pole1/lidar"], namespace="site_a",
                    topics=TopicNames(image="image_rect", points="/velodyne_points"))
    names = g.node_names()
    assert names.count("/site_a/recognizer") == 1
    assert "/site_a/cam_right/camera_segmenter" in names and "/site_a/pole1/lidar/lidar_tracker" in names
    assert len(names) == 2 * 2 + 2 + 1
    cam = next(n for n in g.nodes if n.namespace == "/site_a/cam_left" and n.name == "camera_segmenter")
    assert dict(cam.remappings)["image_raw"] == "image_rect"
    assert dict(cam.remappings)["matches"] == "/site_a/matches"
    lid = next(n for n in g.nodes if n.name == "lidar_segmenter")
    assert dict(lid.remappings)["points"] == "/velodyne_points"


@pytest.mark.parametrize("cams,lids,ns", [(["camera"], ["camera"], ""), ([], [], ""), (["1cam"], ["l"], ""),
                                          (["c"], ["l"], "bad ns")])
def test_bad_graphs_raise(cams, lids, ns):
    with pytest.raises(ConfigError):
        build_graph(cams, lids, ns)


def test_config_file_has_every_parameter_and_validates():
    data = yaml.safe_load(CONFIG.read_text())
    for name, default in node_defaults().items():
        entry = data[f"/**/{name}"]["ros__parameters"]
        flat = {}
        for k, v in entry.items():
            if isinstance(v, dict):
                flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
            else:
                flat[k] = v
        expected = sorted(s.name for s in param_specs(default))
        assert sorted(flat) == expected, (
            f"{name}: config/crossmodal.yaml lacks {sorted(set(expected) - set(flat))} / has extra "
            f"{sorted(set(flat) - set(expected))}; regenerate it (README, section nodes)")
    configs = validate_params_file(CONFIG)
    assert configs["camera_tracker"].modality == "2d" and configs["lidar_tracker"].modality == "3d"
    # every parameter line carries a comment
    lines = [ln for ln in CONFIG.read_text().splitlines() if ":" in ln and not ln.strip().startswith("#")
             and not ln.rstrip().endswith(":")]
    assert all("  # " in ln for ln in lines)


def test_every_parameter_is_described_from_its_field_and_the_files_are_rendered_from_them():
    """One source (issue 15): descriptions and ranges live on the dataclass fields (config_io.param),
    the ROS descriptors and both committed params files are built from them, no source is parsed."""
    from tcfd_ros.nodes.params import descriptor
    from tcfd_ros.nodes.robot_config import render_robot_params

    for name, default in node_defaults().items():
        for spec in param_specs(default):
            d = descriptor(spec)
            assert d.description.strip() and d.description == spec.description, f"{name}: {spec.name}"
    specs = {s.name: s for s in param_specs(node_defaults()["camera_segmenter"])}
    # a description that took two comment lines arrives whole (the comment parser kept only the first)
    assert specs["segmenter.bg_scale"].description.endswith("scaled back (nearest) before components")
    assert (specs["segmenter.yolo_conf"].min, specs["segmenter.yolo_conf"].max) == (0.0, 1.0)
    with pytest.raises(ConfigError, match="has no description"):
        param_specs(_Undescribed())
    regenerate = "regenerate it (README, section nodes)"
    assert CONFIG.read_text() == render_params_file() + "\n", regenerate
    assert (ROOT / "config" / "robot.yaml").read_text() == render_robot_params() + "\n", regenerate
    for path in (ROOT / "tcfd_ros").rglob("*.py"):
        assert "getsource" not in path.read_text(), f"{path}: parameters are documented by their fields"


@dataclasses.dataclass(frozen=True)
class _Undescribed:
    threshold: float = 0.5


def test_rendered_file_matches_committed_defaults_where_untouched():
    rendered = yaml.safe_load(render_params_file())
    committed = yaml.safe_load(CONFIG.read_text())
    assert sorted(rendered) == sorted(committed)


def _write(tmp_path, mutate) -> Path:
    data = yaml.safe_load(CONFIG.read_text())
    mutate(data)
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_strict_validation_names_the_key(tmp_path):
    p = _write(tmp_path,
               lambda d: d["/**/lidar_segmenter"]["ros__parameters"]["segmenter"].update(voxel_size_mm=3))
    with pytest.raises(ConfigError, match="segmenter.voxel_size_mm"):
        validate_params_file(p)
    p = _write(tmp_path, lambda d: d["/**/camera_tracker"]["ros__parameters"]["tracker"].update(max_age_s=2))
    with pytest.raises(ConfigError, match="decimal point"):
        validate_params_file(p)
    p = _write(tmp_path,
               lambda d: d["/**/recognizer"]["ros__parameters"]["identity"].update(switch_margin=-0.5))
    with pytest.raises(ConfigError, match="switch_margin"):
        validate_params_file(p)
    p = _write(tmp_path, lambda d: d.update({"/**/talker": {"ros__parameters": {}}}))
    with pytest.raises(ConfigError, match="talker"):
        validate_params_file(p)


def test_param_overrides_parse_and_validate():
    o = parse_param("cam_left.camera_segmenter.segmenter.min_area_px=80")
    assert (o.namespace, o.node, o.key, o.value) == ("cam_left", "camera_segmenter",
                                                     "segmenter.min_area_px", 80)
    o = parse_param("recognizer.identity.open_set_threshold=0.4")
    assert o.value == 0.4 and o.namespace == ""
    assert parse_param("recognizer.camera_namespaces=[a, b]").value == ["a", "b"]
    graph, configs = plan(CONFIG, [parse_param("recognizer.camera_namespaces=[a, b]"),
                                   parse_param("lidar_tracker.tracker.max_age_s=3")])
    assert graph.cameras == ("a", "b") and configs["lidar_tracker"].tracker.max_age_s == 3.0
    with pytest.raises(ConfigError):
        parse_param("model_path=x")
    with pytest.raises(ConfigError, match="threads"):
        plan(CONFIG, [parse_param("recognizer.threads=0")])
    _, configs = plan(CONFIG, [parse_param("recognizer.identity.open_set_threshold=0.3")])
    assert math.isclose(configs["recognizer"].identity.open_set_threshold, 0.3)


def test_node_modules_import_without_side_effects():
    for name, (module, cls) in NODE_CLASSES.items():
        assert hasattr(importlib.import_module(module), cls)
    assert set(NODE_NAMES) == set(node_defaults())
