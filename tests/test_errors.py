"""Shape mismatches and bad inputs, table-driven: each must raise SpecError
whose message names the right place (path and YAML line), what it got, and
the fix."""

from __future__ import annotations

import pytest
from conftest import SPECS

import playground
from playground import SpecError

# Lines of specs/mnist_cnn.yaml the cases refer to.
CONV1, POOL1, RELU1, CONV2, FLATTEN, FC = 6, 7, 8, 9, 12, 13

FLAT_FC = "  - {type: flatten}\n  - {type: linear, name: fc, in_features: 320, out_features: 10}\n"

CASES = [
    # (id, old, new, path, line, substrings)
    ("linear in_features after 20x4x4", "in_features: 320", "in_features: 300",
     "layers[7] (linear 'fc').in_features", FC,
     ["in_features=300, but its input 20x4x4 flattens to 320.", "Set in_features: 320"]),
    ("channel mismatch", "in_channels: 10", "in_channels: 8",
     "layers[3] (conv2d 'conv2').in_channels", CONV2,
     ["in_channels=8, but its input 10x12x12 has 10 channels.", "Set in_channels: 10"]),
    ("linear after a feature map", "  - {type: flatten}\n", "",
     "layers[6] (linear 'fc')", FC - 1,
     ["needs a flat (features,) vector", "20x4x4", "Insert `- {type: flatten}`", "to 320"]),
    ("kernel larger than input", "conv1, out_channels: 10, kernel_size: 5", "conv1, out_channels: 10, kernel_size: 29",
     "layers[0] (conv2d 'conv1').kernel_size", CONV1, ["does not fit its 1x28x28 input", "smaller kernel_size"]),
    ("too many pools", "  - {type: flatten}\n",
     "  - {type: maxpool2d, kernel_size: 2}\n  - {type: maxpool2d, kernel_size: 2}\n"
     "  - {type: maxpool2d, kernel_size: 2}\n  - {type: flatten}\n",
     "layers[8] (maxpool2d).kernel_size", FLATTEN + 2, ["does not fit its 20x1x1 input", "output would be 0x0"]),
    ("conv2d after flatten", FLAT_FC,
     "  - {type: flatten}\n  - {type: conv2d, out_channels: 10, kernel_size: 1}\n",
     "layers[7] (conv2d)", FC, ["needs a CxHxW feature map", "flat (features,) vector (320)", "Move it before"]),
    ("batchnorm2d after linear", FLAT_FC, FLAT_FC + "  - {type: batchnorm2d}\n",
     "layers[8] (batchnorm2d)", FC + 1, ["batchnorm2d needs a CxHxW feature map", "(10)"]),
    ("batchnorm num_features", "  - {type: relu}\n  - {type: conv2d, name: conv2",
     "  - {type: batchnorm2d, num_features: 12}\n  - {type: conv2d, name: conv2",
     "layers[2] (batchnorm2d).num_features", RELU1, ["num_features=12, but its input 10x12x12 has 10 channels"]),
    ("wrong class count", "out_features: 10", "out_features: 12",
     "layers[7] (linear 'fc').out_features", FC, ["out_features=12, but mnist has 10 classes", "Set out_features: 10"]),
    ("ends on a feature map", FLAT_FC, "",
     "layers[5] (relu)", FLATTEN - 1, ["ends with 20x4x4", "10 class scores", "after a flatten"]),
    ("groups do not divide", "conv2, in_channels: 10, out_channels: 20",
     "conv2, in_channels: 10, out_channels: 20, groups: 3",
     "layers[3] (conv2d 'conv2').groups", CONV2,
     ["groups=3 does not divide in_channels=10", "Pick groups that divides both 10 input and 20 output channels."]),
    ("groups do not divide out_channels", "conv2, in_channels: 10, out_channels: 20",
     "conv2, in_channels: 10, out_channels: 25, groups: 2",
     "layers[3] (conv2d 'conv2').groups", CONV2, ["groups=2 does not divide out_channels=25"]),
    ("same padding with stride", "conv1, out_channels: 10, kernel_size: 5",
     "conv1, out_channels: 10, kernel_size: 5, padding: same, stride: 2",
     "layers[0] (conv2d 'conv1').padding", CONV1,
     ["padding='same' needs stride 1.", "Set stride: 1, or give padding as a number."]),
    ("pool window wider than the map", "  - {type: flatten}\n",
     "  - {type: maxpool2d, kernel_size: [1, 5]}\n  - {type: flatten}\n",
     "layers[6] (maxpool2d).kernel_size", FLATTEN, ["does not fit its 20x4x4 input",
                                                   "Use a smaller kernel_size, or remove an earlier pooling layer."]),
    ("batchnorm fix", "  - {type: relu}\n  - {type: conv2d, name: conv2",
     "  - {type: batchnorm2d, num_features: 3}\n  - {type: conv2d, name: conv2",
     "layers[2] (batchnorm2d).num_features", RELU1, ["Set num_features: 10, or leave it out to infer it."]),
    ("linear after flattening a flat vector", FLAT_FC,
     "  - {type: flatten}\n  - {type: flatten}\n  - {type: linear, in_features: 32, out_features: 10}\n",
     "layers[8] (linear).in_features", FC + 1, ["in_features=32, but its input has 320 features."]),
    ("duplicate names", "name: fc", "name: conv1",
     "layers[7] (linear 'conv1').name", FC, ["'conv1' is already used by layers[0]"]),
    ("over the parameter budget", "train:\n", "budget: {max_params: 5000}\ntrain:\n",
     "layers[3] (conv2d 'conv2')", CONV2, ["8,490 parameters, over budget.max_params=5,000", "5,020"]),
    ("over the activation budget", "train:\n", "budget: {max_activation_mb: 1}\ntrain:\n",
     "layers[0] (conv2d 'conv1')", CONV1, ["MiB per batch of 64", "10x24x24 is the largest"]),
    ("input differs from dataset", "height: 28", "height: 32",
     "input", 4, ["input is 1x32x28, but mnist images are 1x28x28"]),
    # pydantic validation, rewritten
    ("negative out_channels", "conv1, out_channels: 10", "conv1, out_channels: -3",
     "layers[0] (conv2d 'conv1').out_channels", CONV1, ["greater than or equal to 1", "Received: out_channels=-3."]),
    ("unknown type", "type: conv2d, name: conv1", "type: conv, name: conv1",
     "layers[0].type", CONV1, ["unknown layer type 'conv'. Did you mean 'conv2d'?", "Valid types: conv2d,"]),
    ("unknown key", "conv1, out_channels: 10, kernel_size: 5", "conv1, out_channels: 10, kernel_size: 5, strid: 2",
     "layers[0] (conv2d 'conv1').strid", CONV1, ["unknown key 'strid' for conv2d. Did you mean 'stride'?",
                                                 "Valid keys: name, in_channels, out_channels"]),
    ("typo of a required key: one problem, the rename", "conv1, out_channels: 10, kernel_size: 5",
     "conv1, out_channels: 10, kernal_size: 5", "layers[0] (conv2d 'conv1').kernal_size", CONV1,
     ["unknown key 'kernal_size' for conv2d; the required key 'kernel_size' is missing.\n"
      "  Rename `kernal_size` to `kernel_size`, keeping its value: `kernel_size: 5`."]),
    ("typo of a required section key", "out_features: 10}", "out_feature: 10}",
     "layers[7] (linear 'fc').out_feature", 13, ["Rename `out_feature` to `out_features`, keeping its value"]),
    ("missing key", "conv1, out_channels: 10, kernel_size: 5", "conv1, out_channels: 10",
     "layers[0] (conv2d 'conv1').kernel_size", CONV1, ["missing required key 'kernel_size'", "Add `kernel_size: 3`"]),
    ("layer written as a string", "  - {type: relu}\n", "  - relu\n",
     "layers[2]", RELU1, ["must be a mapping", "Received: 'relu'", "`- {type: relu}`"]),
    ("layer without type", "  - {type: relu}\n", "  - {negative_slope: 0.1}\n",
     "layers[2]", RELU1, ["has no 'type'"]),
    ("bad kernel pair", "conv1, out_channels: 10, kernel_size: 5", "conv1, out_channels: 10, kernel_size: [5, x]",
     "layers[0] (conv2d 'conv1').kernel_size[1]", CONV1, ["valid integer", "Received: 'x'"]),
    ("pool padding over half kernel",
     "  - {type: maxpool2d, kernel_size: 2}\n  - {type: relu}\n  - {type: conv2d, name: conv2",
     "  - {type: maxpool2d, kernel_size: 2, padding: 2}\n  - {type: relu}\n  - {type: conv2d, name: conv2",
     "layers[1] (maxpool2d).padding", POOL1, ["at most half of kernel_size=2", "Received: padding=2."]),
    ("unknown optimizer", "optimizer: sgd", "optimizer: sgdd",
     "train.optimizer", 22, ["'sgd', 'adam' or 'adamw'", "Received: optimizer='sgdd'. Did you mean 'sgd'?"]),
    ("momentum with adam", "optimizer: sgd", "optimizer: adam",
     "train.momentum", 24, ["momentum applies to sgd only"]),
    ("unknown dataset", "dataset: mnist", "dataset: mnits",
     "data.dataset", 15, ["Received: dataset='mnits'. Did you mean 'mnist'?"]),
    ("negative lr", "lr: 0.01", "lr: -1", "train.lr", 23, ["greater than 0", "Received: lr=-1."]),
    ("unknown top-level key", "train:\n", "trian: {}\ntrain:\n",
     "trian", 20, ["unknown key 'trian' for the spec. Did you mean 'train'?"]),
    ("empty layer list", None, "name: x\nlayers: []\n", "layers", 2, ["at least 1 item"]),
]


@pytest.mark.parametrize("old,new,path,line,substrings",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_spec_names_the_place(mnist_text, old, new, path, line, substrings):
    text = new if old is None else mnist_text.replace(old, new, 1)
    assert old is None or text != mnist_text, "the case did not change the spec"
    with pytest.raises(SpecError) as info:
        playground.load_spec(text)
    err = info.value
    first = err.problems[0]
    assert first.place() == path
    assert first.line == line
    message = str(err)
    assert message.startswith(f"line {line}: {path}: ")
    for part in substrings:
        assert part in message
    assert len(message.splitlines()) <= 25  # one screen
    if "Rename" in message:
        assert len(err.problems) == 1 and "missing required key" not in message


def test_file_errors_carry_the_file_name(tmp_path, mnist_text):
    bad = tmp_path / "bad.yaml"
    bad.write_text(mnist_text.replace("in_features: 320", "in_features: 300"))
    with pytest.raises(SpecError) as info:
        playground.load_spec(bad)
    assert str(info.value) == (
        f"{bad}:{FC}: layers[7] (linear 'fc').in_features: in_features=300, but its input 20x4x4 "
        "flattens to 320.\n  Set in_features: 320, or leave it out to infer it.")
    assert info.value.problems[0].layer_index == 7


def test_several_problems_are_all_reported(mnist_text):
    text = mnist_text.replace("conv1, out_channels: 10", "conv1, out_channels: 0").replace("lr: 0.01", "lr: 0")
    with pytest.raises(SpecError) as info:
        playground.load_spec(text)
    assert [p.place() for p in info.value.problems] == ["layers[0] (conv2d 'conv1').out_channels", "train.lr"]


def test_many_problems_fit_one_screen():
    layers = "".join("  - {type: conv2d, out_channels: -1, kernel_size: 0}\n" for _ in range(40))
    with pytest.raises(SpecError) as info:
        playground.load_spec(f"name: x\nlayers:\n{layers}")
    assert len(info.value.problems) == 80
    assert len(str(info.value).splitlines()) <= 25
    assert str(info.value).endswith("... and 72 more problems.")


@pytest.mark.parametrize("source,message", [
    ("no/such/spec.yaml", "no/such/spec.yaml: no such file."),
])
def test_unreadable_files(source, message):
    with pytest.raises(SpecError, match="^" + message):
        playground.load_spec(source)


def test_folder_and_binary_files(tmp_path):
    with pytest.raises(SpecError, match="is a folder"):
        playground.load_spec(tmp_path)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"name: x\n\xff\xfe\n")
    with pytest.raises(SpecError, match=r"b.yaml:2: the file is not UTF-8 text"):
        playground.load_spec(binary)


# The same table for blocks: specs/zoo/resnet18.yaml's lines, and where each use is.
RESNET = (SPECS / "zoo" / "resnet18.yaml").read_text()
BLOCK_CONV1, BLOCK_BN2, SHORTCUT, LAYER1, LAYER2 = 14, 18, 19, 26, 27

BLOCK_CASES = [
    # (id, old, new, place, line, substrings)
    ("template layer that does not fit names the template line and the use",
     "{type: batchnorm2d, name: bn2}", "{type: batchnorm2d, name: bn2, num_features: 64}",
     "blocks.basic.layers[0].body[4] (batchnorm2d 'bn2').num_features", BLOCK_BN2,
     ["num_features=64, but its input 128x28x28 has 128 channels",
      "in block 'basic' as used by layers[5] (use 'layer2', line 27): repetition 1 of 2, width=128, stride=2, "
      "shortcut='projection'."]),
    ("residual shapes that cannot be added", "first: {stride: 2, shortcut: projection}}\n  - {type: use, block: basic, "
     "name: layer3", "first: {stride: 2}}\n  - {type: use, block: basic, name: layer3",
     "blocks.basic.layers[0] (residual)", SHORTCUT - 7,
     ["cannot add the body's output 128x28x28 to the input 64x56x56", "Set `shortcut: projection`",
      "as used by layers[5] (use 'layer2', line 27)"]),
    ("unknown block", "block: basic, name: layer2", "block: basics, name: layer2",
     "layers[5] (use 'layer2').block", LAYER2, ["no block named 'basics'. Did you mean 'basic'?",
                                                "\n  Blocks defined in this spec: basic."]),
    ("unknown parameter", "with: {width: 64}", "with: {widht: 64}",
     "layers[4] (use 'layer1').with.widht", LAYER1, ["no parameter 'widht'. Did you mean 'width'?",
                                                     "Its parameters: width, stride, shortcut."]),
    ("missing parameter", "with: {width: 64}", "with: {}",
     "layers[4] (use 'layer1').with", LAYER1, ["block 'basic' needs width", "Add `with: {width: ...}`"]),
    ("parameter of the wrong type", "with: {width: 64}", "with: {width: wide}",
     "layers[4] (use 'layer1').with.width", LAYER1, ["parameter 'width' of block 'basic' is int. Received: "
                                                     "width='wide'."]),
    ("wrong type after substitution", "shortcut: {type: str, default: identity}",
     "shortcut: {type: any, default: 3}", "blocks.basic.layers[0] (residual).shortcut", SHORTCUT,
     ["Received: shortcut=3", "in block 'basic' as used by layers[4]"]),
    ("unknown placeholder", "stride: $stride, padding: 1", "stride: $strides, padding: 1",
     "blocks.basic.layers[0].body[0].stride", BLOCK_CONV1,
     ["$strides is not a parameter of block 'basic'. Did you mean 'stride'?",
      "\n  Declare it under blocks.basic.params, or use one of: $width, $stride, $shortcut.\n"]),
    ("zero repeats", "times: 2, with: {width: 64}", "times: 0, with: {width: 64}",
     "layers[4] (use 'layer1').times", LAYER1, ["greater than or equal to 1", "Received: times=0."]),
    ("absurd repeats", "times: 2, with: {width: 64}", "times: 100000, with: {width: 64}",
     "layers[4] (use 'layer1').times", LAYER1, ["less than or equal to 1000"]),
    ("unknown key in a use", "times: 2, with: {width: 64}", "time: 2, with: {width: 64}",
     "layers[4] (use 'layer1').time", LAYER1, ["unknown key 'time' for use. Did you mean 'times'?",
                                               "Valid keys: name, block, times, with, first."]),
    ("a use without a block", "block: basic, name: layer1", "name: layer1",
     "layers[4] (use 'layer1').block", LAYER1, ["missing required key 'block' (The template, a key of the "
                                                "spec's blocks)", "Add `block: basic`."]),
    ("a block that uses itself", "        after: [{type: relu}]\n",
     "        after: [{type: relu}]\n      - {type: use, block: basic, with: {width: $width}}\n",
     "blocks.basic.layers[1] (use).block", 21, ["block 'basic' uses itself: basic -> basic."]),
    ("duplicate names in one block", "{type: batchnorm2d, name: bn2}", "{type: batchnorm2d, name: bn1}",
     "blocks.basic.layers[0].body[4] (batchnorm2d 'bn1').name", BLOCK_BN2,
     ["name 'bn1' is already used by body[1]."]),
    ("bad value inside a template, told once for all uses", "{type: batchnorm2d, name: bn2}",
     "{type: batchnorm2d, name: bn2, eps: -1}", "blocks.basic.layers[0].body[4] (batchnorm2d 'bn2').eps", BLOCK_BN2,
     ["greater than 0", "Received: eps=-1.", "The same in 7 more uses of this block."]),
]


@pytest.mark.parametrize("old,new,path,line,substrings",
                         [c[1:] for c in BLOCK_CASES], ids=[c[0] for c in BLOCK_CASES])
def test_bad_block_spec_names_the_place(old, new, path, line, substrings):
    text = RESNET.replace(old, new, 1)
    assert text != RESNET, "the case did not change the spec"
    with pytest.raises(SpecError) as info:
        playground.load_spec(text)
    err = info.value
    first = err.problems[0]
    assert (first.place(), first.line) == (path, line), str(err)
    message = str(err)
    assert message.startswith(f"line {line}: {path}: ")
    for part in substrings:
        assert part in message, message
    assert len(message.splitlines()) <= 25
