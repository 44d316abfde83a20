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
for family in llama t5; do
  pids=()
  for _ in $(seq "$workers"); do
    "$python" -m suite distill --recipe "reference/recipes/kd-$family.yaml" \
      --out "reference/$family" --threads 1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done  # a failed worker fails the build
done
"$python" -m suite manifest
"$python" -m suite verify
