"""Shared fixtures: the repository, the CLI binary and a CLI run of the reference chain."""

import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
ELECTRODE = REPO / "fixtures" / "synth" / "electrode" / "slices"
PHASES = {0: "pore", 1: "active"}


def cli_path() -> pathlib.Path:
    p = pathlib.Path(os.environ.get("FIBSTACK_CLI", REPO / "target" / "release" / "fibstack"))
    if not p.exists():
        raise RuntimeError(f"{p}: the fibstack CLI is needed (cargo build --release, or set FIBSTACK_CLI)")
    return p


def run_cli(*args, cwd=None):
    r = subprocess.run([str(cli_path()), "--quiet", *map(str, args)], cwd=cwd,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"fibstack {' '.join(map(str, args))} failed: {r.stderr}")
    return r


CHAIN = f"""
output = "out"
seed = 1
[input]
path = "{ELECTRODE}"
slice_thickness_nm = 20.0
[phases]
0 = "pore"
1 = "active"
[[steps]]
kind = "align"
[[steps]]
kind = "convert"
path = "align.npy"
[[steps]]
kind = "geometry"
shear = false
[[steps]]
kind = "convert"
path = "geometry.npy"
[[steps]]
kind = "destripe"
[[steps]]
kind = "convert"
path = "destripe.npy"
[[steps]]
kind = "denoise"
sigma = 20.0
[[steps]]
kind = "convert"
path = "denoise.npy"
[[steps]]
kind = "tophat"
radius_nm = 200.0
[[steps]]
kind = "convert"
path = "tophat.npy"
[[steps]]
kind = "segment"
method = "otsu"
labels = [0, 1]
[[steps]]
kind = "convert"
path = "labels.npy"
what = "labels"
[[steps]]
kind = "porosity"
phase = "pore"
[[steps]]
kind = "connectivity"
phase = "pore"
[[steps]]
kind = "tortuosity"
phase = "pore"
method = "fd"
axis = "z"
[[steps]]
kind = "sizes"
phase = "active"
"""


@pytest.fixture(scope="session")
def cli_chain(tmp_path_factory):
    """The reference chain run by the CLI (`fibstack run`): per-step arrays and results.json."""
    d = tmp_path_factory.mktemp("cli")
    (d / "chain.toml").write_text(CHAIN)
    run_cli("run", d / "chain.toml")
    return d / "out"
