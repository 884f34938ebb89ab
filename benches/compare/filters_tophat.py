"""Peer values for fibstack's top-hat (tests/filters_tophat.rs).

skimage.morphology.white_tophat / black_tophat with mode='reflect' (skimage's default since 0.23,
passed to scipy.ndimage.grey_erosion/dilation). Footprints:
- disk(r) (skimage, strict_radius=True: x^2 + y^2 <= r^2), applied per z-slice (2-D);
- ball(r) for 3-D;
- an anisotropic ellipse built with the same rule fibstack uses for radius R nm on voxels (dy, dx):
  (y*dy)^2 + (x*dx)^2 <= R^2 for integer offsets |y| <= floor(R/dy), |x| <= floor(R/dx).
Run: /work/venv/bin/python benches/compare/filters_tophat.py  (from the repo root)
"""
import json
import numpy as np
import scipy.ndimage as ndi
import skimage
from skimage.morphology import white_tophat, black_tophat, disk, ball

rng = np.random.default_rng(4)
nz, ny, nx = 3, 41, 53
# smooth background + small bright and dark spots + noise, uint8
yy, xx = np.mgrid[0:ny, 0:nx]
vol = np.empty((nz, ny, nx), dtype=np.float64)
for z in range(nz):
    vol[z] = 80 + 40 * np.sin(xx / 9.0 + z) + 25 * np.cos(yy / 7.0)
vol += rng.normal(0, 12, vol.shape)
spots = rng.integers(0, vol.size, 60)
vol.flat[spots[:30]] += 90
vol.flat[spots[30:]] -= 90
vol = np.clip(np.round(vol), 0, 255).astype(np.uint8)
vol16 = (vol.astype(np.uint16) * 257 + rng.integers(0, 200, vol.shape).astype(np.uint16))
np.save("fixtures/peer/filters_tophat_input_u8.npy", vol)
np.save("fixtures/peer/filters_tophat_input_u16.npy", vol16)

def per_slice(f, v, fp):
    return np.stack([f(v[z], fp) for z in range(v.shape[0])])

def ellipse(R, dy, dx):
    ry, rx = int(np.floor(R / dy)), int(np.floor(R / dx))
    Y, X = np.mgrid[-ry:ry + 1, -rx:rx + 1]
    return ((Y * dy) ** 2 + (X * dx) ** 2 <= R * R).astype(np.uint8)

meta = {"skimage": skimage.__version__, "mode": "reflect", "cases": {}}
cases = [
    ("white_disk3_u8", "u8", white_tophat, "2d", disk(3), {"radius_nm": 3.0, "voxel": [1, 1, 1]}),
    ("black_disk5_u8", "u8", black_tophat, "2d", disk(5), {"radius_nm": 5.0, "voxel": [1, 1, 1]}),
    ("white_disk25_u16", "u16", white_tophat, "2d", disk(25), {"radius_nm": 25.0, "voxel": [1, 1, 1]}),
    ("white_ellipse_u8", "u8", white_tophat, "2d", ellipse(10.0, 2.0, 3.0), {"radius_nm": 10.0, "voxel": [1, 2, 3]}),
    ("white_ball2_u8", "u8", white_tophat, "3d", ball(2), {"radius_nm": 2.0, "voxel": [1, 1, 1]}),
    ("black_ball3_u16", "u16", black_tophat, "3d", ball(3), {"radius_nm": 3.0, "voxel": [1, 1, 1]}),
]
for name, dt, f, dims, fp, p in cases:
    v = vol if dt == "u8" else vol16
    out = per_slice(f, v, fp) if dims == "2d" else f(v, fp)
    np.save(f"fixtures/peer/filters_tophat_{name}.npy", out)
    meta["cases"][name] = dict(p, dtype=dt, black=(f is black_tophat), dims=dims,
                               footprint_sum=int(fp.sum()), file=f"filters_tophat_{name}.npy")
with open("fixtures/peer/filters_tophat.json", "w") as fh:
    json.dump(meta, fh, indent=1)
print(json.dumps(meta, indent=1))
