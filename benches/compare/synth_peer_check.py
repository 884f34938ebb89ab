#!/usr/bin/env python3
"""Independent check of `fibstack synth` outputs with the Python stack (numpy, tifffile, skimage).

1. Every committed fixture under fixtures/synth: read the labels with tifffile, count the phase
   fractions with numpy, and compare with truth.json; read the slice TIFFs' FEI metadata with
   tifffile's own Thermo/FEI parser.
2. The staircase fixture equals TauFactor's construction (numpy, as in TauFactor's test suite).
3. Drift + 52° face shift: a z-invariant pattern (random disks kept away from the borders) is
   rendered by `fibstack synth --labels` with only tilt and drift on; skimage's
   phase_cross_correlation (upsample 100) measures each slice's shift against slice 0 on the clean
   volume, which must equal -(total_shift[k] - total_shift[0]) recorded in truth.json.

Usage (repo root): /work/venv/bin/python benches/compare/synth_peer_check.py FIBSTACK_BINARY
Writes fixtures/peer/synth_peer_check.json and fixtures/peer/synth_drift_labels.tif.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile
import skimage
from skimage.registration import phase_cross_correlation

root = Path(__file__).resolve().parents[2]
fib = sys.argv[1]
out = {"tools": {"numpy": np.__version__, "tifffile": tifffile.__version__, "skimage": skimage.__version__}}

# 1. fixtures
fx = []
folders = sorted(p.parent for p in (root / "fixtures/synth").rglob("truth.json"))
for d in folders:
    truth = json.loads((d / "truth.json").read_text())
    labels = tifffile.imread(d / "truth/labels.tif")
    if labels.ndim == 2:
        labels = labels[None]
    vals, counts = np.unique(labels, return_counts=True)
    entry = {
        "folder": str(d.relative_to(root)),
        "labels_shape": list(labels.shape),
        "numpy_fractions": {int(v): int(c) / labels.size for v, c in zip(vals, counts)},
        "numpy_voxels": {int(v): int(c) for v, c in zip(vals, counts)},
    }
    slices = sorted((d / "slices").glob("*.tif")) if (d / "slices").exists() else []
    entry["slice_count"] = len(slices)
    if slices:
        with tifffile.TiffFile(slices[0]) as t:
            fei = t.fei_metadata
            entry["slice_shape"] = list(t.pages[0].shape)
            entry["fei_pixel_width_m"] = fei["Scan"]["PixelWidth"]
            entry["fei_pixel_height_m"] = fei["Scan"]["PixelHeight"]
            entry["fei_stage_t_rad"] = fei["Stage"]["StageT"]
            entry["fei_databar_height"] = fei["PrivateFei"]["DatabarHeight"]
    fx.append(entry)
out["fixtures"] = fx

# 2. staircase = TauFactor's image
N = 20
img = np.zeros((N, N + 1, N + 1), np.uint8)
for i in range(N):
    img[i, i:i + 2, i:i + 2] = 1
st = tifffile.imread(root / "fixtures/synth/staircase/truth/labels.tif")
out["staircase_equals_taufactor_construction"] = bool(st.shape == img.shape and (st == img).all())
out["staircase_voxels"] = int(img.sum())

# 3. drift measured by skimage
rng = np.random.default_rng(0)
nz, ny, nx = 24, 96, 96
plane = np.zeros((ny, nx), np.uint8)
yy, xx = np.mgrid[0:ny, 0:nx]
for _ in range(14):
    cy, cx, r = rng.uniform(30, 66), rng.uniform(30, 66), rng.uniform(3, 7)
    plane[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
lab = np.repeat(plane[None], nz, axis=0)
lab_path = root / "fixtures/peer/synth_drift_labels.tif"
tifffile.imwrite(lab_path, lab, compression="zlib")
args = ["--seed", "3", "--voxel", "20,20,20", "--bit-depth", "16", "--no-curtain", "--no-shine",
        "--no-shading", "--no-noise", "--drift-jumps", "0.1,2"]
with tempfile.TemporaryDirectory() as tmp:
    subprocess.run([fib, "-q", "synth", f"{tmp}/o", "--labels", str(lab_path), *args], check=True)
    t = json.loads(Path(f"{tmp}/o/truth.json").read_text())
    clean = tifffile.imread(f"{tmp}/o/truth/clean.tif").astype(np.float64)
total = np.array(t["acquisition"]["total_shift_px"])
expected = -(total - total[0])


def measure(imgs, normalization):
    m = [phase_cross_correlation(imgs[0], imgs[k], upsample_factor=100, normalization=normalization)[0]
         for k in range(nz)]
    m = np.array([[float(v) for v in s] for s in m])
    err = np.abs(m - expected)
    return m, float(err.max()), float(np.sqrt((err ** 2).mean()))


# plain cross-correlation on slightly blurred slices (sigma 1 px): no pixel locking
from scipy.ndimage import gaussian_filter
blurred = np.stack([gaussian_filter(s, 1.0) for s in clean])
meas, emax, erms = measure(blurred, None)
# phase correlation (whitened) on the raw slices: known bias toward whole pixels on sharp edges
_, pmax, prms = measure(clean, "phase")
out["drift"] = {
    "command_args": args,
    "labels": "fixtures/peer/synth_drift_labels.tif",
    "recorded_total_shift_px": total.tolist(),
    "skimage_shift_px": meas.tolist(),
    "method": "skimage.registration.phase_cross_correlation(ref=slice 0, moving=slice k, upsample_factor=100, normalization=None) on clean slices blurred with scipy gaussian_filter sigma=1",
    "max_abs_error_px": emax,
    "rms_error_px": erms,
    "phase_normalized_unblurred_max_abs_error_px": pmax,
    "phase_normalized_unblurred_rms_error_px": prms,
}
(root / "fixtures/peer/synth_peer_check.json").write_text(json.dumps(out, indent=1))
print(json.dumps({k: out[k] for k in ("staircase_equals_taufactor_construction",)}),
      "drift max err", out["drift"]["max_abs_error_px"], "rms", out["drift"]["rms_error_px"])
