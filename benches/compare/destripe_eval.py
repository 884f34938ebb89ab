"""Destriping evaluation: every method and setting on real curtained slices, real images with
added physical curtains and simulator stacks; tuning set and report set kept apart.

Run from the repository root after `cargo build --release`:
    python benches/compare/destripe_eval.py tune   [--quick]
    python benches/compare/destripe_eval.py report
Writes out/destripe-eval/<set>.json and prints a table. Work files go to out/destripe-eval/tmp.

Sets (never mixed: defaults are chosen on `tune`, figures are reported on `report`):
- tune:   nacre rows 0-369 (real curtains); the Zeiss SEM test image of a polished grain
          structure (shared data, rows 0-669: data bar cropped) with added physical curtains,
          seed 11; simulator electrode and Li-deposit
          stacks (seeds 101, 102; physical curtains, every other effect on).
- report: nacre rows 370-739 and the whole nacre slice; the OpenFIBSEM trench crop
          (fixtures/real); the Helios PFIB ion image with added physical curtains, seed 7;
          simulator electrode and Li-deposit stacks (seeds 201, 202).

Every method runs as `fibstack destripe IN OUT` with only the options listed (material masks:
the automatic rule of `preprocess::material`); the score's mask threshold is given per image.

Metrics:
- real slices: `fibstack destripe-score` (column-mean high-pass energy ratio in the material and
  the pores, row-mean energy kept; window 31 px, mask threshold given per image below);
- images with added curtains and simulator stacks (the same acquisition rendered without
  curtains is the reference `ref`): PSNR gain `PSNR(out, ref) − PSNR(in, ref)` (peak = the
  image's full scale), the stripe residual `‖f(in) − f(ref)‖² / ‖in − ref‖²` and the change of a
  stripe-free image `RMS(f(ref) − ref) / RMS(ref)`.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
import tifffile

ROOT = os.getcwd()
BIN = os.path.join(ROOT, "target/release/fibstack")
SHARED = os.path.join(ROOT, "../shared/data")
OUT = os.path.join(ROOT, "out/destripe-eval")
TMP = os.path.join(OUT, "tmp")


def run(args, check=True):
    r = subprocess.run([BIN, "-q"] + args, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(" ".join(args) + "\n" + r.stderr)
    return r


def write(path, a):
    tifffile.imwrite(path, a)


def destripe(inp, out, method_args):
    """One `fibstack destripe`, or several in a row when the options hold "THEN" separators."""
    t = time.time()
    passes, cur = [], []
    for a in method_args:
        if a == "THEN":
            passes.append(cur)
            cur = []
        else:
            cur.append(a)
    passes.append(cur)
    src = inp
    for k, args in enumerate(passes):
        dst = out if k == len(passes) - 1 else f"{out}.pass{k}.tif"
        run(["destripe", src, dst, "--f32"] + args)
        src = dst
    return time.time() - t


def score(raw, out, thr):
    a = ["destripe-score", raw, out, "--json"]
    if thr is not None:
        a += ["--score-threshold", str(thr)]
    s = json.loads(run(a).stdout)
    return {"material": s["material"]["ratio"], "pore": s["pore"]["ratio"], "rows": s["rows"]["ratio"]}


def psnr(x, ref, peak):
    mse = np.mean((x.astype(np.float64) - ref.astype(np.float64)) ** 2)
    return 10 * np.log10(peak ** 2 / mse)


# ---------------------------------------------------------------- candidate settings
def vsnr(sa, sl, eta, it=20, mat=True):
    return ["--method", "vsnr", "--vsnr-filter", f"gabor:{sa},{sl},{eta}", "--vsnr-iterations", str(it),
            "--material-aware", "true" if mat else "false"]


CANDIDATES = {
    "default": [],
    "vsnr 1,100,2": vsnr(1, 100, 2, mat=False),
    "vsnr 1,100,2+mat": vsnr(1, 100, 2),
    "vsnr 1,100,3+mat": vsnr(1, 100, 3),
    "wedge": ["--method", "wedge", "--material-aware", "false"],
    "wedge+mat": ["--method", "wedge", "--material-aware", "true"],
    "wedge-classic+mat": ["--method", "wedge", "--classic", "--material-aware", "true"],
    "wavelet+mat": ["--method", "wavelet", "--material-aware", "true"],
    "vsnr 1,100,50": vsnr(1, 100, 50, mat=False),
    "vsnr 1,100,50+mat": vsnr(1, 100, 50),
    "vsnr 1,100,20+mat": vsnr(1, 100, 20),
    "vsnr 1,300,20+mat": vsnr(1, 300, 20),
    "vsnr 1,300,50+mat": vsnr(1, 300, 50),
    "vsnr 1.5,200,30+mat": vsnr(1.5, 200, 30),
    "vsnr 1,50,20+mat": vsnr(1, 50, 20),
    "vsnr 1,100,5+mat": vsnr(1, 100, 5),
    "vsnr 1,100,2+mat": vsnr(1, 100, 2),
    "vsnr 1,100,1+mat": vsnr(1, 100, 1),
    "vsnr 1,30,5+mat": vsnr(1, 30, 5),
    "vsnr 0.7,100,5+mat": vsnr(0.7, 100, 5),
    # the default, then the material's column profile of the slice itself (the stack method
    # with a window of 0 slices), high-passed with a Gaussian of sigma px
    "default then profile 4": ["THEN", "--method", "stack", "--stack-window", "0", "--stack-sigma-px", "4"],
    "default then profile 8": ["THEN", "--method", "stack", "--stack-window", "0", "--stack-sigma-px", "8"],
    "default then profile 16": ["THEN", "--method", "stack", "--stack-window", "0", "--stack-sigma-px", "16"],
}
STACK_ONLY = {
    "stack": ["--method", "stack", "--material-aware", "false"],
    "stack+mat": ["--method", "stack", "--material-aware", "true"],
}


# ---------------------------------------------------------------- data
def real_slices(which):
    nacre = os.path.join(SHARED, "sem/fib_crosssection_nacre_curtaining.tif")
    out = []
    if os.path.exists(nacre):
        a = tifffile.imread(nacre)
        if which == "tune":
            out.append(("nacre rows 0-369", a[:370], 145.0))
        else:
            out.append(("nacre rows 370-739", a[370:], 145.0))
            out.append(("nacre whole", a, 145.0))
    else:
        print(f"skip nacre: {nacre} absent")
    if which == "report":
        out.append(("OpenFIBSEM trench", tifffile.imread("fixtures/real/openfibsem_trench_curtains.tif"), 60.0))
    return out


def curtained_real(which):
    """(name, clean image f32, mask threshold, seed)"""
    if which == "tune":
        p = os.path.join(SHARED, "sem/test_tiff_Zeiss_SEM_1k.tif")
        if not os.path.exists(p):
            return []
        a = tifffile.imread(p).astype(np.float32)
        return [("Zeiss SEM grains + curtains", a[:670], None, 11)]
    p = os.path.join(SHARED, "sem/thermo_helios_pfib_ion_image.tif")
    if not os.path.exists(p):
        return []
    return [("PFIB ion image + curtains", tifffile.imread(p).astype(np.float32), None, 7)]


def sim_stacks(which):
    seeds = {"tune": (101, 102), "report": (201, 202)}[which]
    # mask threshold between the pore level and the darkest solid (electrode 0.12 / 0.38,
    # Li deposit 0.10 / 0.42 of full scale): 65 grey levels
    return [("sim electrode", "electrode", seeds[0], 65.0), ("sim li-deposit", "li-deposit", seeds[1], 65.0)]


# ---------------------------------------------------------------- evaluation
def eval_real(name, img, thr, cands, res):
    inp = os.path.join(TMP, "real_in.tif")
    write(inp, img)
    for c, args in cands.items():
        o = os.path.join(TMP, "real_out.tif")
        dt = destripe(inp, o, args)
        s = score(inp, o, thr)
        res.setdefault(c, {})[name] = dict(s, seconds=dt)


def eval_curtained(name, clean, thr, seed, cands, res):
    ref = os.path.join(TMP, "cr_ref.tif")
    inp = os.path.join(TMP, "cr_in.tif")
    write(ref, clean)
    run(["synth-curtains", ref, inp, "--seed", str(seed)] + (["--material-threshold", str(thr)] if thr else []))
    a_in = tifffile.imread(inp).astype(np.float64)
    peak = float(clean.max())
    for c, args in cands.items():
        o = os.path.join(TMP, "cr_out.tif")
        o2 = os.path.join(TMP, "cr_ref_out.tif")
        dt = destripe(inp, o, args)
        destripe(ref, o2, args)
        f_in = tifffile.imread(o).astype(np.float64)
        f_ref = tifffile.imread(o2).astype(np.float64)
        s = score(inp, o, thr)
        res.setdefault(c, {})[name] = dict(
            s,
            psnr_gain=psnr(f_in, clean, peak) - psnr(a_in, clean, peak),
            residual=float(np.sum((f_in - f_ref) ** 2) / np.sum((a_in - clean) ** 2)),
            clean_change=float(np.sqrt(np.mean((f_ref - clean) ** 2)) / np.sqrt(np.mean(clean.astype(np.float64) ** 2))),
            seconds=dt)


def read_stack(folder):
    import glob
    return np.stack([tifffile.imread(f) for f in sorted(glob.glob(os.path.join(folder, "slices", "*.tif")))])


def eval_sim(name, preset, seed, thr, cands, res, shape="24,160,192"):
    d_in = os.path.join(TMP, f"sim_{preset}_{seed}")
    d_ref = os.path.join(TMP, f"sim_{preset}_{seed}_ref")
    if not os.path.exists(os.path.join(d_in, "truth.json")):
        run(["synth", d_in, "--preset", preset, "--shape", shape, "--seed", str(seed)])
        run(["synth", d_ref, "--preset", preset, "--shape", shape, "--seed", str(seed), "--no-curtain"])
    a_in = read_stack(d_in).astype(np.float64)
    a_ref = read_stack(d_ref).astype(np.float64)
    inp, ref = os.path.join(TMP, "sim_in.tif"), os.path.join(TMP, "sim_ref.tif")
    write(inp, a_in.astype(np.uint8))
    write(ref, a_ref.astype(np.uint8))
    for c, args in cands.items():
        o, o2 = os.path.join(TMP, "sim_out.tif"), os.path.join(TMP, "sim_ref_out.tif")
        dt = destripe(inp, o, args)
        destripe(ref, o2, args)
        f_in = tifffile.imread(o).astype(np.float64)
        f_ref = tifffile.imread(o2).astype(np.float64)
        s = score(inp, o, thr)
        res.setdefault(c, {})[name] = dict(
            s,
            psnr_gain=psnr(f_in, a_ref, 255.0) - psnr(a_in, a_ref, 255.0),
            residual=float(np.sum((f_in - f_ref) ** 2) / np.sum((a_in - a_ref) ** 2)),
            clean_change=float(np.sqrt(np.mean((f_ref - a_ref) ** 2)) / np.sqrt(np.mean(a_ref ** 2))),
            seconds=dt)


def main():
    which = sys.argv[1]
    os.makedirs(TMP, exist_ok=True)
    res = {}
    cands = dict(CANDIDATES)
    if len(sys.argv) > 2 and sys.argv[2] == "--only":
        cands = {k: v for k, v in {**CANDIDATES, **STACK_ONLY}.items() if k in sys.argv[3:]}
    if len(sys.argv) > 2 and sys.argv[2] == "--sim-only":
        cands = {}
    for name, img, thr in real_slices(which):
        eval_real(name, img, thr, {k: v for k, v in cands.items() if k not in STACK_ONLY}, res)
    for name, clean, thr, seed in curtained_real(which):
        eval_curtained(name, clean, thr, seed, {k: v for k, v in cands.items() if k not in STACK_ONLY}, res)
    sim_c = dict(cands)
    if not (len(sys.argv) > 2 and sys.argv[2] == "--only"):
        sim_c.update(STACK_ONLY)
    only_sim = len(sys.argv) > 2 and sys.argv[2] == "--sim-only"
    if only_sim:
        sim_c = {k: v for k, v in {**CANDIDATES, **STACK_ONLY}.items() if k in sys.argv[3:]}
    for name, preset, seed, thr in sim_stacks(which):
        eval_sim(name, preset, seed, thr, sim_c, res)
    with open(os.path.join(OUT, f"{which}.json"), "w") as f:
        json.dump(res, f, indent=1)
    for c, per in res.items():
        for ds, m in per.items():
            print(f"{c:22s} {ds:28s} " + " ".join(
                f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items()))


if __name__ == "__main__":
    main()
