"""Docstrings come from the library's doc comments; every public function has a stub."""

import importlib.util
import pathlib
import re

import fibstack as fs

HERE = pathlib.Path(__file__).resolve().parents[1]


def test_docs_not_stale():
    spec = importlib.util.spec_from_file_location("gen_docs", HERE / "gen_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    sch = gen.schemas()
    assert (HERE / "fibstack" / "_docs.py").read_text() == gen.render(sch), \
        "fibstack/_docs.py is stale: run python python/gen_docs.py"
    assert (HERE / "fibstack" / "__init__.pyi").read_text() == gen.render_stub(sch), \
        "fibstack/__init__.pyi is stale: run python python/gen_docs.py"


def test_stub_keys_are_the_step_keys():
    """Each step function with a key definition takes exactly its keys, typed, in the stub and
    at run time; the defaults the stub states are the step's own (passing them all explicitly
    gives the same output and result as passing none)."""
    import inspect
    import json

    import numpy as np

    sch = {s["kind"]: s["keys"] for s in json.loads(fs._core.key_schemas())}
    assert {"denoise", "tophat", "segment"} <= set(sch)
    stub = (HERE / "fibstack" / "__init__.pyi").read_text()
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 255, (6, 20, 24), dtype=np.uint8)
    # values for the keys without a default that a step needs (required, or one of a group)
    needed = {"radius_nm": 30.0, "sigma": 15.0, "phase": 1}
    for kind, keys in sch.items():
        f = getattr(fs, kind, None)
        if f is None:
            continue
        m = re.search(rf"^def {kind}\((.*?)\) -> ", stub, re.M | re.S)
        assert m, kind
        args = m.group(1)
        assert "**params" not in args, kind
        sig = inspect.signature(f)
        for k in keys:
            assert re.search(rf"\b{k['name']}: ", args), (kind, k["name"])
            assert k["name"] in sig.parameters, (kind, k["name"])
        explicit = {k["name"]: eval(k["default"]) for k in keys if k["default"] is not None}
        explicit.update({k["name"]: needed[k["name"]] for k in keys if k["name"] in needed})
        implicit = {k: v for k, v in explicit.items() if k in needed}
        # a classifier needs a model: train a tiny one from the simulator, the same in both calls
        if kind == "classify":
            train = {"synth": [{"preset": "channels", "shape": [6, 20, 24]}], "forest": {"trees": 3}}
            explicit["train"] = implicit["train"] = train
            # the simulator draws 20 nm voxels; the grey here is (20, 10, 10) nm
            explicit["allow_voxel_mismatch"] = implicit["allow_voxel_mismatch"] = True
        # the measuring steps take labels
        labels = ("porosity", "connectivity", "sizes", "tortuosity")
        inp = (grey > 128).astype(np.uint8) if kind in labels else grey
        a = f(inp, voxel_nm=(20.0, 10.0, 10.0), **explicit)
        b = f(inp, voxel_nm=(20.0, 10.0, 10.0), **implicit)
        if hasattr(a, "data"):
            assert np.array_equal(a.data, b.data), kind
        # files a step wrote are named by their path in each call's own scratch folder
        def same(r):
            d = r.to_dict() if r else {}
            d = {k: v for k, v in d.items() if k not in ("plot", "shifts_csv")}
            # wall-clock times differ from call to call
            for x in d.get("results", []) if isinstance(d.get("results"), list) else []:
                x.pop("time_s", None)
            return d
        ra, rb = (a.result, b.result) if hasattr(a, "data") else (a, b)
        assert same(ra) == same(rb), kind
    with __import__("pytest").raises(fs.FibstackError, match="not_a_key"):
        fs.denoise(grey, voxel_nm=(20.0, 10.0, 10.0), not_a_key=1)


def test_every_public_function_has_a_stub_and_docstring():
    stub = (HERE / "fibstack" / "__init__.pyi").read_text()
    stubbed = set(re.findall(r"^(?:def|class) (\w+)", stub, re.M))
    for name in fs.__all__:
        if name.startswith("__"):
            continue
        assert name in stubbed, f"{name} has no stub"
        assert getattr(fs, name).__doc__, f"{name} has no docstring"
    assert "Gaussian smoothing" in fs.denoise.__doc__
