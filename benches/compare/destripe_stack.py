"""Reference values for fibstack's stack destriping (tests/filters_destripe.rs).

An independent numpy/scipy implementation of `destripe --method stack` on the committed
electrode fixture (fixtures/synth/electrode/slices, 64 slices of 75x96 u8): per slice the column
means, minus scipy.ndimage.gaussian_filter1d of them (sigma 16 px, truncate 4, mode 'reflect'),
then averaged over the slices k-16..k+16 that exist. Stores the profiles as (1, 64, 96) float32.
Run: /work/venv/bin/python benches/compare/destripe_stack.py  (from the repo root)
"""
import glob
import json
import numpy as np
import scipy
import scipy.ndimage as ndi
import tifffile

SIGMA, WINDOW = 16.0, 16
files = sorted(glob.glob("fixtures/synth/electrode/slices/slice_*.tif"))
g = np.stack([tifffile.imread(f) for f in files]).astype(np.float64)
m = g.mean(axis=1)                                    # (nz, nx) column means
h = m - ndi.gaussian_filter1d(m, SIGMA, axis=-1, truncate=4.0, mode="reflect")
nz = h.shape[0]
v = np.stack([h[max(0, k - WINDOW):min(nz, k + WINDOW + 1)].mean(axis=0) for k in range(nz)])
np.save("fixtures/peer/destripe_stack_profiles.npy", v[None].astype(np.float32))
meta = {"scipy": scipy.__version__, "numpy": np.__version__, "sigma_px": SIGMA, "window": WINDOW,
        "input": "fixtures/synth/electrode/slices", "shape": list(g.shape),
        "profile_rms": float(np.sqrt((v ** 2).mean()))}
with open("fixtures/peer/destripe_stack.json", "w") as f:
    json.dump(meta, f, indent=1)
print(json.dumps(meta, indent=1))
