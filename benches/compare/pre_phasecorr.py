"""Peer values for fibstack's phase correlation (tests/pre_phasecorr.rs).

Creates 6 deterministic 128x128 float32 image pairs (reference, moving) and stores them in
fixtures/peer/pre_phasecorr_pairs.npy (shape (6, 2, 128, 128)); runs scikit-image
phase_cross_correlation(reference, moving, upsample_factor=100) on each and stores the shifts in
fixtures/peer/pre_phasecorr.json with the true content shift.

Pairs 0-1: smooth random images (numpy seed 20261123), moving = scipy.ndimage.fourier_shift.
Pairs 2-3: real SEM crops (../shared/data/sem), moving = Fourier shift of the crop (periodic).
Pairs 4-5: real SEM images shifted with a cubic spline (scipy.ndimage.shift) *before* cropping,
           so the pair is not periodic (realistic; skimage is then biased, we compare to it).

Run from the repository root:  /work/venv/bin/python benches/compare/pre_phasecorr.py
"""
import json
import os
import sys

import numpy as np
import scipy.ndimage as ndi
import skimage
import tifffile
from skimage.registration import phase_cross_correlation

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEM = os.path.join(ROOT, "..", "shared", "data", "sem")
OUT = os.path.join(ROOT, "fixtures", "peer")
N = 128


def fshift(img, shift):
    return np.real(np.fft.ifftn(ndi.fourier_shift(np.fft.fftn(img), shift))).astype(np.float32)


def sem(name):
    return tifffile.imread(os.path.join(SEM, name)).astype(np.float64)


def main():
    rng = np.random.default_rng(20261123)
    pairs, meta = [], []

    for i, shift in enumerate([(3.37, -1.71), (-0.42, 0.86)]):
        img = ndi.gaussian_filter(rng.random((N, N)), 3.0, mode="wrap")
        img = ((img - img.mean()) / img.std() * 30 + 100).astype(np.float32)
        pairs.append((img, fshift(img, shift)))
        meta.append({"source": f"smooth random (gaussian sigma 3, wrap) #{i}", "kind": "fourier_shift",
                     "true_content_shift": list(shift)})

    for name, (y0, x0), shift in [("test_tiff_Zeiss_SEM_1k.tif", (100, 100), (2.25, -4.6)),
                                  ("thermo_helios_pfib_ion_image.tif", (400, 700), (-7.13, 0.31))]:
        crop = sem(name)[y0:y0 + N, x0:x0 + N].astype(np.float32)
        pairs.append((crop, fshift(crop, shift)))
        meta.append({"source": f"{name}[{y0}:{y0 + N}, {x0}:{x0 + N}]", "kind": "fourier_shift",
                     "true_content_shift": list(shift)})

    for name, (y0, x0), shift in [("test_tiff_Zeiss_SEM_512pix.tif", (100, 100), (1.4, -2.7)),
                                  ("fib_crosssection_nacre_curtaining.tif", (300, 400), (0.6, 3.3))]:
        full = sem(name)
        moved = ndi.shift(full, shift, order=3, mode="nearest")
        ref = full[y0:y0 + N, x0:x0 + N].astype(np.float32)
        mov = moved[y0:y0 + N, x0:x0 + N].astype(np.float32)
        pairs.append((ref, mov))
        meta.append({"source": f"{name}[{y0}:{y0 + N}, {x0}:{x0 + N}]", "kind": "spline_shift_then_crop",
                     "true_content_shift": list(shift)})

    arr = np.stack([np.stack(p) for p in pairs]).astype(np.float32)
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "pre_phasecorr_pairs.npy"), arr)

    for m, (ref, mov) in zip(meta, arr):
        shift, error, _ = phase_cross_correlation(ref, mov, upsample_factor=100)
        m["skimage_shift"] = [float(s) for s in shift]
        m["skimage_error"] = float(error)
        truth = [-s for s in m["true_content_shift"]]
        m["skimage_abs_error_vs_truth"] = [abs(a - b) for a, b in zip(m["skimage_shift"], truth)]
        print(m, file=sys.stderr)

    doc = {
        "tool": f"scikit-image {skimage.__version__} phase_cross_correlation(reference, moving, upsample_factor=100)",
        "sign": "shift registering moving onto reference = -(true content shift)",
        "pairs_file": "fixtures/peer/pre_phasecorr_pairs.npy (n, 2, 128, 128) float32: [i, 0] reference, [i, 1] moving",
        "script": "benches/compare/pre_phasecorr.py",
        "pairs": meta,
    }
    with open(os.path.join(OUT, "pre_phasecorr.json"), "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
