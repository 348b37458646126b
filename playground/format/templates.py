"""Reusable blocks: templates declared once under ``blocks:`` and used many times.

    blocks:
      basic:                                   # a template with parameters
        params: {width: int, stride: {type: int, default: 1}, shortcut: {type: str, default: identity}}
        layers:
          - type: residual
            body:
              - {type: conv2d, out_channels: $width, kernel_size: 3, stride: $stride, padding: 1, bias: false}
              - {type: batchnorm2d}
            shortcut: $shortcut
          - {type: relu}
    layers:
      - {type: use, block: basic, name: stage2, times: 2, with: {width: 128},
         first: {stride: 2, shortcut: projection}}

A ``use`` entry becomes the block's layers with ``$param`` replaced by its
value: ``with`` for every repetition, ``first`` on top for the first one only
(a stage's stride). A value may also be arithmetic over the parameters
(``padding: $kernel // 2``, ``p: $rate * $index / $times``): ``$index`` is the
repetition's index within its use (0 for the first) and ``$times`` the use's
repetition count, in every block (``Expression``). One repetition of a
one-layer block is that layer; more become a ``sequential`` named after the
use, holding one entry per repetition, so modules read
``stage2.0.body.0.weight``. Blocks may use other blocks, never
themselves.

Expansion happens on the data as read, before validation, and remembers where
each expanded layer came from: a problem inside a block is reported at the line
in the template and names the uses that made it, outermost first, each with its
line and values (``Expansion.translate``).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from playground.core.errors import Path, Problem, SpecError, did_you_mean, fail, path_str, short_repr
from playground.layers.base import MAX_NAME_LENGTH, NAME_PATTERN

MAX_TIMES = 1000          # repetitions of one use
MAX_DEPTH = 32            # lists of layers nested in one another
MAX_LAYERS = 100_000      # layers after expansion, checked before any copy is made
MAX_USES_SHOWN = 6        # uses named in one problem's note; a longer chain's middle is counted
PLACEHOLDER = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
EXPRESSION = re.compile(r"^[\s(-]*\$")   # starts with a parameter, maybe after '(' and '-'
MAX_EXPRESSION = 200      # characters in one expression
MAX_EXPRESSION_DEPTH = 16  # parentheses and minus signs nested in one expression
REPETITION = {"index": "the repetition's index within its use (0 for the first)",
              "times": "the use's repetition count"}   # names every block has

ParamType = Literal["int", "float", "bool", "str", "list", "any"]
_CHECKS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, list),
    "any": lambda v: True,
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Param(_Section):
    """A block parameter: its type, and a default that makes it optional."""

    type: ParamType = Field("any", description="int, float, bool, str, list or any.")
    default: Any = Field(None, description="The value when a use does not give one; leave out to require it.")
    description: str | None = Field(None, description="What the parameter means.")


class BlockDef(_Section):
    """A block template: parameters, and the layers they are substituted into."""

    params: dict[str, ParamType | Param] = Field(
        default_factory=dict, description="Parameter name -> type (int, float, bool, str, list, any), or "
                                          "{type, default, description}. Written $name in the layers.")
    layers: list[dict[str, Any]] = Field(
        min_length=1, description="The block's layers; any value may be a $parameter, or arithmetic over "
                                  "them ($kernel // 2, $rate * $index / $times).")
    description: str | None = Field(None, description="What the block is.")

    def declared(self) -> dict[str, Param]:
        return {k: (v if isinstance(v, Param) else Param(type=v)) for k, v in self.params.items()}


class Use(_Section):
    """A use of a block template: its layers, repeated ``times``, with parameter values."""

    type: Literal["use"] = "use"
    example: ClassVar[dict[str, Any]] = {"type": "use", "block": "basic", "with": {"width": 64}}
    name: str | None = Field(None, pattern=NAME_PATTERN, max_length=MAX_NAME_LENGTH,
                             description="Name of the stage; its modules are named after it.")
    block: str = Field(description="The template, a key of the spec's blocks.")
    times: int = Field(1, strict=True, ge=1, le=MAX_TIMES, description="How many times the block repeats.")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with",
                                  description="Parameter values for every repetition.")
    first: dict[str, Any] = Field(default_factory=dict,
                                  description="Parameter values for the first repetition only (e.g. stride: 2).")

    @classmethod
    def type_name(cls) -> str:
        return "use"

    @classmethod
    def describe(cls) -> str:
        """One line of help, as a layer plugin gives (the page's card caption)."""
        return cls.__doc__.strip().splitlines()[0]


BLOCKS = TypeAdapter(dict[str, BlockDef])
NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class Origin:
    """Layers at ``expanded`` (and below) were written at ``template``, made by the use at ``use``."""

    expanded: Path
    template: Path
    use: Path          # the use's path in the expanded spec
    use_written: Path  # ... and where it is written (in a template, for a use inside a block)
    use_name: str | None
    block: str
    repetition: int    # 1-based
    times: int
    values: tuple[tuple[str, Any], ...]
    parent: Origin | None = None   # the use that made the layer holding this use, for a use inside a block

    def chain(self) -> list[Origin]:
        """The uses that made these layers, outermost first."""
        out, origin = [], self
        while origin is not None:
            out.append(origin)
            origin = origin.parent
        return out[::-1]


@dataclass
class Expansion:
    """Where expanded layers came from, to report problems at the template and the use."""

    lines: dict[Path, int] = field(default_factory=dict)
    origins: dict[Path, Origin] = field(default_factory=dict)   # by expanded path

    def add(self, origin: Origin) -> None:
        self.origins[origin.expanded] = origin

    def _origin(self, path: Path) -> Origin | None:
        for n in range(len(path), 1, -1):   # ("layers", i) at the shortest
            origin = self.origins.get(path[:n])
            if origin is not None:
                return origin
        return None

    def written(self, path: Path) -> tuple[Path, Origin | None]:
        """The path as written in the file, and the innermost use it came from."""
        origin = self._origin(path)
        if origin is None:
            return path, None
        return (*origin.template, *path[len(origin.expanded):]), origin

    def translate(self, problem: Problem) -> Problem:
        """A problem found in the expanded spec, placed in the template with a note
        naming the uses that made it, outermost first."""
        origin = self._origin(problem.path)
        if origin is None:
            return problem
        # One repetition of a one-layer block is that layer, named by the use: by
        # the outermost of the uses that made the layer in that place.
        named = [o for o in origin.chain() if o.expanded == o.use == problem.path[:-1]]
        if named and named[0].use_name is not None and problem.path[-1:] == ("name",):
            path, layer = (*named[0].use_written, "name"), named[0].use_written
            label, origin = f"use '{named[0].use_name}'", named[0].parent
            if origin is None:
                return replace(problem, path=path, layer=layer, label=label, line=None)
        else:
            path, origin = self.written(problem.path)
            layer = self.written(problem.layer_path)[0] if problem.layer_path is not None else None
            label = problem.label
        uses = [self._used(o) for o in origin.chain()]
        if len(uses) > MAX_USES_SHOWN:   # a long chain: its ends, the middle counted
            half = MAX_USES_SHOWN // 2
            uses = [*uses[:half], f"{len(uses) - 2 * half} more uses", *uses[-half:]]
        note = "; ".join(uses) + "."
        return replace(problem, path=path, layer=layer, label=label, note=note, line=None, used_at=origin.use[:2])

    def _used(self, origin: Origin) -> str:
        """"in block 'basic' as used by layers[5] (use 'layer2', line 28): repetition 1 of 2, width=128"."""
        line = self.lines.get(origin.use_written)
        values = ", ".join(f"{k}={v!r}" for k, v in origin.values)
        rep = f"repetition {origin.repetition} of {origin.times}, " if origin.times > 1 else ""
        used = ", ".join(x for x in (f"use '{origin.use_name}'" if origin.use_name else "",
                                     f"line {line}" if line is not None else "") if x)
        return (f"in block '{origin.block}' as used by {path_str(origin.use_written)}{f' ({used})' if used else ''}: "
                f"{rep}{values or 'no parameters'}")

    def error(self, err: SpecError) -> SpecError:
        """``err`` with its problems placed in the templates; one problem found in
        every repetition of a block is told once, with a count of the others."""
        if not self.origins:
            return err
        kept: dict[tuple, list[Problem]] = {}
        for p in map(self.translate, err.problems):
            kept.setdefault((p.path, p.message), []).append(p)
        problems = []
        for same in kept.values():
            first = same[0]
            if len(same) > 1:
                first = replace(first, note=f"{first.note} The same in {len(same) - 1} more "
                                            f"use{'s' if len(same) > 2 else ''} of this block.")
            problems.append(first)
        out = SpecError(problems, err.filename)
        out.rows = err.rows
        return out


class _Expander:
    def __init__(self, blocks: dict[str, BlockDef], layer_fields, expansion: Expansion, rewrite):
        self.blocks = blocks
        self.layer_fields = layer_fields   # type name -> its fields holding layers
        self.expansion = expansion
        self.rewrite = rewrite             # (ValidationError, place, model, label) -> located SpecError
        self.count = 0

    def layers(self, items: Any, path: Path, stack: tuple[str, ...], depth: int) -> Any:
        if not isinstance(items, list):
            return items
        if depth > MAX_DEPTH:
            raise fail(path, f"layers nest {depth} deep, over the limit of {MAX_DEPTH}.",
                       "Flatten the structure: a block within a block rarely needs more than a few levels.")
        self.count += len(items)
        self._budget(path)
        return [self.layer(item, (*path, j), stack, depth) for j, item in enumerate(items)]

    def _budget(self, path: Path) -> None:
        if self.count > MAX_LAYERS:
            raise fail(path, f"the spec expands to more than {MAX_LAYERS:,} layers.",
                       "Lower a use's times, or use fewer blocks.")

    def layer(self, item: Any, path: Path, stack: tuple[str, ...], depth: int) -> Any:
        if not isinstance(item, dict):
            return item
        if depth > MAX_DEPTH:   # uses within uses: each a level, as a list within a list is
            raise fail(path, f"layers nest {depth} deep through blocks that use blocks, over the limit of "
                             f"{MAX_DEPTH}.", "Use fewer blocks within blocks.")
        if item.get("type") == "use":
            return self.use(item, path, stack, depth)
        out = dict(item)
        for name in self.layer_fields(item.get("type")):
            value = out.get(name)
            if isinstance(value, list):
                out[name] = self.layers(value, (*path, name), stack, depth + 1)
            elif isinstance(value, dict):
                out[name] = {k: self.layers(v, (*path, name, k), stack, depth + 1) for k, v in value.items()}
        return out

    def use(self, raw: dict, path: Path, stack: tuple[str, ...], depth: int) -> Any:
        try:
            use = Use.model_validate(raw)
        except ValidationError as exc:
            name = raw.get("name")
            raise self.rewrite(exc, path, Use, f"use '{name}'" if isinstance(name, str) else "use") from None
        label = f"use '{use.name}'" if use.name else "use"
        block = self.blocks.get(use.block)
        if block is None:
            raise fail((*path, "block"), f"no block named '{use.block}'.{did_you_mean(use.block, self.blocks)}",
                       f"Blocks defined in this spec: {', '.join(self.blocks)}." if self.blocks else
                       "Define it under a top-level `blocks:` key.", label=label, layer=path)
        if use.block in stack:
            cycle = " -> ".join((*stack[stack.index(use.block):], use.block))
            raise fail((*path, "block"), f"block '{use.block}' uses itself: {cycle}.",
                       "A block may use other blocks, never itself, directly or through others.",
                       label=label, layer=path)
        declared = block.declared()
        for key, given in (("with", use.with_), ("first", use.first)):
            for name, value in given.items():
                if name not in declared:
                    raise fail((*path, key, name),
                               f"block '{use.block}' has no parameter '{name}'.{did_you_mean(name, declared)}",
                               f"Its parameters: {', '.join(declared) or 'none'}.", label=label, layer=path)
                param = declared[name]
                if not _CHECKS[param.type](value):
                    raise fail((*path, key, name), f"parameter '{name}' of block '{use.block}' is {param.type}. "
                               f"Received: {name}={value!r}.", f"Give {name} as {param.type}.",
                               label=label, layer=path)
        missing = [n for n, p in declared.items() if "default" not in p.model_fields_set
                   and n not in use.with_ and n not in use.first]
        if missing:
            raise fail((*path, "with"), f"block '{use.block}' needs {', '.join(missing)}.",
                       f"Add `with: {{{', '.join(f'{n}: ...' for n in missing)}}}`.", label=label, layer=path)
        first_only = [n for n, p in declared.items() if "default" not in p.model_fields_set
                      and n not in use.with_ and use.times > 1]
        if first_only:   # given in `first` only: the other repetitions have no value
            raise fail((*path, "first", first_only[0]),
                       f"block '{use.block}' needs {', '.join(first_only)} in each of its {use.times} "
                       f"repetitions; `first` gives {'it' if len(first_only) == 1 else 'them'} to the first only.",
                       f"Give {', '.join(first_only)} under `with`, for every repetition (`first` may still "
                       f"give the first its own value), or declare a default.", label=label, layer=path)
        size = len(block.layers)
        self.count += use.times * size
        if self.count > MAX_LAYERS:
            raise fail((*path, "times"), f"times={use.times} makes the spec more than {MAX_LAYERS:,} layers.",
                       "Lower times.", label=label, layer=path)

        written, outer = self.expansion.written(path)   # before this use's own layers take its place
        base = {n: p.default for n, p in declared.items() if "default" in p.model_fields_set}
        base.update(use.with_)
        single = size == 1
        if use.times == 1 and single:
            prefixes = [[path]]
        elif use.times == 1:
            prefixes = [[(*path, "layers", k) for k in range(size)]]
        elif single:
            prefixes = [[(*path, "layers", r)] for r in range(use.times)]
        else:
            prefixes = [[(*path, "layers", r, "layers", k) for k in range(size)] for r in range(use.times)]
        repetitions = []
        for r in range(use.times):
            merged = {**base, **use.first} if r == 0 else base
            values = {n: merged[n] for n in declared}
            env = {**values, "index": r, "times": use.times}
            layers = []
            for k, template in enumerate(block.layers):
                where = ("blocks", use.block, "layers", k)
                self.expansion.add(Origin(prefixes[r][k], where, path, written, use.name, use.block, r + 1,
                                          use.times, tuple(values.items()), outer))
                substituted = _substitute(template, env, declared, where, prefixes[r][k], use, self.expansion)
                layers.append(self.layer(substituted, prefixes[r][k], (*stack, use.block), depth + 1))
            repetitions.append(layers)

        if use.times == 1 and single:   # the layer itself, named by the use, else by its own name
            out = dict(repetitions[0][0])
            return {**out, "name": use.name} if use.name else out
        if use.times == 1:
            return _sequential(use.name, repetitions[0])
        if single:   # each repetition is the layer, named by its index: a name of its own would be lost
            layer_name = block.layers[0].get("name") if isinstance(block.layers[0], Mapping) else None
            if layer_name is not None:
                raise fail(("blocks", use.block, "layers", 0, "name"),
                           f"block '{use.block}' has one layer, so each of the {use.times} repetitions of {label} "
                           f"at {path_str(path)} is that layer, named by its index ({use.name or path_str(path)}.0, "
                           f"{use.name or path_str(path)}.1, ...): its name {layer_name!r} would not be used.",
                           "Leave `name:` out of the block's layer, or use the block once per name.")
            reps = [dict(rep[0]) for rep in repetitions]
        else:
            reps = [_sequential(None, rep) for rep in repetitions]
        return _sequential(use.name, reps)


def _sequential(name: str | None, layers: list) -> dict:
    out: dict[str, Any] = {"type": "sequential"}
    if name:
        out["name"] = name
    out["layers"] = layers
    return out


def _substitute(value: Any, values: Mapping[str, Any], declared: Mapping[str, Param], where: Path,
                expanded: Path, use: Use, expansion: Expansion) -> Any:
    """``value`` with each ``$name`` replaced by the value in ``values`` (the
    declared parameters, ``index`` and ``times``) and each expression evaluated."""
    if isinstance(value, str):
        if "$" not in value:   # most strings: a type, a mode, a padding word
            return value
        match = PLACEHOLDER.match(value)
        if match is None:
            if EXPRESSION.match(value) is None:
                return value
            try:
                return _parsed(value).evaluate(values)
            except ExpressionError as err:
                raise expansion.error(fail(expanded, err.message(use.block), err.fix(use.block, declared))) from None
        name = match.group(1)
        if name not in values:
            raise expansion.error(fail(expanded, _unknown(name, use.block, declared), _declare(use.block, declared)))
        return values[name]   # shared, never changed: validation makes new objects
    if isinstance(value, dict):   # numbers, booleans and None are kept without a call (most values)
        return {k: _substitute(v, values, declared, (*where, k), (*expanded, k), use, expansion)
                if isinstance(v, _NESTED) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values, declared, (*where, i), (*expanded, i), use, expansion)
                if isinstance(v, _NESTED) else v for i, v in enumerate(value)]
    return value


_NESTED = (str, dict, list)   # what may hold a $name


def _unknown(name: str, block: str, declared: Mapping[str, Param]) -> str:
    return f"${name} is not a parameter of block '{block}'.{did_you_mean(name, [*declared, *REPETITION])}"


def _declare(block: str, declared: Mapping[str, Param]) -> str:
    return (f"Declare it under blocks.{block}.params, or use one of: "
            f"{', '.join('$' + n for n in declared) or 'none declared'}.")


class ExpressionError(Exception):
    """A problem with one expression; ``message`` and ``fix`` word it for its block."""

    WRITE = ("Write a parameter alone ($width), or arithmetic over parameters and numbers with "
             "+ - * / // %, unary minus and parentheses ($kernel // 2).")

    def __init__(self, kind: str, text: str, **facts: Any):
        super().__init__(kind)
        self.kind, self.text, self.facts = kind, text, facts

    def message(self, block: str) -> str:
        f, text = self.facts, short_repr(self.text, 80)
        if self.kind == "unknown":
            return f"{_unknown(f['name'], block, {n: None for n in f['declared']})} Received: {text}."
        if self.kind == "not a number":
            return (f"arithmetic takes numbers (int or float); ${f['name']} is {type(f['value']).__name__}. "
                    f"Received: {f['name']}={short_repr(f['value'])} in {text}.")
        if self.kind == "zero":
            return f"{text} divides by {f['divisor']}, which must not be 0. Received: {f['values'] or text}."
        if self.kind == "infinite":
            return f"{text} must give a finite number. Received: {f['result']}{f['values'] and ' with '}{f['values']}."
        if self.kind == "long":
            return (f"an expression is at most {MAX_EXPRESSION} characters. "
                    f"Received: {len(self.text)} characters, {text}.")
        if self.kind == "deep":
            return (f"an expression nests at most {MAX_EXPRESSION_DEPTH} parentheses and minus signs. "
                    f"Received: {text}.")
        at = "at the end" if f["at"] >= len(self.text.rstrip()) else f"at character {f['at'] + 1}"
        return f"expected {f['expected']} {at} of the expression. Received: {text}."

    def fix(self, block: str, declared: Mapping[str, Param]) -> str:
        if self.kind == "unknown":
            return _declare(block, declared)
        if self.kind == "not a number":
            name = self.facts["name"]
            return f"Give {name} as int or float, or write ${name} alone to pass it as it is."
        if self.kind == "zero":
            return "Give the parameters values that keep the divisor nonzero."
        if self.kind == "infinite":
            return "Give the parameters smaller values."
        if self.kind == "long":
            return "Shorten it: a use may give part of it as a parameter."
        if self.kind == "deep":
            return "Remove redundant parentheses and signs."
        return self.WRITE


_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)"
                    r"|\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>//|[-+*/%()])|(?P<bad>\S))")
_OPERAND = "a number, a $parameter, '(' or '-'"
_OPERATOR = "an operator (+ - * / // %) or the end"


class Expression:
    """Arithmetic over a block's parameters, parsed by recursive descent (never
    ``eval``) into a tree and evaluated on a use's values:

        expression := term (('+' | '-') term)*
        term       := unary (('*' | '/' | '//' | '%') unary)*
        unary      := '-' unary | '$'name | number | '(' expression ')'

    Ints stay ints through + - * // % and unary minus; ``/`` gives a float.
    Every problem is an ExpressionError."""

    def __init__(self, text: str):
        self.text = text
        if len(text) > MAX_EXPRESSION:
            raise ExpressionError("long", text)
        self.tokens: list[tuple[str, str, int]] = []   # (kind, text, start)
        for m in _TOKEN.finditer(text):
            kind = m.lastgroup
            self.tokens.append((kind, m.group(kind), m.start(kind)))
        self.tokens.append(("end", "", len(text)))
        self.pos = 0
        self.tree = self._expression(0)
        if self._peek()[0] != "end":
            self._expected(_OPERATOR)

    # parsing: a node is (op, start, end, *children); a leaf is ("number", start, end, value) or ("name", ...)
    def _peek(self) -> tuple[str, str, int]:
        return self.tokens[self.pos]

    def _expected(self, what: str):
        kind, token, at = self._peek()
        if kind == "bad" and token == "$":
            what = "a parameter name after '$'"
        raise ExpressionError("malformed", self.text, expected=what, at=at)

    def _end(self) -> int:
        kind, token, at = self.tokens[self.pos - 1]
        return at + len(token)

    def _expression(self, depth: int) -> tuple:
        node = self._term(depth)
        while self._peek()[1] in ("+", "-") and self._peek()[0] == "op":
            op = self.tokens[self.pos][1]
            self.pos += 1
            right = self._term(depth)
            node = (op, node[1], right[2], node, right)
        return node

    def _term(self, depth: int) -> tuple:
        node = self._unary(depth)
        while self._peek()[1] in ("*", "/", "//", "%") and self._peek()[0] == "op":
            op = self.tokens[self.pos][1]
            self.pos += 1
            right = self._unary(depth)
            node = (op, node[1], right[2], node, right)
        return node

    def _unary(self, depth: int) -> tuple:
        kind, token, at = self._peek()
        if kind == "op" and token in ("-", "("):
            if depth >= MAX_EXPRESSION_DEPTH:
                raise ExpressionError("deep", self.text)
            self.pos += 1
            if token == "-":
                child = self._unary(depth + 1)
                return ("neg", at, child[2], child)
            inner = self._expression(depth + 1)
            if self._peek()[1] != ")":
                self._expected("')'" if self._peek()[0] == "end" else "')' or an operator (+ - * / // %)")
            self.pos += 1
            return ("group", at, self._end(), inner)
        if kind == "number":
            self.pos += 1
            number = float(token) if any(c in token for c in ".eE") else int(token)
            return ("number", at, self._end(), number)
        if kind == "name":
            self.pos += 1
            return ("name", at - 1, self._end(), token)
        self._expected(_OPERAND)
        raise AssertionError   # unreachable: _expected raises

    # evaluation
    def names(self, node: tuple | None = None) -> list[str]:
        node = self.tree if node is None else node
        if node[0] == "name":
            return [node[3]]
        if node[0] == "number":
            return []
        return [n for child in node[3:] for n in self.names(child)]

    def evaluate(self, values: Mapping[str, Any]) -> int | float:
        used = dict.fromkeys(self.names())
        for name in used:
            if name not in values:
                raise ExpressionError("unknown", self.text, name=name,
                                      declared=[n for n in values if n not in REPETITION])
            value = values[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ExpressionError("not a number", self.text, name=name, value=value)
        shown = ", ".join(f"{n}={values[n]!r}" for n in used)
        try:
            result = self._value(self.tree, values)
        except OverflowError:
            result = float("inf")
        if isinstance(result, float) and not math.isfinite(result):
            raise ExpressionError("infinite", self.text, result=result, values=shown)
        return result

    def _value(self, node: tuple, values: Mapping[str, Any]) -> int | float:
        op = node[0]
        if op == "number":
            return node[3]
        if op == "name":
            return values[node[3]]
        if op == "group":
            return self._value(node[3], values)
        if op == "neg":
            return -self._value(node[3], values)
        left, right = self._value(node[3], values), self._value(node[4], values)
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if right == 0:
            divisor = self.names(node[4])
            raise ExpressionError("zero", self.text, divisor=self.text[node[4][1]:node[4][2]],
                                  values=", ".join(f"{n}={values[n]!r}" for n in dict.fromkeys(divisor)))
        if op == "/":
            return left / right
        return left // right if op == "//" else left % right


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> Expression:
    """The expression's tree, parsed once for all the repetitions that evaluate it."""
    return Expression(text)


def expand(data: Mapping, layer_fields, lines: dict[Path, int], rewrite) -> tuple[dict, Expansion]:
    """The spec data with every ``use`` replaced by its block's layers, and where they came from.
    ``layer_fields(type_name)`` gives the fields of a layer type that hold layers;
    ``rewrite(exc, place, model, label)`` turns pydantic's errors on a use or on
    the blocks into a located SpecError (the loader's rewriting, shared)."""
    expansion = Expansion(lines=lines)
    for section in ("layers", "blocks"):   # before anything recurses into them
        check_depth(data.get(section), (section,))
    blocks_raw = data.get("blocks")
    if blocks_raw is None and not _has_use(data.get("layers")):
        return dict(data), expansion
    try:
        blocks = BLOCKS.validate_python(blocks_raw if blocks_raw is not None else {})
    except ValidationError as exc:
        raise _blocks_error(exc, rewrite, blocks_raw) from None
    for name in blocks:
        if not NAME.match(name):
            raise fail(("blocks", name), f"'{name}' is not a valid block name.",
                       "Use letters, digits and underscores, starting with a letter.")
        for param in blocks[name].params:
            if not NAME.match(param):
                raise fail(("blocks", name, "params", param), f"'{param}' is not a valid parameter name.",
                           "Use letters, digits and underscores, starting with a letter.")
            if param in REPETITION:
                raise fail(("blocks", name, "params", param),
                           f"a block cannot declare a parameter named '{param}': ${param} is "
                           f"{REPETITION[param]}, in every block.", "Give the parameter another name.")
    out = dict(data)
    try:
        out["layers"] = _Expander(blocks, layer_fields, expansion, rewrite).layers(
            data.get("layers"), ("layers",), (), 1)
    except SpecError as err:   # found inside a block: placed in its template
        raise expansion.error(err) from None
    return out, expansion


MAX_NESTING = 4 * MAX_DEPTH + 16   # mappings and lists in one another, anywhere in a section


def check_depth(value: Any, path: Path) -> None:
    """SpecError where lists of layers nest more than MAX_DEPTH deep (mappings and lists of any kind
    more than MAX_NESTING), found without recursion: a 10,000-level document is refused, not a
    RecursionError. Layers that use blocks are counted as they expand (``_Expander.layer``)."""
    stack = [(value, path, 0, 0)]   # (value, where, lists of layers above it, containers above it)
    while stack:
        value, where, layers, nesting = stack.pop()
        if nesting > MAX_NESTING:
            raise fail(where, f"the spec nests {nesting} mappings and lists deep here, over the limit of "
                              f"{MAX_NESTING}.", "Flatten the structure.")
        if isinstance(value, list):
            is_layers = bool(value) and all(isinstance(v, dict) for v in value)
            if is_layers and layers + 1 > MAX_DEPTH:
                raise fail(where, f"layers nest {layers + 1} deep, over the limit of {MAX_DEPTH}.",
                           "Flatten the structure: a block within a block rarely needs more than a few levels.")
            stack.extend((v, (*where, i), layers + is_layers, nesting + 1) for i, v in enumerate(value))
        elif isinstance(value, dict):
            stack.extend((v, (*where, k), layers, nesting + 1) for k, v in value.items())


def _has_use(items: Any) -> bool:
    """Whether any layer at any depth is a use (cheap: a spec without blocks has none)."""
    if isinstance(items, list):
        return any(_has_use(v) for v in items)
    if isinstance(items, dict):
        return items.get("type") == "use" or any(_has_use(v) for v in items.values())
    return False


def _blocks_error(exc: ValidationError, rewrite, raw: Any) -> SpecError:
    """Problems in the blocks section, each told by the model it is in: a block
    (``blocks.basic.layers``) or one parameter written as a mapping
    (``blocks.basic.params.width.default``)."""
    if not isinstance(raw, Mapping):   # `blocks: foo`: pydantic's error has no place inside it
        return SpecError([Problem(("blocks",), "the blocks section must be a mapping from block names to blocks. "
                                  f"Received: {short_repr(raw)}.",
                                  "Write it as `blocks: {name: {params: {...}, layers: [...]}}`, "
                                  "or leave `blocks:` out.")])
    buckets: dict[tuple, list[dict]] = {}
    problems = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        name = loc[0]
        if len(loc) == 1:   # the block itself is not a mapping
            problems.append(Problem(("blocks", name), f"a block must be a mapping with params and layers. "
                                    f"Received: {short_repr(err.get('input'))}.",
                                    "Write it as {params: {...}, layers: [...]}."))
            continue
        if len(loc) >= 4 and loc[1] == "params":   # (name, 'params', param, union member, ...)
            written = raw[name]["params"][loc[2]]
            if isinstance(written, dict):   # {type, default, description}: its own keys speak
                if loc[3] == "Param" and len(loc) > 4:
                    buckets.setdefault((("blocks", name, "params", loc[2]), Param), []).append(
                        {**err, "loc": loc[4:]})
                continue
            if loc[3] == "Param":           # a type name: "should be 'int', 'float', ..." speaks
                continue
            err = {**err, "loc": loc[:3]}
        buckets.setdefault((("blocks", name), BlockDef), []).append({**err, "loc": err["loc"][1:]})
    for (place, model), errs in buckets.items():
        # an unknown key first: its "did you mean" usually explains the missing one
        errs.sort(key=lambda e: e["type"] != "extra_forbidden")
        problems += rewrite(ValidationError.from_exception_data(exc.title, errs), place, model, None).problems
    return SpecError(problems)
