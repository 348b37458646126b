"""playground: neural networks from short YAML specs.

    spec = playground.load_spec("specs/mnist_cnn.yaml")   # validated and shape-checked
    playground.summarize(spec)                            # per-layer shapes, params, MACs
    model = playground.build(spec)                        # a torch.nn.Module

Every problem with a spec raises playground.SpecError.
"""

from playground.analysis import LayerRow, Summary
from playground.analysis import analyze as summarize
from playground.errors import Problem, SpecError
from playground.layers.base import Layer, ShapeError
from playground.loader import load_spec
from playground.registry import PluginError, Registry, get_registry, register
from playground.shapes import Shape
from playground.spec import SpecBase as Spec

__version__ = "0.1.0"


def build(spec: Spec):
    """Check ``spec`` and return its torch.nn.Module (imports torch on first use)."""
    from playground.builder import build as _build
    return _build(spec)


__all__ = ["Layer", "LayerRow", "PluginError", "Problem", "Registry", "Shape", "ShapeError",
           "Spec", "SpecError", "Summary", "build", "get_registry", "load_spec", "register",
           "summarize"]
