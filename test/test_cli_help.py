"""Every ``tcfd-ros`` help page ends with examples, the CLI reference in README.md and docs/cli.md is
what the parsers say, and errors are one line with exit code 2 (with a suggestion for a mistyped
``--param``), leaving no empty output folder behind."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tcfd_ros.cli import reference
from tcfd_ros.wording import count, did_you_mean

REPO = Path(__file__).resolve().parents[1]
PAGES = reference.walk()


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = dict(os.environ, CI="true", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "tcfd_ros", *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120, env=env, check=False)


@pytest.mark.parametrize("prog", [p for p, _, _ in PAGES])
def test_every_help_page_has_an_example_and_every_option_has_help(prog: str) -> None:
    parser = next(p for name, _, p in PAGES if name == prog)
    text = parser.format_help()
    assert "\nexamples:\n  tcfd-ros " in text or "\nexamples:\n  torchrun " in text, prog
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction, argparse._VersionAction)):
            continue
        assert action.help, f"{prog}: option {action.option_strings or action.dest} has no help text"


def test_help_pages_print_through_the_console_entry_point() -> None:
    for prog, _, _ in PAGES[1:]:
        words = prog.split()[1:]
        r = _run(*words, "--help")
        assert r.returncode == 0 and "examples:" in r.stdout, prog


def test_readme_and_docs_cli_reference_match_the_parsers() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start, end = reference.readme_table(readme)
    assert readme[start:end] == reference.render_table(), \
        "README's CLI table is stale: python -m tcfd_ros.cli.reference --write"
    assert (REPO / "docs" / "cli.md").read_text(encoding="utf-8") == reference.render_pages(), \
        "docs/cli.md is stale: python -m tcfd_ros.cli.reference --write"
    for prog, _, parser in PAGES:
        if reference._subparsers(parser) is None:
            assert f"`{prog}`" in readme, prog


def _one_line_error(r: subprocess.CompletedProcess, command: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"tcfd-ros {command}: error: "), lines[0]
    return lines[0]


def test_unknown_param_is_one_line_with_a_suggestion() -> None:
    line = _one_line_error(_run("bringup", "--check", "--param", "recognizer.identity.open_set_treshold=0.3"),
                           "bringup")
    assert "did you mean identity.open_set_threshold?" in line and "crossmodal.yaml" not in line
    line = _one_line_error(_run("bringup", "--check", "--param", "recognizr.backend=torch"), "bringup")
    assert "did you mean recognizer?" in line


def test_replay_of_a_missing_bag_or_bad_param_leaves_no_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "report"
    line = _one_line_error(_run("replay", str(tmp_path / "nope.bag"), "--out", str(out)), "replay")
    assert "bag not found" in line
    assert not out.exists()
    bag = tmp_path / "b"
    bag.mkdir()
    line = _one_line_error(_run("replay", str(bag), "--out", str(out),
                                "--param", "lidar_segmenter.segmenter.min_pts=3"), "replay")
    assert "did you mean segmenter.min_points?" in line
    assert not out.exists()
    line = _one_line_error(_run("replay", str(bag), "--out", str(out), "--video", str(tmp_path / "v.avi")),
                           "replay")
    assert ".mp4" in line and not out.exists()


def test_gallery_erase_of_a_missing_id_is_one_line(tmp_path: Path) -> None:
    from tcfd_ros.gallery import Gallery

    db = tmp_path / "g.sqlite"
    with Gallery(db) as g:
        g.create_identity(1.0)
    line = _one_line_error(_run("gallery", "--db", str(db), "erase", "99"), "gallery")
    assert "no identity 99" in line
    r = _run("gallery", "--db", str(db), "list")
    assert r.returncode == 0 and "1 identity in" in r.stdout


def test_counted_nouns_and_suggestions() -> None:
    assert [count(n, "identity") for n in (0, 1, 2)] == ["0 identities", "1 identity", "2 identities"]
    assert count(1, "person") == "1 person" and count(3, "person") == "3 people"
    assert count(2, "track") == "2 tracks"
    assert did_you_mean("open_set_treshold", ["open_set_threshold", "threads"]) == \
        "; did you mean open_set_threshold?"
    assert did_you_mean("zzz", ["open_set_threshold"]) == ""


def test_reference_write_round_trips(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{reference.TABLE_HEADER}\n|---|---|---|\n| old | old | old |\n\n## next\n")
    reference.write(readme, tmp_path / "cli.md")
    text = readme.read_text()
    assert text.endswith("\n\n## next\n") and "| old |" not in text and "`tcfd-ros replay`" in text


@pytest.mark.parametrize("argv, command, needle", [
    (("replay",), "replay", "required: bag"),
    (("gallery", "--db", "x.sqlite", "erase"), "gallery erase", "one of the arguments"),
    (("simulate", "bag", "--out", "o", "--people", "many"), "simulate bag", "invalid int value"),
])
def test_usage_errors_are_one_line(argv: tuple[str, ...], command: str, needle: str) -> None:
    line = _one_line_error(_run(*argv), command)
    assert needle in line and line.endswith("--help)")


@pytest.mark.parametrize("argv, command, made", [
    (("evaluate", "--checkpoint", "nope.pt", "--dataset", "nope", "--out", "o/eval"), "evaluate", "o"),
    (("export", "--checkpoint", "nope.pt", "--format", "onnx", "--out", "o/m.onnx"), "export", "o"),
    (("ablate", "--config", "nope.yaml", "--out", "o/ab"), "ablate", "o"),
    (("gallery", "--db", "nope.sqlite", "export", "--out", "o/g.json"), "gallery", "o"),
    (("simulate", "preview", "--out", "o/p.png", "--identities", "0"), "simulate", "o"),
])
def test_failed_commands_leave_no_output_folder(tmp_path: Path, argv: tuple[str, ...], command: str,
                                                made: str) -> None:
    _one_line_error(_run(*argv, cwd=tmp_path), command)
    assert not (tmp_path / made).exists()
