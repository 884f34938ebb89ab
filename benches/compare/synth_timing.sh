#!/usr/bin/env bash
# Time `fibstack synth` on a 512×512×256 stack with every acquisition effect on (issue 3: "seconds,
# not minutes"). Criterion-free: /usr/bin/time -v gives wall time and peak memory.
#
# Usage: benches/compare/synth_timing.sh [THREADS]   (from the repository root)
# Needs a release build: cargo build --release (CARGO_TARGET_DIR respected).
set -euo pipefail
threads=${1:-2}
bin=${CARGO_TARGET_DIR:-target}/release/fibstack
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for preset in electrode li-deposit box; do
  echo "== $preset 256x512x512 (z,y,x), all effects, $threads threads"
  # structure + render + writing 256 TIFFs, truth volumes, truth.json
  /usr/bin/time -v "$bin" --threads "$threads" -q synth "$out/$preset" --preset "$preset" \
    --shape 256,512,512 --seed 1 --curtain-second-angle-deg 6 --no-previews 2>&1 \
    | grep -E "Elapsed \(wall|Maximum resident|User time|System time"
  du -sh "$out/$preset" | sed 's/^/   output size: /'
  rm -rf "${out:?}/$preset"
done
