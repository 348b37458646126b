"""Starting from weights trained before: torchvision's (files the tests make, under the name
torchvision's weights API looks for, in a temporary $TORCH_HOME), a run, a state-dict file;
matched by one rule; frozen parts that stay bit for bit; per-part rates; resume; export."""

from __future__ import annotations

import pickle

import pytest
import torch
import torchvision
import yaml
from conftest import ZOO

import playground
from playground.runs import folders as runs
from playground.train import finetune, pretrained
from playground.train.engine import StepDone, Trainer, train

IMAGENET = "torchvision:ResNet18_Weights.IMAGENET1K_V1"

# A small network with a batch norm, on the tiny MNIST: a body to freeze and a head.
NET = """\
name: net
layers:
  - {type: conv2d, name: conv, out_channels: 6, kernel_size: 5, stride: 2}
  - {type: batchnorm2d, name: bn}
  - {type: relu}
  - {type: flatten}
  - {type: linear, name: hidden, out_features: 16}
  - {type: relu}
  - {type: linear, name: head, out_features: 10}
data: {batch_size: 32, test_batch_size: 40}
train: {epochs: 2, lr: 0.05, momentum: 0.5, seed: 3, device: cpu}
"""


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """A temporary $TORCH_HOME holding torchvision's randomly initialized ResNet-18, saved under the
    file name ResNet18_Weights.IMAGENET1K_V1 is looked up by."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(0)
    reference = torchvision.models.resnet18()
    for module in reference.modules():   # statistics that are not the fresh 0 and 1, so that they are seen copied
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    path = pretrained.cached_file(torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    return reference.eval()


def _resnet18(classes: int = 1000, **init):
    document = playground.load_spec(ZOO / "resnet18.yaml").to_dict()
    if classes != 1000:
        document["layers"][-1]["out_features"] = classes
    document["init"] = init
    return playground.load_spec(document)


def _loaded(spec, download=False):
    model = playground.build(spec)
    notes = pretrained.load_into(model, pretrained.read(spec.init.weights, download=download), spec.init.skip)
    return model.eval(), notes


def test_torchvisions_weights_give_exactly_torchvisions_outputs(torch_home):
    model, notes = _loaded(_resnet18(weights=IMAGENET))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), torch_home(x))
    assert notes == ["weights from torchvision's ResNet18_Weights.IMAGENET1K_V1: 122 tensors loaded in order"]


def test_a_head_of_another_class_count_stays_fresh_and_is_named(torch_home):
    spec = _resnet18(classes=3, weights=IMAGENET)
    model, notes = _loaded(spec)
    torch.manual_seed(spec.train.seed)
    fresh = playground.build(playground.load_spec({**spec.to_dict(), "init": {}}))
    assert notes[1] == "left freshly initialized: fc (the head: 3 outputs in the spec, 1,000 in the weights)"
    theirs = torch_home.state_dict()
    for (key, value), their in zip(model.state_dict().items(), theirs.values(), strict=True):
        if key.startswith("fc."):
            assert value.shape[0] == 3
        else:
            assert torch.equal(value, their), key
    torch.manual_seed(spec.train.seed)
    assert torch.equal(playground.build(spec).state_dict()["fc.weight"], fresh.state_dict()["fc.weight"])


def test_weights_that_do_not_fit_are_refused_naming_the_first_tensor(torch_home, tmp_path):
    state = torch_home.state_dict()
    state["layer3.0.conv1.weight"] = torch.zeros(256, 256, 3, 3)
    path = tmp_path / "wider.pth"
    torch.save(state, path)
    with pytest.raises(pretrained.WeightsError) as info:
        _loaded(_resnet18(weights=str(path)))
    assert str(info.value).startswith(
        "layer3.0.body.conv1.weight: 256x128x3x3 in the spec, 256x256x3x3 in the weights (the weights' "
        f"layer3.0.conv1.weight) (the file {path}).\n  Use the spec these weights were trained with")


def test_init_skip_leaves_named_layers_fresh_and_any_other_mismatch_is_an_error(torch_home):
    model, notes = _loaded(_resnet18(weights=IMAGENET, skip=["layer4", "fc"]))
    assert notes[1] == "left freshly initialized: " + ", ".join(sorted({
        k.rsplit(".", 1)[0] for k in model.state_dict() if k.startswith(("layer4", "fc"))})) + " (init.skip)"
    ours, theirs = model.state_dict(), torch_home.state_dict()
    assert not torch.equal(ours["layer4.0.body.conv1.weight"], theirs["layer4.0.conv1.weight"])
    assert torch.equal(ours["layer3.0.body.conv1.weight"], theirs["layer3.0.conv1.weight"])
    document = _resnet18().to_dict()
    document["layers"][0].update(kernel_size=5, padding=2)   # the stem: not the head, so a mismatch is refused
    with pytest.raises(pretrained.WeightsError, match=r"^conv1.weight: 64x3x5x5 in the spec, 64x3x7x7 in the weights"):
        _loaded(playground.load_spec({**document, "init": {"weights": IMAGENET}}))


def test_offline_the_error_names_the_file_and_the_folder_it_goes_in(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(pretrained.WeightsError) as info:
        pretrained.read(IMAGENET, download=False)
    folder = tmp_path / "empty" / "hub" / "checkpoints"
    assert str(info.value) == (
        f"torchvision's ResNet18_Weights.IMAGENET1K_V1 are not in {folder}, and downloading is switched off.\n"
        f"  Put resnet18-f37072fd.pth (from https://download.pytorch.org/models/resnet18-f37072fd.pth) in "
        f"{folder}, or set TORCH_HOME to a folder whose hub/checkpoints holds it.")


def test_a_weights_name_torchvision_does_not_know_gets_a_suggestion():
    with pytest.raises(pretrained.WeightsError, match="no weights named ResNet18_Weights.IMAGENET1K_V3. Did you "
                                                      "mean 'ResNet18_Weights.IMAGENET1K_V1'"):
        pretrained.read("torchvision:ResNet18_Weights.IMAGENET1K_V3", download=False)


class _Payload:
    def __reduce__(self):
        return (print, ("this would have run",))


@pytest.mark.parametrize("content", ["a pickled object", "not a state dict", "no such file"])
def test_hostile_or_wrong_weight_files_are_refused_unloaded(tmp_path, content, capsys):
    path = tmp_path / "weights.pt"
    if content == "a pickled object":
        path.write_bytes(pickle.dumps({"conv.weight": _Payload()}))
        torch.save({"conv.weight": _Payload()}, path)
    elif content == "not a state dict":
        torch.save([1, 2, 3], path)
    with pytest.raises(pretrained.WeightsError) as info:
        pretrained.read(str(path))
    message = str(info.value)
    assert {"a pickled object": "cannot be loaded safely: it holds the Python object",
            "not a state dict": "holds no state dict", "no such file": "is not a file or a run folder"}[content] \
        in message
    assert "this would have run" not in capsys.readouterr().out


def _train(text, tmp_path, data_dir, name, **kwargs):
    spec = playground.load_spec(text)
    train(spec, out=tmp_path / name, data_dir=data_dir, download=False, **kwargs)
    return runs.load_checkpoint(tmp_path / name)


def test_a_fine_tune_of_the_head_keeps_every_frozen_tensor_bit_for_bit(tmp_path, data_dir):
    """Frozen: no update, no weight decay, no optimizer state, batch-norm statistics kept."""
    base = _train(NET, tmp_path, data_dir, "base")
    tuned = _train(NET.replace("train: {", f"init: {{weights: {tmp_path / 'base'}}}\ntrain: {{weight_decay: 0.01, "
                                           "freeze: [all], trainable: [head], "), tmp_path, data_dir, "tuned")
    changed = [k for k, v in tuned["model"].items() if not torch.equal(v, base["model"][k])]
    assert changed == ["head.weight", "head.bias"]   # bn's running statistics and batch count included
    state = tuned["optimizer"]["state"]
    assert len(state) == 2 and all("momentum_buffer" in s for s in state.values())
    notes = runs.read_info(tmp_path / "tuned")["data_notes"]
    assert f"weights from the run {tmp_path / 'base'}: 11 tensors loaded by name" in notes
    assert "frozen: 14,008 of 14,178 parameters; their batch norms keep their statistics" in notes


def test_frozen_norm_train_updates_the_statistics_and_unfreezing_trains_the_rest(tmp_path, data_dir):
    base = _train(NET, tmp_path, data_dir, "base")
    text = NET.replace("train: {", f"init: {{weights: {tmp_path / 'base'}}}\ntrain: {{freeze: [conv, bn], ")
    norm = _train(text.replace("freeze:", "frozen_norm: train, freeze:"), tmp_path, data_dir, "norm")
    moved = {k for k, v in norm["model"].items() if not torch.equal(v, base["model"][k])}
    assert {"bn.running_mean", "bn.running_var"} <= moved and not moved & {"conv.weight", "bn.weight", "bn.bias"}
    thawed = _train(text.replace("epochs: 2", "epochs: 3").replace("freeze:", "unfreeze_epoch: 3, freeze:"),
                    tmp_path, data_dir, "thawed")
    assert not torch.equal(thawed["model"]["conv.weight"], base["model"]["conv.weight"])


def test_per_part_rates_follow_the_schedule(tmp_path, data_dir):
    ckpt = _train(NET.replace("train: {", "train: {schedule: cosine, lr_parts: {head: 0.2, hidden: 0.1}, "),
                  tmp_path, data_dir, "parts")
    groups = ckpt["optimizer"]["param_groups"]
    assert [(g["part"], g["lr_scale"], len(g["params"])) for g in groups] == [("head", 4.0, 2), ("hidden", 2.0, 2),
                                                                           ("rest", 1.0, 4)]
    from playground.train.engine import lr_at

    spec = playground.load_spec(NET.replace("train: {", "train: {schedule: cosine, "))
    last = lr_at(spec.train, 2 * 10 - 1, 10)   # the rate of the last step
    assert [g["lr"] for g in groups] == pytest.approx([4 * last, 2 * last, last], rel=1e-12)


def test_a_resumed_fine_tune_equals_an_uninterrupted_one(tmp_path, data_dir):
    _train(NET, tmp_path, data_dir, "base")
    text = NET.replace("epochs: 2", "epochs: 3").replace(
        "train: {", f"init: {{weights: {tmp_path / 'base'}}}\ntrain: {{freeze: [all], trainable: [head], "
                    "unfreeze_epoch: 2, lr_parts: {head: 0.1}, ")
    whole = _train(text, tmp_path, data_dir, "whole")
    trainer = Trainer(playground.load_spec(text), out=tmp_path / "parts", data_dir=data_dir, download=False,
                      progress_every=1)
    for event in trainer.events():
        if isinstance(event, StepDone) and (event.epoch, event.step) == (1, 4):
            trainer.stop()
    list(Trainer.resume(tmp_path / "parts", data_dir=data_dir, download=False).events())
    parts = runs.load_checkpoint(tmp_path / "parts")
    for key, value in whole["model"].items():
        assert torch.equal(value, parts["model"][key]), key
    assert runs.read_metrics(tmp_path / "parts")[-1]["test_loss"] == runs.read_metrics(tmp_path / "whole")[-1][
        "test_loss"]


def test_a_part_name_that_is_no_layer_is_refused_before_training(tmp_path, data_dir):
    spec = playground.load_spec(NET.replace("train: {", "train: {freeze: [haed], "))
    with pytest.raises(finetune.PartError, match=r"^train.freeze\[0\]: the model has no layer or block 'haed'. "
                                                 r"Did you mean 'head'\?"):
        train(spec, out=tmp_path / "run", data_dir=data_dir, download=False)
    assert not (tmp_path / "run").exists()


def test_the_command_lines_init_overrides_the_spec_and_a_fine_tuned_run_exports(tmp_path, data_dir):
    from playground.export.cli import main as export
    from playground.train.cli import main as train_cli

    (tmp_path / "net.yaml").write_text(NET)
    _train(NET, tmp_path, data_dir, "base")
    args = [str(tmp_path / "net.yaml"), "--data-dir", str(data_dir), "--no-download", "--epochs", "1"]
    assert train_cli([*args, "--out", str(tmp_path / "tuned"), "--init", str(tmp_path / "base")]) == 0
    written = yaml.safe_load((tmp_path / "tuned" / runs.SPEC_FILE).read_text())
    assert written["init"]["weights"] == str(tmp_path / "base")
    assert export([str(tmp_path / "tuned"), "--format", "onnx", "--out", str(tmp_path / "net.onnx")]) == 0
    assert (tmp_path / "net.onnx").stat().st_size > 0
    assert train_cli([*args, "--out", str(tmp_path / "bad"), "--init", str(tmp_path / "nothing")]) == 2


def test_the_check_table_shows_what_is_frozen_per_layer_and_in_all(tmp_path, capsys):
    from playground.check.cli import main as check

    path = tmp_path / "net.yaml"
    path.write_text(NET.replace("train: {", "train: {freeze: [conv, bn], "))
    assert check([str(path)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[1]: line.split() for line in out.splitlines() if line[:1].isdigit()}
    assert lines["conv"][-1] == "156" and lines["bn"][-1] == "12" and len(lines["hidden"]) == 6   # blank: none
    assert "; trainable 14,010, frozen 168)" in out
    path.write_text(NET.replace("train: {", "train: {freeze: [all], trainable: [haed], "))
    assert check([str(path)]) == 2
    assert "train.trainable[0]: the model has no layer or block 'haed'. Did you mean 'head'?" in capsys.readouterr().err


def test_the_zoo_table_freezes_blocks_by_their_module_paths():
    """Rows inside blocks get their modules' frozen counts: freezing layer1 freezes each of its
    blocks' convolutions and norms, and nothing outside it."""
    from playground.check.parts import frozen_by_row

    spec = _resnet18(weights=None)
    spec = playground.load_spec({**spec.to_dict(), "train": {"freeze": ["layer1", "layer2.0.body.conv1"]}})
    summary = playground.summarize(spec)
    frozen = frozen_by_row(spec, summary)
    by_name = {r.path: r for r in summary.walk()}
    layer1 = next(r for r in summary.rows if r.name == "layer1")
    assert frozen[layer1.path] == layer1.params == 147_968
    inner = [r for r in layer1.walk() if r.type == "conv2d"]
    assert len(inner) == 4 and all(frozen[r.path] == r.params == 36_864 for r in inner)
    layer2 = next(r for r in summary.rows if r.name == "layer2")
    assert frozen[layer2.path] == 128 * 64 * 9
    assert sum(frozen.get(r.path, 0) for r in summary.rows) == 147_968 + 73_728
    assert all(frozen.get(p, 0) == 0 for p, r in by_name.items() if r.name in ("conv1", "fc") and r.depth == 0)


def test_pictures_from_torchvisions_weights_take_their_preprocessing_and_train_the_head_alone(torch_home, tmp_path):
    """An image folder on ResNet-18 from torchvision's weights, all but the head frozen: the weights'
    mean, std and crop become the run's (written in its spec.yaml), the log says where they came
    from, and every tensor but the head's is torchvision's, bit for bit, after training."""
    from tinydata import write_image_folder

    write_image_folder(tmp_path / "pictures", n_train=8, n_test=2)
    document = _resnet18(classes=3).to_dict()
    document.update(input={"channels": 3, "height": 32, "width": 32},
                    data={"dataset": "image_folder", "path": str(tmp_path / "pictures"), "batch_size": 8},
                    init={"weights": IMAGENET}, train={"epochs": 1, "freeze": ["all"], "trainable": ["fc"],
                                                       "device": "cpu", "lr": 0.05})
    train(playground.load_spec(document), out=tmp_path / "run", download=False)
    written = yaml.safe_load((tmp_path / "run" / runs.SPEC_FILE).read_text())["data"]
    assert (written["mean"], written["std"], written["crop"]) == ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], 0.875)
    notes = runs.read_info(tmp_path / "run")["data_notes"]
    assert ("preprocessing from torchvision's ResNet18_Weights.IMAGENET1K_V1: mean [0.485, 0.456, 0.406], std "
            "[0.229, 0.224, 0.225], crop 0.875 (data.mean, data.std, data.crop in the spec override it)") in notes
    assert "torchvision's ResNet18_Weights.IMAGENET1K_V1 were trained on 224x224 crops; the spec's input is 32x32" \
        in notes
    assert any(n.startswith("the folder's own statistics differ: mean [") for n in notes)
    theirs = torch_home.state_dict()
    for (key, value), their in zip(runs.load_checkpoint(tmp_path / "run")["model"].items(), theirs.values(),
                                   strict=True):
        if not key.startswith("fc."):
            assert torch.equal(value, their), key


def test_a_crop_keeps_the_middle_as_torchvisions_resize_then_center_crop_does(tmp_path):
    import numpy as np
    import torchvision.transforms.functional as TF
    from PIL import Image

    from playground.train.imagefolder import decode

    y, x = np.mgrid[0:150, 0:200]
    pixels = np.stack([x * 255 // 199, y * 255 // 149, (x + y) * 255 // 348], -1).astype(np.uint8)   # smooth
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    ours = decode(str(tmp_path / "wide.png"), 3, 56, 56, "center_crop", crop=56 / 64).astype(int)
    theirs = np.asarray(TF.center_crop(TF.resize(Image.open(tmp_path / "wide.png"), 64), 56)).astype(int)
    assert np.abs(ours - theirs).mean() < 1.5 and np.abs(ours - theirs).max() <= 6
    whole = decode(str(tmp_path / "wide.png"), 3, 56, 56, "center_crop").astype(int)
    assert np.abs(whole - theirs).mean() > 5   # without the crop, a wider view: not the same pixels


@pytest.mark.parametrize("freeze", [["conv", "bn"], ["all"]], ids=["body", "all-but-head"])
def test_a_frozen_prefix_runs_once_and_training_on_its_outputs_ends_with_the_same_weights(tmp_path, data_dir, freeze,
                                                                                         request):
    _train(NET, tmp_path, data_dir, "base")
    text = NET.replace("epochs: 2", "epochs: 3").replace(
        "train: {", f"init: {{weights: {tmp_path / 'base'}}}\ntrain: {{freeze: {freeze}, trainable: [head], "
                    if freeze == ["all"] else f"init: {{weights: {tmp_path / 'base'}}}\ntrain: {{freeze: {freeze}, ")
    events = []
    train(playground.load_spec(text), events.append, out=tmp_path / "cached", data_dir=data_dir, download=False)
    uncached = _train(text, tmp_path, data_dir, "uncached", cache_frozen=False)
    cached = runs.load_checkpoint(tmp_path / "cached")
    base = runs.load_checkpoint(tmp_path / "base")["model"]
    for key, value in uncached["model"].items():
        # The frozen layers run on batches of 40 (cached) or 32 (every epoch): equal here bit for bit, but a
        # CPU whose kernels block by batch size may round differently, so what trains is compared to rounding.
        assert torch.allclose(value, cached["model"][key], rtol=1e-5, atol=1e-6), key
        if key.startswith(("conv.", "bn.")):   # frozen: untouched in both, exactly
            assert torch.equal(value, base[key]) and torch.equal(cached["model"][key], base[key]), key
    notes = runs.read_info(tmp_path / "cached")["data_notes"]
    last = {"body": "3", "all-but-head": "5"}[request.node.callspec.id]   # before the first layer that trains
    assert any(n.startswith(f"the frozen layers conv..{last} run once, not every epoch") for n in notes), notes
    assert not any("run once" in n for n in runs.read_info(tmp_path / "uncached")["data_notes"])
    progress = [e for e in events if type(e).__name__ == "Progress"]
    assert {(e.split, e.task) for e in progress} == {("train", "running the frozen layers on"),
                                                    ("test", "running the frozen layers on")}
    a, b = (runs.read_metrics(tmp_path / name) for name in ("cached", "uncached"))
    assert [round(r["test_accuracy"], 6) for r in a] == [round(r["test_accuracy"], 6) for r in b]


def test_a_norm_without_weights_in_a_frozen_part_still_moves_so_the_cache_stops_before_it(tmp_path, data_dir):
    """batchnorm2d with affine: false has no parameter to freeze; its statistics follow the batches
    as before, so only the layers before it run once, and the weights still match the uncached run."""
    text = NET.replace("{type: batchnorm2d, name: bn}", "{type: batchnorm2d, name: bn, affine: false}").replace(
        "train: {", "train: {freeze: [conv, bn], ")
    cached = _train(text, tmp_path, data_dir, "cached")
    uncached = _train(text, tmp_path, data_dir, "uncached", cache_frozen=False)
    for key, value in uncached["model"].items():   # (to rounding: the cached maps are laid out as index_select
        assert torch.allclose(value, cached["model"][key], rtol=1e-5, atol=1e-6), key   # leaves them)
    assert not torch.equal(cached["model"]["bn.running_mean"], torch.zeros(6))   # the statistics moved
    notes = runs.read_info(tmp_path / "cached")["data_notes"]
    assert any(n.startswith("the frozen layers conv..conv run once") for n in notes), notes
