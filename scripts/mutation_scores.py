"""Print the mutation score of each mutated module after `mutmut run`
(`make mutants` runs both): killed / (all mutants - those listed in
docs/mutants.md), with the survivors that still need a test or an entry
there. The listed ones are shown in two columns: equivalent (cannot change
behaviour) and GPU-only (only a CUDA device can tell them apart).

    python scripts/mutation_scores.py [--survivors]
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.85
KILLED = {1, 3, 36, 24, -24, 152, 255, 37}   # test failures; timeouts and type errors also catch the mutant
SURVIVED = {0}


GPU_HEADING = "## Only a GPU tells these apart"


def listed(path: Path = ROOT / "docs" / "mutants.md") -> tuple[set[str], set[str]]:
    """Mutant names listed in docs/mutants.md (`playground.x.y__mutmut_N`):
    (equivalent, GPU-only), split at the GPU section's heading."""
    if not path.exists():
        return set(), set()
    equivalent, _, gpu = path.read_text().partition(GPU_HEADING)
    pattern = r"`(playground\.[\wǁ.]+__mutmut_\d+)`"
    return set(re.findall(pattern, equivalent)), set(re.findall(pattern, gpu))


def results(mutants: Path = ROOT / "mutants") -> dict[str, dict[str, int | None]]:
    by_module: dict[str, dict[str, int | None]] = defaultdict(dict)
    for meta in sorted(mutants.rglob("*.py.meta")):
        module = str(meta.relative_to(mutants)).removesuffix(".meta")
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            by_module[module][name] = code
    return by_module


def main(argv: list[str]) -> int:
    equivalent, gpu_only = listed()
    by_module = results()
    if not by_module:
        print("no results under mutants/: run `make mutants` first", file=sys.stderr)
        return 2
    print(f"{'module':36}{'mutants':>8}{'killed':>8}{'equiv.':>8}{'GPU':>5}{'survived':>9}{'other':>7}{'score':>8}")
    worst = 1.0
    left = []
    for module, codes in sorted(by_module.items()):
        tally = Counter()
        for name, code in codes.items():
            if name in equivalent:
                tally["equivalent"] += 1
            elif name in gpu_only:
                tally["gpu"] += 1
            elif code in KILLED:
                tally["killed"] += 1
            elif code in SURVIVED:
                tally["survived"] += 1
                left.append(name)
            else:
                tally["other"] += 1   # not checked, no tests, suspicious
                left.append(name)
        counted = len(codes) - tally["equivalent"] - tally["gpu"]
        score = tally["killed"] / counted if counted else 1.0
        worst = min(worst, score)
        print(f"{module:36}{len(codes):8}{tally['killed']:8}{tally['equivalent']:8}{tally['gpu']:5}"
              f"{tally['survived']:9}{tally['other']:7}{100 * score:7.1f}%")
    print(f"lowest module score {100 * worst:.1f}% (goal {100 * GOAL:.0f}%)")
    if "--survivors" in argv:
        print("\n".join(left))
    return 0 if worst >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
