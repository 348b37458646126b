"""Property, both ways, with PyTorch as the oracle. For any spec the check
either accepts it, and then the built model's real output shapes and
parameter counts match the summary at every layer; or rejects it with a
SpecError (no other exception, ever), and then either PyTorch really fails on
the same layers (built independently, with lazy modules where sizes are left
out) or the reason is one of playground's documented rules (names, input,
no implicit flatten, class count, budget), never a shape PyTorch accepts.

CI runs the derandomized default profile (see conftest.py); `make test-long`
runs many more examples."""

from __future__ import annotations

import torch
from conftest import module_name
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import playground
from playground import SpecError
from playground.core.errors import REASONS


def layer_strategies(lo: int) -> dict:
    """Layer dicts; with lo < 1 some values are out of bounds or of the wrong kind."""
    small = st.integers(min_value=lo, max_value=5)
    size = st.one_of(small, st.tuples(small, small))
    padding = st.one_of(st.integers(min_value=min(lo, 0), max_value=3),
                        st.tuples(st.integers(0, 2), st.integers(0, 2)))
    layers = {
        "conv2d": st.fixed_dictionaries(
            {"type": st.just("conv2d"), "out_channels": st.integers(lo, 12), "kernel_size": size},
            optional={"in_channels": st.integers(lo, 12), "stride": size, "dilation": size,
                      "padding": st.one_of(padding, st.sampled_from(["same", "valid", "full"])),
                      "groups": st.integers(lo, 4), "bias": st.booleans()}),
        "maxpool2d": st.fixed_dictionaries(
            {"type": st.just("maxpool2d"), "kernel_size": size},
            optional={"stride": size, "padding": padding, "dilation": size, "ceil_mode": st.booleans()}),
        "avgpool2d": st.fixed_dictionaries(
            {"type": st.just("avgpool2d"), "kernel_size": size},
            optional={"stride": size, "padding": padding, "ceil_mode": st.booleans(),
                      "count_include_pad": st.booleans()}),
        "adaptive_avgpool2d": st.fixed_dictionaries({"type": st.just("adaptive_avgpool2d"), "output_size": size}),
        "linear": st.fixed_dictionaries(
            {"type": st.just("linear"), "out_features": st.integers(lo, 40)},
            optional={"in_features": st.integers(lo, 800), "bias": st.booleans()}),
        "batchnorm2d": st.fixed_dictionaries({"type": st.just("batchnorm2d")},
                                             optional={"num_features": st.integers(lo, 12), "affine": st.booleans()}),
        "batchnorm1d": st.fixed_dictionaries({"type": st.just("batchnorm1d")},
                                             optional={"num_features": st.integers(lo, 40)}),
        "dropout": st.fixed_dictionaries({"type": st.just("dropout")},
                                         optional={"p": st.floats(min(lo, 0) / 2, 1 - min(lo, 0) / 2)}),
        "leaky_relu": st.fixed_dictionaries({"type": st.just("leaky_relu")},
                                            optional={"negative_slope": st.floats(min(lo, 0), 1)}),
        "gelu": st.fixed_dictionaries({"type": st.just("gelu")},
                                      optional={"approximate": st.sampled_from(
                                          ["none", "tanh", "erf"][:2 + (lo < 1)])}),
        "channel_shuffle": st.fixed_dictionaries({"type": st.just("channel_shuffle"),
                                                  "groups": st.integers(lo, 6)}),
        "stochastic_depth": st.fixed_dictionaries({"type": st.just("stochastic_depth"),
                                                   "p": st.floats(min(lo, 0) / 2, 1 - min(lo, 0) / 2),
                                                   "mode": st.sampled_from(["row", "batch", "rows"][:2 + (lo < 1)])}),
        **{name: st.just({"type": name}) for name in ("relu", "tanh", "sigmoid", "flatten")},
    }
    if lo < 1:
        layers["junk"] = st.one_of(st.just({"type": "conv"}), st.just("relu"), st.just({"out_channels": 3}),
                                   st.just({"type": "relu", "extra": 1}))
    return layers


VALID = layer_strategies(1)

# Mostly in-bounds layers, so that many specs pass and get built; some anything-goes.
layer = st.one_of(*[s for s in VALID.values() for _ in range(6)], *layer_strategies(-1).values())
head = st.sampled_from([[], [{"type": "linear", "out_features": 10}]]
                       + [[{"type": "flatten"}, {"type": "linear", "out_features": 10}]] * 3)
specs = st.builds(lambda body, tail: {"name": "random", "layers": body + tail},
                  st.lists(layer, min_size=0, max_size=8), head)


def _per_layer_shapes(model, x):
    shapes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
             for m in model.children()]
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return shapes


# The oracle: the same layers as plain torch.nn modules, sizes left out filled in by
# PyTorch's lazy modules at the first forward pass, never by playground's arithmetic.
def _torch(d: dict) -> nn.Module:
    kind = d["type"]
    args = {k: v for k, v in d.items() if k not in ("type", "name")}
    if kind == "conv2d":
        inferred = "in_channels" not in args
        out = args.pop("out_channels")
        return nn.LazyConv2d(out, **args) if inferred else nn.Conv2d(args.pop("in_channels"), out, **args)
    if kind == "linear":
        out = args.pop("out_features")
        return nn.LazyLinear(out, **args) if "in_features" not in args else \
            nn.Linear(args.pop("in_features"), out, **args)
    if kind in ("batchnorm2d", "batchnorm1d"):
        lazy, plain = {"batchnorm2d": (nn.LazyBatchNorm2d, nn.BatchNorm2d),
                       "batchnorm1d": (nn.LazyBatchNorm1d, nn.BatchNorm1d)}[kind]
        return plain(args.pop("num_features"), **args) if "num_features" in args else lazy(**args)
    if kind == "stochastic_depth":   # torchvision's own, in eval mode the identity
        from torchvision.ops import StochasticDepth

        return StochasticDepth(**args)
    return {"maxpool2d": nn.MaxPool2d, "avgpool2d": nn.AvgPool2d, "adaptive_avgpool2d": nn.AdaptiveAvgPool2d,
            "channel_shuffle": nn.ChannelShuffle,
            "dropout": nn.Dropout, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh,
            "sigmoid": nn.Sigmoid, "flatten": nn.Flatten}[kind](**args)


def _pytorch_fails(layers: list[dict], input_shape) -> bool:
    try:
        model = nn.Sequential(*(_torch(d) for d in layers)).eval()
        with torch.no_grad():
            model(torch.randn(2, *input_shape))
    except (RuntimeError, ValueError, TypeError, IndexError):
        return True
    return False


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs)
def test_check_agrees_with_pytorch(data):
    try:
        spec = playground.load_spec(data)
    except SpecError as err:
        assert str(err)  # a message, and nothing but SpecError
        reasons = {p.reason for p in err.problems}
        assert reasons <= set(REASONS), reasons
        if reasons == {"shape"}:  # a shape PyTorch would accept must never be refused
            assert _pytorch_fails(data["layers"], (1, 28, 28)), f"refused, but PyTorch runs it: {err}"
        return
    summary = playground.summarize(spec)
    model = playground.build(spec).eval()
    with torch.no_grad():
        shapes = _per_layer_shapes(model, torch.randn(2, *summary.input_shape))
    assert shapes == [r.output_shape for r in summary.rows]
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    assert [r.params for r in summary.rows] == [
        sum(p.numel() for p in m.parameters()) for m in model.children()]
    assert not _pytorch_fails(data["layers"], summary.input_shape)  # the oracle agrees both ways


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(list(VALID.values())).flatmap(lambda s: s), min_size=1, max_size=8))
def test_every_shape_refusal_is_a_real_pytorch_failure(layers):
    """Only in-bounds layers, no class head: whatever the check refuses for a
    shape reason must fail in PyTorch too."""
    try:
        playground.load_spec({"name": "random", "layers": layers, "data": {"dataset": "mnist"}})
    except SpecError as err:
        if {p.reason for p in err.problems} == {"shape"}:
            assert _pytorch_fails(layers, (1, 28, 28)), f"refused, but PyTorch runs it: {err}"


# -- trees: every container, nested, and blocks used with parameters ----------------

leaf = st.one_of(*[s for s in VALID.values() for _ in range(4)],
                 st.just({"type": "identity"}), st.just({"type": "relu6"}),
                 st.fixed_dictionaries({"type": st.just("conv2d"), "groups": st.just("depthwise"),
                                        "kernel_size": st.integers(1, 3)}, optional={"padding": st.integers(0, 1)}),
                 st.one_of(*layer_strategies(-1).values()))   # now and then anything goes
names = st.sampled_from(["a", "b", "c"])


# Layers that keep a feature map's shape, so residual sums and gates often fit.
keeps = st.sampled_from([{"type": "relu"}, {"type": "batchnorm2d"}, {"type": "identity"},
                         {"type": "conv2d", "groups": "depthwise", "kernel_size": 3, "padding": 1},
                         {"type": "conv2d", "groups": "depthwise", "kernel_size": 1, "bias": False}])
squeeze = st.just([{"type": "adaptive_avgpool2d", "output_size": 1},
                   {"type": "conv2d", "groups": "depthwise", "kernel_size": 1}, {"type": "sigmoid"}])


def _containers(children):
    chain = st.lists(children, min_size=1, max_size=3)
    same = st.one_of(chain, st.lists(keeps, min_size=1, max_size=3),
                     st.lists(st.one_of(keeps, children), min_size=1, max_size=3))
    return st.one_of(
        st.fixed_dictionaries({"type": st.just("sequential"), "layers": chain}, optional={"name": names}),
        st.fixed_dictionaries({"type": st.just("residual"), "body": same},
                              optional={"shortcut": st.one_of(st.sampled_from(["identity", "projection"]), chain),
                                        "after": st.lists(children, max_size=1), "name": names}),
        st.fixed_dictionaries({"type": st.just("concat"),
                               "branches": st.dictionaries(names, chain, min_size=2, max_size=3)}),
        st.fixed_dictionaries({"type": st.just("gate"), "body": st.one_of(chain, squeeze, same)}),
        st.fixed_dictionaries({"type": st.just("use"), "block": st.sampled_from(["conv"] * 12 + ["nope"]),
                               "with": st.fixed_dictionaries({"width": st.sampled_from([3, 4, 6] * 4 + [0])})},
                              optional={"times": st.sampled_from([1] * 8 + [2, 3, 0]), "first": st.fixed_dictionaries(
                                  {"stride": st.integers(1, 2)}), "name": names}),
    )


trees = st.recursive(leaf, _containers, max_leaves=12)
BLOCKS = {"conv": {"params": {"width": "int", "stride": {"type": "int", "default": 1}}, "layers": [
    {"type": "conv2d", "out_channels": "$width", "kernel_size": 3, "stride": "$stride", "padding": 1},
    {"type": "relu"}]}}
tree_specs = st.builds(
    lambda body, tail: {"name": "tree", "data": {"dataset": "none"}, "blocks": BLOCKS,
                        "input": {"channels": 3, "height": 12, "width": 12}, "layers": body + tail},
    st.lists(trees, min_size=1, max_size=4), head)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree_specs)
def test_trees_check_exactly_what_builds(data):
    """Random trees of every container: the check raises SpecError, or it matches
    the built model at every row (output shape, parameters). No other exception."""
    try:
        spec = playground.load_spec(data)
    except SpecError as err:
        assert str(err) and {p.reason for p in err.problems} <= set(REASONS)
        return
    summary = playground.summarize(spec)
    model = playground.build(spec).eval()
    rows = list(summary.walk())
    shapes: dict[int, tuple] = {}
    hooks = []
    for k, row in enumerate(rows):
        module = model.get_submodule(module_name(row.path, spec))
        assert sum(p.numel() for p in module.parameters()) == row.params, row.path
        hooks.append(module.register_forward_hook(
            lambda _m, _i, out, k=k: shapes.__setitem__(k, tuple(out.shape[1:])) and None))
    try:
        with torch.no_grad():
            y = model(torch.randn(2, *summary.input_shape))
    finally:
        for h in hooks:
            h.remove()
    assert tuple(y.shape[1:]) == summary.output_shape
    assert shapes == {k: row.output_shape for k, row in enumerate(rows)}
    assert summary.total_params == sum(p.numel() for p in model.parameters())
