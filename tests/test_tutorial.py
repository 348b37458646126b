"""specs/mnist_cnn.yaml is the tutorial's network: PyTorch's hand-written
class is the oracle for parameter shapes and outputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import playground
from conftest import SPECS


class TutorialNet(nn.Module):
    """The tutorial network, written by hand the way the tutorial does."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.fc = nn.Linear(320, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = x.view(-1, 320)
        return self.fc(x)


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
    torch.testing.assert_close(model(x), net(x), rtol=0, atol=0)


def test_summary_matches_the_built_model():
    spec = playground.load_spec(SPECS / "mnist_cnn.yaml")
    summary = playground.summarize(spec)
    assert [r.output_shape for r in summary.rows] == [
        (10, 24, 24), (10, 12, 12), (10, 12, 12), (20, 8, 8), (20, 4, 4), (20, 4, 4), (320,), (10,)]
    model = playground.build(spec)
    assert summary.total_params == sum(p.numel() for p in model.parameters()) == 8490
    assert [name for name, _ in model.named_children()] == ["conv1", "1", "2", "conv2", "4", "5", "6", "fc"]
