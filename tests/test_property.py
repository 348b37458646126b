"""Property: for any spec, the check either rejects it with SpecError, or the
built model's real output shapes match the summary at every layer and its
parameter count matches. No other exception, ever."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import playground
from playground import SpecError


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


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs)
def test_check_agrees_with_pytorch(data):
    try:
        spec = playground.load_spec(data)
    except SpecError as err:
        assert str(err)  # a message, and nothing but SpecError
        return
    summary = playground.summarize(spec)
    model = playground.build(spec).eval()
    with torch.no_grad():
        shapes = _per_layer_shapes(model, torch.randn(2, *summary.input_shape))
    assert shapes == [r.output_shape for r in summary.rows]
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    assert [r.params for r in summary.rows] == [
        sum(p.numel() for p in m.parameters()) for m in model.children()]
