"""Peer values for fibstack's local thickness (tests/sizes_local_thickness.rs).

PoreSpy's local_thickness (default method 'bf') on small isotropic volumes. Conventions differ:
PoreSpy returns the RADIUS (voxels) of the largest INTEGER-radius sphere (radii 1..floor(dt.max()),
sphere of radius r = voxels with distance < r ... as implemented in porespy) covering each voxel;
fibstack returns the DIAMETER 2*EDT(c) of the largest ball centred at a voxel centre with the exact
(continuous) EDT radius. So fibstack/2 >= PoreSpy, typically by < 1 voxel.

Run: /work/venv/bin/python benches/compare/sizes_local_thickness.py
(writes fixtures/peer/sizes_local_thickness.json)
"""
import json
import time
import numpy as np
import porespy as ps

cases = []
for shape, porosity, blobiness, seed in [((36, 36, 36), 0.6, 1.0, 1), ((24, 32, 28), 0.5, 0.5, 2)]:
    np.random.seed(seed)
    im = ps.generators.blobs(shape=list(shape), porosity=porosity, blobiness=blobiness, seed=seed)
    t = time.time()
    lt = ps.filters.local_thickness(im)
    dt_s = time.time() - t
    cases.append({
        "shape": list(shape),
        "mask": im.astype(np.uint8).ravel().tolist(),
        "porespy_radius_vox": [int(v) if float(v).is_integer() else float(v) for v in lt.ravel()],
        "porespy_seconds": dt_s,
    })

# timing reference on 200^3 (printed only; set SIZES_TIMING=1)
import os
if os.environ.get("SIZES_TIMING"):
    im = ps.generators.blobs(shape=[200, 200, 200], porosity=0.6, blobiness=1.0, seed=3)
    t = time.time()
    ps.filters.local_thickness(im)
    print("porespy local_thickness 200^3 seconds:", time.time() - t)

out = {
    "generator": "benches/compare/sizes_local_thickness.py",
    "versions": {"porespy": ps.__version__, "numpy": np.__version__},
    "cases": cases,
}
with open("fixtures/peer/sizes_local_thickness.json", "w") as f:
    json.dump(out, f)
print("cases", len(cases))
