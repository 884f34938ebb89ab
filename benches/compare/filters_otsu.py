"""Peer values for fibstack's Otsu / multi-Otsu (tests/filters_otsu.rs).

skimage.filters.threshold_otsu / threshold_multiotsu (nbins=256 default) on stored u8, u16 and f32
volumes. skimage bins integer images with one bin per integer value over [min, max] (nbins is
ignored), float images with 256 equal bins over [min, max] (numpy.histogram).
Run: /work/venv/bin/python benches/compare/filters_otsu.py  (from the repo root)
"""
import json
import numpy as np
import skimage
from skimage.filters import threshold_otsu, threshold_multiotsu

rng = np.random.default_rng(99)
shape = (6, 40, 50)
n = np.prod(shape)

def mixture(means, sds, weights):
    k = rng.choice(len(means), size=n, p=weights)
    return (np.array(means)[k] + rng.normal(0, 1, n) * np.array(sds)[k]).reshape(shape)

u8 = np.clip(np.round(mixture([60, 130, 200], [14, 18, 12], [0.3, 0.45, 0.25])), 0, 255).astype(np.uint8)
u16 = np.clip(np.round(mixture([1500, 2300, 3100], [150, 120, 200], [0.35, 0.4, 0.25])), 0, 65535).astype(np.uint16)
u16wide = np.clip(np.round(mixture([9000, 30000, 52000], [2500, 3000, 2000], [0.4, 0.35, 0.25])), 0, 65535).astype(np.uint16)
f32 = mixture([0.1, 0.45, 0.8], [0.05, 0.06, 0.05], [0.35, 0.4, 0.25]).astype(np.float32)
arrays = {"u8": u8, "u16": u16, "u16wide": u16wide, "f32": f32}
meta = {"skimage": skimage.__version__, "cases": {}}
for name, a in arrays.items():
    np.save(f"fixtures/peer/filters_otsu_{name}.npy", a)
    c = {"file": f"filters_otsu_{name}.npy", "otsu": float(threshold_otsu(a))}
    c["multiotsu3"] = [float(t) for t in threshold_multiotsu(a, classes=3)]
    if name in ("u8", "f32"):
        c["multiotsu4"] = [float(t) for t in threshold_multiotsu(a, classes=4)]
    meta["cases"][name] = c
with open("fixtures/peer/filters_otsu.json", "w") as fh:
    json.dump(meta, fh, indent=1)
print(json.dumps(meta, indent=1))
