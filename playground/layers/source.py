"""The plugin contract for the readable-source export: how a layer says in
Python how its module is built (``Layer.source``), the default that reads a
torch.nn module's own repr and proves it rebuilds the module, and
``Unsupported`` for a layer that cannot be written. Export uses this; this
never imports export."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playground.layers.base import Layer


class Unsupported(Exception):
    """A layer that cannot be written as Python source; the message says why."""


def torch_nn_expression(layer: Layer, module) -> str:
    """``nn.BatchNorm2d(16)`` for a torch.nn module, from its own ``extra_repr``,
    checked: the expression must build a module with the same repr, settings
    (its public attributes) and parameter and buffer shapes; arguments that
    change none of these (torch's defaults) are left out."""
    import torch
    from torch import nn

    cls = type(module)
    if getattr(nn, cls.__name__, None) is not cls:
        raise Unsupported(f"its module is {cls.__module__}.{cls.__qualname__}, not a torch.nn class, so the "
                          "plugin must write its source (Layer.source and source_definitions)")
    def rebuilds(arguments: list[str]) -> bool:
        try:   # text made from torch's own repr of a module playground built
            rebuilt = eval(f"nn.{cls.__name__}({', '.join(arguments)})", {"nn": nn, "torch": torch})  # noqa: S307
        except Exception:   # noqa: BLE001
            return False
        return repr(rebuilt) == repr(module) and _shapes(rebuilt) == _shapes(module) \
            and _settings(rebuilt) == _settings(module)   # a repr may leave a setting out (align_corners)

    arguments = _split_arguments(module.extra_repr())
    if not rebuilds(arguments):
        raise Unsupported(f"its {cls.__name__} module's repr does not rebuild it, so the plugin must write its "
                          "source (Layer.source)")
    for argument in list(arguments):   # leave out what torch's defaults give anyway: eps=1e-05, bias=True, ...
        if "=" in argument and rebuilds(fewer := [a for a in arguments if a != argument]):
            arguments = fewer
    return f"nn.{cls.__name__}({', '.join(arguments)})"


def _split_arguments(text: str) -> list[str]:
    """'1, 16, kernel_size=(3, 3)' -> ['1', '16', 'kernel_size=(3, 3)']: commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += ch
    return [p for p in (*parts, current.strip()) if p]


def _settings(module) -> str:
    return repr(sorted((k, v) for k, v in vars(module).items() if not k.startswith("_") and k != "training"))


def _shapes(module) -> list:
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]
