"""Reference values for fibstack's VSNR destriping (tests/filters_destripe_vsnr.rs) from pyvsnr.

pyvsnr (CEA-MetroCarac, AGPL-3.0; used here as an external program, nothing copied) runs its
numpy path (`algo="numpy"`, FFTs by pyFFTW) with `norm=False` on the slice mapped to [0, 1] by
its own minimum and maximum — the mapping fibstack applies inside `destripe --method vsnr` — and
the result is mapped back. fibstack's Gabor filter at stripe angle θ is pyvsnr's
`{"name": "Gabor", "sigma": (σ_across, σ_along), "theta": -θ}`.

Inputs (float32, stored so the Rust test needs no Python):
- `vsnr_in_synth.npy` (96 x 128): smooth blobs + vertical stripes + Gaussian noise (seed 0);
- `vsnr_in_tilt.npy` (75 x 101, odd sizes): a ramp + stripes tilted by 8 degrees + noise;
- `vsnr_in_fib.npy` (160 x 192): crop of the real curtained FIB image
  `fixtures/real/openfibsem_trench_curtains.tif` (rows 200-359, columns 100-291).
Outputs: `vsnr_out_<case>.npy`, parameters and versions in `vsnr_pyvsnr.json`.
Run from the repository root: /work/venv/bin/python benches/compare/vsnr_pyvsnr.py
"""
import importlib.metadata
import json
import numpy as np
import tifffile

from pyvsnr import vsnr2d

rng = np.random.default_rng(0)


def synth():
    ny, nx = 96, 128
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    u = 0.3 + 0.4 * np.exp(-((x - 40) ** 2 + (y - 50) ** 2) / 300.0) \
        + 0.3 * (((x - 95) ** 2 + (y - 30) ** 2) < 200)
    s = np.zeros(nx)
    s[rng.choice(nx, 14, replace=False)] = rng.normal(0, 0.15, 14)
    return (u + s[None, :] + rng.normal(0, 0.02, (ny, nx))).astype(np.float32)


def tilt():
    ny, nx = 75, 101
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    t = np.tan(np.radians(8.0))
    u = 10.0 + 0.05 * x + 0.03 * y
    prof = rng.normal(0, 1.0, 2 * nx)
    # stripe along (dy, dx) = (cos 8°, sin 8°): constant along x - t*y
    idx = np.clip(np.round(x - t * (y - ny / 2) + nx / 2).astype(int), 0, 2 * nx - 1)
    return (u + prof[idx] + rng.normal(0, 0.1, (ny, nx))).astype(np.float32)


def fib():
    a = tifffile.imread("fixtures/real/openfibsem_trench_curtains.tif")
    return a[200:360, 100:292].astype(np.float32)


CASES = {
    "synth": (synth, [{"kind": "gabor", "sigma": [1.0, 40.0], "noise_level": 20.0, "angle": 0.0}], 20, 10.0),
    "tilt": (tilt, [{"kind": "gabor", "sigma": [1.5, 30.0], "noise_level": 50.0, "angle": 8.0},
                    {"kind": "dirac", "noise_level": 0.5}], 15, 10.0),
    "fib": (fib, [{"kind": "gabor", "sigma": [1.0, 100.0], "noise_level": 50.0, "angle": 0.0}], 30, 5.0),
}


def to_pyvsnr(f):
    if f["kind"] == "dirac":
        return {"name": "Dirac", "noise_level": f["noise_level"]}
    return {"name": "Gabor", "noise_level": f["noise_level"], "sigma": tuple(f["sigma"]), "theta": -f["angle"]}


meta = {"pyvsnr": importlib.metadata.version("pyvsnr"),
        "numpy": np.__version__, "algo": "numpy (pyFFTW)", "cases": {}}
for name, (make, filters, nit, beta) in CASES.items():
    u = make()
    np.save(f"fixtures/peer/vsnr_in_{name}.npy", u)
    lo, hi = float(u.min()), float(u.max())
    u0 = ((u - lo) / (hi - lo)).astype(np.float32)
    out = vsnr2d(u0, [to_pyvsnr(f) for f in filters], maxit=nit, algo="numpy", beta=beta, norm=False)
    res = (lo + out.astype(np.float64) * (hi - lo)).astype(np.float32)
    np.save(f"fixtures/peer/vsnr_out_{name}.npy", res)
    meta["cases"][name] = {"shape": list(u.shape), "filters": filters, "iterations": nit, "beta": beta,
                           "removed_rms": float(np.sqrt(((u - res).astype(np.float64) ** 2).mean()))}
with open("fixtures/peer/vsnr_pyvsnr.json", "w") as f:
    json.dump(meta, f, indent=1)
print(json.dumps(meta, indent=1))
