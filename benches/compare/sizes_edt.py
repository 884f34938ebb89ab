"""Peer values for fibstack's EDT (tests/sizes_edt.rs).

Random anisotropic volumes -> scipy.ndimage.distance_transform_edt(mask, sampling=(dz, dy, dx)) and
edt.edt(mask, anisotropy=(dz, dy, dx), black_border=False). Both treat only voxels inside the array
as background (the box edge is not background), like fibstack.

Run: /work/venv/bin/python benches/compare/sizes_edt.py  (writes fixtures/peer/sizes_edt.json)
"""
import json
import numpy as np
import scipy
import scipy.ndimage as ndi
import edt

rng = np.random.default_rng(20261123)
cases = []
for shape, voxel, p in [
    ((9, 13, 17), (2.0, 1.0, 0.5), 0.85),
    ((16, 11, 7), (0.39, 0.39, 1.3), 0.7),
    ((12, 12, 12), (20.0, 5.0, 5.0), 0.95),
    ((5, 30, 21), (1.0, 3.0, 1.5), 0.97),
]:
    mask = rng.random(shape) < p  # True = phase
    d_scipy = ndi.distance_transform_edt(mask, sampling=voxel)
    d_edt = edt.edt(mask.astype(np.uint8), anisotropy=voxel, black_border=False)
    cases.append({
        "shape": list(shape),
        "voxel_nm": list(voxel),
        "mask": mask.astype(np.uint8).ravel().tolist(),
        "scipy": d_scipy.ravel().tolist(),
        "edt": d_edt.astype(float).ravel().tolist(),
        "max_abs_diff_scipy_vs_edt": float(np.abs(d_scipy - d_edt).max()),
    })
out = {
    "generator": "benches/compare/sizes_edt.py",
    "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                 "edt": getattr(edt, "__version__", "unknown")},
    "cases": cases,
}
with open("fixtures/peer/sizes_edt.json", "w") as f:
    json.dump(out, f)
print("cases", len(cases), [c["max_abs_diff_scipy_vs_edt"] for c in cases])
