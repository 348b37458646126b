"""specs/mnist_cnn.yaml is the tutorial's network: PyTorch's hand-written
class is the oracle for parameter shapes and outputs."""

from __future__ import annotations

import importlib.util

import torch
from conftest import ROOT, SPECS

import playground


def _tutorial_net_class():
    """The hand-written Net of the tutorial's script, the same one bench/ times."""
    spec = importlib.util.spec_from_file_location("tutorial_mnist", ROOT / "bench" / "tutorial_mnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Net


TutorialNet = _tutorial_net_class()


def test_recipe_is_the_tutorials():
    spec = playground.load_spec(SPECS / "mnist_cnn.yaml")
    assert (spec.data.dataset, spec.data.batch_size, spec.data.mean, spec.data.std) == ("mnist", 64, 0.1307, 0.3081)
    assert (spec.train.optimizer, spec.train.lr, spec.train.momentum, spec.train.epochs) == ("sgd", 0.01, 0.5, 10)


def test_same_parameters_and_outputs_as_the_tutorial():
    model = playground.build(playground.load_spec(SPECS / "mnist_cnn.yaml"))
    net = TutorialNet()
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert ours == theirs  # same names too: conv1.weight, ..., fc.bias
    model.load_state_dict(net.state_dict())
    x = torch.randn(8, 1, 28, 28)
    # The tutorial's Net ends in log_softmax (it trains with nll_loss); ours returns the logits
    # and trains with cross_entropy, which applies log_softmax itself.
    torch.testing.assert_close(torch.log_softmax(model(x), dim=1), net(x), rtol=0, atol=0)


def test_same_seed_same_initial_weights_as_the_tutorial():
    torch.manual_seed(1)
    net = TutorialNet()
    torch.manual_seed(1)
    model = playground.build(playground.load_spec(SPECS / "mnist_cnn.yaml"))
    for key, value in net.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_summary_matches_the_built_model():
    spec = playground.load_spec(SPECS / "mnist_cnn.yaml")
    summary = playground.summarize(spec)
    assert [r.output_shape for r in summary.rows] == [
        (10, 24, 24), (10, 12, 12), (10, 12, 12), (20, 8, 8), (20, 4, 4), (20, 4, 4), (320,), (10,)]
    model = playground.build(spec)
    assert summary.total_params == sum(p.numel() for p in model.parameters()) == 8490
    assert [name for name, _ in model.named_children()] == ["conv1", "1", "2", "conv2", "4", "5", "6", "fc"]
