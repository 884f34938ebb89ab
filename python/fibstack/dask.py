"""fibstack over ``dask.array``: stacks chunked along z, on any Dask scheduler.

- :func:`read`: a stack on disk (a folder of slices, a multi-page TIFF, a Zarr / OME-Zarr store
  when the package is built with the ``zarr`` feature) as a dask array of slabs of slices, each
  block read by the library on the worker that needs it;
- :func:`map_slices`: a per-slice step (2-D denoise, destripe, a manual threshold …) block by
  block (``map_blocks``);
- :func:`map_local3d`: a local 3-D step with a halo of slices (``map_overlap``);
- :func:`porosity`: phase fraction as a reduction;
- :func:`histogram`, :func:`thresholds`, :func:`segment`: the full-volume grey histogram as a tree
  reduction of per-block histograms, the ``segment`` step's thresholds (Otsu, multi-Otsu,
  ISO-50) from it, and the labels block by block;
- :func:`porosity_profile`: a phase's fraction per slice along an axis, from per-block slice
  histograms (concatenated along z, a tree sum along y or x);
- :func:`label`: connected components per block, merged across block faces with a union–find,
  numbered as the in-memory labelling numbers them (by first voxel in raster order);
- :func:`percolating_fraction`: from the merged labels;
- :func:`tortuosity_rw`: random-walk τ with the walkers' batches partitioned across workers over
  one bit-packed phase mask shared by all of them (it must fit a worker), the same result as
  the in-memory ``tortuosity`` step with the same seed and walker count.

Arrays must be chunked along z only (each block holds whole slices). Results are identical to
the in-memory functions of :mod:`fibstack`.
"""

from __future__ import annotations

import os
from typing import Any, List, Optional, Tuple, Union

import numpy as np

from . import FibstackError, _core, run_step

__all__ = ["read", "map_slices", "map_local3d", "porosity", "histogram", "thresholds", "segment",
           "porosity_profile", "label", "percolating_fraction", "tortuosity_rw"]

#: blocks combined per node of a tree reduction
SPLIT_EVERY = 8


_DTYPES = {"u8": np.uint8, "u16": np.uint16, "f32": np.float32}


def _read_slab(path: str, a: int, b: int, labels: bool, pattern, keep_databar) -> np.ndarray:
    from . import read as _read
    return _read(path, labels=labels, pattern=pattern, slices=(a, b),
                 keep_databar=keep_databar).data


def read(path: Union[str, "os.PathLike[str]"], *, chunk_slices: int = 16, labels: bool = False,
         pattern: Optional[str] = None, keep_databar: bool = False):
    """A stack on disk as ``(dask_array, voxel_nm)``: blocks of ``chunk_slices`` whole slices,
    each read with :func:`fibstack.read` (``slices=(a, b)``) when a worker needs it, so no process
    holds the whole stack. ``voxel_nm`` is the stack's calibration from its headers (``None``
    when unknown: give ``voxel_nm=`` to the steps). The blocks together equal
    ``fibstack.read(path).data`` byte for byte."""
    import dask
    import dask.array as da

    if int(chunk_slices) < 1:
        raise FibstackError(f"chunk_slices = {chunk_slices}: give a whole number of slices >= 1")
    p = os.fspath(path)
    shape, sample, voxel = _core.stack_info(p, pattern, keep_databar)
    dtype = np.uint8 if labels else _DTYPES[sample]
    nz, ny, nx = shape
    blocks = []
    for a in range(0, nz, int(chunk_slices)):
        b = min(nz, a + int(chunk_slices))
        d = dask.delayed(_read_slab)(p, a, b, labels, pattern, keep_databar)
        blocks.append(da.from_delayed(d, shape=(b - a, ny, nx), dtype=dtype))
    return da.concatenate(blocks, axis=0), None if voxel is None else tuple(voxel)


def _check(arr: Any, halo: int = 0) -> None:
    import dask.array as da

    if not isinstance(arr, da.Array) or arr.ndim != 3:
        raise FibstackError("expected a 3-D dask.array (z, y, x)")
    if len(arr.chunks[1]) != 1 or len(arr.chunks[2]) != 1:
        raise FibstackError(
            f"chunks {arr.chunksize}: chunk along z only (each block whole slices), e.g. "
            f"arr.rechunk({{0: 32, 1: -1, 2: -1}})")
    small = min(arr.chunks[0])
    if halo > 0 and small < halo and len(arr.chunks[0]) > 1:
        raise FibstackError(
            f"a block of {small} slices is smaller than the step's halo of {halo} slices: "
            f"rechunk to at least {halo} slices per block, e.g. arr.rechunk({{0: {max(halo, 32)}}})")


def _step_block(block: np.ndarray, kind: str, out: str, voxel_nm, params) -> np.ndarray:
    block = np.ascontiguousarray(block)
    if out == "labels_in":
        g, lab, _, _, _, _, _ = run_step(kind, None, block, voxel_nm=voxel_nm, **params)
    else:
        g, lab, _, _, _, _, _ = run_step(kind, block, voxel_nm=voxel_nm, **params)
    return lab if out == "labels" else g


def _out_kind(kind: str) -> str:
    return "labels" if kind in ("segment", "classify") else "grey"


def map_slices(kind: str, arr: Any, *, voxel_nm: Optional[Tuple[float, float, float]] = None,
               **params: Any):
    """Run a per-slice step (its result on a slice depends on that slice only, e.g.
    ``denoise`` with ``dims = "2d"``, ``destripe``, ``segment`` with ``method = "manual"``) on
    every block. Returns a dask array."""
    _check(arr)
    out = _out_kind(kind)
    probe = _step_block(np.asarray(arr[:1]), kind, out, voxel_nm, params)
    return arr.map_blocks(_step_block, kind, out, voxel_nm, params, dtype=probe.dtype)


def map_local3d(kind: str, arr: Any, halo: int, *,
                voxel_nm: Optional[Tuple[float, float, float]] = None, **params: Any):
    """Run a local 3-D step whose output at a voxel depends on at most ``halo`` slices either
    side (e.g. a 3-D Gaussian: ``halo`` ≥ its truncation radius in slices) with
    ``map_overlap``. Blocks smaller than the halo are refused."""
    _check(arr, halo)
    out = _out_kind(kind)
    probe = _step_block(np.asarray(arr[: min(arr.shape[0], 2 * halo + 1)]), kind, out,
                        voxel_nm, params)
    return arr.map_overlap(_step_block, depth={0: halo, 1: 0, 2: 0}, boundary="none",
                           trim=True, kind=kind, out=out, voxel_nm=voxel_nm, params=params,
                           dtype=probe.dtype)


def porosity(labels: Any, phase: int = 0) -> float:
    """Fraction of voxels with label ``phase`` (a tree reduction). Computes and returns a float
    (the same number as ``fibstack.porosity(...).porosity.value``)."""
    _check(labels)
    n = int((labels == phase).sum().compute())
    return n / labels.size


_SAMPLE = {np.dtype(np.uint8): "u8", np.dtype(np.uint16): "u16", np.dtype(np.float32): "f32"}


def _sample(grey: Any) -> str:
    st = _SAMPLE.get(np.dtype(grey.dtype))
    if st is None:
        raise FibstackError(f"grey volume: dtype {grey.dtype} is not supported (uint8, uint16 or "
                            "float32); convert with arr.astype(numpy.float32)")
    return st


def _range_block(block: np.ndarray) -> np.ndarray:
    lo, hi = _core.float_range(np.ascontiguousarray(block))
    return np.array([[lo, hi]], dtype=np.float32)


def _hist_block(block: np.ndarray, lo, hi, nbins: int) -> np.ndarray:
    return _core.block_histogram(np.ascontiguousarray(block), lo, hi, nbins)[None, :]


def histogram(grey: Any, nbins: int = 256) -> dict:
    """The full-volume grey histogram of the ``segment`` step (one bin per value for uint8 and
    uint16, ``nbins`` equal bins over the volume's range for float32), as a tree reduction:
    each block's histogram is made by the library on its worker, and the block histograms are
    summed ``SPLIT_EVERY`` at a time. For float32 the range comes first, as a tree reduction of
    the blocks' minima and maxima. Returns ``{"counts", "sample_type", "lo", "hi"}`` (counts of
    every possible value for integers; ``lo``/``hi`` the float32 range, else ``None``), the
    input of :func:`thresholds`."""
    _check(grey)
    st = _sample(grey)
    nb = grey.numblocks[0]
    lo = hi = None
    if st == "f32":
        r = grey.map_blocks(_range_block, dtype=np.float32, drop_axis=[2],
                            chunks=((1,) * nb, (2,)))
        lo, hi = (float(x) for x in
                  __import__("dask").compute(r[:, 0].min(split_every=SPLIT_EVERY),
                                             r[:, 1].max(split_every=SPLIT_EVERY)))
        if lo > hi:
            raise FibstackError("volume: has no voxels; nothing to threshold")
    n = int(nbins) if st == "f32" else (256 if st == "u8" else 65536)
    h = grey.map_blocks(_hist_block, lo, hi, int(nbins), dtype=np.uint64, drop_axis=[2],
                        chunks=((1,) * nb, (n,)))
    counts = h.sum(axis=0, split_every=SPLIT_EVERY, dtype=np.uint64).compute()
    return {"counts": counts, "sample_type": st, "lo": lo, "hi": hi}


def thresholds(grey: Any, **params: Any) -> List[float]:
    """The ``segment`` step's thresholds (its keys: ``method`` = ``"otsu"`` (default),
    ``"multiotsu"`` or ``"iso50"``, ``classes``, ``nbins``) from the full-volume
    :func:`histogram`: the same numbers as ``fibstack.segment(grey.compute(), **params)``
    finds in memory (the library's own function on the same histogram)."""
    import json

    from . import _params

    nbins = int(params.get("nbins", 256))
    h = histogram(grey, nbins)
    t, _, _ = _core.thresholds_from_histogram(h["counts"].tolist(), h["sample_type"],
                                              _params(params), h["lo"], h["hi"])
    return [float(x) for x in t]


def segment(grey: Any, *, voxel_nm: Optional[Tuple[float, float, float]] = None,
            **params: Any):
    """Segment a z-chunked grey stack with a global threshold method: the thresholds from
    :func:`thresholds` (a tree reduction), then every block labelled by the ``segment`` step
    with those thresholds (``method = "manual"``, ``map_blocks``). Returns
    ``(labels as a dask array, thresholds)``; the labels equal the in-memory
    ``fibstack.segment`` byte for byte. Shine-through and rim corrections (which look across
    slices) and ``sensitivity`` are not part of this."""
    method = params.get("method", "otsu")
    for k in ("shine_through", "rim_correction"):
        if params.get(k):
            raise FibstackError(f"{k}: not available on a dask array (it looks across slices); "
                                "run fibstack.segment on the stack in memory or the CLI's "
                                "streaming segment")
    if method == "manual":
        t = [float(x) for x in params.get("thresholds") or []]
    else:
        t = thresholds(grey, **params)
    keep = {k: v for k, v in params.items() if k == "labels"}
    return map_slices("segment", grey, voxel_nm=voxel_nm, method="manual", thresholds=t,
                      **keep), t


def _slice_hist_block(block: np.ndarray, axis: str) -> np.ndarray:
    h = _core.slice_histograms(np.ascontiguousarray(block, dtype=np.uint8), axis)
    return h if axis == "z" else h[None]


def porosity_profile(labels: Any, phase: int = 0, axis: str = "z", *,
                     voxel_nm: Optional[Tuple[float, float, float]] = None,
                     allow_uncalibrated: bool = False) -> dict:
    """Fraction of label ``phase`` in every slice along ``axis``, as the ``porosity`` step's
    profile: per-block slice histograms by the library, concatenated along z, summed as a tree
    reduction along y or x. Returns ``{"axis", "n_slices", "slice_thickness", "length_unit",
    "position", "fraction", "counts"}``: ``position`` (slice centres) and ``fraction`` equal the
    in-memory step's ``profiles`` entry for the axis."""
    _check(labels)
    if axis not in ("z", "y", "x"):
        raise FibstackError(f"axis = {axis!r}: use \"z\", \"y\" or \"x\"")
    if labels.dtype != np.uint8:
        raise FibstackError(f"label volume: dtype {labels.dtype} is not supported; labels are "
                            "uint8 phase values")
    if voxel_nm is None and not allow_uncalibrated:
        raise FibstackError("voxel size unknown: pass voxel_nm=(dz, dy, dx) in nm, or "
                            "allow_uncalibrated=True (lengths in voxels)")
    ax = "zyx".index(axis)
    nb = labels.numblocks[0]
    n = labels.shape[ax]
    if axis == "z":
        h = labels.map_blocks(_slice_hist_block, axis, dtype=np.uint64, drop_axis=[2],
                              chunks=(labels.chunks[0], (256,)))
        counts = h.compute()
    else:
        h = labels.map_blocks(_slice_hist_block, axis, dtype=np.uint64,
                              chunks=((1,) * nb, (n,), (256,)))
        counts = h.sum(axis=0, split_every=SPLIT_EVERY, dtype=np.uint64).compute()
    per = labels.size // n
    d = 1.0 if voxel_nm is None else float(voxel_nm[ax])
    frac = counts[:, int(phase)].astype(np.float64) / float(per)
    return {"axis": axis, "n_slices": n, "slice_thickness": d,
            "length_unit": "voxel" if voxel_nm is None else "nm",
            "position": [(i + 0.5) * d for i in range(n)], "fraction": frac.tolist(),
            "counts": counts[:, int(phase)].tolist()}


def _label_block(block: np.ndarray, phase: int, conn: int):
    lab, sizes = _core.label_components(np.ascontiguousarray(block, dtype=np.uint8), phase, conn)
    return lab, len(sizes)


def _face_offsets(conn: int):
    if conn == 6:
        return [(0, 0)]
    if conn == 18:
        return [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
    return [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def _pairs(a: np.ndarray, b: np.ndarray, conn: int) -> np.ndarray:
    """Label pairs (a in the last slice of one block, b in the first of the next) that touch."""
    out = []
    ny, nx = a.shape
    for dy, dx in _face_offsets(conn):
        ys, ye = max(0, -dy), ny - max(0, dy)
        xs, xe = max(0, -dx), nx - max(0, dx)
        aa = a[ys:ye, xs:xe]
        bb = b[ys + dy:ye + dy, xs + dx:xe + dx]
        m = (aa > 0) & (bb > 0)
        out.append(np.stack([aa[m], bb[m]], axis=1))
    p = np.concatenate(out) if out else np.zeros((0, 2), np.int64)
    return np.unique(p, axis=0) if len(p) else p


def _block_faces(part) -> Tuple[int, np.ndarray, np.ndarray]:
    lab, n = part
    return n, lab[0].copy(), lab[-1].copy()


def _relabel_block(part, offset: int, lut: np.ndarray) -> np.ndarray:
    lab, _ = part
    g = np.where(lab > 0, lab.astype(np.int64) + offset, 0)
    return lut[g]


def label(labels: Any, phase: int = 0, connectivity: int = 6):
    """Connected components of label ``phase`` over a z-chunked dask array: labelled per block
    by the library, merged across block faces (union–find), numbered by first voxel in raster
    order as :func:`fibstack` labels in memory. Returns ``(dask array of uint32 labels, count)``.

    The block labellings are computed and kept where they were made (``persist``: on the
    workers with ``dask.distributed``); only each block's component count and its first and
    last slice come to the client for the merge, and the relabelling of each block stays lazy
    (a task on the block's own labelling), so no process holds more than its blocks."""
    import dask
    import dask.array as da

    _check(labels)
    if connectivity not in (6, 18, 26):
        raise FibstackError(f"connectivity = {connectivity}: use 6, 18 or 26")
    blocks = labels.to_delayed().ravel()
    parts = dask.persist(*[dask.delayed(_label_block)(b, phase, connectivity) for b in blocks])
    faces = dask.compute(*[dask.delayed(_block_faces)(p) for p in parts])
    counts = [n for n, _, _ in faces]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    total = int(offsets[-1])
    parent = np.arange(total + 1, dtype=np.int64)

    def find(x):
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for i in range(len(faces) - 1):
        a = faces[i][2].astype(np.int64)
        b = faces[i + 1][1].astype(np.int64)
        a = np.where(a > 0, a + offsets[i], 0)
        b = np.where(b > 0, b + offsets[i + 1], 0)
        for x, y in _pairs(a, b, connectivity):
            rx, ry = find(int(x)), find(int(y))
            if rx != ry:  # keep the smaller label as root: the component's first voxel
                parent[max(rx, ry)] = min(rx, ry)
    roots = np.array([find(i) for i in range(total + 1)], dtype=np.int64)
    uniq = np.unique(roots[1:])
    rank = np.zeros(total + 1, dtype=np.int64)
    rank[uniq] = np.arange(1, len(uniq) + 1)
    lut = rank[roots].astype(np.uint32)
    lut[0] = 0
    lut_d = dask.delayed(lut)
    out_blocks = []
    for i, p in enumerate(parts):
        shape = (labels.chunks[0][i], labels.shape[1], labels.shape[2])
        d = dask.delayed(_relabel_block)(p, int(offsets[i]), lut_d)
        out_blocks.append(da.from_delayed(d, shape=shape, dtype=np.uint32))
    return da.concatenate(out_blocks, axis=0), int(len(uniq))


def _percolating_voxels(components: Any, ax: int, sizes: np.ndarray) -> int:
    import dask.array as da

    lo = np.take(components, [0], axis=ax)
    hi = np.take(components, [components.shape[ax] - 1], axis=ax)
    lo_ids, hi_ids = da.compute(da.unique(lo), da.unique(hi))
    both = np.intersect1d(lo_ids[lo_ids > 0], hi_ids[hi_ids > 0])
    return int(sizes[both].sum())


def _sizes(components: Any) -> np.ndarray:
    import dask.array as da

    n = int(components.max().compute())
    return da.bincount(components.ravel(), minlength=n + 1).compute()


def percolating_fraction(components: Any, axis: str = "z") -> float:
    """Fraction of the phase's voxels in components touching both faces along ``axis``, from the
    merged labels of :func:`label` (the ``connectivity`` step's ``percolating_fraction``)."""
    ax = {"z": 0, "y": 1, "x": 2}.get(axis)
    if ax is None:
        raise FibstackError(f"axis = {axis!r}: use \"z\", \"y\" or \"x\"")
    sizes = _sizes(components)
    phase = int(sizes[1:].sum())
    return float(_percolating_voxels(components, ax, sizes)) / phase if phase else 0.0


def _client():
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def _worker_memory_limit(client) -> Optional[int]:
    """The smallest memory limit of the cluster's workers (bytes), or the machine's memory
    without a cluster; ``None`` when unknown."""
    if client is not None:
        lims = [int(w.get("memory_limit") or 0)
                for w in client.scheduler_info()["workers"].values()]
        lims = [x for x in lims if x > 0]
        if lims:
            return min(lims)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


#: the share of a worker's memory limit the shared mask may take (the rest: the walkers, the
#: worker's own use)
MASK_SHARE = 0.5


def _axes(axis: Any) -> List[int]:
    if isinstance(axis, str):
        if axis.strip().lower() == "all":
            return [0, 1, 2]
        parts = [p.strip() for p in axis.split(",")]
    else:
        parts = list(axis)
    out: List[int] = []
    for p in parts:
        if p not in ("z", "y", "x"):
            raise FibstackError(f"axis = {axis!r}: use \"z\", \"y\", \"x\", a list of them or "
                                "\"all\"")
        if "zyx".index(p) not in out:
            out.append("zyx".index(p))
    return out


def _rw_task(words: np.ndarray, *args):
    # a scattered array can arrive unaligned (deserialised in place from a message buffer)
    return _core.rw_batches(np.require(words, np.uint64, ["C", "A"]), *args)


def tortuosity_rw(labels: Any, phase: int = 0, axis: Any = "z", *,
                  voxel_nm: Optional[Tuple[float, float, float]] = None,
                  allow_uncalibrated: bool = False, seed: int = 0,
                  walkers: Optional[int] = None, steps: Optional[int] = None,
                  precision: float = 0.01, max_steps: int = 1 << 21,
                  tasks_per_worker: int = 2, max_mask_bytes: Optional[int] = None):
    """Random-walk tortuosity factor of label ``phase`` with the walkers spread over the
    workers.

    The phase is bit-packed block by block into one mask (1 bit per voxel), which every worker
    gets once (``client.scatter(..., broadcast=True)``); the walk's batches (each with its own
    random stream, as in memory) are split into ``tasks_per_worker`` tasks per worker; each task
    walks its batches over the mask and returns their mean-squared-displacement sums; the library
    then judges the whole walk (the same slopes, stopping rule and confidence interval as the
    in-memory walk) and either returns the result or asks for a walk twice as long, which the
    workers walk again from the start on the same schedule (the earlier walks, then the
    doubling). Percolation along each axis comes from the merged
    components of :func:`label`.

    The result equals ``fibstack.tortuosity(labels, method="rw", ...)`` with the same
    ``seed``, ``walkers``, ``steps``, ``precision`` and ``max_steps`` (every number; only
    ``time_s`` differs). With the automatic length (no ``steps``) the workers walk from the
    start at each doubling, so they do up to twice the walker-steps of the in-memory walk
    (which continues its walkers).

    The mask needs ``ceil(voxels / 64) * 8`` bytes on every worker; above ``MASK_SHARE`` of the
    smallest worker's memory limit (or ``max_mask_bytes``) the call is refused with the limit.
    Returns a :class:`fibstack.Result` with ``results`` (one per axis) and ``msd``; refuses
    unconverged walks only through their ``warnings``, as the step with
    ``allow_unconverged=True`` keeps them."""
    import json

    import dask

    from . import Result

    _check(labels)
    if labels.dtype != np.uint8:
        raise FibstackError(f"label volume: dtype {labels.dtype} is not supported; labels are "
                            "uint8 phase values")
    if voxel_nm is None and not allow_uncalibrated:
        raise FibstackError("voxel size unknown: pass voxel_nm=(dz, dy, dx) in nm, or "
                            "allow_uncalibrated=True (lengths in voxels)")
    vox = [1.0, 1.0, 1.0] if voxel_nm is None else [float(v) for v in voxel_nm]
    axes = _axes(axis)
    phase = int(phase)
    opts = json.dumps({"seed": int(seed), "walkers": walkers, "steps": steps,
                       "precision": float(precision), "max_steps": int(max_steps)})
    nb, _, total, interval = _core.rw_plan(opts)
    shape = [int(x) for x in labels.shape]
    nvox = shape[0] * shape[1] * shape[2]
    mask_bytes = -(-nvox // 64) * 8
    client = _client()
    if max_mask_bytes is None:
        lim = _worker_memory_limit(client)
        max_mask_bytes = None if lim is None else int(lim * MASK_SHARE)
    if max_mask_bytes is not None and mask_bytes > max_mask_bytes:
        raise FibstackError(
            f"random walk: the phase mask of {shape[0]} x {shape[1]} x {shape[2]} voxels needs "
            f"{mask_bytes / 2**20:.1f} MiB on every worker, more than the limit of "
            f"{max_mask_bytes / 2**20:.1f} MiB ({MASK_SHARE:.0%} of the smallest worker's memory "
            f"limit; at most {max_mask_bytes * 8:,} voxels): use workers with at least "
            f"{mask_bytes / MASK_SHARE / 2**20:.0f} MiB, or crop the stack")
    # one mask, packed block by block (a block's voxels a multiple of 64, so words concatenate)
    per_slice = shape[1] * shape[2]
    step = 64 // np.gcd(per_slice, 64)
    arr = labels
    if any(c % step for c in labels.chunks[0][:-1]):
        arr = labels.rechunk({0: max(step, -(-labels.chunksize[0] // step) * step)})
    packed = dask.compute(*[dask.delayed(_core.rw_pack)(b, phase)
                            for b in arr.to_delayed().ravel()])
    words = np.concatenate([w for w, _ in packed]).astype(np.uint64)
    phase_voxels = int(sum(n for _, n in packed))
    perc = [0, 0, 0]
    if phase_voxels:
        comps, _ = label(labels, phase=phase, connectivity=6)
        sizes = _sizes(comps)
        for a in axes:
            perc[a] = _percolating_voxels(comps, a, sizes)
    chord = _core.rw_mean_chord(words, shape, vox)
    meta = (shape, phase, phase_voxels, perc, chord, vox, axes, opts)
    walks = any(perc[a] > 0 for a in axes)
    if not walks:
        kind, res = _core.rw_assess(np.zeros((0, 0, 3)), *meta, total, interval)
        return Result(json.loads(res))
    nworkers = len(client.scheduler_info()["workers"]) if client is not None else 1
    ntasks = max(1, min(nb, int(tasks_per_worker) * max(1, nworkers)))
    bounds = [round(i * nb / ntasks) for i in range(ntasks + 1)]
    shared = client.scatter(words, broadcast=True) if client is not None else words
    prev = None
    doublings = 0
    while True:
        if client is not None:
            futs = [client.submit(_rw_task, shared, shape, phase, phase_voxels, vox, opts,
                                  b0, b1, doublings, pure=False)
                    for b0, b1 in zip(bounds[:-1], bounds[1:])]
            parts = client.gather(futs)
        else:
            parts = dask.compute(*[dask.delayed(_rw_task)(
                shared, shape, phase, phase_voxels, vox, opts, b0, b1, doublings)
                for b0, b1 in zip(bounds[:-1], bounds[1:])])
        sums = np.ascontiguousarray(np.concatenate(parts, axis=0))
        out = _core.rw_assess(sums, *meta, total, interval, prev)
        if out[0] == "done":
            return Result(json.loads(out[1]))
        _, total, interval, prev = out
        doublings += 1
