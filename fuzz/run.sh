#!/usr/bin/env bash
# libFuzzer run of every registered reader for SECONDS (default 600) with a 4 GiB memory limit.
# Needs: rustup toolchain install nightly; cargo install cargo-fuzz.
# Seeds: the fixtures and our own written files are a good start; the stable harness
# (benches/fuzz.sh) needs neither nightly nor cargo-fuzz.
set -euo pipefail
secs="${1:-600}"
cd "$(dirname "$0")"
corpus=corpus/readers
mkdir -p "$corpus"
# seed corpus: fixture files, prefixed with the byte that selects their reader
python3 - "$corpus" <<'PY'
import os, sys, pathlib
order = ["tif", "tif", "png", "npy", "raw", "vti", "toml"]  # io::fuzz::READERS order
root = pathlib.Path("..")
out = pathlib.Path(sys.argv[1])
n = 0
for sub in ["fixtures", "workflows", "../shared/data/sem"]:
    for p in sorted((root / sub).rglob("*")):
        ext = p.suffix.lower().lstrip(".").replace("tiff", "tif")
        if p.is_file() and ext in order and p.stat().st_size < 4 << 20:
            (out / f"seed{n}").write_bytes(bytes([order.index(ext)]) + p.read_bytes())
            n += 1
print(f"{n} seeds")
PY
exec cargo +nightly fuzz run readers "$corpus" -- -max_total_time="$secs" -rss_limit_mb=4096 -timeout=10
