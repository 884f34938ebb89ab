"""VSNR speed, fibstack vs pyvsnr's CPU (numpy + pyFFTW) path, side by side in one run, and the
peak memory of `fibstack destripe --method vsnr` streamed over a folder.

Slice: 2048 x 1536 (width x height) float32, the real nacre slice tiled (mirrored) to that size
when it is in ../shared/data, else a synthetic curtained slice. Both programs: one Gabor filter
(sigma 1 x 100 px, noise level 50), 20 iterations, beta 10, on the slice mapped to [0, 1]
(fibstack does that mapping itself). fibstack's time is the whole command (read, VSNR, write).
Runs alternate (pyvsnr, fibstack) `REPS` times; the medians are reported.
Streaming: a folder of 12 such slices (u16), `fibstack destripe FOLDER OUT --method vsnr` under
/usr/bin/time; peak RSS against the size of one u16 slice.
Run from the repository root after `cargo build --release`:
    /work/venv/bin/python benches/compare/vsnr_speed.py
"""
import json
import os
import resource
import subprocess
import tempfile
import time

import numpy as np
import tifffile

REPS = 5
NY, NX = 1536, 2048
BIN = os.path.abspath("target/release/fibstack")
NACRE = "../shared/data/sem/fib_crosssection_nacre_curtaining.tif"


def slice_2048():
    if os.path.exists(NACRE):
        a = tifffile.imread(NACRE).astype(np.float32)
        a = np.concatenate([a, a[::-1]], axis=0)
        a = np.concatenate([a, a[:, ::-1]], axis=1)
        reps = (int(np.ceil(NY / a.shape[0])), int(np.ceil(NX / a.shape[1])))
        return np.tile(a, reps)[:NY, :NX].copy(), "nacre, mirrored and tiled"
    rng = np.random.default_rng(0)
    u = rng.normal(120, 10, (NY, NX)) + rng.normal(0, 8, NX)[None, :]
    return u.astype(np.float32), "synthetic"


def main():
    global UPTIME0
    UPTIME0 = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    from pyvsnr import vsnr2d
    img, what = slice_2048()
    lo, hi = float(img.min()), float(img.max())
    u0 = ((img - lo) / (hi - lo)).astype(np.float32)
    filt = [{"name": "Gabor", "noise_level": 50.0, "sigma": (1.0, 100.0), "theta": 0.0}]
    d = tempfile.mkdtemp()
    inp, out = os.path.join(d, "in.tif"), os.path.join(d, "out.tif")
    tifffile.imwrite(inp, img)
    cmd = [BIN, "-q", "destripe", inp, out, "--method", "vsnr", "--vsnr-filter", "gabor:1,100,50",
           "--vsnr-iterations", "20", "--vsnr-beta", "10", "--material-aware", "false", "--f32"]
    tp, tf, cp, cf = [], [], [], []
    for _ in range(REPS):
        t, c = time.perf_counter(), time.process_time()
        vsnr2d(u0, filt, maxit=20, algo="numpy", beta=10.0, norm=False)
        tp.append(time.perf_counter() - t)
        cp.append(time.process_time() - c)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        tf.append(time.perf_counter() - t)
        ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cf.append(ru2.ru_utime - ru.ru_utime + ru2.ru_stime - ru.ru_stime)
    a = tifffile.imread(out).astype(np.float64)
    b = lo + vsnr2d(u0, filt, maxit=20, algo="numpy", beta=10.0, norm=False).astype(np.float64) * (hi - lo)
    agree = float(np.abs(a - b).max() / (hi - lo))
    # streaming over a folder
    fol = os.path.join(d, "stack")
    os.makedirs(fol)
    u16 = np.clip((img - lo) / (hi - lo) * 60000, 0, 65535).astype(np.uint16)
    for k in range(12):
        tifffile.imwrite(os.path.join(fol, f"slice_{k:04d}.tif"), np.roll(u16, 7 * k, axis=1))
    r = subprocess.run(["/usr/bin/time", "-v"] + [BIN, "-q", "destripe", fol, os.path.join(d, "stack_out"),
                        "--method", "vsnr", "--vsnr-filter", "gabor:1,100,50", "--material-aware", "false"],
                       capture_output=True, text=True, check=True)
    rss_kb = int(next(l for l in r.stderr.splitlines() if "Maximum resident set size" in l).split(":")[1])
    slice_mb = NY * NX * 2 / 2 ** 20
    res = {
        "slice": f"{NX} x {NY} ({what})",
        "pyvsnr_numpy_s": sorted(tp)[len(tp) // 2],
        "fibstack_s": sorted(tf)[len(tf) // 2],
        "ratio": sorted(tf)[len(tf) // 2] / sorted(tp)[len(tp) // 2],
        "pyvsnr_numpy_cpu_s": sorted(cp)[len(cp) // 2],
        "fibstack_cpu_s": sorted(cf)[len(cf) // 2],
        "cpu_ratio": sorted(cf)[len(cf) // 2] / sorted(cp)[len(cp) // 2],
        "all_pyvsnr_cpu_s": cp,
        "all_fibstack_cpu_s": cf,
        "uptime_before": UPTIME0,
        "all_pyvsnr_s": tp,
        "all_fibstack_s": tf,
        "max_difference_of_range": agree,
        "stream_12_slices_peak_rss_mb": rss_kb / 1024,
        "one_u16_slice_mb": slice_mb,
        "peak_in_slices": rss_kb / 1024 / slice_mb,
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "threads": os.cpu_count(),
    }
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
