"""A 4-worker LocalCluster run of the per-block chain on a stack on disk, to check the per-block
cost that benches/dask_scale.py projects from.

    python benches/dask_disk_run.py [NZ] [FOLDER]    (default 256 slices of 2048 x 2048)

Writes NZ random uint8 slices of 2048 x 2048 (the content of the projection's block) as a
folder of TIFF slices (skipped when FOLDER already holds them), then reads it with
fibstack.dask.read in blocks of 32 slices on 4 worker processes of one thread each and runs 2-D
denoise (sigma 20 nm) + manual segment + block labelling with the merge across block faces
(fibstack.dask.label). Prints the wall time, the worker CPU time per block (all four workers'
CPU seconds over the run divided by the block count: what one block costs a worker, whatever
the load), and the task-stream busy time per block by kind (read / denoise+segment /
labelling)."""

import collections
import os
import pathlib
import resource
import sys
import time

import numpy as np

import fibstack as fs


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    nz = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    folder = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/fibstack-disk-stack")
    ny = nx = 2048
    vox = (20.0, 10.0, 10.0)
    if not folder.exists() or len(list(folder.glob("*.tif"))) != nz:
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        for z in range(nz):
            sl = rng.integers(0, 255, (1, ny, nx), dtype=np.uint8)
            fs.write(folder / f"slice_{z:05d}.tif", sl, voxel_nm=vox)
        print(f"wrote {nz} slices in {time.perf_counter() - t0:.1f} s")
    import fibstack.dask as fd
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=4, threads_per_worker=1, memory_limit="2500MiB",
                      dashboard_address=None) as cl, Client(cl) as c:
        arr, _ = fd.read(folder, chunk_slices=32)
        blocks = arr.numblocks[0]
        cpu0 = sum(c.run(cpu_seconds).values())
        t0 = time.perf_counter()
        with __import__("distributed").get_task_stream(c) as ts:
            n = fd.map_slices("denoise", arr, voxel_nm=vox, sigma=20.0, dims="2d")
            s = fd.map_slices("segment", n, voxel_nm=vox, method="manual", thresholds=[128.0],
                              labels=[0, 1])
            comps, count = fd.label(s, phase=0)
        wall = time.perf_counter() - t0
        cpu = sum(c.run(cpu_seconds).values()) - cpu0
        busy = collections.Counter()
        for t in ts.data:
            name = t["key"][0] if isinstance(t["key"], tuple) else t["key"]
            kind = ("label" if "label_block" in name else
                    "read" if "read_slab" in name or "from-value" in name else "denoise+segment")
            busy[kind] += sum(x["stop"] - x["start"] for x in t["startstops"]
                              if x["action"] == "compute")
    print(f"stack {nz} x {ny} x {nx} uint8 ({nz * ny * nx / 2**30:.2f} GiB) in {blocks} blocks, "
          f"4 workers x 1 thread, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"wall {wall:.1f} s, {count} components")
    print(f"worker CPU per block: {cpu / blocks:.2f} s")
    for k, v in sorted(busy.items()):
        print(f"task-stream busy time per block, {k}: {v / blocks:.2f} s")


if __name__ == "__main__":
    main()
