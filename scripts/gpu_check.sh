#!/usr/bin/env bash
# GPU check: train specs/mnist_cnn.yaml for 10 epochs on CUDA, then print the
# wall time, the time per epoch and the test accuracy.
# Target: 10 epochs in under 15 s on one H100 (the tutorial: 1-2 minutes).
#
#   PLAYGROUND_DATA=/path/to/data scripts/gpu_check.sh [extra train flags]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
: "${PLAYGROUND_DATA:?set PLAYGROUND_DATA to the dataset root (holding MNIST/raw)}"

"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this check needs a GPU')"
"$PY" -c "import torch; print('gpu:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"

out=$(mktemp -d)/run
start=$(date +%s.%N)
"$PY" -m playground.train specs/mnist_cnn.yaml --device cuda --no-download --out "$out" "$@"
end=$(date +%s.%N)

"$PY" - "$out" "$start" "$end" <<'PYEOF'
import json, sys
from pathlib import Path
run, start, end = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
train = sum(r["seconds"] for r in rows)
evals = sum(r["eval_seconds"] for r in rows)
info = json.loads((run / "run.json").read_text())
print(f"device: {info['device']}")
print(f"epochs: {len(rows)}, training {train:.1f}s + testing {evals:.1f}s = {train + evals:.1f}s "
      f"({(train + evals) / len(rows):.2f}s per epoch); whole command {end - start:.1f}s")
print(f"test accuracy: {100 * rows[-1]['test_accuracy']:.2f}%")
print(f"goal: 10 epochs in under 15 s -> {'met' if train + evals < 15 else 'NOT met'}")
PYEOF
