"""Overhead of a Python call over the library's kernel on a 256³ volume.

    python benches/python_overhead.py [N]    (after pip install ./python)

For each operation: the wall time of the Python call (parameters built and checked, the input
array lent to the library without a copy, step run with the GIL released, arrays returned)
against the step's own run inside the library (fibstack.last_step_seconds()); median of 5 calls. Prints one line per operation."""

import os
import statistics
import sys
import time

import numpy as np

import fibstack as fs

n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
rng = np.random.default_rng(0)
grey = rng.integers(0, 255, (n, n, n), dtype=np.uint8)
labels = (grey > 110).astype(np.uint8)
vox = (20.0, 10.0, 10.0)
print(f"volume {n}^3, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
cases = [
    ("denoise", lambda: fs.denoise(grey, voxel_nm=vox, sigma=20.0)),
    ("porosity", lambda: fs.porosity(labels, voxel_nm=vox)),
]
for name, f in cases:
    f()
    walls, kernels = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        f()
        walls.append(time.perf_counter() - t0)
        kernels.append(fs.last_step_seconds())
    w, k = statistics.median(walls), statistics.median(kernels)
    print(f"{name}: python call {w * 1e3:.1f} ms, kernel {k * 1e3:.1f} ms, "
          f"overhead {(w - k) * 1e3:.1f} ms = {100 * (w - k) / k:.2f} %")
