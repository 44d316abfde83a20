#!/usr/bin/env bash
# Build (or finish building) the whole bundle: the aligned targets, then every KD draft of both
# families with WORKERS processes of one torch thread each (default 2). Rerun after any
# interruption, on this machine or a new one: finished artifacts are skipped, checkpoints and
# cached KD data under $SUITE_CHECKPOINT_DIR (default ~/.cache/suite/checkpoints) resume.
#
#   reference/recipes/build.sh            # from the repository root
#   WORKERS=1 reference/recipes/build.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
workers=${WORKERS:-2}
python=${PYTHON:-python}

for family in llama t5; do
  if [ ! -f "reference/$family/target/training.json" ]; then
    "$python" -m suite train --recipe "reference/recipes/$family.yaml" --out "reference/$family" \
      --only target --threads 1
  fi
done
# Worker i starts on family i mod 2 and then takes the other, so the short T5 grid finishes early
# while the Llama grid runs; the lock files let workers share a recipe's queue.
families=(llama t5)
pids=()
for i in $(seq 0 $((workers - 1))); do
  first=${families[$((i % 2))]}
  second=${families[$(((i + 1) % 2))]}
  (
    for family in "$first" "$second"; do
      "$python" -m suite distill --recipe "reference/recipes/kd-$family.yaml" \
        --out "reference/$family" --threads 1
    done
  ) &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done  # a failed worker fails the build
"$python" -m suite manifest
"$python" -m suite verify
