"""The error family: every error playground reports to a person.

``PlaygroundError`` is the base: a message of at most one screen
(``render()``, what a command prints) and the exit status a command ends
with (2 by default). Each command catches this one class and prints it the
same way (``report``). An error carries facts, not a front end's words: a
fix that points at a control names it as a ``Setting`` (the data root, ...),
and each front end words it for its own controls (the command line: a flag;
the page: a field), through ``render(words)``.

``SpecError``, the one exception for every problem with a spec, holds one or
more Problems. Each names its place (a path such as
``layers[3].out_channels`` and, when the spec came from YAML, a line), says
what was expected and what was received, and proposes a fix. ``str(error)``
is the message users see, at most one screen long.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

Path = tuple[str | int, ...]

MAX_SHOWN = 8  # problems printed in one message; the rest are counted


def path_str(path: Path) -> str:
    """('layers', 3, 'out_channels') -> 'layers[3].out_channels'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """" Did you mean 'conv2d'?" or ''."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def short_repr(value: object, limit: int = 60) -> str:
    """A received value as a message shows it: its repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


# Why the static check refused a spec (Problem.reason). "shape" means the layer
# cannot run on its input in PyTorch either; the others are playground's own
# documented rules: unique names, the input matching the dataset, no implicit
# flatten (rank), the class count, and the budgets. "spec" is everything found
# before the check: unreadable YAML, unknown keys, values out of bounds.
REASONS = ("spec", "name", "input", "rank", "shape", "classes", "budget")


@dataclass(frozen=True)
class Problem:
    """One located problem. ``label`` describes the layer at fault, e.g.
    "linear 'fc'", and ``layer`` is its path when it is nested inside a
    container (``('layers', 4, 'body', 1)``); top-level layers need neither."""

    path: Path
    message: str
    fix: str | None = None
    line: int | None = None
    label: str | None = None
    reason: str = "spec"        # one of REASONS
    layer: Path | None = None
    note: str | None = None     # where a block template was used, for problems inside one
    used_at: Path | None = None  # for a problem inside a block: the top-level layer that uses it
    needs: int | None = None     # a size the input decides: the one value the field at fault needs here

    @property
    def layer_index(self) -> int | None:
        """Index of the top-level layer at fault (or holding it, or using the block
        it is in), or None for a problem outside ``layers``."""
        if len(self.path) >= 2 and self.path[0] == "layers" and isinstance(self.path[1], int):
            return self.path[1]
        if self.used_at is not None:
            return self.used_at[1]
        return None

    @property
    def layer_path(self) -> Path | None:
        """Path of the innermost layer at fault, e.g. ('layers', 4, 'body', 1)."""
        if self.layer is not None:
            return self.layer
        return self.path[:2] if self.path[:1] == ("layers",) and self.layer_index is not None else None

    def place(self) -> str:
        """'layers[7] (linear 'fc')' or 'layers[3].out_channels' or 'train.lr'."""
        layer = self.layer_path
        if self.label is not None and layer is not None and len(self.path) == len(layer):
            return f"{path_str(self.path)} ({self.label})"
        if self.label is not None and layer is not None:
            return f"{path_str(layer)} ({self.label}).{path_str(self.path[len(layer):])}"
        return path_str(self.path)

    def render(self, filename: str | None = None) -> str:
        if filename:
            prefix = f"{filename}:{self.line}: " if self.line is not None else f"{filename}: "
        else:
            prefix = f"line {self.line}: " if self.line is not None else ""
        place = f"{self.place()}: " if self.path else ""
        text = f"{prefix}{place}{self.message}"
        if self.fix:
            text += f"\n  {self.fix}"
        if self.note:
            text += f"\n  {self.note}"
        return text


@dataclass(frozen=True)
class Setting:
    """A control a fix points at, named by what it sets (``data_root``); each
    front end words it for its own controls."""

    name: str


# How a setting reads where no front end says otherwise (from Python: the argument, else the variable).
PLAIN_WORDS: dict[str, str] = {"data_root": "the data root (data_dir=, else $PLAYGROUND_DATA)"}


class PlaygroundError(Exception):
    """The base of every error playground reports: a one-screen message, its
    exit status, and the settings its fix points at. ``str(error)`` is the
    message in plain words; ``render(words)`` what a front end shows."""

    exit_status: ClassVar[int] = 2
    prefix: ClassVar[str] = "error: "

    def __init__(self, *parts: str | Setting):
        self.parts = parts
        super().__init__(self.message())

    def message(self, words: Mapping[str, str] | None = None) -> str:
        """The message, each Setting in ``words`` (a front end's) or plain words."""
        words = {**PLAIN_WORDS, **(words or {})}
        return "".join(words.get(p.name, p.name) if isinstance(p, Setting) else str(p) for p in self.parts)

    def render(self, words: Mapping[str, str] | None = None) -> str:
        """What a command prints: ``error: `` and the message."""
        return self.prefix + self.message(words)


def report(err: PlaygroundError, words: Mapping[str, str] | None = None, stream=None) -> int:
    """Print ``err`` as every command does (to stderr); its exit status."""
    print(err.render(words), file=stream or sys.stderr)
    return err.exit_status


class SpecError(PlaygroundError, ValueError):
    """Every problem with a spec: unreadable YAML, invalid fields, shapes that do
    not fit, a model over budget. ``problems`` holds the located details; the
    message starts with the place (``specs/x.yaml:13: layers[7] ...``), as a
    compiler's does, so it is printed without a prefix."""

    prefix = ""

    def __init__(self, problems: Sequence[Problem], filename: str | None = None):
        self.problems = tuple(problems)
        self.filename = filename
        self.rows: tuple = ()  # shape-check rows finished before the problem, if any
        super().__init__(self._render())

    def _render(self) -> str:
        shown = [p.render(self.filename) for p in self.problems[:MAX_SHOWN]]
        hidden = len(self.problems) - len(shown)
        if hidden > 0:
            shown.append(f"... and {hidden} more problem{'s' if hidden > 1 else ''}.")
        return "\n".join(shown)

    def located(self, lines: dict[Path, int] | None, filename: str | None) -> SpecError:
        """A copy whose problems carry YAML line numbers, found by the longest
        known prefix of each path."""
        problems = []
        for p in self.problems:
            line = p.line
            if line is None and lines:
                for n in range(len(p.path), -1, -1):
                    if p.path[:n] in lines:
                        line = lines[p.path[:n]]
                        break
            problems.append(replace(p, line=line))
        return SpecError(problems, filename or self.filename)

    @property
    def layer_indices(self) -> set[int]:
        return {p.layer_index for p in self.problems if p.layer_index is not None}


def fail(path: Path, message: str, fix: str | None = None, *, label: str | None = None,
         line: int | None = None, reason: str = "spec", layer: Path | None = None) -> SpecError:
    """A SpecError with one problem (raise the result)."""
    return SpecError([Problem(tuple(path), message, fix, line=line, label=label, reason=reason,
                              layer=tuple(layer) if layer is not None else None)])

