"""The layer registry: type name -> plugin class, filled from entry points.

Built-in layers and third-party ones load the same way, through the
``playground.layers`` entry point group. An entry point names a Layer
subclass or a sequence of them::

    [project.entry-points."playground.layers"]
    swish = "playground_swish:Swish"

``register`` is also a decorator that returns the class unchanged, for code
that defines layers at run time (notebooks, tests). Two plugins claiming one
type name is an error naming both.

Containers (layers holding lists of layers) annotate those fields with the
name ``LayerItem``; ``layer_item()`` resolves it, per registry, to the union
of every registered type, so a container holds any layer, its own kind and
third-party ones included. ``registry[name]`` returns that resolved class.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Annotated, Union

from pydantic import Field

from playground.core.errors import PlaygroundError
from playground.layers.base import Layer

ENTRY_POINT_GROUP = "playground.layers"


class PluginError(PlaygroundError, RuntimeError):
    """A plugin that cannot be registered: not a Layer, or a clashing type name."""


@dataclass(frozen=True)
class Plugin:
    cls: type[Layer]
    source: str  # where it came from, for messages: 'playground (entry point conv2d = ...)'


class Registry:
    def __init__(self) -> None:
        self._plugins: dict[str, Plugin] = {}
        self._derived: dict[str, object] = {}
        self._resolved: dict[str, type[Layer]] = {}

    # -- registration ---------------------------------------------------
    def register(self, cls: type[Layer] | None = None, *, source: str | None = None):
        """Register a Layer subclass; usable as ``@registry.register``. Returns it unchanged."""
        if cls is None:
            return lambda c: self.register(c, source=source)
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise PluginError(f"{source or cls!r}: a layer plugin must be a subclass of "
                              f"playground.layers.Layer. Received: {cls!r}")
        try:
            name = cls.type_name()
        except TypeError as exc:
            raise PluginError(f"{source or cls.__qualname__}: {exc}") from None
        source = source or f"{cls.__module__}.{cls.__qualname__}"
        existing = self._plugins.get(name)
        if existing is not None and existing.cls is not cls:
            raise PluginError(f"layer type '{name}' is claimed by two plugins: "
                              f"{existing.source} and {source}. Uninstall one of them.")
        self._plugins[name] = Plugin(cls, source)
        self._derived = {}
        self._resolved = {}
        return cls

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> Registry:
        """Register every layer that installed packages declare under ``group``."""
        for ep in sorted(entry_points(group=group), key=lambda e: (e.dist.name if e.dist else "", e.name)):
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "unknown package"
            source = f"{dist} (entry point {ep.name} = {ep.value})"
            try:
                obj = ep.load()
            except Exception as exc:  # a broken third-party package must say who it is
                raise PluginError(f"{source} failed to load: {type(exc).__name__}: {exc}") from exc
            for cls in (obj if isinstance(obj, (list, tuple)) else (obj,)):
                self.register(cls, source=source)
        return self

    # -- lookup ---------------------------------------------------------
    def __getitem__(self, name: str) -> type[Layer]:
        """The layer class for a type name, with its nested-layer fields resolved."""
        cls = self._plugins[name].cls
        if cls.__pydantic_complete__:
            return cls
        self.layer_item()
        return self._resolved[name]

    def __contains__(self, name: object) -> bool:
        return name in self._plugins

    def __iter__(self) -> Iterator[str]:
        return iter(self._plugins)

    def __len__(self) -> int:
        return len(self._plugins)

    def names(self) -> list[str]:
        return list(self._plugins)

    def plugin(self, name: str) -> Plugin:
        return self._plugins[name]

    def layer_fields(self, name: object) -> tuple[str, ...]:
        """The fields of a layer type that hold layers (a container's), or () for others and unknown names."""
        plugin = self._plugins.get(name) if isinstance(name, str) else None
        return getattr(plugin.cls, "layer_fields", ()) if plugin is not None else ()

    # -- the union of every registered type ------------------------------
    def layer_item(self):
        """The annotation of one layer of a list: the discriminated union of every
        registered type (containers' ``LayerItem`` fields resolved to it)."""
        return self.cached("layer_item", self._resolve)

    def cached(self, key: str, make):
        """``make()``, computed once per registry and per set of plugins (what the
        format derives from the registry, such as the Spec model, lives here)."""
        if key not in self._derived:
            self._derived[key] = make()
        return self._derived[key]

    def _resolve(self):
        if not self._plugins:
            raise PluginError("no layer plugins are registered. Is playground installed "
                              "(pip install -e .)? Built-in layers load through its entry points.")
        # A container's fields name `LayerItem`; each gets a subclass here whose
        # LayerItem is this registry's union (plugin classes stay untouched).
        classes = tuple(p.cls if p.cls.__pydantic_complete__ else
                        type(p.cls.__name__, (p.cls,), {"__module__": p.cls.__module__,
                                                        "__qualname__": p.cls.__qualname__,
                                                        "__doc__": p.cls.__doc__})
                        for p in self._plugins.values())
        union = Union[classes]  # noqa: UP007 (a union built from a tuple needs Union[...])
        item = classes[0] if len(classes) == 1 else Annotated[union, Field(discriminator="type")]
        for cls in classes:
            if not cls.__pydantic_complete__:
                try:
                    cls.model_rebuild(force=True, _types_namespace={"LayerItem": item})
                except Exception as exc:  # a plugin's annotation that does not resolve
                    raise PluginError(f"{self._plugins[cls.type_name()].source}: its fields do not "
                                      f"resolve: {exc}") from None
        self._resolved = {cls.type_name(): cls for cls in classes}
        return item


_default: Registry | None = None
_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, loaded from entry points on first use."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = Registry().load_entry_points()
    return _default


def set_registry(registry: Registry | None) -> Registry | None:
    """Replace the process-wide registry (tests use this); returns the old one."""
    global _default
    old, _default = _default, registry
    return old


def register(cls: type[Layer]) -> type[Layer]:
    """Decorator: register a layer class in the process-wide registry."""
    return get_registry().register(cls)
