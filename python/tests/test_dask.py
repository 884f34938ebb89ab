"""fibstack.dask on a dask.distributed LocalCluster (2 worker processes), a stack in 8 blocks:
labels, porosity, percolating fraction and component counts identical to the in-memory run."""

import os
import signal
import time

import numpy as np
import pytest

import fibstack as fs

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import fibstack.dask as fd  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       memory_limit="2GiB", dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def stack():
    s = fs.synth(preset="electrode", shape=[64, 64, 64], seed=2)
    return s


def in_memory(grey, vox):
    n = fs.denoise(grey, voxel_nm=vox, sigma=20.0, dims="2d")
    seg = fs.segment(n, method="manual", thresholds=[90.0], labels=[0, 1])
    return seg


def distributed_chain(grey, vox):
    d = da.from_array(grey, chunks=(8, -1, -1))
    assert d.numblocks[0] >= 8
    n = fd.map_slices("denoise", d, voxel_nm=vox, sigma=20.0, dims="2d")
    return fd.map_slices("segment", n, voxel_nm=vox, method="manual", thresholds=[90.0],
                         labels=[0, 1])


def check_identical(seg, labels_d, vox):
    lab = labels_d.compute()
    assert lab.tobytes() == seg.data.tobytes()
    por = fs.porosity(seg.data, voxel_nm=vox).porosity.value
    assert fd.porosity(labels_d, 0) == por
    for phase in (0, 1):
        comp, n = fd.label(labels_d, phase=phase)
        ref, sizes = fs._core.label_components(seg.data, phase, 6)
        assert n == len(sizes)
        assert comp.compute().tobytes() == ref.tobytes()
        conn = fs.connectivity(seg.data, voxel_nm=vox, phase=phase).to_dict()
        assert n == conn["n_components"]
        z = [a for a in conn["axes"] if a["axis"] == "z"][0]
        assert fd.percolating_fraction(comp, "z") == z["percolating_fraction"]


def test_distributed_equals_in_memory(client, stack):
    vox = stack.voxel_nm
    seg = in_memory(stack.data, vox)
    check_identical(seg, distributed_chain(stack.data, vox), vox)


def _peak_rss_bytes():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def test_memory_per_worker_within_its_limit(client, stack):
    vox = stack.voxel_nm
    check_identical(in_memory(stack.data, vox), distributed_chain(stack.data, vox), vox)
    limit = {w: i["memory_limit"] for w, i in client.scheduler_info()["workers"].items()}
    peaks = client.run(_peak_rss_bytes)
    assert len(peaks) == 2
    for w, peak in peaks.items():
        assert 0 < peak < limit[w], f"worker {w}: peak RSS {peak} B over its limit {limit[w]} B"


def _slow(b):
    time.sleep(0.3)
    return b


def test_worker_killed_mid_run(client, stack):
    vox = stack.voxel_nm
    seg = in_memory(stack.data, vox)
    # an identity step that takes 0.3 s per block keeps the run going while a worker dies
    lab = distributed_chain(stack.data, vox).map_blocks(_slow, dtype=np.uint8)
    fut = client.compute(lab)
    time.sleep(0.5)
    assert not fut.done(), "the run ended before the worker was killed"
    pids = client.run(os.getpid)
    os.kill(sorted(pids.values())[0], signal.SIGKILL)  # the nanny restarts it; Dask retries
    got = fut.result()
    assert got.tobytes() == seg.data.tobytes()
    client.wait_for_workers(2, timeout=60)
    check_identical(seg, da.from_array(got, chunks=(8, -1, -1)), vox)


def test_chunks_smaller_than_halo():
    d = da.zeros((64, 16, 16), dtype=np.float32, chunks=(2, -1, -1))
    with pytest.raises(fs.FibstackError, match="smaller than the step's halo of 3"):
        fd.map_local3d("denoise", d, 3, voxel_nm=(1, 1, 1), sigma=1.0, dims="3d")


def test_chunked_in_y_refused():
    d = da.zeros((64, 16, 16), dtype=np.uint8, chunks=(8, 8, -1))
    with pytest.raises(fs.FibstackError, match="chunk along z only"):
        fd.porosity(d)


def test_map_overlap_3d_equals_in_memory():
    rng = np.random.default_rng(1)
    g = rng.random((48, 20, 20), dtype=np.float32) * 100
    ref = fs.denoise(g, voxel_nm=(10, 10, 10), sigma=10.0, dims="3d").data
    got = fd.map_local3d("denoise", da.from_array(g, chunks=(8, -1, -1)), 8,
                         voxel_nm=(10, 10, 10), sigma=10.0, dims="3d").compute(
                             scheduler="synchronous")
    assert got.tobytes() == ref.tobytes()


def test_read_folder_in_slabs_equals_whole_read(client):
    from conftest import ELECTRODE
    whole = fs.read(ELECTRODE)
    for chunk in (7, 16):
        arr, vox = fd.read(ELECTRODE, chunk_slices=chunk)
        assert arr.numblocks[0] == -(-whole.data.shape[0] // chunk)
        assert arr.dtype == whole.data.dtype and arr.shape == whole.data.shape
        got = client.compute(arr).result()
        assert got.tobytes() == whole.data.tobytes()
    assert vox == tuple(whole.voxel_nm) == (20.0, 20.0, 20.0)
    with pytest.raises(fs.FibstackError, match="chunk_slices"):
        fd.read(ELECTRODE, chunk_slices=0)
    with pytest.raises(fs.FibstackError, match="no-such-folder"):
        fd.read(ELECTRODE.parent / "no-such-folder")


def test_otsu_tree_reduction_equals_in_memory(client, stack):
    """Global thresholds from the tree-reduced histogram equal the in-memory segmentation's, for
    every sample type, and the labels are byte-identical. The z-gradient makes each block's own
    Otsu threshold differ from the global one, so a per-block threshold would fail."""
    vox = stack.voxel_nm
    g8 = stack.data
    ramp = np.linspace(0, 60, g8.shape[0])[:, None, None]
    g16 = (g8.astype(np.float64) * 40 + ramp * 40).astype(np.uint16)
    g32 = fs.denoise(g8, voxel_nm=vox, sigma=20.0).data + ramp.astype(np.float32)
    for g in (g8, g16, g32):
        d = da.from_array(g, chunks=(8, -1, -1))
        assert d.numblocks[0] == 8
        ref = fs.segment(g, voxel_nm=vox, labels=[0, 1])
        lab, t = fd.segment(d, voxel_nm=vox, labels=[0, 1])
        assert t == ref.result.thresholds, g.dtype
        assert lab.compute().tobytes() == ref.data.tobytes(), g.dtype
        per_block = [fs.segment(np.ascontiguousarray(g[i:i + 8])).result.thresholds
                     for i in range(0, 64, 8)]
        assert any(p != t for p in per_block), "the test data cannot tell a global threshold"
        for kw in ({"method": "multiotsu", "classes": 3}, {"method": "iso50", "classes": 3}):
            assert fd.thresholds(d, **kw) == fs.segment(g, **kw).result.thresholds, (g.dtype, kw)
    h = fd.histogram(da.from_array(g8, chunks=(8, -1, -1)))
    assert h["counts"].tolist() == np.bincount(g8.ravel(), minlength=256).tolist()


def test_histogram_refuses_nan_and_wrong_dtype():
    g = np.zeros((16, 8, 8), np.float32)
    g[9, 2, 3] = np.nan
    with pytest.raises(fs.FibstackError, match="NaN or infinite"):
        fd.thresholds(da.from_array(g, chunks=(8, -1, -1)))
    with pytest.raises(fs.FibstackError, match="dtype int32"):
        fd.histogram(da.zeros((16, 8, 8), dtype=np.int32, chunks=(8, -1, -1)))


def test_porosity_profile_equals_in_memory(client, stack):
    vox = stack.voxel_nm
    seg = in_memory(stack.data, vox)
    d = da.from_array(seg.data, chunks=(8, -1, -1))
    for phase in (0, 1):
        ref = fs.porosity(seg.data, voxel_nm=vox, phase=phase).to_dict()["profiles"]
        assert [p["axis"] for p in ref] == ["z", "y", "x"]
        for p in ref:
            got = fd.porosity_profile(d, phase, p["axis"], voxel_nm=vox)
            assert got["position"] == p["position"] and got["fraction"] == p["fraction"]
            assert got["n_slices"] == p["n_slices"]
            assert got["slice_thickness"] == p["slice_thickness"]
    with pytest.raises(fs.FibstackError, match="voxel size unknown"):
        fd.porosity_profile(d, 0, "z")


def _no_time(results):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in results]


def test_random_walk_across_workers_equals_in_memory(client, stack):
    """Walkers' batches partitioned over the 2 workers on one shared mask: every number of the
    in-memory random walk with the same seed and walker count, for a fixed and an automatic
    walk length (the automatic one doubles twice and stops at max_steps)."""
    vox = stack.voxel_nm
    seg = in_memory(stack.data, vox)
    d = da.from_array(seg.data, chunks=(8, -1, -1))
    for kw in ({"walkers": 2000, "steps": 1000}, {"walkers": 1600, "max_steps": 4096}):
        ref = fs.tortuosity(seg.data, voxel_nm=vox, phase=0, method="rw", axis="all", seed=5,
                            allow_unconverged=True, **kw).to_dict()["results"]
        got = fd.tortuosity_rw(d, 0, "all", voxel_nm=vox, seed=5, **kw).to_dict()
        assert _no_time(got["results"]) == _no_time(ref), kw
        assert all(r["walkers"] == kw["walkers"] for r in ref if r["percolating"])
        assert len(got["msd"]["steps"]) == 64
        assert {r["steps"] for r in ref if r["percolating"]} == {kw.get("steps") and 1024 or 4096}
    other = fd.tortuosity_rw(d, 0, "z", voxel_nm=vox, seed=6, walkers=2000, steps=1000)
    assert other.results[0].tortuosity_factor != got["results"][0]["tortuosity_factor"]


def test_random_walk_mask_too_large_for_a_worker(client, stack):
    d = da.from_array(stack.labels, chunks=(8, -1, -1))
    with pytest.raises(fs.FibstackError, match=r"needs 0\.0 MiB on every worker.*at most 8,000 "
                                               r"voxels.*or crop the stack"):
        fd.tortuosity_rw(d, 0, voxel_nm=stack.voxel_nm, walkers=1600, steps=100,
                         max_mask_bytes=1000)
    # the default limit is half of the smallest worker's memory limit (2 GiB here)
    assert fd._worker_memory_limit(client) == 2 * 2**30


@pytest.mark.skipif("zarr" not in fs._core.features(),
                    reason="extension built without the zarr feature")
def test_ome_zarr_roundtrip_and_dask_read(tmp_path):
    g = (np.arange(16 * 20 * 24) % 251).astype(np.uint8).reshape(16, 20, 24)
    p = tmp_path / "v.ome.zarr"
    fs.write(p, g, voxel_nm=(20.0, 10.0, 10.0))
    v = fs.read(p)
    assert v.voxel_nm == (20.0, 10.0, 10.0) and v.data.tobytes() == g.tobytes()
    arr, vox = fd.read(p, chunk_slices=5)
    assert vox == (20.0, 10.0, 10.0) and arr.numblocks[0] == 4
    assert arr.compute(scheduler="synchronous").tobytes() == g.tobytes()
