"""Counted nouns for messages a person reads ("1 identity", "2 identities")."""

from __future__ import annotations

import difflib
from typing import Iterable

# difflib similarity (0..1) a candidate needs to be suggested for a mistyped name.
SUGGESTION_CUTOFF = 0.6

# Nouns whose plural is not noun + "s".
_IRREGULAR = {"identity": "identities", "person": "people", "match": "matches", "query": "queries",
              "process": "processes"}


def count(n: int, noun: str) -> str:
    """``n`` and ``noun`` in the right number: count(1, "identity") == "1 identity"."""
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {_IRREGULAR.get(noun, noun + 's')}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean X?"`` for the closest of ``choices`` (difflib), or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=SUGGESTION_CUTOFF)
    return f"; did you mean {close[0]}?" if close else ""
