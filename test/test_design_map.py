"""docs/DESIGN.md's module map lists every module of every package, and nothing that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| `([\w/]+/)` \| (.+) \|$")


def _top_level_items(cell: str) -> list[str]:
    """Split at commas outside parentheses: ``a (x, y), b`` -> ``['a (x, y)', 'b']``."""
    items, depth, cur = [], 0, ""
    for ch in cell:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return items + [cur.strip()]


def map_rows() -> dict[str, set[str]]:
    text = (REPO / "docs" / "DESIGN.md").read_text()
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = ROW.match(line)
        if m:
            items = _top_level_items(m.group(2))
            rows[m.group(1)] = {re.match(r"`([^`]+)`", item).group(1) for item in items}
    return rows


def packages() -> dict[str, set[str]]:
    out = {}
    for top in ("tcfd_ros", "training"):
        for init in sorted((REPO / top).rglob("__init__.py")):
            pkg = init.parent
            modules = {p.stem for p in pkg.glob("*.py") if p.stem != "__init__"}
            out[f"{pkg.relative_to(REPO).as_posix()}/"] = modules
    return out


def test_module_map_matches_the_files() -> None:
    rows, real = map_rows(), packages()
    assert sorted(rows) == sorted(real), "packages: map has " + str(sorted(set(rows) - set(real))) + \
        ", map lacks " + str(sorted(set(real) - set(rows)))
    for pkg, modules in real.items():
        assert rows[pkg] == modules, (f"{pkg}: map lists missing modules {sorted(rows[pkg] - modules)}, "
                                      f"lacks {sorted(modules - rows[pkg])} (docs/DESIGN.md, Module map)")


def test_item_parsing() -> None:
    assert _top_level_items("`a` (x, `y`), `b`") == ["`a` (x, `y`)", "`b`"]
