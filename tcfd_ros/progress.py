"""Progress that suits where the output goes: a tqdm bar on a terminal, periodic lines in a log.

tqdm redraws its bar with carriage returns; written to a file (``make demo > log``, CI, a service's
journal) that is one endless line of overwrites, and tqdm's own "only on a terminal" mode prints
nothing at all for minutes. Here, when the stream is not a terminal, a plain line is printed at most
every ``LINE_PERIOD_S`` and at the end: what, done/total, percentage, rate, the latest values given to
``set_postfix`` (e.g. the loss) and the ETA::

    train tcfd: 1200/5000 it (24%), 2.51 it/s, loss=1.234, ETA 25m14s

``progress(...)`` takes tqdm's common arguments (iterable, total, initial, desc, unit, disable) and
returns an object with tqdm's ``__iter__``, ``update``, ``set_postfix`` and ``close``.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Iterator, TextIO

LINE_PERIOD_S = 15.0          # seconds between two progress lines in a log


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def format_duration(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class LineProgress:
    """tqdm's interface, printing a line every ``period_s`` (no carriage returns)."""

    def __init__(self, iterable: Iterable[Any] | None = None, total: int | None = None, initial: int = 0,
                 desc: str = "", unit: str = "it", stream: TextIO | None = None,
                 period_s: float | None = None, clock: Any = time.monotonic) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = initial + len(iterable)  # type: ignore[arg-type]
        self.total = total
        self.n = initial
        self._initial = initial
        self.desc = desc
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.period_s = LINE_PERIOD_S if period_s is None else period_s
        self._clock = clock
        self._start = clock()
        self._last_line = self._start
        self._postfix: dict[str, Any] = {}
        self._closed = False

    def __iter__(self) -> Iterator[Any]:
        assert self.iterable is not None, "LineProgress over no iterable: use update()"
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True,
                    **kwargs: Any) -> None:
        self._postfix.update(ordered_dict or {}, **kwargs)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._clock() - self._last_line >= self.period_s:
            self._emit()

    def line(self) -> str:
        elapsed = self._clock() - self._start
        done = self.n - self._initial
        rate = done / elapsed if elapsed > 0 else 0.0
        head = f"{self.desc}: " if self.desc else ""
        if self.total:
            text = f"{head}{self.n}/{self.total} {self.unit} ({100.0 * self.n / self.total:.0f}%)"
        else:
            text = f"{head}{self.n} {self.unit}"
        text += f", {rate:.2f} {self.unit}/s" if rate < 10 else f", {rate:.0f} {self.unit}/s"
        text += "".join(f", {k}={v}" for k, v in self._postfix.items())
        if self.total and rate > 0 and self.n < self.total:
            text += f", ETA {format_duration((self.total - self.n) / rate)}"
        else:
            text += f", {format_duration(elapsed)} elapsed"
        return text

    def _emit(self) -> None:
        self._last_line = self._clock()
        print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.n > self._initial:
                self._emit()


class _Silent(LineProgress):
    def _emit(self) -> None:
        self._last_line = self._clock()


def progress(iterable: Iterable[Any] | None = None, total: int | None = None, initial: int = 0,
             desc: str = "", unit: str = "it", disable: bool | None = False,
             stream: TextIO | None = None, **tqdm_kwargs: Any) -> Any:
    """A tqdm bar on a terminal, ``LineProgress`` otherwise; ``disable=True``: no output at all.

    ``disable=None`` (tqdm's "only on a terminal") is treated like False: a log gets lines.
    """
    out = stream if stream is not None else sys.stderr
    if disable:
        return _Silent(iterable, total, initial, desc, unit, out)
    if _is_terminal(out):
        from tqdm import tqdm
        return tqdm(iterable, total=total, initial=initial, desc=desc or None, unit=unit, file=out,
                    **tqdm_kwargs)
    return LineProgress(iterable, total, initial, desc, unit, out)
