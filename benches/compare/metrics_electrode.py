"""Peer values on the TauFactor NMC electrode (../shared/data/volumes/taufactor_electrode_256.tiff).

Run: /work/venv/bin/python benches/compare/metrics_electrode.py
Writes fixtures/peer/metrics_electrode.json: for the pore phase (label 0) and the CBD (170):
component counts and sizes (scipy.ndimage.label, 6/26), percolating / dead-end / isolated voxel
counts per axis computed from those labels, skimage euler_number (connectivity=3), and the
timings of scipy.ndimage.label and cc3d.connected_components (indicative, this machine).
"""
import json
import os
import time

import cc3d
import numpy as np
import scipy.ndimage as ndi
import tifffile
from skimage.measure import euler_number

here = os.path.dirname(os.path.abspath(__file__))
vol = tifffile.imread(os.path.join(here, "..", "..", "..", "shared", "data", "volumes",
                                   "taufactor_electrode_256.tiff"))
out = {"generator": "benches/compare/metrics_electrode.py", "shape": list(vol.shape), "phases": {}}
for phase in (0, 170):
    m = vol == phase
    res = {"voxels": int(m.sum())}
    for conn, rank in [(6, 1), (26, 3)]:
        t = time.perf_counter()
        lab, n = ndi.label(m, structure=ndi.generate_binary_structure(3, rank))
        t_scipy = time.perf_counter() - t
        t = time.perf_counter()
        cc3d.connected_components(m, connectivity=conn)
        t_cc3d = time.perf_counter() - t
        sizes = np.bincount(lab.ravel())[1:]
        axes = {}
        for ax, name in [(0, "z"), (1, "y"), (2, "x")]:
            lo = np.unique(np.take(lab, 0, axis=ax))
            hi = np.unique(np.take(lab, vol.shape[ax] - 1, axis=ax))
            lo = set(lo[lo > 0].tolist())
            hi = set(hi[hi > 0].tolist())
            perc = sum(int(sizes[k - 1]) for k in lo & hi)
            dead = sum(int(sizes[k - 1]) for k in lo ^ hi)
            axes[name] = {"percolating": perc, "dead_end": dead,
                          "isolated": int(m.sum()) - perc - dead}
        res[str(conn)] = {"n": int(n), "largest": int(sizes.max()), "axes": axes,
                          "seconds_scipy": t_scipy, "seconds_cc3d": t_cc3d}
    res["euler26"] = int(euler_number(m, connectivity=3))
    out["phases"][str(phase)] = res
path = os.path.join(here, "..", "..", "fixtures", "peer", "metrics_electrode.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print(json.dumps(out, indent=1))
