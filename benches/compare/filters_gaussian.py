"""Peer values for fibstack's exact-kernel Gaussian (tests/filters_gaussian.rs).

Stores a small random float32 volume and scipy.ndimage.gaussian_filter of it with anisotropic
sigmas (in voxels), truncate=4.0, mode='reflect' (half-sample symmetric).
Run: /work/venv/bin/python benches/compare/filters_gaussian.py  (from the repo root)
"""
import json
import numpy as np
import scipy
import scipy.ndimage as ndi

rng = np.random.default_rng(20261123)
vol = rng.random((24, 32, 40), dtype=np.float32) * 1000.0
cases = {
    "aniso3d": [1.7, 0.8, 2.5],    # sigma per axis in voxels, (z, y, x)
    "big3d": [6.0, 9.0, 12.0],     # kernel longer than the axis: periodic mirror
    "slice2d": [0.0, 1.3, 3.1],     # z untouched = 2-D per slice
}
np.save("fixtures/peer/filters_gaussian_input.npy", vol)
meta = {"scipy": scipy.__version__, "numpy": np.__version__, "truncate": 4.0, "mode": "reflect", "cases": {}}
for name, s in cases.items():
    out = ndi.gaussian_filter(vol, sigma=s, truncate=4.0, mode="reflect")
    np.save(f"fixtures/peer/filters_gaussian_{name}.npy", out.astype(np.float32))
    meta["cases"][name] = {"sigma_vox": s, "file": f"filters_gaussian_{name}.npy"}
with open("fixtures/peer/filters_gaussian.json", "w") as f:
    json.dump(meta, f, indent=1)
print(json.dumps(meta, indent=1))
