"""The "examples:" epilog every ``tcfd-ros`` help page ends with (``test/test_cli_help.py`` checks it)."""

from __future__ import annotations

import argparse

# Help pages keep their line breaks, so examples and notes read as written.
FORMATTER = argparse.RawDescriptionHelpFormatter


def examples(*commands: str, note: str = "") -> str:
    """``examples:`` followed by one indented command per entry, then an optional paragraph."""
    text = "examples:\n" + "\n".join(f"  {c}" for c in commands) + "\n"
    return text + (f"\n{note.strip()}\n" if note else "")
