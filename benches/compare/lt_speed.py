"""Kernel speed: fibstack vs peers in one run (issue 7 targets for local thickness, labelling, EDT).

Inputs (deterministic, cached as .npy in $LT_DATA, default /tmp/lt_speed):
  lt200.npy  porespy.generators.blobs([200]*3, porosity=0.6, blobiness=1.0, seed=3)  (the volume
             benches/compare/sizes_local_thickness.py times; phase = True = pore)
  b512.npy   porespy.generators.blobs([512]*3, porosity=0.5, blobiness=1.5, seed=7)
Kernels and peers (each best of 3, timing only the kernel call):
  lt   fibstack local_thickness_map (exact, voxel 1)  vs porespy.filters.local_thickness(im)
  cc   fibstack label_components(26)                   vs cc3d.connected_components(im, connectivity=26)
  edt  fibstack edt, voxel (dz,dy,dx) = (20,10,10) nm vs edt.edt(im, anisotropy=(20,10,10), parallel=2)
fibstack runs through `cargo run --release --example peer_kernels` (CARGO_TARGET_DIR honoured), which
prints JSON with the best-of-3 kernel time. Agreement: cc identical partitions (and same count), edt
max |diff| relative to max distance, lt: ours/2 (radius, voxels) vs PoreSpy's radius.

Run:  nice -n 10 /work/venv/bin/python benches/compare/lt_speed.py [lt] [cc] [edt]
      (RAYON_NUM_THREADS is passed through; default all cores)
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

DATA = os.environ.get("LT_DATA", "/tmp/lt_speed")
os.makedirs(DATA, exist_ok=True)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPS = int(os.environ.get("LT_REPS", "3"))


def best_of(f, reps=REPS):
    best, out = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def volume(name, shape, porosity, blobiness, seed):
    p = os.path.join(DATA, name)
    if not os.path.exists(p):
        import porespy as ps
        np.random.seed(seed)
        im = ps.generators.blobs(shape=shape, porosity=porosity, blobiness=blobiness, seed=seed)
        np.save(p, np.ascontiguousarray(im.astype(np.uint8)))
    return p, np.load(p).astype(bool)


def fibstack(kernel, inp, out, voxel=None):
    stage = {"cc": "label26"}.get(kernel, kernel)
    cmd = ["cargo", "run", "--quiet", "--release", "--example", "peer_kernels", "--", stage, inp, out,
           "--reps", str(REPS)]
    if voxel:
        cmd += ["--voxel", ",".join(str(v) for v in voxel)]
    r = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def same_partition(a, b):
    fa, fb = a != 0, b != 0
    if not np.array_equal(fa, fb):
        return False
    pa, pb = a[fa].astype(np.int64), b[fb].astype(np.int64)
    pairs = np.unique(pa * (int(pb.max()) + 1 if pb.size else 1) + pb)
    return len(pairs) == len(np.unique(pa)) == len(np.unique(pb))


rows = []
which = sys.argv[1:] or ["lt", "cc", "edt"]

if "lt" in which:
    import porespy as ps
    p, im = volume("lt200.npy", [200, 200, 200], 0.6, 1.0, 3)
    t_peer, lt_ps = best_of(lambda: ps.filters.local_thickness(im))
    out = os.path.join(DATA, "lt200_fib.npy")
    j = fibstack("lt", p, out)
    ours_r = np.load(out).astype(np.float64) / 2.0
    sel = im
    diff = ours_r[sel] - lt_ps[sel]
    rows.append({"kernel": "local thickness 200^3", "peer": "porespy.filters.local_thickness " + ps.__version__,
                 "fibstack_s": j["seconds"], "peer_s": t_peer, "ratio": j["seconds"] / t_peer,
                 "agreement": {"mean_radius_ours_vox": float(ours_r[sel].mean()),
                               "mean_radius_porespy_vox": float(lt_ps[sel].mean()),
                               "frac_within_1_voxel": float(np.mean(np.abs(diff) <= 1.0)),
                               "frac_ours_below_porespy": float(np.mean(diff < -1e-6))}})

if "cc" in which:
    import cc3d
    p, im = volume("b512.npy", [512, 512, 512], 0.5, 1.5, 7)
    t_peer, lab = best_of(lambda: cc3d.connected_components(im, connectivity=26))
    out = os.path.join(DATA, "cc512_fib.npy")
    j = fibstack("cc", p, out)
    ours = np.load(out)
    rows.append({"kernel": "labelling 26-conn 512^3", "peer": "cc3d.connected_components",
                 "fibstack_s": j["seconds"], "peer_s": t_peer, "ratio": j["seconds"] / t_peer,
                 "agreement": {"components_ours": j["components"], "components_cc3d": int(lab.max()),
                               "identical_partition": bool(same_partition(ours, lab))}})
    del ours, lab

if "edt" in which:
    import edt
    p, im = volume("b512.npy", [512, 512, 512], 0.5, 1.5, 7)
    an = (20.0, 10.0, 10.0)
    t_peer, d = best_of(lambda: edt.edt(im, anisotropy=an, black_border=False, parallel=2))
    out = os.path.join(DATA, "edt512_fib.npy")
    j = fibstack("edt", p, out, voxel=an)
    ours = np.load(out)
    rows.append({"kernel": "EDT 512^3 anisotropic (20,10,10)", "peer": "edt.edt(parallel=2)",
                 "fibstack_s": j["seconds"], "peer_s": t_peer, "ratio": j["seconds"] / t_peer,
                 "agreement": {"max_abs_diff_nm": float(np.abs(ours - d).max()),
                               "max_distance_nm": float(d.max())}})
    del ours, d

print(json.dumps({"threads_env": os.environ.get("RAYON_NUM_THREADS"), "reps": REPS, "rows": rows}, indent=1))
print()
print("| kernel | fibstack s | peer | peer s | ratio |")
print("|---|---|---|---|---|")
for r in rows:
    print(f"| {r['kernel']} | {r['fibstack_s']:.3f} | {r['peer']} | {r['peer_s']:.3f} | {r['ratio']:.3f} |")
