#!/usr/bin/env bash
# Stable byte-mutation fuzzing of every reader in fibstack::io::fuzz::READERS (no nightly needed).
#   benches/fuzz.sh [SECONDS=1800] [MEM_GIB=4] [SEED=random]
# Runs tests/fuzz_readers.rs for SECONDS with the readers' child process capped at MEM_GIB of
# address space; prints the figures (cases, panics, aborts, hangs over 10 s, temp files left) as
# JSON, writes them to target/fuzz-report.json, saves failing inputs under target/fuzz-failures/
# and exits non-zero if anything went wrong. Replay one with
#   FIBSTACK_FUZZ_REPLAY=FILE:READER cargo test --release --test fuzz_readers
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-1800}"
mem="${2:-4}"
seed="${3:-$(date +%s)}"
echo "load before: $(uptime)"
FIBSTACK_FUZZ_SECS="$secs" FIBSTACK_FUZZ_MEM_GB="$mem" FIBSTACK_FUZZ_SEED="$seed" \
FIBSTACK_FUZZ_REPORT="target/fuzz-report.json" \
  cargo test --release --test fuzz_readers -- --nocapture
echo "load after: $(uptime)"
