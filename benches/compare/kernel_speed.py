"""EDT and local thickness against their peers, side by side in one run, whole processes measured.

Each kernel runs in its own process under `/usr/bin/time -v` (CPU seconds user+sys and max RSS of
the process); inside, the kernel call alone is timed (best of LT_REPS, default 3). The machine's
load (`uptime`) is recorded before and after. Inputs (cached as .npy in $LT_DATA, default
/tmp/lt_speed; see lt_speed.py):
  lt200.npy  porespy.generators.blobs([200]*3, porosity=0.6, blobiness=1.0, seed=3)
  b512.npy   porespy.generators.blobs([512]*3, porosity=0.5, blobiness=1.5, seed=7)
Kernels:
  edt     fibstack edt, voxel (20,10,10) nm  vs  edt.edt(im, anisotropy=(20,10,10), black_border=False, parallel=2)
  lt      fibstack local_thickness_map (exact) vs porespy.filters.local_thickness(im)  (default sizes=25)
  ltfast  fibstack local_thickness_fast_map    vs the same PoreSpy call
Agreement: EDT max |diff| (nm); local thickness: fast vs exact (diameter, voxels).

Run:  nice -n 10 /work/venv-21/bin/python benches/compare/kernel_speed.py [edt] [lt] [ltfast]
      (fibstack binary: $CARGO_TARGET_DIR or target/, built by
       `cargo build --release --example peer_kernels`)
"""
import json
import os
import re
import subprocess
import sys

import numpy as np

DATA = os.environ.get("LT_DATA", "/tmp/lt_speed")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPS = os.environ.get("LT_REPS", "3")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
PK = os.path.join(TARGET, "release", "examples", "peer_kernels")

PEER = r"""
import sys, time, json, numpy as np
kind, inp, out, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
im = np.load(inp).astype(bool)
if kind == "edt":
    import edt
    f = lambda: edt.edt(im, anisotropy=(20.0, 10.0, 10.0), black_border=False, parallel=2)
    ver = "edt " + getattr(edt, "__version__", "?")
else:
    import porespy as ps
    f = lambda: ps.filters.local_thickness(im)
    ver = "porespy " + ps.__version__
best = float("inf")
for _ in range(reps):
    t = time.perf_counter(); r = f(); best = min(best, time.perf_counter() - t)
np.save(out, np.asarray(r, dtype=np.float32))
print(json.dumps({"seconds": best, "peer": ver}))
"""


def timed(cmd):
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, check=True)
    j = json.loads(r.stdout.strip().splitlines()[-1])
    g = lambda k: float(re.search(re.escape(k) + r":\s*([0-9.]+)", r.stderr).group(1))
    j["cpu_s"] = g("User time (seconds)") + g("System time (seconds)")
    j["max_rss_mb"] = g("Maximum resident set size (kbytes)") / 1024.0
    return j


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


which = sys.argv[1:] or ["edt", "lt", "ltfast"]
rows = []
load_before = uptime()
for k in which:
    name = "b512.npy" if k == "edt" else "lt200.npy"
    inp = os.path.join(DATA, name)
    ours_out = os.path.join(DATA, f"ks_{k}_fib.npy")
    peer_out = os.path.join(DATA, f"ks_{'edt' if k == 'edt' else 'lt'}_peer.npy")
    vox = "20,10,10" if k == "edt" else "1,1,1"
    fib = timed([PK, k, inp, ours_out, "--reps", REPS, "--voxel", vox])
    if k != "ltfast" or not os.path.exists(peer_out):
        peer = timed([sys.executable, "-c", PEER, "edt" if k == "edt" else "lt", inp, peer_out, REPS])
        rows_peer = peer
    else:
        rows_peer = next(r["peer_run"] for r in rows if r["kernel"] == "lt")
    row = {"kernel": k, "input": name, "fibstack": fib, "peer_run": rows_peer,
           "ratio": fib["seconds"] / rows_peer["seconds"]}
    if k == "edt":
        a, b = np.load(ours_out), np.load(peer_out)
        row["max_abs_diff_nm"] = float(np.abs(a - b).max())
    if k == "ltfast" and os.path.exists(os.path.join(DATA, "ks_lt_fib.npy")):
        m = np.load(inp).astype(bool)
        e, f = np.load(os.path.join(DATA, "ks_lt_fib.npy")), np.load(ours_out)
        d = (f - e)[m]
        row["fast_vs_exact_diameter_vox"] = {
            "mean_abs": float(np.abs(d).mean()), "bias": float(d.mean()),
            "within_1": float((np.abs(d) <= 1).mean()), "within_2": float((np.abs(d) <= 2).mean()),
            "p99_abs": float(np.percentile(np.abs(d), 99)), "mean_exact": float(e[m].mean())}
    rows.append(row)
out = {"load_before": load_before, "load_after": uptime(), "reps": REPS, "rows": rows}
print(json.dumps(out, indent=1))
print()
print("| kernel | fibstack kernel s | process CPU s | max RSS MB | peer | peer kernel s | process CPU s | max RSS MB | ratio |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    f, p = r["fibstack"], r["peer_run"]
    print(f"| {r['kernel']} | {f['seconds']:.3f} | {f['cpu_s']:.2f} | {f['max_rss_mb']:.0f} | {p['peer']} | "
          f"{p['seconds']:.3f} | {p['cpu_s']:.2f} | {p['max_rss_mb']:.0f} | {r['ratio']:.3f} |")
