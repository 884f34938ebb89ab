"""Whole-process peer of `fibstack connectivity IN --phase P --connectivity 26 --json`: read the
same TIFF with tifffile, label the phase with cc3d (26-connectivity), print the component count and
the largest component's size as JSON. Used for the whole-process timing in BENCHMARKS.md
(the Python start-up, imports and the read are part of what a user waits for, as for fibstack).

Run: /work/venv/bin/python benches/compare/whole_cc3d.py IN.tif PHASE
"""
import json
import sys

import cc3d
import numpy as np
import tifffile


def main():
    path, phase = sys.argv[1], int(sys.argv[2])
    im = tifffile.imread(path)
    lab, n = cc3d.connected_components(im == phase, connectivity=26, return_N=True)
    sizes = np.bincount(lab.ravel())[1:]
    print(json.dumps({"n_components": int(n), "largest_component_voxels": int(sizes.max()) if n else 0}))


if __name__ == "__main__":
    main()
