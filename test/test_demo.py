"""The demo driver's own logic: held-out guarantee, cache keys, partial steps never reused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tcfd_ros import demo
from tcfd_ros.errors import TcfdError


def test_bag_people_never_training_identities() -> None:
    demo.DemoConfig().validate()
    with pytest.raises(TcfdError, match="never have been seen in training"):
        dataclasses.replace(demo.DemoConfig(), bag_seed=demo.DemoConfig().dataset_seed).validate()
    with pytest.raises(TcfdError, match="bag_first_id 3"):
        dataclasses.replace(demo.DemoConfig(), bag_first_id=3).validate()


def test_code_hash_follows_content_and_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "REPO", tmp_path)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    h1 = demo.code_hash(["pkg/*.py"], 7)
    assert demo.code_hash(["pkg/*.py"], 7) == h1
    assert demo.code_hash(["pkg/*.py"], 8) != h1
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    assert demo.code_hash(["pkg/*.py"], 7) != h1


def test_cached_step_is_built_once_and_partial_never_reused(tmp_path: Path) -> None:
    d = demo.Demo(dataclasses.replace(demo.DemoConfig(), out_root=str(tmp_path / "o")))
    d.root = tmp_path / "o"
    calls = []

    def fail(p: Path) -> None:
        (p / "half").write_text("x")
        raise TcfdError("step failed")

    with pytest.raises(TcfdError):
        d._cached("step", "k1", fail)
    assert not (d.root / "step-k1").exists()          # only the .partial folder, never taken as done

    def build(p: Path) -> None:
        calls.append(p)
        (p / "out").write_text("ok")

    first = d._cached("step", "k1", build)
    second = d._cached("step", "k1", build)
    assert first == second and len(calls) == 1 and (first / "out").read_text() == "ok"
    assert [how for _, _, how in d.times] == ["ran", "cached"]


def test_missing_subcommand_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "have_subcommand", lambda name: False)
    d = demo.Demo(demo.DemoConfig())
    with pytest.raises(TcfdError, match=r"`tcfd-ros export` .* not built in this tree"):
        d._tcfd(["export", "--checkpoint", "x"], "export the model")


def test_demo_environment_isolates_dds_unless_chosen() -> None:
    env = demo.demo_environment({"PATH": "/bin"})
    assert "ROS_DOMAIN_ID" not in env                  # the replay claims a free one (test_replay_dds.py)
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert demo.demo_environment({"ROS_DOMAIN_ID": "7"})["ROS_DOMAIN_ID"] == "7"


def test_shipped_model_is_the_default_and_retrain_is_a_flag(tmp_path: Path) -> None:
    d = demo.Demo(demo.DemoConfig())
    assert d.steps == demo.SHIPPED_STEPS and not d.cfg.retrain
    assert d.shipped_model().resolve() == (demo.REPO / "models" / "tcfd_sim.onnx").resolve()
    missing = demo.Demo(dataclasses.replace(demo.DemoConfig(), model=str(tmp_path / "none.onnx")))
    with pytest.raises(TcfdError, match=r"none\.onnx.*--retrain"):
        missing.shipped_model()
    assert demo.Demo(dataclasses.replace(demo.DemoConfig(), retrain=True)).steps == demo.RETRAIN_STEPS
    with pytest.raises(TcfdError, match="shipped model's data set"):
        dataclasses.replace(demo.DemoConfig(), bag_seed=demo.DemoConfig().model_seed).validate()
