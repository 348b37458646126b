"""Export: every shipped spec in every format, checked where it has to work:
onnxruntime against PyTorch, TorchScript and .pt2 files and the Python source
loaded in a fresh process where playground cannot be imported; bad input
refused with nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import SAMPLED_SPECS, SPECS
from tinydata import TINY

import playground
from playground.export import ExportError, export, load, to_bytes
from playground.export.cli import main

SHIPPED = SAMPLED_SPECS

# Run in a fresh interpreter in which `import playground` fails: each job loads an
# exported file, runs the saved input through it and saves the output.
FRESH = r"""
import json, sys
sys.modules["playground"] = None          # not importable here
try:
    import playground
    raise SystemExit("playground was importable")
except ImportError:
    pass
import torch
for job in json.load(open(sys.argv[1])):
    x = torch.load(job["input"])
    if job["format"] == "torchscript":
        model = torch.jit.load(job["file"])
    elif job["format"] == "exported":
        model = torch.export.load(job["file"]).module()
    else:
        namespace = {"__name__": "exported_source"}
        exec(compile(open(job["file"]).read(), job["file"], "exec"), namespace)
        model = namespace[job["class"]]()
        model.load_state_dict(torch.load(job["state"]), strict=True)
        model.eval()
    with torch.no_grad():
        torch.save({"output": model(x), "state": model.state_dict()}, job["output"])
"""


def run_fresh(jobs: list[dict], tmp_path: Path) -> list[tuple[torch.Tensor, dict]]:
    """Each job's output and the state_dict its model holds in the fresh process."""
    manifest = tmp_path / "jobs.json"
    manifest.write_text(json.dumps(jobs))
    done = subprocess.run([sys.executable, "-c", FRESH, str(manifest)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return [(saved["output"], saved["state"]) for saved in (torch.load(job["output"]) for job in jobs)]


# Another process need not compute the same bits from the same weights and input: its
# kernels are chosen for the CPU it runs on (oneDNN and MKL dispatch on the instruction set)
# and for its thread count, and each choice sums float32 products in its own order. What
# holds on any machine: the weights, saved and loaded, bit for bit; the outputs within
# CROSS_PROCESS of the largest |logit|; the same class wherever the top two logits are
# further apart than the outputs may move. Measured against this process on an AVX-512 CPU
# (the child under ONEDNN_MAX_CPU_ISA=AVX2 or SSE41 with MKL_ENABLE_INSTRUCTIONS and
# ATEN_CPU_CAPABILITY to match, or OMP_NUM_THREADS=1): at most 1.04e-6 of the largest
# |logit| (alexnet, whose logits are ~0.03), 1.6e-7 absolute (mnist_cnn); onnxruntime
# against this process: at most 7.6e-7 (this process on AVX-512, AVX2 or SSE4.1 kernels).
# The bound has a 10x margin and is still ~80 float32 ulps of the largest logit: a wrong
# weight or a missing layer moves outputs by far more.
CROSS_PROCESS = 1e-5


def assert_agree(out: torch.Tensor, y: torch.Tensor, what: str = "") -> int:
    """``out`` (another process's, or another library's) within CROSS_PROCESS of the largest
    |y|, and the same class where the margin allows it; returns how many rows had that margin."""
    tol = CROSS_PROCESS * y.abs().max().item()
    torch.testing.assert_close(out, y, rtol=0, atol=tol, msg=lambda m: f"{what}: {m}")
    if y.dim() != 2:
        return 0
    top = y.topk(2, dim=1).values
    clear = top[:, 0] - top[:, 1] > 2 * tol   # each of the two may move by tol: a closer pair may swap
    assert torch.equal(out.argmax(1)[clear], y.argmax(1)[clear]), what
    return int(clear.sum())


def assert_same_state(state: dict, expected: dict, what: str = "") -> None:
    """Weights written to a file and read back are the same bits on any machine."""
    assert list(state) == list(expected), what
    for key, value in expected.items():
        assert torch.equal(state[key], value), f"{what}: {key}"


def assert_exports_everywhere(path: Path, tmp_path: Path, *, needs_torchvision: bool = False) -> str:
    """The spec at ``path`` as ONNX agrees in onnxruntime (batch 1 and 5), and as readable source,
    TorchScript and .pt2 loads and agrees in a process where playground cannot be imported, with
    the same weights (TorchScript: the same values; it may register them in run order). The source
    imports torchvision only where ``needs_torchvision``. Returns the source."""
    import onnxruntime as ort

    from playground.export.source import class_name

    item = load(path)
    session = ort.InferenceSession(to_bytes(item, "onnx"), providers=["CPUExecutionProvider"])
    shape = item.summary.input_shape
    for batch in (1, 5):
        x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            y = item.model(x)
        (out,) = session.run(None, {"images": x.numpy()})
        assert_agree(torch.from_numpy(out), y, f"onnx, batch {batch}")
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = item.model(x)
    torch.save(x, tmp_path / "input.pt")
    torch.save(item.model.state_dict(), tmp_path / "state.pt")
    jobs = []
    for fmt, ext in (("python", "py"), ("torchscript", "pt"), ("exported", "pt2")):
        (tmp_path / f"m.{ext}").write_bytes(to_bytes(item, fmt))
        jobs.append({"format": fmt, "file": str(tmp_path / f"m.{ext}"), "input": str(tmp_path / "input.pt"),
                     "state": str(tmp_path / "state.pt"), "class": class_name(item.spec.name),
                     "output": str(tmp_path / f"{fmt}.out.pt")})
    source = (tmp_path / "m.py").read_text()
    assert ("from torchvision" in source or "import torchvision" in source) == needs_torchvision
    for job, (out, state) in zip(jobs, run_fresh(jobs, tmp_path), strict=True):
        expected = item.model.state_dict()
        if job["format"] == "torchscript":
            assert sorted(state) == sorted(expected)
            state = {k: state[k] for k in expected}
        assert_same_state(state, expected, job["format"])
        assert_agree(out, y, job["format"])
    return source


def _reference(item, batch: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(batch, *item.summary.input_shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return x, item.model(x)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_every_shipped_spec_leaves_as_source_torchscript_and_pt2(tmp_path):
    """One fresh process loads them all: the model's own weights bit for bit (the
    source with its state_dict loaded strictly; TorchScript and .pt2 carry them),
    outputs within CROSS_PROCESS and the same classes; the source passes ruff and
    comes out the same bytes twice."""
    from playground.export.source import class_name

    jobs, expected = [], []
    for path in SHIPPED:
        item = load(path)
        x, y = _reference(item)
        stem = tmp_path / path.stem
        torch.save(x, f"{stem}.input.pt")
        torch.save(item.model.state_dict(), f"{stem}.state.pt")
        for fmt, ext in (("python", "py"), ("torchscript", "pt"), ("exported", "pt2")):
            data = to_bytes(item, fmt)
            Path(f"{stem}.{ext}").write_bytes(data)
            if fmt == "python":
                assert to_bytes(load(path), fmt) == data, "the same spec must give the same source"
            jobs.append({"format": fmt, "file": f"{stem}.{ext}", "input": f"{stem}.input.pt",
                         "state": f"{stem}.state.pt", "class": class_name(item.spec.name),
                         "output": f"{stem}.{fmt}.out.pt"})
            expected.append((path.stem, fmt, y, item.model.state_dict()))
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,F,W",
                           "--line-length", "200", *[j["file"] for j in jobs if j["format"] == "python"]],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout[-3000:]
    for (name, fmt, y, state), (out, loaded) in zip(expected, run_fresh(jobs, tmp_path), strict=True):
        assert_same_state(loaded, state, f"{name} {fmt}")
        assert_agree(out, y, f"{name} {fmt}")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_onnx_matches_pytorch_in_onnxruntime(path):
    import onnx
    import onnxruntime as ort

    item = load(path)
    data = to_bytes(item, "onnx")
    graph = onnx.load_from_string(data)
    onnx.checker.check_model(graph)
    meta = {p.key: p.value for p in graph.metadata_props}
    assert meta["playground.spec"] == item.spec.name
    assert json.loads(meta["playground.mean"]) == item.spec.data.mean
    assert json.loads(meta["playground.input_shape"]) == list(item.summary.input_shape)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"] and [o.name for o in session.get_outputs()] == [
        "logits"]
    assert session.get_inputs()[0].shape[0] == "batch"
    for batch in (1, 5):   # neither is the batch of 2 it was traced with
        x, y = _reference(item, batch, seed=batch)
        (out,) = session.run(None, {"images": x.numpy()})
        assert_agree(torch.from_numpy(out), y, f"batch {batch}")   # other kernels, as in another process


def _trained_run(tmp_path, data_dir) -> Path:
    from playground.format.loader import with_overrides
    from playground.train.engine import Trainer

    list(Trainer(with_overrides(playground.load_spec(TINY), epochs=1), out=tmp_path / "run",
                 data_dir=data_dir).events())
    return tmp_path / "run"


def test_a_trained_run_exports_with_its_weights_and_agrees_on_real_images(tmp_path, data_dir, capsys):
    import onnxruntime as ort

    from playground.train import data as datamod

    run = _trained_run(tmp_path, data_dir)
    assert main([str(run), "--format", "onnx"]) == 0          # default: model.onnx in the run folder
    assert "wrote" in capsys.readouterr().err and (run / "model.onnx").exists()
    item = load(run)
    raw = datamod.load_raw("mnist", data_dir, download=False)
    assert item.classes == raw.classes and len(item.classes) == 10 and "epoch 1" in item.origin
    x = datamod.to_tensor(raw.test.images, item.spec.data.mean, item.spec.data.std, torch.device("cpu"))
    with torch.no_grad():
        y = item.model(x)
    session = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"images": x.numpy()})
    assert assert_agree(torch.from_numpy(out), y) == len(y)   # every test image: the same class

    # in the graph: it takes images scaled to [0, 1]
    assert main([str(run), "--format", "onnx", "--normalize-in-graph", "--out", str(tmp_path / "n.onnx")]) == 0
    session = ort.InferenceSession(str(tmp_path / "n.onnx"), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"images": (raw.test.images.float() / 255).unsqueeze(1).numpy()})
    assert assert_agree(torch.from_numpy(out), y) == len(y)

    # the python file loads the checkpoint's state_dict strictly, in a fresh process
    assert main([str(run), "--format", "python", "--out", str(tmp_path / "tiny.py")]) == 0
    torch.save(x, tmp_path / "x.pt")
    state = torch.load(run / "checkpoint.pt", weights_only=True)["model"]
    torch.save(state, tmp_path / "state.pt")
    ((out, loaded),) = run_fresh([{"format": "python", "file": str(tmp_path / "tiny.py"),
                                   "input": str(tmp_path / "x.pt"), "state": str(tmp_path / "state.pt"),
                                   "class": "Tiny", "output": str(tmp_path / "o.pt")}], tmp_path)
    assert_same_state(loaded, state)                 # the checkpoint's weights, bit for bit
    assert assert_agree(out, y) == len(y)            # every test image: the same class
    text = (tmp_path / "tiny.py").read_text()
    assert "MEAN = (0.1307,)" in text and "CLASSES = (" in text and "x = self[0](x)  # conv2d, N x 4x12x12" in text


def test_the_source_reads_like_a_hand_written_model():
    text = to_bytes(load(SPECS / "mnist_cnn.yaml"), "python").decode()
    assert "class MnistCnn(nn.Sequential):" in text
    assert "x = self.conv1(x)  # N x 10x24x24" in text and "x = self.fc(x)  # N x 10" in text
    assert "('conv1', nn.Conv2d(1, 10, kernel_size=5)),  # 10x24x24" in text   # as the spec says it
    assert "import playground" not in text and "playground." not in text.split('"""', 2)[2]
    resnet = to_bytes(load(SPECS / "zoo" / "resnet18.yaml"), "python").decode()
    assert resnet.count("class Residual(nn.Module):") == 1 and "body=nn.Sequential(OrderedDict([" in resnet


def test_the_python_api_is_the_module_itself(tmp_path):
    out = playground.export.export(SPECS / "lenet5.yaml", "torchscript", tmp_path / "a.pt")
    import playground.export as module

    assert module(SPECS / "lenet5.yaml", "python", tmp_path / "b.py") == tmp_path / "b.py"
    assert out.exists() and (tmp_path / "b.py").exists()
    assert export is module.export


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("args,message", [
    (["{tmp}/norun", "--format", "onnx"], "does not exist"),
    (["{tmp}/empty", "--format", "onnx"], "is not a run folder"),
    (["{spec}", "--format", "onnx", "--out", "{tmp}/missing/m.onnx"], "the folder"),
    (["{spec}", "--format", "onnx", "--out", "{tmp}/taken.onnx"], "exists.\n  Use --force"),
    (["{spec}", "--format", "onnx", "--opset", "3", "--out", "{tmp}/o.onnx"], "ONNX opset 3 is out of range"),
    (["{spec}", "--format", "python", "--normalize-in-graph", "--out", "{tmp}/p.py"], "applies to onnx"),
])
def test_bad_input_is_one_clear_error_and_writes_nothing(tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "taken.onnx").write_text("keep me")
    before = _listing(tmp_path)
    argv = [a.format(tmp=tmp_path, spec=SPECS / "mnist_cnn.yaml") for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.splitlines()) <= 6
    assert _listing(tmp_path) == before and (tmp_path / "taken.onnx").read_text() == "keep me"


def test_an_unknown_format_is_refused():
    with pytest.raises(SystemExit) as info:
        main([str(SPECS / "mnist_cnn.yaml"), "--format", "keras"])
    assert info.value.code == 2
    with pytest.raises(ExportError, match=r"(?s)unknown format 'keras'.*onnx, torchscript, exported, python"):
        export(SPECS / "mnist_cnn.yaml", "keras")


def test_a_checkpoint_that_does_not_match_its_spec(tmp_path, data_dir, capsys):
    run = _trained_run(tmp_path, data_dir)
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    ckpt["model"]["0.weight"] = torch.zeros(8, 1, 5, 5)   # the spec says 4 channels
    torch.save(ckpt, run / "checkpoint.pt")
    assert main([str(run), "--format", "python", "--out", str(tmp_path / "m.py")]) == 2
    err = capsys.readouterr().err
    assert "do not match its spec 'tiny'" in err and "0.weight" in err and not (tmp_path / "m.py").exists()


def test_a_plugin_without_source_is_named_and_one_with_source_exports(registry, tmp_path, capsys):
    from typing import Literal

    from torch import nn

    from playground.layers import Elementwise

    class Twice(nn.Module):
        def forward(self, x):
            return 2 * x

    class Doubling(Elementwise):
        """Doubles its input."""

        type: Literal["double"] = "double"

        def build(self, x):
            return Twice()

    registry.register(Doubling)
    spec = tmp_path / "d.yaml"
    spec.write_text("name: d\ndata: {dataset: none}\ninput: {channels: 1, height: 4, width: 4}\n"
                    "layers:\n  - {type: flatten}\n  - {type: double}\n  - {type: linear, out_features: 2}\n")
    assert main([str(spec), "--format", "python", "--out", str(tmp_path / "d.py")]) == 2
    err = capsys.readouterr().err
    assert "layers[1] (double)" in err and "python source" in err and "not a torch.nn class" in err
    assert not (tmp_path / "d.py").exists()
    assert main([str(spec), "--format", "onnx", "--out", str(tmp_path / "d.onnx")]) == 0   # from its module

    class WithSource(Doubling):
        type: Literal["double2"] = "double2"

        def source(self, x):
            return "Twice()"

        def source_definitions(self, x):
            return ("class Twice(nn.Module):\n    def forward(self, x):\n        return 2 * x\n",)

    registry.register(WithSource)
    spec.write_text(spec.read_text().replace("double}", "double2}"))
    assert main([str(spec), "--format", "python", "--out", str(tmp_path / "d.py")]) == 0
    item = load(spec)
    x, y = _reference(item)
    torch.save(x, tmp_path / "x.pt")
    torch.save(item.model.state_dict(), tmp_path / "s.pt")
    ((out, loaded),) = run_fresh([{"format": "python", "file": str(tmp_path / "d.py"), "input": str(tmp_path / "x.pt"),
                                   "state": str(tmp_path / "s.pt"), "class": "D", "output": str(tmp_path / "o.pt")}],
                                 tmp_path)
    assert_same_state(loaded, item.model.state_dict())
    assert_agree(out, y)
