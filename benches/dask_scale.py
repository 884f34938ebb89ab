"""Per-block cost and scheduler overhead of fibstack.dask, and the projected wall time of a
10^4 x 2048 x 2048 stack.

    python benches/dask_scale.py     (after pip install ./python with dask[array,distributed])

Per-block cost: denoise (2-D, sigma 20 nm) + manual segment + per-block labelling of one block of
32 x 512 x 512 voxels on one thread, scaled by voxel count to a 32 x 2048 x 2048 block (the kernels
are linear in voxels). Scheduler overhead: wall time per no-op task on a 2-worker LocalCluster.
Projection: blocks / workers rounds of the per-block cost plus tasks x overhead (one scheduler)."""

import math
import os
import time

import numpy as np

import fibstack as fs


def main():
    vox = (20.0, 10.0, 10.0)
    rng = np.random.default_rng(0)
    block = rng.integers(0, 255, (32, 512, 512), dtype=np.uint8)
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        n = fs.denoise(block, voxel_nm=vox, sigma=20.0, dims="2d")
        s = fs.segment(n, method="manual", thresholds=[128.0], labels=[0, 1])
        fs._core.label_components(s.data, 0, 6)
        ts.append(time.perf_counter() - t0)
    per_small = min(ts)
    per_block = per_small * (2048 * 2048) / (512 * 512)

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cl, \
            Client(cl) as c:
        n_tasks = 2000
        c.gather(c.map(lambda x: x, range(100)))
        t0 = time.perf_counter()
        c.gather(c.map(lambda x: x, range(n_tasks)))
        overhead = (time.perf_counter() - t0) / n_tasks

    blocks = math.ceil(10_000 / 32)
    tasks = blocks * 4  # read, denoise, segment, label per block
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"per-block cost (32x512x512, 1 thread): {per_small:.3f} s -> 32x2048x2048: {per_block:.2f} s")
    print(f"scheduler overhead per task: {overhead * 1e3:.2f} ms")
    for w in (16, 64):
        wall = math.ceil(blocks / w) * per_block + tasks * overhead
        print(f"projected 10^4 x 2048 x 2048 on {w} workers: {wall / 60:.1f} min "
              f"({blocks} blocks, {tasks} tasks)")


if __name__ == "__main__":
    main()
