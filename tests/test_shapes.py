"""The pure shape arithmetic that every plugin's shape rule is built from,
against PyTorch's own output lengths (its defaults included, since plugin
authors call these with them)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from playground.layers.shapes import Shape, conv_out, describe_features, fmt, numel, pair

GRID = [(size, kernel, stride, padding, dilation)
        for size, kernel, stride, padding, dilation in itertools.product(
            (1, 5, 13, 28), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2))
        if padding <= kernel // 2]


def _torch_len(op, size, **kwargs) -> int | None:
    try:
        return op(torch.zeros(1, 1, size), **kwargs).shape[-1]
    except RuntimeError:
        return None


@pytest.mark.parametrize("size,kernel,stride,padding,dilation", GRID)
def test_conv_out_is_pytorchs_length(size, kernel, stride, padding, dilation):
    ours = conv_out(size, kernel, stride, padding, dilation)
    assert type(ours) is int
    theirs = _torch_len(F.conv1d, size, weight=torch.zeros(1, 1, kernel), stride=stride, padding=padding,
                        dilation=dilation)
    assert ours == theirs if theirs is not None else ours < 1


@pytest.mark.parametrize("size,kernel,stride,padding,dilation", GRID)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pool_out_is_pytorchs_length(size, kernel, stride, padding, dilation, ceil_mode):
    from playground.layers.shapes import pool_out

    ours = pool_out(size, kernel, stride, padding, dilation, ceil_mode)
    assert type(ours) is int
    theirs = _torch_len(F.max_pool1d, size, kernel_size=kernel, stride=stride, padding=padding,
                        dilation=dilation, ceil_mode=ceil_mode)
    assert ours == theirs if theirs is not None else ours < 1


def test_defaults_are_pytorchs():
    from playground.layers.shapes import pool_out

    assert conv_out(28, 5) == 24                       # stride 1, padding 0, dilation 1
    assert conv_out(28, 5, 2) == 12
    assert pool_out(24, 2, 2) == 12                    # padding 0, dilation 1, floor
    assert pool_out(5, 2, 2) == 2 and pool_out(5, 2, 2, ceil_mode=True) == 3


def test_small_helpers():
    assert fmt((20, 4, 4)) == "20x4x4" and fmt((10,)) == "10" and fmt(()) == ""
    assert numel((20, 4, 4)) == 320 and numel(()) == 1
    assert pair(5) == (5, 5) and pair([3, 5]) == (3, 5) and pair((2, 1)) == (2, 1)
    with pytest.raises(ValueError):
        pair([1, 2, 3])


def test_describe_features_says_where_features_came_from():
    assert describe_features(Shape((320,), flattened_from=(20, 4, 4))) == "20x4x4 flattens to 320"
    assert describe_features(Shape((7,))) == "has 7 features"
    assert describe_features((7,)) == "has 7 features"   # a plain tuple, as a plugin may return
    assert Shape((3, 4)) == (3, 4) and Shape((3,)).flattened_from is None
