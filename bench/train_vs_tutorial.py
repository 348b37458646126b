"""playground against the tutorial's hand-written script, and both against the floor, on this machine.

Runs, one after the other: (a) bench/tutorial_mnist.py, the tutorial's script;
(b) python -m playground.train specs/mnist_cnn.yaml with the same
hyperparameters, in float32 (as on a CPU without bfloat16 arithmetic,
PLAYGROUND_CPU_BF16=0) and (c) in bfloat16 autocast where this CPU computes it
(where it does not, the default is float32 and this row is left out: emulated
bfloat16 is slower, and no run would use it); (d) the floor: a bare
channels-last step loop on ready-made batches (938 steps of 64, an epoch) in
both precisions, and one float32 test pass of 10,000 images. Each run's
start-up (from its process's start to its first step) comes from its run.json.
Each epoch's time (training plus test pass) is measured the same way for the
scripts, from the moment each prints the line that ends the epoch; the whole
process's time too. Prints the CPU's bfloat16 features, seconds per epoch and
per process, the ratios and the test accuracies. Goals on a 2-core CPU with
bfloat16: the whole default run at least 3.5x the tutorial's script, its epoch
within 10% of the floor of its precision plus one test pass, 98.7% or so after 10 epochs.

Then times one training step of the spec-built model against the
hand-written Net on the same batch, same settings: the ratio must stay within 1.03;
and the engine's own step (its batches by index, its train_step) against the bare
loop's, in turns in one process (--only-steps: these alone).

    PLAYGROUND_DATA=path/to/data python bench/train_vs_tutorial.py [--epochs 10] [--skip-tutorial]
"""

from __future__ import annotations

import argparse
import json
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

from playground.train.devices import cpu_bfloat16_instructions  # noqa: E402


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


def run_tutorial(epochs: int, env: dict) -> tuple[list[float], float, float]:
    lines = timed_lines([sys.executable, "-u", str(ROOT / "bench" / "tutorial_mnist.py"), "--epochs", str(epochs),
                         "--no-cuda"], env)
    times = epoch_times(lines, r"^Train Epoch: 1 \[0/", r"^Test set:")
    correct = [int(m.group(1)) for _, text in lines if (m := re.search(r"Accuracy: (\d+)/10000", text))]
    return times, correct[-1] / 10000, lines[-1][0]   # the whole process: to its last line


def run_playground(epochs: int, env: dict, bf16: bool) -> tuple[list[float], float, str, float, str]:
    """Per-epoch seconds, test accuracy, the device line, the whole process's seconds and its start-up."""
    out = Path(tempfile.mkdtemp(prefix="bench-run-")) / "run"
    env = {**env, "PLAYGROUND_CPU_BF16": "1" if bf16 else "0"}
    if bf16 and cpu_bfloat16_instructions():
        del env["PLAYGROUND_CPU_BF16"]   # as a user's run finds it
    lines = timed_lines([sys.executable, "-m", "playground.train", str(ROOT / "specs" / "mnist_cnn.yaml"),
                         "--epochs", str(epochs), "--device", "cpu", "--out", str(out), "--no-download"], env)
    times = epoch_times(lines, r"^data: ", r"epoch \d+/\d+: train loss")
    accuracy = float([m[1] for _, t in lines if (m := re.search(r"^epoch \d+/\d+: .*test accuracy ([\d.]+)%", t))][-1])
    device = next(t for _, t in lines if t.startswith("device: "))
    info = json.loads((out / "run.json").read_text())
    return times, accuracy / 100, device, lines[-1][0], f"{info['startup_seconds']:.2f} s ({info['startup']})"


def floor(rounds: int = 3, bfloat16: bool = True) -> tuple[float, float, float]:
    """Seconds of an epoch of bare channels-last steps (938 of 64 on ready-made batches) in
    float32 and in bfloat16 autocast (best of ``rounds``; NaN for bfloat16 when not
    ``bfloat16``), and of one float32 test pass."""
    import torch
    import torch.nn.functional as F

    import playground

    spec = playground.load_spec(ROOT / "specs" / "mnist_cnn.yaml")
    torch.manual_seed(0)
    x = torch.randn(60_000, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (60_000,))
    test = torch.randn(10_000, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    model = playground.build(spec).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    best = {}
    for dtype in ((None, torch.bfloat16) if bfloat16 else (None,)) * rounds:
        model.train()
        start = time.perf_counter()
        for i in range(0, 60_000, 64):
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                loss = F.cross_entropy(model(x[i:i + 64]).float(), y[i:i + 64])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        best[dtype] = min(best.get(dtype, float("inf")), time.perf_counter() - start)
    model.eval()
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, 10_000, 1000):
            model(test[i:i + 1000])
    return best[None], best.get(torch.bfloat16, float("nan")), time.perf_counter() - start


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


def engine_step_ratio(rounds: int = 5, steps: int = 300) -> tuple[float, float]:
    """Seconds per step of the engine (its batches by index, its train_step) and of the bare loop
    on slices of the same normalized MNIST, same model and optimizer, in turns; medians."""
    import torch
    import torch.nn.functional as F

    import playground
    from playground.train.data import finish
    from playground.train.engine import EpochDraws, Trainer, train_step

    spec = playground.load_spec(ROOT / "specs" / "mnist_cnn.yaml", overrides={"train.amp": False})
    trainer = Trainer(spec, out=Path(tempfile.mkdtemp(prefix="bench-steps-")) / "run", download=False)
    p = finish(trainer._prepare())
    draws = EpochDraws.draw(p, 0, (28, 28))
    x, y = p.train_x.held, p.train_y

    def engine():
        running = torch.zeros(())
        for s in range(steps):
            xb, yb = draws.batch(p, draws.order[s * 64:(s + 1) * 64])
            running += train_step(p, xb, yb, 64, 0.01).detach()

    def bare():
        for s in range(steps):
            loss = F.cross_entropy(p.model(x[s * 64:(s + 1) * 64]), y[s * 64:(s + 1) * 64])
            p.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            p.optimizer.step()

    p.model.train()
    samples = {engine: [], bare: []}
    for _ in range(rounds):
        for fn in samples:
            start = time.perf_counter()
            fn()
            samples[fn].append((time.perf_counter() - start) / steps)
    return statistics.median(samples[engine]), statistics.median(samples[bare])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--skip-tutorial", action="store_true", help="only time playground and the step ratio")
    parser.add_argument("--only-steps", action="store_true", help="only the step comparisons")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if "PLAYGROUND_DATA" not in env:
        raise SystemExit("set PLAYGROUND_DATA to the dataset root (holding MNIST/raw)")

    import torch
    if args.only_steps:
        return steps()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; bfloat16 "
          f"instructions: {', '.join(cpu_bfloat16_instructions()) or 'none (bfloat16 autocast would be emulated)'}")
    native = bool(cpu_bfloat16_instructions())
    default = "bfloat16" if native else "float32"   # what a plain run uses on this CPU
    runs = {}
    for name, bf16 in (("float32", False), ("bfloat16", True))[:2 if native else 1]:
        times, acc, device, whole, startup = run_playground(args.epochs, env, bf16)
        runs[name] = (statistics.mean(times), acc, whole)
        print(f"playground {name}: {device}; epochs (s): " + " ".join(f"{t:.1f}" for t in times)
              + f"; start-up {startup}")
    f32, bf, test = floor(bfloat16=native)   # (emulated bfloat16 would take minutes, and no run uses it)
    print(f"floor: an epoch of bare steps {f32:.2f} s float32"
          + (f", {bf:.2f} s bfloat16 ({f32 / bf:.2f}x)" if native else "") + f"; a float32 test pass {test:.2f} s")
    table = [(f"playground {n}", *runs[n]) for n in runs]
    if not args.skip_tutorial:
        tut_times, tut_acc, tut_whole = run_tutorial(args.epochs, env)
        print("tutorial epochs (s): " + " ".join(f"{t:.1f}" for t in tut_times))
        table.insert(0, ("tutorial", statistics.mean(tut_times), tut_acc, tut_whole))
    print(f"\n{'':20}{'s/epoch':>9}{'whole run':>11}{'test acc':>10}")
    for name, epoch, acc, whole in table:
        print(f"{name:20}{epoch:9.2f}{whole:10.1f}s{100 * acc:9.2f}%")
    low = bf if native else f32
    print(f"{'floor ' + default + '+test':20}{low + test:9.2f}")
    best = runs[default]
    print(f"playground {default} epoch / ({default} floor + test pass): {best[0] / (low + test):.2f} "
          "(goal: at most 1.10)")
    if not args.skip_tutorial:
        print(f"whole run: tutorial / playground {default} {tut_whole / best[2]:.2f}x (goal: at least 3.5x); "
              f"per epoch {statistics.mean(tut_times) / best[0]:.2f}x")
    if args.epochs >= 10:
        print(f"accuracy after {args.epochs} epochs: " + ", ".join(f"{n} {100 * r[1]:.2f}%" for n, r in runs.items()))

    steps()


def steps() -> None:
    net, ours, ratio = step_ratio()
    print(f"\none training step, batch 64: tutorial Net {1e3 * net:.3f} ms, spec-built {1e3 * ours:.3f} ms "
          f"(medians); median paired ratio {ratio:.3f} (goal: within 1.03)")
    engine, bare = engine_step_ratio()
    print(f"the engine's step (its batches, train_step) {1e3 * engine:.2f} ms, the bare loop's {1e3 * bare:.2f} ms "
          f"(medians, in turns, float32): {engine / bare:.3f}")


if __name__ == "__main__":
    main()
