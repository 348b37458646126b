"""playground: neural networks from short YAML specs.

    spec = playground.load_spec("specs/mnist_cnn.yaml")   # validated and shape-checked
    playground.summarize(spec)                            # per-layer shapes, params, MACs
    model = playground.build(spec)                        # a torch.nn.Module

Every problem with a spec raises playground.SpecError; every error playground
reports to a person is a playground.PlaygroundError.
"""

from playground.check.analysis import LayerRow, Summary, load_checked, load_spec
from playground.check.analysis import analyze as summarize
from playground.core.errors import PlaygroundError, Problem, SpecError
from playground.format.loader import read_spec
from playground.format.spec import SpecBase as Spec
from playground.layers.base import Layer, ShapeError
from playground.layers.registry import PluginError, Registry, get_registry, register
from playground.layers.shapes import Shape

__version__ = "0.1.0"


def build(spec: Spec, summary: Summary | None = None):
    """``spec``'s torch.nn.Module (imports torch on first use); ``summary``, the
    check's result where you have it (``load_checked``), spares a second check."""
    from playground.check.builder import build as _build
    return _build(spec, summary)


__all__ = ["Layer", "LayerRow", "PlaygroundError", "PluginError", "Problem", "Registry", "Shape", "ShapeError",
           "Spec", "SpecError", "Summary", "build", "get_registry", "load_checked", "load_spec", "read_spec",
           "register", "summarize"]
