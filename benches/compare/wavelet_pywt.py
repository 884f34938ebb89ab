"""Peer values for fibstack's Daubechies DWT and the wavelet-FFT destriping
(tests/filters_destripe_wavelet.rs), from PyWavelets (mode="periodization") and numpy.fft.

1. `dwt`: pywt.wavedec2(img, w, mode="periodization", level=L) coefficients for a few wavelets and
   odd/even image sizes (input = a fixed formula the test rebuilds: sin/cos mixture + a ramp).
2. `destripe`: the Münch et al. (2009) filter written independently with pywt + numpy: mirror pad
   to 2ny x 2nx, wavedec2, FFT of every column of the vertical-detail band cV (high-pass along x)
   along y, multiply by 1 - exp(-k^2 / (2 sigma^2)) with k = FFT index * (unpadded/padded column
   length), inverse FFT, waverec2, crop.
Run: /work/venv/bin/python benches/compare/wavelet_pywt.py  (from the repo root)
"""
import json
import numpy as np
import pywt


def image(ny, nx):
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    img = 100 + 30 * np.sin(0.37 * x + 0.11 * y) + 20 * np.cos(0.23 * y * y / (ny + 1)) + 0.5 * x - 0.3 * y
    img += 15 * ((x.astype(int) * 7) % 5 == 0)  # vertical stripes
    return img.astype(np.float32)


def destripe(img, w, levels, sigma):
    ny, nx = img.shape
    pad = np.concatenate([img, img[::-1]], axis=0)
    pad = np.concatenate([pad, pad[:, ::-1]], axis=1).astype(np.float64)
    coeffs = pywt.wavedec2(pad, w, mode="periodization", level=levels)
    # coeffs[1] is the coarsest level; walk from the finest (last) to compute m0 per level
    lev_m0 = [ny / 2.0 ** (l + 1) for l in range(levels)]  # finest first
    details = coeffs[1:][::-1]  # finest first
    new = []
    for l, (ch, cv, cd) in enumerate(details):
        m = cv.shape[0]
        idx = np.minimum(np.arange(m), m - np.arange(m)).astype(np.float64)
        k = idx * lev_m0[l] / m
        damp = 1 - np.exp(-k * k / (2 * sigma * sigma))
        f = np.fft.fft(cv, axis=0) * damp[:, None]
        new.append((ch, np.real(np.fft.ifft(f, axis=0)), cd))
    rec = pywt.waverec2([coeffs[0]] + new[::-1], w, mode="periodization")
    return rec[:ny, :nx]


out = {"pywt": pywt.__version__, "dwt": [], "destripe": []}
for (w, ny, nx, levels) in [("db1", 16, 16, 3), ("db2", 17, 13, 2), ("db4", 40, 33, 2), ("db5", 64, 48, 2), ("db3", 21, 30, 1)]:
    img = image(ny, nx)
    c = pywt.wavedec2(img.astype(np.float64), w, mode="periodization", level=levels)
    case = {"wavelet": w, "ny": ny, "nx": nx, "levels": levels,
            "approx": {"shape": list(c[0].shape), "data": c[0].ravel().tolist()}, "details": []}
    for (ch, cv, cd) in c[1:][::-1]:  # finest first
        case["details"].append({"shape": list(ch.shape), "ch": ch.ravel().tolist(),
                                "cv": cv.ravel().tolist(), "cd": cd.ravel().tolist()})
    out["dwt"].append(case)
for (w, ny, nx, levels, sigma) in [("db4", 64, 48, 3, 2.0), ("db2", 45, 70, 4, 1.5)]:
    img = image(ny, nx)
    r = destripe(img, w, levels, sigma)
    out["destripe"].append({"wavelet": w, "ny": ny, "nx": nx, "levels": levels, "sigma": sigma,
                            "out": r.ravel().tolist()})
with open("fixtures/peer/wavelet_pywt.json", "w") as f:
    json.dump(out, f)
print("wrote fixtures/peer/wavelet_pywt.json")
