"""The layer plugin contract.

A layer plugin is one pydantic model class:

* its fields are the layer's parameters, named after the ``torch.nn``
  constructor arguments, with a ``type: Literal["..."]`` tag, bounds and a
  description on every field (unknown keys are refused);
* ``output_shape(x)`` is the pure shape rule: input shape -> output shape, or
  a ``ShapeError`` that says what was expected and how to fix it;
* ``build(x)`` returns the ``torch.nn.Module`` for input shape ``x``;
* ``param_count(x)`` and ``macs(x, y)`` count parameters and
  multiply-accumulates per sample, by arithmetic (``macs_once(x, y)``: the part of
  them a forward spends once, whatever the batch). MACs count what
  torchvision's documented GFLOPS column counts: convolutions and linear
  layers (the matrix products); pooling, normalization and activations are 0.
* ``source(x)`` is the Python expression that builds the same module, for
  the readable-source export (``nn.Conv2d(1, 10, kernel_size=(5, 5), ...)``),
  with ``source_definitions(x)`` giving the code of any class it names. The
  default reads it from a ``torch.nn`` module's own repr and checks it; a
  plugin whose module is a class of its own writes both. ONNX, TorchScript
  and ``torch.export`` need nothing more than the module itself.

Shapes never include the batch dimension. torch is imported only inside
``build`` so that checking a spec stays fast and light.

A container plugin (``Container``) holds lists of layers in some fields
(residual, concat, gate, sequential): see its docstring.
"""

from __future__ import annotations

import keyword
import re
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from playground.layers.shapes import Shape
from playground.layers.source import Unsupported, torch_nn_expression

if TYPE_CHECKING:
    from torch import nn

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
MAX_NAME_LENGTH = 64
NAME_RULE = "ASCII letters, digits and underscores, not starting with a digit, at most 64 characters"

# Attributes every module the build makes already has (torch.nn.Module, Sequential,
# ModuleDict, the model itself): a child of that name cannot be added
# (torch: "attribute 'forward' already exists"). Kept here so that the check
# needs no torch; tests/test_blocks.py compares it with torch's own.
RESERVED_NAMES = frozenset("""
    T_destination add_module append apply bfloat16 buffers call_super_init children clear compile cpu cuda
    double dump_patches eval extend extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half insert ipu items keys load_state_dict modules mtia named_buffers named_children
    named_modules named_parameters parameters pop register_backward_hook register_buffer register_forward_hook
    register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook register_module
    register_load_state_dict_post_hook register_load_state_dict_pre_hook register_parameter
    register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule
    share_memory spec_name state_dict to to_empty train training type update values xpu zero_grad
    _apply _backward_hooks _backward_pre_hooks _buffers _call_impl _compiled_call_impl _forward_hooks
    _forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks _forward_pre_hooks_with_kwargs
    _get_backward_hooks _get_backward_pre_hooks _get_item_by_idx _get_name _is_full_backward_hook
    _load_from_state_dict _load_state_dict_post_hooks _load_state_dict_pre_hooks
    _maybe_warn_non_full_backward_hook _modules _named_members _non_persistent_buffers_set _parameters
    _register_load_state_dict_pre_hook _register_state_dict_hook _replicate_for_data_parallel
    _save_to_state_dict _slow_forward _state_dict_hooks _state_dict_pre_hooks _version _wrapped_call_impl
""".split())
_NAME = re.compile(NAME_PATTERN)


def module_name_problem(name: str) -> tuple[str, str] | None:
    """Why ``name`` (a layer's or a branch's) cannot name a module in the built
    model, and a name that can; None when it can."""
    if not _NAME.match(name) or len(name) > MAX_NAME_LENGTH:
        better = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")[:MAX_NAME_LENGTH] or "b1"
        return f"a module name is {NAME_RULE}", better if not better[0].isdigit() else f"b{better}"[:MAX_NAME_LENGTH]
    if name in RESERVED_NAMES or (name.startswith("__") and name.endswith("__")):
        return f"torch modules already have an attribute '{name}'", f"{name.strip('_')}_1"
    if keyword.iskeyword(name):   # class, def, None: TorchScript writes the file, then cannot load it
        return f"'{name}' is a Python keyword, which TorchScript and the exported source cannot use", f"{name}_1"
    return None


# Bounds shared by the built-in plugins; generous for real work, small enough
# that arithmetic on them never overflows a budget check.
MAX_CHANNELS = 1 << 16
MAX_FEATURES = 1 << 20
MAX_KERNEL = 1 << 10


class ShapeError(Exception):
    """Raised by a shape rule. ``field`` names the parameter at fault, if one is:
    a field name, or a path inside the layer such as ``("branches", "b2")``."""

    def __init__(self, message: str, fix: str | None = None, field: str | tuple[str | int, ...] | None = None,
                 needs: int | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.field = field
        self.needs = needs   # the one value ``field`` must have here, where the input decides it

    @classmethod
    def inferable(cls, field: str, needs: int, message: str) -> ShapeError:
        """A size the input decides (in_channels, in_features, num_features): set it to
        ``needs`` or leave it out. The check uses ``needs`` where one number must fit
        every use of a block template."""
        return cls(message, fix=f"Set {field}: {needs}, or leave it out to infer it.", field=field, needs=needs)


class Layer(BaseModel):
    """Base class of every layer plugin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        max_length=MAX_NAME_LENGTH,
        description="Optional unique name; becomes the module's attribute name (e.g. conv1).",
    )
    register_before: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        max_length=MAX_NAME_LENGTH,
        description="The name of an earlier layer in the same list: this layer's module is registered (and its "
                    "tensors come in the state dict) before that one's, while it still runs here. For state dicts "
                    "in a reference's order, e.g. ViT's class token before conv_proj.",
    )

    # Ranks (without batch) this layer accepts; None accepts any rank >= 1.
    input_ranks: ClassVar[tuple[int, ...] | None] = None
    # How messages name what it takes, where the rank alone would mislead (None: from input_ranks).
    input_words: ClassVar[str | None] = None
    # The layout a rank-3 input must have: "first" (CxHxW, as convolutions and pooling take it),
    # "last" (HxWxC: layers over the last axis, such as linear and layernorm) or "any". Only
    # checked for layers that name their input_ranks.
    map_layout: ClassVar[str] = "first"
    # A small valid configuration: the layer editor's starting point and the
    # plugin test harness's sample.
    example: ClassVar[dict[str, Any]] = {}
    # More configurations the plugin test harness checks against PyTorch (shape,
    # parameters, MACs): the non-default settings a bug would hide in.
    variants: ClassVar[tuple[dict[str, Any], ...]] = ()
    # Inputs (without batch) the plugin test harness also tries, where its own samples (16, 6x12,
    # 6x13x11) cannot show a setting: a square map that windows divide.
    sample_inputs: ClassVar[tuple[tuple[int, ...], ...]] = ()
    # True for containers (see Container): the check and build hand them a Chain.
    holds_layers: ClassVar[bool] = False

    @classmethod
    def type_name(cls) -> str:
        """The value of this plugin's ``type`` literal."""
        annotation = cls.model_fields["type"].annotation
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is not typing.Literal or len(args) != 1 \
                or not isinstance(args[0], str):
            raise TypeError(f"{cls.__qualname__}.type must be Literal['<name>'], got {annotation!r}")
        return args[0]

    @classmethod
    def describe(cls) -> str:
        """First line of the class docstring: the plugin's one-line help."""
        return (cls.__doc__ or cls.type_name()).strip().splitlines()[0]

    def label(self) -> str:
        """'linear' or "linear 'fc'" for messages and tables."""
        return f"{self.type} '{self.name}'" if self.name else self.type

    def output_shape(self, x: Shape) -> Shape:
        raise NotImplementedError

    def build(self, x: Shape) -> nn.Module:
        raise NotImplementedError

    def param_count(self, x: Shape) -> int:
        return 0

    def macs(self, x: Shape, y: Shape) -> int:
        return 0

    def macs_once(self, x: Shape, y: Shape) -> int:
        """The part of ``macs(x, y)`` a forward pass spends once whatever the batch size (Swin V2's
        bias MLP, run on its table of relative positions); 0 for almost every layer."""
        return 0

    def source(self, x: Shape) -> str:
        """A Python expression that builds a module equal to ``build(x)``; it may
        use ``nn``, ``torch``, ``F`` and the classes of ``source_definitions``."""
        return torch_nn_expression(self, self.build(x))

    def source_definitions(self, x: Shape) -> tuple[str, ...]:
        """The code of the classes ``source(x)`` names (none for torch.nn modules)."""
        return ()


def call_source(callee: str, *args: Any, **options: Any) -> str:
    """``nn.Conv2d(1, 16, kernel_size=3, padding='same')``: a constructor call in
    source, options left out where they are None (the torch default applies)."""
    parts = [repr(a) for a in args] + [f"{k}={_plain(v)!r}" for k, v in options.items() if v is not None]
    return f"{callee}({', '.join(parts)})"


def unless(value: Any, default: Any) -> Any:
    """None (left out of ``call_source``) where ``value`` is the default, also as a pair."""
    return None if value == default or (isinstance(value, (list, tuple)) and set(value) == {default}) else value


def nested(expression: str) -> str:
    """A multi-line expression indented one level, to sit inside another's call."""
    return expression.replace("\n", "\n    ")


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class Elementwise(Layer):
    """Base for layers whose output has the input's shape and no parameters."""

    def output_shape(self, x: Shape) -> Shape:
        return x


# What a container gets to run the layer lists it holds, by their place in it:
# ``chain(("body",), self.body, x)`` checks (or builds) those layers on input
# shape ``x`` as rows nested under the container, with errors located at
# ``<container path>.body[i]``. The shape walk returns the output Shape; the
# build walk returns ``(module, output shape)``.
Chain = Callable[[tuple, list, Shape], Any]


class Container(Layer):
    """Base class of layers that hold lists of layers (residual, concat, gate,
    sequential), nested to any depth.

    A field that holds layers is annotated with the name ``LayerItem``, e.g.
    ``body: list[LayerItem]``, left undefined in the plugin's module: the
    registry resolves it to the union of every registered layer type, so
    containers nest and hold third-party layers. ``layer_fields`` lists those
    fields (for walkers such as the loader's error locator and the app).

    Instead of ``output_shape(x)`` and ``build(x)``, a container implements
    ``output_shape(x, chain)`` and ``build(x, chain)`` with a ``Chain`` to run
    what it holds. Its parameters and MACs are those of the layers it holds
    (summed by the check) plus ``param_count(x)`` / ``macs(x, y)`` of its own.
    """

    layer_fields: ClassVar[tuple[str, ...]] = ()
    holds_layers = True
    # How diagrams draw it: the lists in ``layer_fields`` run side by side on the
    # container's input and meet at ``merge`` ("+", "concat", "×"; None: one
    # after another); ``after_fields`` run after the merge.
    merge: ClassVar[str | None] = None
    after_fields: ClassVar[tuple[str, ...]] = ()

    def merges_input(self) -> bool:
        """Whether the container's input itself takes part in the merge (an identity shortcut, a gate)."""
        return False

    def output_shape(self, x: Shape, chain: Chain) -> Shape:  # type: ignore[override]
        raise NotImplementedError

    def build(self, x: Shape, chain: Chain) -> nn.Module:  # type: ignore[override]
        raise NotImplementedError

    def source(self, x: Shape, chain: Chain) -> str:  # type: ignore[override]
        """Like ``build``, with a chain that returns ``(code, output shape)``: the
        expression that builds this container, the held lists' code inside it."""
        raise Unsupported(f"{self.type_name()} does not say how it is written as Python source (a `source` method)")

    def layer_lists(self) -> list[tuple[tuple, list[Layer]]]:
        """Every list of layers this container holds, with its place: [(("body",), [...]), ...]."""
        out = []
        for field in self.layer_fields:
            value = getattr(self, field)
            if isinstance(value, dict):
                out += [((field, key), layers) for key, layers in value.items()]
            elif isinstance(value, list):
                out.append(((field,), value))
        return out
