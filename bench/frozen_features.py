"""Training a ResNet-18 head on frozen pretrained layers: the frozen layers run once (their outputs
cached) against every epoch, side by side in one run, with the same final weights.

Makes a 1,500-picture folder (examples/make_shapes.py: 3 classes, 300 test pictures) and
"pretrained" weights (torchvision's ResNet-18, randomly initialized, saved where its weights
API looks for ResNet18_Weights.IMAGENET1K_V1, in a temporary $TORCH_HOME: there are no
published weights offline), then trains specs/zoo/resnet18.yaml with a 3-class head, everything
but `fc` frozen, for --epochs epochs twice: with the cache and without (Trainer(cache_frozen=False)).
Prints each epoch's seconds (training plus its test pass), the cached run's one pass over the
images, the mean of epochs 2 to the last for both, and whether the final weights are equal.

    python bench/frozen_features.py [--epochs 10] [--size 224]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--size", type=int, default=224, help="the input's side (224: the weights' own)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-frozen-"))
    os.environ["TORCH_HOME"] = str(tmp / "torch")
    os.environ["PLAYGROUND_CACHE"] = str(tmp / "cache")

    import make_shapes
    import torch
    import torchvision

    import playground
    from playground.runs import folders as runs
    from playground.train import pretrained
    from playground.train.data import finish, load
    from playground.train.engine import DataProgress, EpochDone, Trainer

    make_shapes.main([str(tmp / "shapes")])
    torch.manual_seed(0)
    path = pretrained.cached_file(torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18().state_dict(), path)

    document = playground.load_spec(ROOT / "specs" / "zoo" / "resnet18.yaml").to_dict()
    document["layers"][-1]["out_features"] = 3
    document.update(input={"channels": 3, "height": args.size, "width": args.size},
                    data={"dataset": "image_folder", "path": str(tmp / "shapes"), "batch_size": 64},
                    init={"weights": "torchvision:ResNet18_Weights.IMAGENET1K_V1"},
                    train={"epochs": args.epochs, "optimizer": "adam", "lr": 0.001, "freeze": ["all"],
                           "trainable": ["fc"], "device": "cpu"})
    spec = playground.load_spec(document)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ResNet-18 at {args.size}x{args.size}, "
          f"1,500 + 300 pictures, {args.epochs} epochs, all but fc frozen")
    # The folder decoded into its cache first (as the weights' preprocessing says), so that neither run pays it.
    followed, _ = pretrained.follow(spec, pretrained.read(spec.init.weights, download=False))
    finish(load(followed.data, (3, args.size, args.size), tmp))
    results = {}
    for name, cache in (("cached", True), ("uncached", False)):
        out = tmp / name
        trainer = Trainer(spec, out=out, download=False, cache_frozen=cache)
        began, once, epochs = time.perf_counter(), 0.0, []
        for event in trainer.events():
            if isinstance(event, DataProgress) and event.task != "decoding":
                once = event.seconds
            elif isinstance(event, EpochDone):
                epochs.append(event.seconds + event.eval_seconds)
        results[name] = (epochs, once, time.perf_counter() - began, runs.load_checkpoint(out)["model"])
        print(f"{name:9} epochs (s): " + " ".join(f"{t:.2f}" for t in epochs)
              + (f"; the frozen layers' one pass {once:.1f} s" if cache else ""))
    cached, uncached = results["cached"], results["uncached"]
    later = {n: statistics.mean(r[0][1:]) for n, r in results.items()}
    equal = all(torch.equal(v, cached[3][k]) for k, v in uncached[3].items())
    print(f"\nepochs 2-{args.epochs}, mean: cached {later['cached']:.2f} s, uncached {later['uncached']:.2f} s "
          f"({later['uncached'] / later['cached']:.0f}x); whole runs {cached[2]:.1f} s and {uncached[2]:.1f} s "
          f"({uncached[2] / cached[2]:.1f}x); final weights equal: {equal}")


if __name__ == "__main__":
    main()
