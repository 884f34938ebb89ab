"""Whole-process peer of `fibstack tortuosity IN --method fd --phase P --axis A --boundary
fixed-layers --json`: read the same TIFF with tifffile and run PoreSpy's
`simulations.tortuosity_fd` on `im == phase` along numpy axis A (PoreSpy's convention: first and
last layers fixed, percolating porosity), print τ as JSON. Used for the whole-process timing in
BENCHMARKS.md.

Run: /work/venv/bin/python benches/compare/whole_porespy_fd.py IN.tif PHASE AXIS
"""
import json
import sys

import porespy as ps
import tifffile


def main():
    path, phase, axis = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    im = tifffile.imread(path) == phase
    r = ps.simulations.tortuosity_fd(im, axis=axis)
    print(json.dumps({"tau": float(r.tortuosity)}))


if __name__ == "__main__":
    main()
