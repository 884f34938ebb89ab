"""Timing comparison: PoreSpy local_thickness vs `fibstack sizes --what local-thickness` on the
same 200^3 blobs volume (porosity 0.6, blobiness 1, seed 3). Also scipy EDT vs edt vs fibstack EDT
is covered by the local-thickness run (EDT is its first stage).

Run: /work/venv/bin/python benches/compare/sizes_bench.py PATH_TO_FIBSTACK_BINARY
"""
import json, subprocess, sys, time, tempfile, os
import numpy as np
import porespy as ps

fib = sys.argv[1]
im = ps.generators.blobs(shape=[200, 200, 200], porosity=0.6, blobiness=1.0, seed=3)
with tempfile.TemporaryDirectory() as d:
    p = os.path.join(d, "blobs.npy")
    np.save(p, im.astype(np.uint8))
    t = time.time()
    lt = ps.filters.local_thickness(im)
    t_ps = time.time() - t
    t = time.time()
    out = subprocess.run([fib, "sizes", p, "--phase", "1", "--what", "local-thickness", "--json", "-q"],
                         capture_output=True, text=True, check=True)
    t_fib = time.time() - t
    j = json.loads(out.stdout)
    print(f"PoreSpy local_thickness: {t_ps:.2f} s, mean radius {lt[im].mean():.3f} vox")
    print(f"fibstack sizes (incl. reading): {t_fib:.2f} s, mean thickness/2 {j['local_thickness']['mean_nm']/2:.3f} vox")
    print(f"speed-up {t_ps / t_fib:.1f}x")
