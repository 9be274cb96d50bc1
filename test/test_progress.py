"""Progress output: a bar on a terminal, periodic plain lines (iteration, loss, ETA) in a log."""

from __future__ import annotations

import io

from tcfd_ros import progress as progress_mod
from tcfd_ros.progress import LineProgress, format_duration, progress


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_log_gets_periodic_lines_without_carriage_returns():
    out, clock = io.StringIO(), _Clock()
    bar = LineProgress(range(100, 1000), total=1000, initial=100, desc="train x", stream=out, period_s=10.0,
                       clock=clock)
    for i in bar:
        clock.t += 0.1                       # 10 it/s
        bar.set_postfix(loss=f"{1.0 / (i + 1):.3f}")
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert 8 <= len(lines) <= 10             # 90 s at one line per 10 s, and the final line
    assert lines[0].startswith("train x: 201/1000 it (20%), 10 it/s, loss=0.005, ETA 1m20s")
    assert lines[-1].startswith("train x: 1000/1000 it (100%)") and "elapsed" in lines[-1]


def test_progress_picks_lines_for_a_file_and_nothing_when_disabled(monkeypatch):
    out = io.StringIO()
    assert isinstance(progress(range(3), stream=out), LineProgress)
    monkeypatch.setattr(progress_mod, "LINE_PERIOD_S", 0.0)
    list(progress(range(3), desc="d", stream=out, disable=True))
    assert out.getvalue() == ""
    list(progress(range(3), desc="d", stream=out))
    assert out.getvalue().splitlines()[-1].startswith("d: 3/3 it (100%)")


def test_durations_read_well():
    assert [format_duration(s) for s in (5, 75, 3725)] == ["5s", "1m15s", "1h02m"]


def test_training_in_a_log_prints_iteration_loss_and_eta(tmp_path, capsys, monkeypatch):
    import yaml

    from tcfd_ros.cli import main
    from test_training_cli import TINY_MODEL
    from training_fixtures import write_sustech

    monkeypatch.setattr(progress_mod, "LINE_PERIOD_S", 0.0)
    root = tmp_path / "ds"
    part = write_sustech(root, subjects=tuple(f"{i:04d}" for i in range(4)), seq_types=("00-nm", "01-nm"),
                         views=("000",))
    cfg = {"name": "log", "model": TINY_MODEL, "iterations": 3, "checkpoint_every": 3, "log_every": 1,
           "threads": 1, "out_dir": str(tmp_path / "runs"), "sampler": {"p": 2, "k": 2, "frames": 3},
           "data": {"root": str(root), "partition": str(part), "val_identities": 0}}
    path = tmp_path / "log.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", "--config", str(path)]) == 0      # pytest's stderr is not a terminal
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("train log: ")]
    assert "\r" not in err and len(lines) >= 3
    assert lines[0].startswith("train log: 1/3 it (33%)") and "loss=" in lines[0] and "ETA" in lines[0]
    assert lines[-1].startswith("train log: 3/3 it (100%)")
