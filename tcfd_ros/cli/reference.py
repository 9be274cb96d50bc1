"""The CLI reference in README.md and docs/cli.md, generated from the argparse parsers.

``python -m tcfd_ros.cli.reference --write`` rewrites both; ``test/test_cli_help.py`` fails when either
differs from what the parsers say, so the documentation cannot drift from the command.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tcfd_ros.cli import build_parser

HELP_COLUMNS = 100                 # fixed width of the rendered help pages (independent of the terminal)
TABLE_HEADER = "| command | what it does | example |"
README = Path(__file__).resolve().parents[2] / "README.md"
CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


@contextmanager
def _columns(n: int) -> Iterator[None]:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(n)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def walk(parser: argparse.ArgumentParser | None = None) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(command words, one-line help, parser) of every page, depth first, the top level first."""
    parser = parser or build_parser()
    out: list[tuple[str, str, argparse.ArgumentParser]] = [(parser.prog, parser.description or "", parser)]

    def rec(p: argparse.ArgumentParser) -> None:
        sub = _subparsers(p)
        if sub is None:
            return
        helps = {a.dest: a.help or "" for a in sub._choices_actions}
        for name, child in sub.choices.items():
            out.append((child.prog, helps.get(name, ""), child))
            rec(child)
    rec(parser)
    return out


def first_example(parser: argparse.ArgumentParser) -> str:
    """The first line under ``examples:`` of a parser's epilog ("" when there is none)."""
    lines = (parser.epilog or "").splitlines()
    if "examples:" not in lines:
        return ""
    i = lines.index("examples:") + 1
    return lines[i].split("  #")[0].strip() if i < len(lines) else ""


def render_table() -> str:
    """The README's table: one row per leaf command (and per command with its own options)."""
    rows = [TABLE_HEADER, "|---|---|---|"]
    for prog, help_text, parser in walk()[1:]:
        if _subparsers(parser) is not None:
            continue
        example = first_example(parser).replace("|", "\\|")
        rows.append(f"| `{prog}` | {help_text} | `{example}` |")
    return "\n".join(rows) + "\n"


def render_pages() -> str:
    """docs/cli.md: every ``--help`` page at a fixed width."""
    out = ["# `tcfd-ros` command reference", "",
           "Generated from the parsers by `python -m tcfd_ros.cli.reference --write`; "
           "`test/test_cli_help.py` checks that it is current.", ""]
    with _columns(HELP_COLUMNS):
        for prog, _, parser in walk():
            out += [f"## {prog}", "", "```text", parser.format_help().rstrip(), "```", ""]
    return "\n".join(out)


def readme_table(text: str) -> tuple[int, int]:
    """Start and end offsets of the generated table in README text (ValueError if absent)."""
    start = text.index(TABLE_HEADER)
    end = text.find("\n\n", start)
    return start, (len(text) if end < 0 else end + 1)


def write(readme: Path = README, cli_doc: Path = CLI_DOC) -> None:
    text = readme.read_text(encoding="utf-8")
    start, end = readme_table(text)
    readme.write_text(text[:start] + render_table() + text[end:], encoding="utf-8")
    cli_doc.write_text(render_pages(), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tcfd_ros.cli.reference --write")
    write()
