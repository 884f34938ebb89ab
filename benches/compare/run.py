"""One-run peer comparison for fibstack (issue 7). Launched by benches/compare/run.sh.

For each row: generate a deterministic input (cached as .npy in WORKDIR), time the peer (best of
--reps in this process) and the fibstack kernel (examples/peer_kernels, best of --reps, input
loaded before timing), check that the answers agree, run the fibstack kernel again with
RAYON_NUM_THREADS=1 and check that its output is byte-identical (thread scaling), then print one
markdown table. Ratio = fibstack time / peer time (lower is better); "met?" compares it with the
issue's target.
"""
import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TAU_ZIP = os.path.join(ROOT, "..", "shared", "data", "volumes", "taufactor_benchmark_500.tiff.zip")
# published over-converged τ of phase 255 per numpy axis (TauFactor 2 paper, data README)
TAU_REF = {0: 4.2431, 1: 1.1513, 2: 1.3905}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


def best_of(reps, f):
    times, out = [], None
    for _ in range(reps):
        out = None
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


class Fib:
    def __init__(self, binary, reps):
        self.bin, self.reps = binary, reps

    def run(self, args, out, threads=None, reps=None):
        env = dict(os.environ)
        if threads:
            env["RAYON_NUM_THREADS"] = str(threads)
        else:
            env.pop("RAYON_NUM_THREADS", None)
        cmd = [self.bin] + args + ["--reps", str(reps or self.reps)]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
        j = json.loads(r.stdout)
        j["sha256"] = sha(out)
        return j

    def timed(self, args, out, scaling=True, reps=None):
        """Default threads (all cores), then 1 thread; returns (json2, json1 or None)."""
        j = self.run(args, out, reps=reps)
        j1 = None
        if scaling:
            keep = out + ".default"
            os.replace(out, keep)
            j1 = self.run(args, out, threads=1, reps=reps)
            os.replace(keep, out)
        return j, j1


# ----------------------------------------------------------------------------------------------
# deterministic inputs


def blob_field(n, seed, sigma):
    import scipy.ndimage as ndi

    rng = np.random.default_rng(seed)
    f = rng.standard_normal((n, n, n), dtype=np.float32)
    return ndi.gaussian_filter(f, sigma, mode="wrap")


def make_input(work, name, fn):
    p = os.path.join(work, name)
    if not os.path.exists(p):
        log(f"   generating {name}")
        a = fn()
        np.save(p + ".tmp.npy", np.ascontiguousarray(a))
        os.replace(p + ".tmp.npy", p)
    return p


def masks(work, n):
    """Two masks from one smooth random field: ~50 % (EDT) and a sparse ~12 % one with many
    components (labelling)."""
    pe = os.path.join(work, f"mask_edt_{n}.npy")
    pl = os.path.join(work, f"mask_label_{n}.npy")
    if not (os.path.exists(pe) and os.path.exists(pl)):
        log(f"   generating masks {n}^3")
        f = blob_field(n, 20261124, 3.0)
        s = float(f[:: max(1, n // 64)].std())
        np.save(pe, (f > 0).astype(np.uint8))
        np.save(pl, (f > 1.2 * s).astype(np.uint8))
    return pe, pl


# ----------------------------------------------------------------------------------------------
# rows


def row(stage, inp, target, fib, peer_name, peer_t, agree, ok, j1=None, note=""):
    r = {
        "stage": stage,
        "input": inp,
        "fib_s": fib["seconds"] if fib else None,
        "peer": peer_name,
        "peer_s": peer_t,
        "target": target,
        "agreement": agree,
        "agree_ok": ok,
        "note": note,
    }
    if fib and peer_t:
        r["ratio"] = fib["seconds"] / peer_t
        r["met"] = r["ratio"] <= target
    if fib and j1:
        r["t1"] = j1["seconds"]
        r["t2"] = fib["seconds"]
        r["threads2"] = fib["threads"]
        r["identical"] = j1["sha256"] == fib["sha256"]
    return r


def do_label(a, fib, work):
    import cc3d

    n = 128 if a.quick else 512
    _, pl = masks(work, n)
    m = np.load(pl)
    tp, lp = best_of(a.reps, lambda: cc3d.connected_components(m, connectivity=26, out_dtype=np.uint32))
    out = os.path.join(work, f"fib_label_{n}.npy")
    j, j1 = fib.timed(["label26", pl, out], out)
    lf = np.load(out)
    # identical partitions: a bijection between the two label sets, background to background
    npk, nfk = int(lp.max()), int(lf.max())
    ok = npk == nfk and bool(np.array_equal(lp == 0, lf == 0))
    if ok:
        fwd = np.zeros(npk + 1, np.int64)
        fwd[lp.ravel()] = lf.ravel()
        ok = bool(np.array_equal(fwd[lp], lf)) and len(np.unique(fwd)) == npk + 1
    agree = f"{nfk} vs {npk} components; identical partitions: {'yes' if ok else 'NO'}"
    return row("labelling, 26-conn", f"{n}³ mask, {m.mean():.1%} fg", 1.0, j,
               f"cc3d {pkg_version('connected-components-3d')}", tp, agree, ok, j1)


def pkg_version(name):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def do_edt(a, fib, work):
    import edt

    n = 128 if a.quick else 512
    pe, _ = masks(work, n)
    m = np.load(pe)
    vox = (3.0, 1.0, 1.0)  # dz, dy, dx (FIB-SEM: slices thicker than pixels)
    threads = os.cpu_count() or 1
    # edt's anisotropy is given in the array's axis order for C-ordered input
    tp, dp = best_of(a.reps, lambda: edt.edt(m, anisotropy=vox, black_border=False, parallel=threads))
    out = os.path.join(work, f"fib_edt_{n}.npy")
    j, j1 = fib.timed(["edt", pe, out, "--voxel", ",".join(map(str, vox))], out)
    df = np.load(out)
    d = float(np.abs(df.astype(np.float64) - dp).max())
    ok = d <= 1e-3
    agree = f"max abs diff {d:.2e} voxel units (tol 1e-3)"
    return row("EDT, anisotropic (3,1,1)", f"{n}³ mask, {m.mean():.1%} fg", 1.0, j,
               f"edt {pkg_version('edt')} (parallel={threads})", tp, agree, ok, j1)


def do_gaussian(a, fib, work):
    import scipy
    import scipy.ndimage as ndi

    n = 128 if a.quick else 256
    p = make_input(work, f"grey_{n}.npy",
                   lambda: np.random.default_rng(5).random((n, n, n), dtype=np.float32))
    v = np.load(p)
    tp, gp = best_of(a.reps, lambda: ndi.gaussian_filter(v, 2.0, truncate=4.0, mode="reflect"))
    out = os.path.join(work, f"fib_gauss_{n}.npy")
    j, j1 = fib.timed(["gaussian", p, out, "--sigma", "2"], out)
    gf = np.load(out)
    d = float(np.abs(gf.astype(np.float64) - gp).max())
    ok = d <= 1e-5
    return row("Gaussian 3-D, σ = 2", f"{n}³ f32", 0.5, j, f"scipy {scipy.__version__} gaussian_filter",
               tp, f"max abs diff {d:.1e} (values 0..1, tol 1e-5)", ok, j1)


def do_phasecorr(a, fib, work):
    import scipy.ndimage as ndi
    import skimage
    from skimage.registration import phase_cross_correlation

    ny, nx = (512, 512) if a.quick else (1536, 2048)
    shift = (3.37, -1.71)
    pr = os.path.join(work, f"pc_ref_{ny}x{nx}.npy")
    pm = os.path.join(work, f"pc_mov_{ny}x{nx}.npy")
    if not (os.path.exists(pr) and os.path.exists(pm)):
        log("   generating phase-correlation pair")
        rng = np.random.default_rng(11)
        img = ndi.gaussian_filter(rng.random((ny, nx)), 1.5, mode="wrap")
        img = (img - img.mean()) / img.std() * 30 + 100
        mov = np.real(np.fft.ifftn(ndi.fourier_shift(np.fft.fftn(img), shift)))
        img = img + rng.normal(0, 2, img.shape)
        mov = mov + rng.normal(0, 2, mov.shape)
        np.save(pr, img.astype(np.float32)[None])
        np.save(pm, mov.astype(np.float32)[None])
    r, m = np.load(pr)[0], np.load(pm)[0]
    tp, sp = best_of(a.reps, lambda: phase_cross_correlation(r, m, upsample_factor=100)[0])
    out = os.path.join(work, f"fib_pc_{ny}x{nx}.json")
    j, j1 = fib.timed(["phasecorr", pr, pm, out, "--upsample", "100"], out)
    sf = np.array(j["shift"])
    d = float(np.abs(sf - sp).max())
    truth = -np.array(shift)
    ok = d <= 0.02
    agree = (f"shift fib ({sf[0]:.2f}, {sf[1]:.2f}), skimage ({sp[0]:.2f}, {sp[1]:.2f}), truth "
             f"({truth[0]:.2f}, {truth[1]:.2f}); max diff {d:.3f} px (tol 0.02)")
    rows = [row("phase correlation, upsample 100 (skimage config)", f"{ny}×{nx} f32 pair", 0.5, j,
                f"skimage {skimage.__version__} phase_cross_correlation", tp, agree, ok, j1)]
    # fibstack's own default (Hann window, band-pass, window-following second pass): for information
    out2 = os.path.join(work, f"fib_pc_def_{ny}x{nx}.json")
    j2, _ = fib.timed(["phasecorr", pr, pm, out2, "--upsample", "100", "--fibstack-defaults"], out2,
                      scaling=False)
    sf2 = np.array(j2["shift"])
    d2 = float(np.abs(sf2 - truth).max())
    rows.append(row("phase correlation, `align` defaults (Hann, band-pass, 2 passes)", f"{ny}×{nx} f32 pair",
                    0.5, j2, "skimage (same call as above)", tp,
                    f"shift ({sf2[0]:.2f}, {sf2[1]:.2f}), max diff to truth {d2:.3f} px", d2 <= 0.05,
                    note="more work than skimage by design"))
    return rows


def do_lt(a, fib, work):
    import porespy as ps

    n = 80 if a.quick else 200
    p = make_input(work, f"lt_blobs_{n}.npy", lambda: ps.generators.blobs(
        shape=[n, n, n], porosity=0.6, blobiness=1.0, seed=3).astype(np.uint8))
    m = np.load(p)
    reps = 1 if not a.quick else a.reps
    ps.filters.local_thickness(m[:24, :24, :24].astype(bool))  # numba compilation outside the timing
    tp, lp = best_of(reps, lambda: ps.filters.local_thickness(m.astype(bool)))
    out = os.path.join(work, f"fib_lt_{n}.npy")
    j, j1 = fib.timed(["lt", p, out], out, reps=reps)
    lf = np.load(out) / 2.0  # fibstack: diameter (exact EDT radius); PoreSpy: radius of integer spheres
    sel = m > 0
    dif = lf[sel] - lp[sel]
    within = float(np.mean(np.abs(dif) <= 1.0))
    agree = (f"fibstack radius − PoreSpy radius on the phase: mean {dif.mean():+.2f}, "
             f"{within:.1%} within 1 voxel (conventions differ: exact vs integer radii)")
    return row("local thickness", f"{n}³ blobs, 60 % phase", 0.1, j,
               f"porespy {ps.__version__} local_thickness", tp, agree, within >= 0.9, j1)


def tau_volume(work):
    p = os.path.join(work, "taufactor_500.npy")
    if not os.path.exists(p):
        import tifffile

        log("   unzipping the TauFactor 500³ benchmark")
        with zipfile.ZipFile(TAU_ZIP) as z:
            name = [n for n in z.namelist() if n.lower().endswith((".tif", ".tiff"))
                    and "__MACOSX" not in n][0]
            with z.open(name) as f:
                v = tifffile.imread(f)
        np.save(p, np.ascontiguousarray(v.astype(np.uint8)))
    return p


def porespy_tau(a, path, axis):
    """PoreSpy tortuosity_fd in a child process with an address-space limit (--porespy-mem-gb) and
    a time limit, so running out of memory fails the row instead of the machine.
    Returns (seconds, tau, error text)."""
    if a.no_porespy_tau:
        return None, None, "PoreSpy not run (--no-porespy-tau)"
    try:
        r = subprocess.run([sys.executable, __file__, "_porespy_tau", path, str(axis), str(a.porespy_mem_gb)],
                           capture_output=True, text=True, timeout=a.porespy_timeout)
    except subprocess.TimeoutExpired:
        return None, None, f"PoreSpy did not finish within {a.porespy_timeout:.0f} s"
    if r.returncode == 0:
        jj = json.loads(r.stdout.strip().splitlines()[-1])
        return jj["seconds"], jj["tau"], ""
    tail = (r.stderr.strip().splitlines() or ["?"])[-1]
    return None, None, f"PoreSpy failed within {a.porespy_mem_gb:.0f} GB address space: {tail}"[:240]


def do_tort_crop(a, fib, work, n):
    """τ on the corner n³ of the TauFactor volume, where PoreSpy fits in memory."""
    import porespy as ps

    src = tau_volume(work)
    p = make_input(work, f"taufactor_crop_{n}.npy", lambda: np.load(src)[:n, :n, :n])
    axis = a.tau_axis
    out = os.path.join(work, f"fib_tau_crop{n}_{axis}.json")
    j, j1 = fib.timed(["tortfd", p, out, "--phase", "255", "--axis", str(axis)], out, reps=1)
    pt, ptau, perr = porespy_tau(a, p, axis)
    tf = j["tau"]
    if ptau is not None:
        rel = abs(tf - ptau) / ptau
        agree, ok = f"τ fib {tf:.5f}, PoreSpy {ptau:.5f} (rel diff {rel:.2e}, tol 1e-2)", rel <= 1e-2
    else:
        agree, ok = f"τ fib {tf:.5f}; {perr}", False
    return row(f"steady-state τ, axis {axis}", f"TauFactor 500³ cropped to {n}³, phase 255", 0.1, j,
               f"porespy {ps.__version__} tortuosity_fd", pt, agree, ok, j1)


def do_tort(a, fib, work):
    rows = []
    if not os.path.exists(TAU_ZIP):
        return [row("tortuosity", "TauFactor 500³", 0.1, None, "porespy", None,
                    f"not run: {TAU_ZIP} missing", False)]
    p = tau_volume(work)
    lab = np.load(p)
    axis = a.tau_axis
    out = os.path.join(work, f"fib_tau_{axis}.json")
    j, j1 = fib.timed(["tortfd", p, out, "--phase", "255", "--axis", str(axis)], out, reps=1,
                      scaling=a.tau_scaling)
    tf = j["tau"]
    ref = TAU_REF[axis]
    rel_ref = abs(tf - ref) / ref
    import porespy as ps

    pt, ptau, perr = porespy_tau(a, p, axis)
    agree = f"τ fib {tf:.5f}, published {ref} (rel {rel_ref:.2e})"
    if ptau is not None:
        agree += f", PoreSpy {ptau:.5f} (rel diff {abs(tf - ptau) / ptau:.2e})"
    rows.append(row(f"steady-state τ, axis {axis}", "TauFactor 500³, phase 255", 0.1, j,
                    f"porespy {ps.__version__} tortuosity_fd", pt, agree + (f"; {perr}" if perr else ""),
                    rel_ref <= 5e-3, j1))
    # TauFactor on CPU
    try:
        import taufactor as tau
        import torch

        img = (lab == 255).astype(np.uint8)
        # TauFactor's solver transports along its first axis: move `axis` first
        img = np.ascontiguousarray(np.moveaxis(img, axis, 0))
        t0 = time.perf_counter()
        s = tau.Solver(img, device=torch.device("cpu"))
        s.solve(verbose="no")
        tt = time.perf_counter() - t0
        ttau = float(np.asarray(s.tau.cpu() if hasattr(s.tau, 'cpu') else s.tau).ravel()[0])
        rows.append(row(f"steady-state τ, axis {axis}", "TauFactor 500³, phase 255", 1.0, j,
                        f"taufactor {tau.__version__} CPU (torch {torch.__version__})", tt,
                        f"τ fib {tf:.5f}, TauFactor {ttau:.5f} (rel diff {abs(tf - ttau) / ttau:.2e})",
                        abs(tf - ttau) / ttau <= 5e-3))
    except ImportError as e:
        rows.append(row(f"steady-state τ, axis {axis}", "TauFactor 500³, phase 255", 1.0, j, "taufactor CPU",
                        None, f"TauFactor not run: {e} (CPU torch wheel index unreachable here)", False))
    return rows


# ----------------------------------------------------------------------------------------------


def fmt_s(t):
    return "—" if t is None else (f"{t:.3f}" if t < 10 else f"{t:.1f}")


def table(rows):
    out = ["| stage | input | fibstack s | peer | peer s | ratio | target | met? | agreement |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = r.get("ratio")
        met = "—" if ratio is None else ("**yes**" if r["met"] else "**no**")
        agree = ("✔ " if r["agree_ok"] else "✘ ") + r["agreement"]
        if r.get("note"):
            agree += f" ({r['note']})"
        out.append(f"| {r['stage']} | {r['input']} | {fmt_s(r['fib_s'])} | {r['peer']} | {fmt_s(r['peer_s'])} | "
                   f"{'—' if ratio is None else f'{ratio:.2f}×'} | ≤ {r['target']}× | {met} | {agree} |")
    out += ["", "Thread scaling (fibstack, same input, `RAYON_NUM_THREADS=1` vs the default):", "",
            "| stage | input | 1 thread s | default s (threads) | speed-up | outputs byte-identical |",
            "|---|---|---|---|---|---|"]
    for r in rows:
        if "t1" in r:
            out.append(f"| {r['stage']} | {r['input']} | {fmt_s(r['t1'])} | {fmt_s(r['t2'])} ({r['threads2']}) | "
                       f"{r['t1'] / r['t2']:.2f}× | {'yes' if r['identical'] else '**NO**'} |")
    return "\n".join(out)


def versions():
    from importlib.metadata import PackageNotFoundError, version

    v = {"python": platform.python_version()}
    for p in ["numpy", "scipy", "scikit-image", "porespy", "openpnm", "edt", "connected-components-3d", "tifffile",
              "taufactor", "torch"]:
        try:
            v[p] = version(p)
        except PackageNotFoundError:
            v[p] = "not installed"
    return v


STAGES = {"label26": do_label, "edt": do_edt, "gaussian": do_gaussian, "phasecorr": do_phasecorr,
          "lt": do_lt}


def porespy_tau_child(path, axis, mem_gb):
    import resource

    lim = int(float(mem_gb) * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    import porespy as ps

    im = np.load(path) == 255
    t0 = time.perf_counter()
    res = ps.simulations.tortuosity_fd(im, axis=int(axis))
    print(json.dumps({"seconds": time.perf_counter() - t0, "tau": float(res.tortuosity)}))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_porespy_tau":
        return porespy_tau_child(*sys.argv[2:5])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="path of the built peer_kernels example")
    ap.add_argument("--quick", action="store_true", help="small sizes (a few minutes in all)")
    ap.add_argument("--with-tortuosity", action="store_true",
                    help="add the TauFactor 500³ τ rows (many minutes; PoreSpy needs much memory)")
    ap.add_argument("--tau-axis", type=int, default=1, help="numpy axis of the τ rows (default 1 = y)")
    ap.add_argument("--tau-crop", type=int, default=200,
                    help="also a row on the corner N³ of the τ volume, where PoreSpy fits (0 = off)")
    ap.add_argument("--crop-only", action="store_true", help="only the cropped τ row")
    ap.add_argument("--tau-scaling", action="store_true", help="also time τ with 1 thread")
    ap.add_argument("--no-porespy-tau", action="store_true", help="skip PoreSpy tortuosity_fd")
    ap.add_argument("--porespy-mem-gb", type=float, default=14.0,
                    help="address-space limit of the PoreSpy τ child process (default 14 GB)")
    ap.add_argument("--porespy-timeout", type=float, default=3600.0, help="seconds (default 3600)")
    ap.add_argument("--reps", type=int, default=3, help="best of N (default 3)")
    ap.add_argument("--only", default="", help="comma list of " + ",".join(STAGES) + ",tort")
    ap.add_argument("--workdir", default=os.environ.get("WORKDIR", os.path.join(HERE, ".work")))
    ap.add_argument("--json", help="also write all rows as JSON here")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    fib = Fib(a.bin, a.reps)
    names = [s for s in a.only.split(",") if s] or list(STAGES)
    if "tort" in names:  # `--only tort` = just the τ rows
        names.remove("tort")
        a.with_tortuosity = True
    for s in names:
        if s not in STAGES:
            sys.exit(f"unknown stage {s}; choose from {','.join(STAGES)}")
    la0 = loadavg()
    t0 = time.time()
    rows = []
    for s in names:
        log(f"== {s} (load {loadavg()})")
        r = STAGES[s](a, fib, a.workdir)
        rows += r if isinstance(r, list) else [r]
    if a.with_tortuosity:
        log(f"== tortuosity (load {loadavg()})")
        if a.tau_crop:
            rows.append(do_tort_crop(a, fib, a.workdir, a.tau_crop))
        if not a.crop_only:
            rows += do_tort(a, fib, a.workdir)
    la1 = loadavg()
    print(f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {'quick' if a.quick else 'full'} sizes, "
          f"best of {a.reps}, wall {time.time() - t0:.0f} s; load average before {la0}, after {la1}; "
          f"{os.cpu_count()} logical CPUs.\n")
    print(table(rows))
    print("\nPeer versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "load_before": la0, "load_after": la1, "versions": versions()}, f, indent=1)


if __name__ == "__main__":
    main()
