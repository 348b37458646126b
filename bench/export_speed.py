"""Export times and exported-model speed, in one run:

1. how long exporting specs/zoo/resnet18.yaml takes in each format (goal: under
   10 s each, on the CPU);
2. onnxruntime's CPU inference time against PyTorch's (eager, inference
   mode) for the default spec and for ResNet-18, at batch 1 and 64: the two
   called in turns, median of the repeats.

    python bench/export_speed.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playground.export import FORMATS, load, to_bytes  # noqa: E402


def export_times(spec: Path) -> None:
    item = load(spec)
    print(f"exporting {spec.relative_to(ROOT)} ({item.summary.total_params:,} parameters), "
          f"{torch.get_num_threads()} threads:")
    for fmt in FORMATS:
        began = time.perf_counter()
        data = to_bytes(item, fmt)
        seconds = time.perf_counter() - began
        size = f"{len(data) / 2**20:7.1f} MiB" if len(data) > 2**20 else f"{len(data) / 2**10:7.1f} KiB"
        print(f"  {fmt:12} {seconds:6.2f} s  {size}  "
              f"({'meets' if seconds < 10 else 'MISSES'} the 10 s goal)", flush=True)


def inference(spec: Path, batches: tuple[int, ...], repeats: int) -> None:
    import onnxruntime as ort

    item = load(spec)
    session = ort.InferenceSession(to_bytes(item, "onnx"), providers=["CPUExecutionProvider"])
    for batch in batches:
        x = torch.randn(batch, *item.summary.input_shape)
        feed = {"images": x.numpy()}
        times = {"pytorch": [], "onnxruntime": []}
        with torch.inference_mode():
            item.model(x)
            session.run(None, feed)   # warm-up
            for i in range(repeats):
                for name in (("pytorch", "onnxruntime") if i % 2 == 0 else ("onnxruntime", "pytorch")):
                    began = time.perf_counter()
                    item.model(x) if name == "pytorch" else session.run(None, feed)
                    times[name].append(time.perf_counter() - began)
        pt, rt = (statistics.median(times[k]) * 1000 for k in ("pytorch", "onnxruntime"))
        print(f"  {item.spec.name:12} batch {batch:3}: pytorch {pt:8.2f} ms  onnxruntime {rt:8.2f} ms  "
              f"pytorch / onnxruntime {pt / rt:5.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    export_times(ROOT / "specs" / "zoo" / "resnet18.yaml")
    print("CPU inference, median of", args.repeats)
    inference(ROOT / "specs" / "mnist_cnn.yaml", (1, 64), args.repeats)
    inference(ROOT / "specs" / "zoo" / "resnet18.yaml", (1, 64), max(3, args.repeats // 4))


if __name__ == "__main__":
    main()
