"""Upper bound of a stationary linear destriping on images with added physical curtains.

The oracle knows the clean image and the added curtains exactly and applies, per 2-D frequency,
the Wiener gain H = P_curtain / (P_curtain + P_clean) of their power spectra (smoothed over
3 x 3 frequency bins, or not at all) to subtract the curtain estimate: the best any stationary
linear filter can do on that image (the FFT wedge and, for a fixed stripe field, VSNR's
pattern are filters of that kind). Also in the log domain (multiplicative curtains are additive
there) and applied in the true material only.

Images: the Zeiss SEM grains (rows 0-669, seed 11) and the Helios PFIB ion image (seed 7), each
with `fibstack synth-curtains` defaults, as in destripe_eval.py.
Run from the repository root after `cargo build --release`:
    /work/venv/bin/python benches/compare/destripe_oracle.py
"""
import os
import subprocess
import tempfile

import numpy as np
import tifffile
from scipy.ndimage import uniform_filter

BIN = os.path.abspath("target/release/fibstack")
SHARED = "../shared/data/sem/"


def psnr(x, ref, peak):
    return 10 * np.log10(peak ** 2 / np.mean((x - ref) ** 2))


def curtained(clean, seed, d):
    a, b = os.path.join(d, "ref.tif"), os.path.join(d, "in.tif")
    tifffile.imwrite(a, clean.astype(np.float32))
    subprocess.run([BIN, "-q", "synth-curtains", a, b, "--seed", str(seed), "--f32"], check=True)
    return tifffile.imread(b).astype(np.float64)


def wiener(img, clean, smooth):
    """Oracle curtain estimate of img (clean known) with the smoothed Wiener gain."""
    pc = np.abs(np.fft.rfft2(clean - clean.mean())) ** 2
    pd = np.abs(np.fft.rfft2(img - clean)) ** 2
    if smooth > 1:
        pc, pd = uniform_filter(pc, smooth, mode="wrap"), uniform_filter(pd, smooth, mode="wrap")
    h = pd / (pd + pc + 1e-12)
    return np.fft.irfft2(h * np.fft.rfft2(img - img.mean()), s=img.shape)


def main():
    sets = [("Zeiss SEM grains + curtains", SHARED + "test_tiff_Zeiss_SEM_1k.tif", 670, 11),
            ("PFIB ion image + curtains", SHARED + "thermo_helios_pfib_ion_image.tif", None, 7)]
    d = tempfile.mkdtemp()
    print("| image | exact spectra | spectra smoothed 3 x 3 | smoothed, true material only | log domain, smoothed |")
    print("|---|---|---|---|---|")
    for name, path, rows, seed in sets:
        if not os.path.exists(path):
            print(f"skip {name}: {path} absent")
            continue
        c = tifffile.imread(path).astype(np.float64)
        if rows:
            c = c[:rows]
        i = curtained(c, seed, d)
        peak = c.max()
        base = psnr(i, c, peak)
        m = np.abs(i - c) > 0
        g1 = psnr(i - wiener(i, c, 1), c, peak) - base
        g3 = psnr(i - wiener(i, c, 3), c, peak) - base
        gm = psnr(i - wiener(i, c, 3) * m, c, peak) - base
        li, lc = np.log(np.maximum(i, 1.0)), np.log(np.maximum(c, 1.0))
        gl = psnr(np.exp(li - wiener(li, lc, 3)), c, peak) - base
        print(f"| {name} | {g1:+.1f} dB | {g3:+.1f} dB | {gm:+.1f} dB | {gl:+.1f} dB |")


if __name__ == "__main__":
    main()
