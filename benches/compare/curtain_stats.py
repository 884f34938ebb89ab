"""Statistics of curtains on real curtained slices and on the simulator's physical curtain model.

For each image and its material mask (smoothed σ = 2 px > threshold):
- column-profile spectrum: the mean of the material pixels of every column, high-passed with a
  31-px moving average (as the destripe score), Hann-windowed periodogram; reported as the
  fraction of the power in four bands of spatial frequency (cycles/px) and the log-log slope
  between 0.03 and 0.45 cycles/px;
- stripe length: the autocorrelation along y of the horizontal high-pass image
  (`I − Gaussian_x(σ = 3 px) ∗ I`) over pairs of material pixels, at lags 1…256 px, and the
  lag where it falls below 0.5 of its lag-1 value;
- contrast in solid vs pore: the RMS of the region's column-profile high-pass (the destripe
  score's profile: mean of the region's pixels per column minus its 31-px moving mean) relative
  to the region's mean grey, in the material and in the pores; shown next to the same image
  without curtains where there is one (simulator, PFIB), so the curtains' share is visible.

Images: the real nacre slice (shared data) and the OpenFIBSEM trench crop (fixtures/real); the
simulator's physical curtains on an electrode and a Li-deposit stack (middle slice of a
`fibstack synth` run, seed 31/32) and on the PFIB ion image (`fibstack synth-curtains`, seed 5);
the additive model on the electrode stack for contrast.
Run from the repository root after `cargo build --release`:
    /work/venv/bin/python benches/compare/curtain_stats.py
Writes docs/src/validation/figures/curtain_stats.png and out/curtain-stats/stats.json.
"""
import glob
import json
import os
import subprocess

import numpy as np
import tifffile
from scipy import ndimage as ndi

ROOT = os.getcwd()
BIN = os.path.join(ROOT, "target/release/fibstack")
SHARED = os.path.join(ROOT, "../shared/data")
OUT = os.path.join(ROOT, "out/curtain-stats")
LAGS = [1, 2, 4, 8, 16, 32, 64, 128, 256]
BANDS = [(0.0, 0.03), (0.03, 0.1), (0.1, 0.3), (0.3, 0.5)]


def mask_of(img, thr):
    s = ndi.gaussian_filter(img, 2.0, mode="reflect")
    if thr is None:
        from skimage.filters import threshold_otsu
        thr = threshold_otsu(s)
    return s > thr


def stats(img, mask):
    img = img.astype(np.float64)
    h = img - ndi.gaussian_filter1d(img, 3.0, axis=1, mode="reflect")
    out = {"material_fraction": float(mask.mean())}
    for name, m in [("material", mask), ("pore", ~mask)]:
        if m.sum() < 100:
            out[name + "_stripe_contrast"] = None
            continue
        mf = m.astype(float)
        num = ndi.uniform_filter1d(h * mf, 31, axis=0, mode="reflect")
        den = ndi.uniform_filter1d(mf, 31, axis=0, mode="reflect")
        sel = m & (den > 0.5)
        v = num[sel] / den[sel]
        out[name + "_stripe_contrast"] = float(np.sqrt(np.mean(v ** 2)) / img[m].mean()) if sel.any() else None
    for name, m in [("material", mask), ("pore", ~mask)]:
        cnt_r = m.sum(0)
        keep_r = cnt_r >= 8
        if keep_r.sum() < 31:
            out[name + "_profile_contrast"] = None
            continue
        prof = np.where(keep_r, (img * m).sum(0) / np.maximum(cnt_r, 1), 0.0)
        cs = np.concatenate([[0], np.cumsum(np.where(keep_r, prof, 0))])
        ck = np.concatenate([[0], np.cumsum(keep_r)])
        nn = len(prof)
        hh = [prof[x] - (cs[min(nn, x + 16)] - cs[max(0, x - 15)]) / (ck[min(nn, x + 16)] - ck[max(0, x - 15)])
              for x in range(nn) if keep_r[x]]
        out[name + "_profile_contrast"] = float(np.sqrt(np.mean(np.square(hh))) / img[m].mean())
    ny = h.shape[0]
    hm = np.where(mask, h, 0.0)
    ac = []
    for lag in LAGS:
        if lag >= ny:
            ac.append(None)
            continue
        w = mask[:-lag] & mask[lag:]
        a, b = hm[:-lag] * w, hm[lag:] * w
        ac.append(float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())))
    out["autocorr_lags"] = LAGS
    out["autocorr"] = ac
    half = next((l for l, c in zip(LAGS, ac) if c is not None and c < 0.5 * ac[0]), None)
    out["half_length_px"] = half
    cnt = mask.sum(0)
    keep = cnt >= 8
    cm = np.where(keep, (img * mask).sum(0) / np.maximum(cnt, 1), 0.0)
    # 31-px moving mean over the kept columns
    c = np.concatenate([[0], np.cumsum(np.where(keep, cm, 0))])
    k = np.concatenate([[0], np.cumsum(keep)])
    n = len(cm)
    hp = np.zeros(n)
    for x in range(n):
        if keep[x]:
            a0, b0 = max(0, x - 15), min(n, x + 16)
            hp[x] = cm[x] - (c[b0] - c[a0]) / (k[b0] - k[a0])
    P = np.abs(np.fft.rfft(hp * np.hanning(n))) ** 2
    f = np.fft.rfftfreq(n)
    tot = P[1:].sum()
    out["colspec_band_fraction"] = [float(P[(f >= a) & (f < b) & (f > 0)].sum() / tot) for a, b in BANDS]
    sel = (f > 0.03) & (f < 0.45)
    out["colspec_slope"] = float(np.polyfit(np.log(f[sel]), np.log(P[sel] + 1e-30), 1)[0])
    out["_spectrum"] = (f[1:].tolist(), (P[1:] / tot).tolist())
    return out


def run(args):
    subprocess.run([BIN, "-q"] + args, check=True, capture_output=True)


def sim_slice(preset, seed, model):
    d = os.path.join(OUT, f"{preset}_{seed}_{model}")
    if not os.path.exists(os.path.join(d, "truth.json")):
        extra = ["--no-curtain"] if model == "none" else ["--curtain-model", model]
        run(["synth", d, "--preset", preset, "--shape", "16,320,384", "--seed", str(seed)] + extra)
    files = sorted(glob.glob(os.path.join(d, "slices", "*.tif")))
    return tifffile.imread(files[len(files) // 2]).astype(np.float64)


def main():
    os.makedirs(OUT, exist_ok=True)
    items = []
    nacre = os.path.join(SHARED, "sem/fib_crosssection_nacre_curtaining.tif")
    if os.path.exists(nacre):
        items.append(("real: nacre", tifffile.imread(nacre).astype(np.float64), 145.0))
    else:
        print(f"skip: {nacre} absent")
    items.append(("real: OpenFIBSEM trench",
                  tifffile.imread("fixtures/real/openfibsem_trench_curtains.tif").astype(np.float64), 60.0))
    items.append(("sim physical: electrode", sim_slice("electrode", 31, "physical"), None))
    items.append(("sim physical: Li deposit", sim_slice("li-deposit", 32, "physical"), None))
    items.append(("sim additive: electrode", sim_slice("electrode", 31, "additive"), None))
    items.append(("sim, no curtains: electrode", sim_slice("electrode", 31, "none"), None))
    pfib = os.path.join(SHARED, "sem/thermo_helios_pfib_ion_image.tif")
    if os.path.exists(pfib):
        o = os.path.join(OUT, "pfib_curtains.tif")
        run(["synth-curtains", pfib, o, "--seed", "5"])
        items.append(("PFIB + physical curtains", tifffile.imread(o).astype(np.float64), None))
        items.append(("PFIB, no curtains", tifffile.imread(pfib).astype(np.float64), None))
    res = {}
    for name, img, thr in items:
        res[name] = stats(img, mask_of(img, thr))
        r = res[name]
        print(f"{name:28s} mat {r['material_fraction']:.2f} profile contrast solid {r['material_profile_contrast']} "
              f"pore {r['pore_profile_contrast']} half-length {r['half_length_px']} slope {r['colspec_slope']:.2f} "
              f"bands {[round(b, 3) for b in r['colspec_band_fraction']]}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 3, figsize=(15, 4.6))
        for name, r in res.items():
            if "no curtains" in name:
                continue
            ls = "-" if name.startswith("real") else "--"
            f, p = r["_spectrum"]
            fs = np.array(f)
            ps = ndi.uniform_filter1d(np.array(p), 9)
            ax[0].loglog(fs, ps, ls, label=name)
            ax[1].semilogx(r["autocorr_lags"], [c if c is not None else np.nan for c in r["autocorr"]], ls + "o",
                           label=name, ms=3)
        ax[0].set_xlabel("spatial frequency across the stripes (cycles/px)")
        ax[0].set_ylabel("column-profile power (fraction, smoothed)")
        ax[0].set_title("column-profile spectrum (material)")
        ax[1].set_xlabel("lag along y (px)")
        ax[1].set_ylabel("autocorrelation of the x high-pass")
        ax[1].set_title("stripe length")
        names = list(res)
        x = np.arange(len(names))
        sol = [res[n]["material_profile_contrast"] or 0 for n in names]
        por = [res[n]["pore_profile_contrast"] or 0 for n in names]
        ax[2].bar(x - 0.2, sol, 0.4, label="material")
        ax[2].bar(x + 0.2, por, 0.4, label="pores")
        ax[2].set_xticks(x)
        ax[2].set_xticklabels(names, rotation=35, ha="right", fontsize=7)
        ax[2].set_ylabel("column-profile high-pass RMS / region mean")
        ax[2].set_title("curtain contrast, solid vs pore")
        ax[2].legend()
        ax[0].legend(fontsize=6)
        fig.tight_layout()
        os.makedirs("docs/src/validation/figures", exist_ok=True)
        fig.savefig("docs/src/validation/figures/curtain_stats.png", dpi=110)
    except ImportError:
        print("matplotlib absent: no figure")
    for r in res.values():
        r.pop("_spectrum")
    with open(os.path.join(OUT, "stats.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
