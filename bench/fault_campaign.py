"""A random fault campaign: kill -9 at random moments of training and of
sweeping, then continue with the same command, and check every result
against an uninterrupted one. Not in CI (about 20 minutes on two cores).

Training: the tiny spec, 10 epochs on generated MNIST-format data. Each round
starts a run, kills it at a moment drawn uniformly over an uninterrupted
run's time, resumes it (killing the resume too, at random, up to 2 more
times), then resumes to the end. A run killed before its first checkpoint
starts again (there is nothing to resume). The finished run's metrics must
equal the uninterrupted run's, line for line, and nothing may be left behind
(temporary files, a run.json that says running).

Sweeping: a 4-point grid, 2 epochs a trial. Each round kills the sweep 1 to 3
times at random moments, starting it again at once with the same command,
then lets it end. Every point must be done once (four run folders), with the
status, accuracy and metrics of an uninterrupted sweep's trial at that point.

    python bench/fault_campaign.py [--rounds 50] [--seed 0] [--only train|sweep]

Prints each round's outcome and the totals: rounds, kills, resumes from a
checkpoint, restarts, and mismatches (the promise: none).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from ddp_scaling import write_mnist  # noqa: E402
from sweep_overhead import SPEC as ONE_EPOCH  # noqa: E402

SPEC = ONE_EPOCH.replace("train: {epochs: 1, device: cpu}", "train: {epochs: 10, device: cpu, lr: 0.05}")
GRID = ["--set", "train.lr=[0.01, 0.02, 0.03, 0.05]", "--epochs", "2"]   # 2 epochs a trial, not 10
PY = sys.executable


def _kill_after(command: list[str], seconds: float) -> bool:
    """Run ``command``, kill -9 it after ``seconds``; True if it was killed (not already ended)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True


def _metrics(run: Path) -> list[tuple]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [(m["epoch"], m["train_loss"], m["test_loss"], m["test_accuracy"]) for m in map(json.loads, lines)]


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.endswith((".tmp", ".old"))]


def train_round(root: Path, n: int, reference: list[tuple], seconds: float, rng: random.Random) -> dict:
    run = root / f"train-{n:03d}"
    data = ["--data-dir", str(root / "data"), "--no-download"]
    fresh = [PY, "-m", "playground.train", str(root / "tiny.yaml"), "--out", str(run), *data]
    resume = [PY, "-m", "playground.train", "--resume", str(run), *data]
    kills = resumes = restarts = 0
    for attempt in range(rng.randint(1, 3)):
        has_checkpoint = (run / "checkpoint.pt").exists()
        if attempt and not has_checkpoint:   # killed before its first checkpoint: nothing to resume
            shutil.rmtree(run, ignore_errors=True)
            restarts += 1
        command = resume if has_checkpoint else fresh
        resumes += has_checkpoint
        kills += _kill_after(command, rng.uniform(0.2, seconds))
    if not (run / "checkpoint.pt").exists():
        shutil.rmtree(run, ignore_errors=True)
        restarts += 1
        ended = subprocess.run(fresh, capture_output=True, text=True)
    else:
        resumes += 1
        ended = subprocess.run(resume, capture_output=True, text=True)
    problems = []
    if ended.returncode != 0:
        problems.append(f"exit {ended.returncode}: {ended.stderr.strip().splitlines()[-1:]}")
    elif _metrics(run) != reference:
        problems.append(f"metrics differ: {_metrics(run)} != {reference}")
    if json.loads((run / "run.json").read_text()).get("status") != "completed":
        problems.append("run.json does not say completed")
    if _leftovers(run):
        problems.append(f"left behind: {_leftovers(run)}")
    return {"kills": kills, "resumes": resumes, "restarts": restarts, "problems": problems}


def _points(folder: Path) -> dict:
    """Each grid point's (status, accuracy, metrics) from a finished sweep folder's summary."""
    points = {}
    for line in (folder / "summary.txt").read_text().splitlines()[2:]:
        fields = line.split()
        if fields and fields[0].isdigit():
            points[fields[3]] = (fields[1], fields[2], tuple(_metrics(Path(fields[-1]))))
    return points


def sweep_round(root: Path, n: int, reference: dict, seconds: float, rng: random.Random) -> dict:
    folder = root / f"sweep-{n:03d}"
    command = [PY, "-m", "playground.sweep", str(root / "tiny.yaml"), *GRID, "--data-dir", str(root / "data"),
               "--no-download", "--out", str(folder)]
    kills = sum(_kill_after(command, rng.uniform(0.2, seconds)) for _ in range(rng.randint(1, 3)))
    problems = []
    try:
        ended = subprocess.run(command, capture_output=True, text=True, timeout=20 * seconds)
    except subprocess.TimeoutExpired:
        return {"kills": kills, "resumes": 0, "restarts": 0, "problems": [f"still running after {20 * seconds:.0f} s"]}
    if ended.returncode != 0:
        problems.append(f"exit {ended.returncode}: {ended.stderr.strip().splitlines()[-1:]}")
    else:
        got = _points(folder)
        if got != reference:
            problems.append(f"points differ: {sorted(got.items())} != {sorted(reference.items())}")
        folders = sorted(p.name for p in folder.glob("trial-*"))
        if len(folders) != len(reference):
            problems.append(f"{len(folders)} run folders for {len(reference)} points: {folders}")
    return {"kills": kills, "resumes": 0, "restarts": 0, "problems": problems}


def campaign(kind: str, rounds: int, root: Path, rng: random.Random) -> list[dict]:
    began = time.perf_counter()
    if kind == "train":
        subprocess.run([PY, "-m", "playground.train", str(root / "tiny.yaml"), "--out", str(root / "alone"),
                        "--data-dir", str(root / "data"), "--no-download"], check=True, capture_output=True)
        reference, one = _metrics(root / "alone"), train_round
    else:
        subprocess.run([PY, "-m", "playground.sweep", str(root / "tiny.yaml"), *GRID, "--data-dir",
                        str(root / "data"), "--no-download", "--out", str(root / "alone-sweep")],
                       check=True, capture_output=True)
        reference, one = _points(root / "alone-sweep"), sweep_round
    seconds = time.perf_counter() - began   # an uninterrupted process, start to end
    print(f"{kind}: an uninterrupted {kind} takes {seconds:.1f} s; killing at random moments within it",
          flush=True)
    results = []
    for n in range(rounds):
        result = one(root, n, reference, seconds, rng)
        results.append(result)
        print(f"  {kind} round {n + 1}/{rounds}: {result['kills']} kills, "
              f"{'ok' if not result['problems'] else 'MISMATCH ' + '; '.join(result['problems'])}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("train", "sweep"), default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_mnist(root / "data", 2000)
        (root / "tiny.yaml").write_text(SPEC)
        totals = {}
        for kind in ("train", "sweep"):
            if args.only in (None, kind):
                totals[kind] = campaign(kind, args.rounds, root, rng)
    for kind, results in totals.items():
        kills = sum(r["kills"] for r in results)
        bad = [r for r in results if r["problems"]]
        extra = (f", {sum(r['resumes'] for r in results)} resumes from a checkpoint, "
                 f"{sum(r['restarts'] for r in results)} restarts before a first checkpoint" if kind == "train"
                 else "")
        print(f"{kind}: {len(results)} rounds, {kills} kills{extra}; {len(bad)} rounds whose result differs from "
              f"an uninterrupted {kind}'s ({'the promise holds' if not bad else 'BROKEN'})")


if __name__ == "__main__":
    main()
