"""The ``tcfd-ros`` console command: the installed script, and ``--help`` of every registered subcommand.

The subcommand list is read from the dispatcher itself, so this test grows as subcommands are added.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tcfd_ros import __version__, cli

CLI_DIR = Path(cli.__file__).parent
SCRIPT = Path(sys.executable).parent / "tcfd-ros"
SUBPROCESS_TIMEOUT_S = 120


def _registered() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1
    return dict(actions[0].choices)


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CI="true")
    return subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=SUBPROCESS_TIMEOUT_S, env=env, check=False)


def test_console_script_top_level_help_lists_every_registered_subcommand() -> None:
    if not SCRIPT.exists():
        pytest.fail(f"console script {SCRIPT} missing: run `make setup` (pip install -e .)")
    result = _run(str(SCRIPT), "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: tcfd-ros")
    for name in _registered():
        assert f"    {name} " in result.stdout or f"    {name}\n" in result.stdout, name
    version = _run(str(SCRIPT), "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"tcfd-ros {__version__}"


def test_python_dash_m_entry_point_and_bad_usage() -> None:
    result = _run(sys.executable, "-m", "tcfd_ros", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: tcfd-ros")
    missing = _run(sys.executable, "-m", "tcfd_ros")
    assert missing.returncode == 2 and "required: COMMAND" in missing.stderr
    unknown = _run(sys.executable, "-m", "tcfd_ros", "no-such-command")
    assert unknown.returncode == 2 and "invalid choice: 'no-such-command'" in unknown.stderr


def test_every_subcommand_module_is_registered_and_known() -> None:
    registered = set(_registered())
    modules = {p.name[: -len("_cmd.py")] for p in CLI_DIR.glob("*_cmd.py")}
    assert modules <= set(cli.SUBCOMMANDS), f"modules not in SUBCOMMANDS: {modules - set(cli.SUBCOMMANDS)}"
    assert registered == modules, "a *_cmd.py module failed to register, or a name registered twice"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def _all_commands() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every registered command path, nested ones included (e.g. ``simulate bag``)."""
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    todo = [((name,), p) for name, p in _registered().items()]
    while todo:
        path, parser = todo.pop()
        found[path] = parser
        todo += [(path + (name,), p) for name, p in _subparsers(parser).items()]
    return found


@pytest.mark.parametrize("path", sorted(_all_commands()), ids=" ".join)
def test_subcommand_help(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*path, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: tcfd-ros {' '.join(path)}")
    assert len(out.splitlines()) >= 3, f"`tcfd-ros {' '.join(path)} --help` says almost nothing:\n{out}"
    assert "TODO" not in out and "not implemented" not in out.lower()
    commands = _all_commands()
    if not _subparsers(commands[path]):  # a leaf command must run something (its own or a parent's func)
        chain = [commands[path[:k]] for k in range(1, len(path) + 1)]
        has_func = any(p.get_default("func") is not None for p in chain)
        assert has_func, f"tcfd-ros {' '.join(path)} sets no func"
