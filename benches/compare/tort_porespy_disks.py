"""Reference values for fibstack's steady-state tortuosity (helper `tort`).

1. Generates PoreSpy's 2-D lattice of disks (r = 8, spacing = 26, 200x200) with PoreSpy's own
   generator (as in PoreSpy's test that gives tau = 1.35995 along axis 1) and stores the image as raw
   u8 bytes (row-major, 200x200, 1 = pore) in fixtures/tort/disks_200x200.u8.
2. Solves the same voxel-network Laplace problem with a *direct* sparse solver (scipy spsolve), in
   both boundary conventions, as an independent twin of the Rust PCG/multigrid solver:
   - fixed_layers (PoreSpy tortuosity_fd): first/last layer held at c=1/0, D_eff = I (L-1) / A,
     tau = eps_percolating / D_eff;
   - half_voxel (TauFactor): Dirichlet planes half a voxel outside, boundary conductance 2,
     D_eff = I L / A, tau = eps_total / D_eff.
   (openpnm is not installed here, so PoreSpy's tortuosity_fd itself cannot run.)
3. Same for the staircase strip (TauFactor test, N = 20) and a small seeded random volume.
Output: fixtures/peer/tort_porespy_disks.json. Run from the repo root:
    /work/venv/bin/python benches/compare/tort_porespy_disks.py
"""
import json

import numpy as np
import porespy as ps
import scipy.ndimage as ndi
import scipy.sparse as sp
import scipy.sparse.linalg as spla

ps.settings.tqdm["disable"] = True


def tau_direct(im, axis, mode, spacing=(1.0, 1.0, 1.0)):
    im = np.asarray(im, dtype=bool)
    if im.ndim == 2:
        im = im[None]
        axis += 1
    spacing = np.asarray(spacing, float)
    n = im.shape
    L = n[axis]
    # keep voxels connected (6-conn) to the inlet or outlet face
    lab, _ = ndi.label(im)
    sl0 = [slice(None)] * 3
    sl0[axis] = 0
    sl1 = [slice(None)] * 3
    sl1[axis] = L - 1
    a = set(np.unique(lab[tuple(sl0)])) - {0}
    b = set(np.unique(lab[tuple(sl1)])) - {0}
    perc = np.isin(lab, list(a & b))
    keep = np.isin(lab, list(a | b))
    if mode == "fixed_layers":
        keep = perc
    eps_total = im.mean()
    eps_perc = perc.mean()
    if not perc.any():
        return None
    idx = -np.ones(n, dtype=np.int64)
    idx[keep] = np.arange(keep.sum())
    N = int(keep.sum())
    vol = spacing.prod()
    w = 1.0 / spacing**2  # conductance / voxel volume
    rows, cols, vals = [], [], []
    diag = np.zeros(N)
    rhs = np.zeros(N)
    for ax in range(3):
        s0 = [slice(None)] * 3
        s1 = [slice(None)] * 3
        s0[ax] = slice(0, n[ax] - 1)
        s1[ax] = slice(1, n[ax])
        i0 = idx[tuple(s0)]
        i1 = idx[tuple(s1)]
        m = (i0 >= 0) & (i1 >= 0)
        i0 = i0[m]
        i1 = i1[m]
        g = w[ax]
        rows += [i0, i1]
        cols += [i1, i0]
        vals += [np.full(i0.size, -g), np.full(i0.size, -g)]
        np.add.at(diag, i0, g)
        np.add.at(diag, i1, g)
    inl = idx[tuple(sl0)]
    inl = inl[inl >= 0]
    out = idx[tuple(sl1)]
    out = out[out >= 0]
    if mode == "half_voxel":
        gb = 2.0 * w[axis]
        np.add.at(diag, inl, gb)
        np.add.at(diag, out, gb)
        rhs[inl] += gb * 1.0
        A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(N, N))
        A = A + sp.diags(diag)
        c = spla.spsolve(A.tocsc(), rhs)
        I = (gb * (1.0 - c[inl])).sum() * vol  # current, D0 = 1
        area = np.prod([n[i] * spacing[i] for i in range(3) if i != axis])
        deff = I * (L * spacing[axis]) / area
        return float(eps_total / deff)
    else:
        A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(N, N))
        A = (A + sp.diags(diag)).tolil()
        fixed = np.zeros(N, bool)
        fixed[inl] = True
        fixed[out] = True
        val = np.zeros(N)
        val[inl] = 1.0
        A = A.tocsr()
        free = ~fixed
        Aff = A[free][:, free]
        b = -A[free][:, fixed] @ val[fixed]
        c = val.copy()
        c[free] = spla.spsolve(Aff.tocsc(), b)
        r = A @ c
        I = r[inl].sum() * vol
        area = np.prod([n[i] * spacing[i] for i in range(3) if i != axis])
        deff = I * ((L - 1) * spacing[axis]) / area
        return float(eps_perc / deff)


out = {}
im = np.asarray(ps.generators.lattice_spheres(shape=[200, 200], r=8, spacing=26), dtype=bool)
im.astype(np.uint8).tofile("fixtures/tort/disks_200x200.u8")
out["disks_200x200"] = {
    "porosity": float(im.mean()),
    "porespy_reference_axis1_fixed_layers": 1.35995,
    "direct_fixed_layers_axis1": tau_direct(im, 1, "fixed_layers"),
    "direct_half_voxel_axis1": tau_direct(im, 1, "half_voxel"),
    "direct_fixed_layers_axis0": tau_direct(im, 0, "fixed_layers"),
    "direct_half_voxel_axis0": tau_direct(im, 0, "half_voxel"),
}
st = np.zeros((20, 20, 20), bool)
for i in range(20):
    st[i, i:i + 2, i:i + 2] = True
out["staircase_20"] = {
    "taufactor_reference_axis0": 7.51667,
    "direct_half_voxel_axis0": tau_direct(st, 0, "half_voxel"),
}
rng = np.random.default_rng(7)
rv = ndi.gaussian_filter(rng.random((24, 20, 16)), 1.5)
rv = rv > np.quantile(rv, 0.45)
np.asarray(rv, np.uint8).tofile("fixtures/tort/random_24x20x16.u8")
out["random_24x20x16"] = {"porosity": float(rv.mean())}
for ax in range(3):
    out["random_24x20x16"][f"direct_half_voxel_axis{ax}"] = tau_direct(rv, ax, "half_voxel")
    out["random_24x20x16"][f"direct_half_voxel_axis{ax}_spacing_3_1_2"] = tau_direct(
        rv, ax, "half_voxel", spacing=(3.0, 1.0, 2.0))
json.dump(out, open("fixtures/peer/tort_porespy_disks.json", "w"), indent=2)
print(json.dumps(out, indent=2))
