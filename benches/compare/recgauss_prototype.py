"""Choice of the recursive Gaussian for fibstack's `denoise --recursive` (src/preprocess/denoise/recursive.rs).

Compares two recursive (IIR) Gaussians against scipy.ndimage.gaussian_filter1d(truncate=4,
mode='reflect') on an impulse, a step and uniform noise in [0, 1] (so the max error is already
relative to the input's range), with the same mirrored-margin border handling as fibstack
(line extended by r = int(4 sigma + 0.5) reflected samples, recursion started in its steady
state for a constant continuation beyond the margin):

- Young & van Vliet (1995) 3rd order, cascade (forward then backward) form; the backward
  pass's initial state is obtained from a long constant continuation (what Triggs & Sdika's
  matrix gives in closed form), so only the filter's own shape error remains;
- Deriche (1993) 4th order, parallel (causal + anti-causal) form, normalised to unit sum.

Run: /work/venv/bin/python benches/compare/recgauss_prototype.py
"""
import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import lfilter


def reflect_extend(x, m):
    n = len(x)
    idx = np.arange(-m, n + m)
    k = np.mod(idx, 2 * n)
    k = np.where(k >= n, 2 * n - 1 - k, k)
    return x[k].astype(float)


def yvv1995(x, sigma, m):
    q = 0.98711 * sigma - 0.96330 if sigma >= 2.5 else 3.97156 - 4.14554 * np.sqrt(1 - 0.26891 * sigma)
    b0 = 1.57825 + 2.44413 * q + 1.4281 * q**2 + 0.422205 * q**3
    b1 = 2.44413 * q + 2.85619 * q**2 + 1.26661 * q**3
    b2 = -(1.4281 * q**2 + 1.26661 * q**3)
    b3 = 0.422205 * q**3
    a = np.array([b1, b2, b3]) / b0
    B = 1 - a.sum()
    den = np.array([1.0, -a[0], -a[1], -a[2]])
    e = reflect_extend(x, m)
    L = 4000  # long constant continuations on both sides = exact steady-state initialisation
    ext = np.concatenate([np.full(L, e[0]), e, np.full(L, e[-1])])
    w = lfilter([B], den, ext)
    y = lfilter([B], den, w[::-1])[::-1]
    return y[L + m: L + m + len(x)]


DERICHE = [(1.680, 3.735, 1.783, 0.6318), (-0.6803, -0.2598, 1.723, 1.997)]


def deriche4(x, sigma, m):
    p, q = [], []
    for a, c, b, w in DERICHE:
        rho, th = np.exp(-b / sigma), w / sigma
        p.append(np.array([a, rho * (c * np.sin(th) - a * np.cos(th))]))
        q.append(np.array([1.0, -2 * rho * np.cos(th), rho * rho]))
    D = np.convolve(q[0], q[1])
    N = np.convolve(p[0], q[1]) + np.convolve(p[1], q[0])
    M = np.array([0.0, N[1] - N[0] * D[1], N[2] - N[0] * D[2], N[3] - N[0] * D[3], -N[0] * D[4]])
    tot = (N.sum() + M.sum()) / D.sum()
    N, M = N / tot, M / tot
    e = reflect_extend(x, m)
    L = 4000
    yc = lfilter(N, D, np.concatenate([np.full(L, e[0]), e]))[L:]
    ya = lfilter(M, D, np.concatenate([e, np.full(L, e[-1])])[::-1])[::-1][: len(e)]
    return (yc + ya)[m: m + len(x)]


rng = np.random.default_rng(1)
print("max |recursive - scipy| (input range 1): impulse  step  noise")
for name, f in [("YvV-1995", yvv1995), ("Deriche-4", deriche4)]:
    for s in [0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2, 3, 5, 8, 12, 20]:
        r = int(4 * s + 0.5)
        n = max(8 * r + 1, 41)
        imp = np.zeros(n)
        imp[n // 2] = 1
        step = (np.arange(n) >= n // 2).astype(float)
        rnd = rng.random(n)
        errs = [np.abs(gaussian_filter1d(x, s, truncate=4.0, mode="reflect") - f(x, s, r)).max()
                for x in (imp, step, rnd)]
        print(f"{name:9s} sigma {s:5.1f}: " + "  ".join(f"{e:.2e}" for e in errs))
