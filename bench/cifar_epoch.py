"""One training epoch of specs/cifar10_resnet20.yaml with crop + flip, three
ways, side by side in one run on a generated CIFAR-10-format set:

  playground     the training engine: data normalized once on the device,
                 batches by index, augmentation batched on the device
  hand-written   torchvision's CIFAR10 with transforms (RandomCrop(32, 4),
                 RandomHorizontalFlip, ToTensor, Normalize) and a DataLoader
                 (shuffle, one worker per core): the usual pipeline
  compute only   the same steps on one ready-made batch: no data work at all

All three train the same model (same device settings, memory format and
precision), so the ratios measure the data path. They take turns, a share
of the epoch each, so that all three see the same machine. Goal:
playground's data overhead (playground / compute only - 1) under 10%.

    python bench/cifar_epoch.py [--images 50000] [--device auto] [--rounds 4]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import playground  # noqa: E402
from playground.check.builder import build  # noqa: E402
from playground.format.datasets import DATASETS  # noqa: E402
from playground.format.loader import with_overrides  # noqa: E402
from playground.train import devices  # noqa: E402
from playground.train.engine import RunStarted, StepDone, Trainer  # noqa: E402


def write_cifar(root: Path, n_train: int, n_test: int) -> None:
    """Random images in CIFAR-10's on-disk format (five pickled training batches,
    a test batch, the meta file); torchvision's checksums pointed at them."""
    import torchvision.datasets as tvd

    info = DATASETS["cifar10"]
    folder = root / info.files_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def batch(n):
        return {"data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
                "labels": rng.integers(0, 10, n).tolist()}

    sizes = [n_train // 5 + (i < n_train % 5) for i in range(5)]
    files = {**{f"data_batch_{i + 1}": batch(n) for i, n in enumerate(sizes)}, "test_batch": batch(n_test),
             "batches.meta": {"label_names": list(info.classes)}}
    for name, content in files.items():
        (folder / name).write_bytes(pickle.dumps(content))
    md5 = {f: hashlib.md5((folder / f).read_bytes()).hexdigest() for f in files}
    cls = tvd.CIFAR10
    cls.train_list = [[f, md5[f]] for f, _ in cls.train_list]
    cls.test_list = [[f, md5[f]] for f, _ in cls.test_list]
    cls.meta = {**cls.meta, "md5": md5["batches.meta"]}


def model_for(spec, setup):
    torch.manual_seed(spec.train.seed)
    model = build(spec).to(setup.device)
    if setup.channels_last:
        model = model.to(memory_format=torch.channels_last)
    t = spec.train
    optimizer = torch.optim.SGD(model.parameters(), lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay,
                                nesterov=t.nesterov)
    return model, optimizer


def step(model, optimizer, x, y, setup) -> None:
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(setup.device.type, dtype=setup.amp_dtype, enabled=setup.amp_dtype is not None):
        loss = F.cross_entropy(model(x).float(), y)
    loss.backward()
    optimizer.step()


def sync(setup) -> None:
    if setup.device.type == "cuda":
        torch.cuda.synchronize(setup.device)


def playground_steps(spec, root: Path, out: Path):
    """The engine's training steps, one per next(): each ends at its StepDone."""
    events = Trainer(spec, out=out, data_dir=root, download=False, progress_every=1).events()
    for event in events:
        if isinstance(event, RunStarted):
            break
    while True:
        event = next(events)
        if isinstance(event, StepDone):
            yield
            if event.step == event.steps:
                return


def handwritten_steps(spec, setup, root: Path, workers: int):
    from torchvision import datasets, transforms

    info = DATASETS["cifar10"]
    pipeline = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                   transforms.ToTensor(), transforms.Normalize(info.mean, info.std)])
    train = datasets.CIFAR10(str(root), train=True, transform=pipeline, download=False)
    loader = torch.utils.data.DataLoader(train, batch_size=spec.data.batch_size, shuffle=True, num_workers=workers,
                                         pin_memory=setup.device.type == "cuda")
    model, optimizer = model_for(spec, setup)
    model.train()
    for x, y in loader:
        x = x.to(setup.device, non_blocking=True)
        if setup.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        step(model, optimizer, x, y.to(setup.device, non_blocking=True), setup)
        sync(setup)
        yield


def compute_steps(spec, setup, n: int):
    batch = spec.data.batch_size
    model, optimizer = model_for(spec, setup)
    model.train()
    x = torch.randn(batch, 3, 32, 32, device=setup.device)
    if setup.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=setup.device)
    for i in range(0, n, batch):
        size = min(batch, n - i)
        step(model, optimizer, x[:size], y[:size], setup)
        sync(setup)
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000, help="training images (CIFAR-10: 50,000)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="DataLoader workers")
    parser.add_argument("--rounds", type=int, default=4, help="turns each pipeline takes")
    args = parser.parse_args()
    spec = playground.load_spec(ROOT / "specs" / "cifar10_resnet20.yaml")
    spec = with_overrides(spec, epochs=1, device=args.device, schedule="constant")
    setup = devices.resolve(spec.train.device)
    steps = -(-args.images // spec.data.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_cifar(root, args.images, 1000)
        print(f"{args.images:,} generated 3x32x32 images, ResNet-20 (batch {spec.data.batch_size}, crop + flip), "
              f"{setup.describe()}; {steps} steps each, in {args.rounds} rounds, the order turned each round",
              flush=True)
        for _ in compute_steps(spec, setup, spec.data.batch_size * 3):   # warm-up: allocator, autotuning
            pass
        pipelines = {"playground": playground_steps(spec, root, root / "run"),
                     "hand-written": handwritten_steps(spec, setup, root, args.workers),
                     "compute only": compute_steps(spec, setup, args.images)}
        times = dict.fromkeys(pipelines, 0.0)
        bounds = [round(steps * r / args.rounds) for r in range(args.rounds + 1)]
        names = list(pipelines)
        for r in range(args.rounds):   # each pipeline runs a share of its epoch in turn: the same machine for all
            for name in names[r % 3:] + names[:r % 3]:
                began = time.perf_counter()
                for _ in range(bounds[r + 1] - bounds[r]):
                    next(pipelines[name])
                times[name] += time.perf_counter() - began
            print(f"  round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()),
                  flush=True)
    for name, seconds in times.items():
        extra = f"  (DataLoader, {args.workers} workers)" if name == "hand-written" else ""
        print(f"  {name:13} {seconds:8.1f} s{extra}")
    speedup = times["hand-written"] / times["playground"]
    overhead = times["playground"] / times["compute only"] - 1
    print(f"hand-written / playground: {speedup:.2f}x")
    print(f"playground data overhead: {100 * overhead:+.1f}% of pure compute "
          f"({'meets' if overhead < 0.10 else 'MISSES'} the 10% goal)")


if __name__ == "__main__":
    main()
