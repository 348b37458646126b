"""playground against the tutorial's hand-written script, on this machine.

Runs, one after the other: (a) bench/tutorial_mnist.py, the tutorial's script,
and (b) python -m playground.train specs/mnist_cnn.yaml, with the same
hyperparameters. Each epoch's time (training plus test pass) is measured the
same way for both, from the moment each command prints the line that ends the
epoch. Prints seconds per epoch, their ratio and both test accuracies.
Goal on a 2-core CPU: playground at least 3x faster per epoch, and 98.7% or
better after 10 epochs.

Then times one training step of the spec-built model against the
hand-written Net on the same batch, same settings: the ratio must stay within 1.03.

    PLAYGROUND_DATA=path/to/data python bench/train_vs_tutorial.py [--epochs 10] [--skip-tutorial]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))


def timed_lines(cmd: list[str], env: dict) -> list[tuple[float, str]]:
    """Run cmd, returning (seconds since start, line) for every line of its output."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=ROOT, bufsize=1)
    lines = []
    for line in proc.stdout:
        lines.append((time.perf_counter() - start, line.rstrip("\n")))
    if proc.wait() != 0:
        tail = "\n".join(text for _, text in lines[-20:])
        raise SystemExit(f"{' '.join(cmd)} failed:\n{tail}")
    return lines


def epoch_times(lines, start_pattern: str, end_pattern: str) -> list[float]:
    """Seconds between the first start_pattern line and each end_pattern line, as per-epoch durations."""
    start = next(t for t, text in lines if re.search(start_pattern, text))
    ends = [t for t, text in lines if re.search(end_pattern, text)]
    return [b - a for a, b in zip([start, *ends], ends, strict=False)]


def run_tutorial(epochs: int, env: dict) -> tuple[list[float], float]:
    lines = timed_lines([sys.executable, "-u", str(ROOT / "bench" / "tutorial_mnist.py"), "--epochs", str(epochs),
                         "--no-cuda"], env)
    times = epoch_times(lines, r"^Train Epoch: 1 \[0/", r"^Test set:")
    correct = [int(m.group(1)) for _, text in lines if (m := re.search(r"Accuracy: (\d+)/10000", text))]
    return times, correct[-1] / 10000


def run_playground(epochs: int, env: dict) -> tuple[list[float], float, str]:
    out = Path(tempfile.mkdtemp(prefix="bench-run-")) / "run"
    lines = timed_lines([sys.executable, "-m", "playground.train", str(ROOT / "specs" / "mnist_cnn.yaml"),
                         "--epochs", str(epochs), "--device", "cpu", "--out", str(out), "--no-download"], env)
    times = epoch_times(lines, r"^data: ", r"epoch \d+/\d+: train loss")
    accuracy = float(re.search(r"test accuracy ([\d.]+)%", [t for _, t in lines if "test accuracy" in t][-1])[1])
    device = next(t for _, t in lines if t.startswith("device: "))
    return times, accuracy / 100, device


def step_ratio(rounds: int = 30, steps: int = 100) -> tuple[float, float, float]:
    """Seconds per training step of the hand-written Net and of the spec-built
    model on the same batch, same settings, measured back to back in alternating
    order; returns both medians and the median of the per-round ratios."""
    import torch
    import torch.nn.functional as F
    from tutorial_mnist import Net

    import playground

    spec = playground.load_spec(ROOT / "specs" / "mnist_cnn.yaml")
    torch.manual_seed(0)
    # Contiguous memory for both: the tutorial's x.view(-1, 320) cannot take channels-last.
    x = torch.randn(64, 1, 28, 28)
    y = torch.randint(0, 10, (64,))
    models = {"tutorial Net": Net().train(), "playground": playground.build(spec).train()}
    # The tutorial's Net ends in log_softmax + nll_loss, ours in cross_entropy: the same math.
    losses = {"tutorial Net": lambda out: F.nll_loss(out, y), "playground": lambda out: F.cross_entropy(out, y)}
    optims = {n: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.5) for n, m in models.items()}
    samples = {n: [] for n in models}
    for rnd in range(rounds + 1):
        for name in (list(models) if rnd % 2 else list(models)[::-1]):  # alternate the order
            model, opt, loss_fn = models[name], optims[name], losses[name]
            start = time.perf_counter()
            for _ in range(steps):
                opt.zero_grad(set_to_none=True)
                loss_fn(model(x)).backward()
                opt.step()
            if rnd:  # the first round warms up
                samples[name].append((time.perf_counter() - start) / steps)
    ratios = [b / a for a, b in zip(samples["tutorial Net"], samples["playground"], strict=True)]
    return statistics.median(samples["tutorial Net"]), statistics.median(samples["playground"]), \
        statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--skip-tutorial", action="store_true", help="only time playground and the step ratio")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if "PLAYGROUND_DATA" not in env:
        raise SystemExit("set PLAYGROUND_DATA to the dataset root (holding MNIST/raw)")

    import torch
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    pg_times, pg_acc, device = run_playground(args.epochs, env)
    print(f"playground: {device}")
    print("playground epochs (s): " + " ".join(f"{t:.1f}" for t in pg_times))
    pg = statistics.mean(pg_times)
    if not args.skip_tutorial:
        tut_times, tut_acc = run_tutorial(args.epochs, env)
        print("tutorial epochs (s):   " + " ".join(f"{t:.1f}" for t in tut_times))
        tut = statistics.mean(tut_times)
        print(f"\n{'':12}{'s/epoch':>9}{'test acc':>10}")
        print(f"{'tutorial':12}{tut:9.2f}{100 * tut_acc:9.2f}%")
        print(f"{'playground':12}{pg:9.2f}{100 * pg_acc:9.2f}%")
        print(f"speed-up per epoch: {tut / pg:.2f}x (goal: at least 3x)")
    else:
        print(f"playground: {pg:.2f} s/epoch, test accuracy {100 * pg_acc:.2f}%")
    if args.epochs >= 10:
        print(f"accuracy after {args.epochs} epochs: {100 * pg_acc:.2f}% (goal: 98.7% or better)")

    net, ours, ratio = step_ratio()
    print(f"\none training step, batch 64: tutorial Net {1e3 * net:.3f} ms, spec-built {1e3 * ours:.3f} ms "
          f"(medians); median paired ratio {ratio:.3f} (goal: within 1.03)")


if __name__ == "__main__":
    main()
