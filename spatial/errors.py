"""Errors and notes about input data.

Every problem with a planner's data is reported as one line naming the file, the feature
(where there is one) and what is wrong. :class:`InputError` stops a load; :class:`Note`
records something that was repaired or looks suspicious while the load goes on.
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path


def _where(file: str | Path | None, feature: str | None) -> str:
    parts = []
    if file:
        parts.append(str(file))
    if feature:
        parts.append(str(feature))
    return ": ".join(parts)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class InputError(ValueError):
    """Bad input: the message is the single line the command line prints (exit code 2)."""

    def __init__(self, problem: str, file: str | Path | None = None,
                 feature: str | None = None, hint: str | None = None):
        self.problem = _one_line(problem)
        self.file = str(file) if file else None
        self.feature = feature
        self.hint = _one_line(hint) if hint else None
        super().__init__(self.line)

    @property
    def line(self) -> str:
        where = _where(self.file, self.feature)
        text = f"{where}: {self.problem}" if where else self.problem
        if self.hint:
            text += f" ({self.hint})"
        return text


class InputWarning(UserWarning):
    """Emitted for every :class:`Note` raised while loading a layer."""


@dataclass(frozen=True)
class Note:
    """Something found while loading: ``level`` is ``"repaired"`` or ``"warning"``."""

    level: str
    problem: str
    file: str | None = None
    feature: str | None = None

    @property
    def line(self) -> str:
        where = _where(self.file, self.feature)
        return f"{where}: {self.problem}" if where else self.problem


def _caller_level() -> int:
    """Stack level of the first frame outside this package, so warnings point at user code."""
    package = str(Path(__file__).parent)
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


class Notes(list):
    """The notes of one load; each note is also emitted as an :class:`InputWarning`."""

    def __init__(self, file: str | Path | None = None):
        super().__init__()
        self.file = str(file) if file else None

    def add(self, level: str, problem: str, feature: str | None = None) -> Note:
        note = Note(level, _one_line(problem), self.file, feature)
        self.append(note)
        warnings.warn(note.line, InputWarning, stacklevel=_caller_level())
        return note
