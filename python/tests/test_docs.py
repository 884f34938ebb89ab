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
    assert (HERE / "fibstack" / "_docs.py").read_text() == gen.render(), \
        "fibstack/_docs.py is stale: run python python/gen_docs.py"


def test_every_public_function_has_a_stub_and_docstring():
    stub = (HERE / "fibstack" / "__init__.pyi").read_text()
    stubbed = set(re.findall(r"^(?:def|class) (\w+)", stub, re.M))
    for name in fs.__all__:
        if name.startswith("__"):
            continue
        assert name in stubbed, f"{name} has no stub"
        assert getattr(fs, name).__doc__, f"{name} has no docstring"
    assert "Gaussian smoothing" in fs.denoise.__doc__
