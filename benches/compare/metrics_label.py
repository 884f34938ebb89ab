"""Peer values for fibstack's connected-component labelling and Euler characteristic.

Run: /work/venv/bin/python benches/compare/metrics_label.py
Writes fixtures/peer/metrics_label.json: random binary volumes (seeded), their labels from
scipy.ndimage.label with the 6/18/26 structuring elements (generate_binary_structure(3, 1|2|3)),
and skimage.measure.euler_number(connectivity=3) (26-connected foreground, zero padding).
"""
import json
import os

import numpy as np
import scipy
import scipy.ndimage as ndi
import skimage
from skimage.measure import euler_number

rng = np.random.default_rng(20261123)
cases = []
for shape, p in [((12, 13, 14), 0.3), ((12, 13, 14), 0.5), ((10, 9, 16), 0.65),
                 ((1, 20, 17), 0.5), ((15, 1, 1), 0.5), ((8, 8, 8), 0.25)]:
    vol = (rng.random(shape) < p)
    case = {"shape": list(shape), "p": p,
            "mask": "".join("1" if v else "0" for v in vol.ravel()),
            "labels": {}, "n": {}}
    for conn, rank in [(6, 1), (18, 2), (26, 3)]:
        lab, n = ndi.label(vol, structure=ndi.generate_binary_structure(3, rank))
        case["labels"][str(conn)] = lab.ravel().tolist()
        case["n"][str(conn)] = int(n)
    case["euler26"] = int(euler_number(vol, connectivity=3))
    cases.append(case)

out = {"generator": "benches/compare/metrics_label.py",
       "scipy": scipy.__version__, "skimage": skimage.__version__, "numpy": np.__version__,
       "cases": cases}
here = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(here, "..", "..", "fixtures", "peer", "metrics_label.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", os.path.normpath(path), len(cases), "cases")
