"""Markdown table of the criterion results of `cargo bench --bench stages`.

Reads $CARGO_TARGET_DIR/criterion/<group>/<bench>/new/{benchmark,estimates}.json (or the directory
given as the first argument) and prints: stage, median time per iteration, throughput (elements =
voxels, pixels or walker steps per second).

Run: python3 benches/compare/criterion_table.py [criterion-dir]
"""
import glob
import json
import os
import sys

d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")


def fmt_t(ns):
    for unit, f in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= f:
            return f"{ns / f:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_rate(r):
    for unit, f in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if r >= f:
            return f"{r / f:.3g} {unit}elem/s"
    return f"{r:.3g} elem/s"


print("| stage | median time | throughput | elements per iteration |")
print("|---|---|---|---|")
for b in sorted(glob.glob(os.path.join(d, "*", "*", "new", "benchmark.json"))):
    meta = json.load(open(b))
    est = json.load(open(os.path.join(os.path.dirname(b), "estimates.json")))
    ns = est["median"]["point_estimate"]
    n = (meta.get("throughput") or {}).get("Elements")
    rate = fmt_rate(n / (ns * 1e-9)) if n else "—"
    print(f"| {meta['full_id']} | {fmt_t(ns)} | {rate} | {n if n else '—'} |")
