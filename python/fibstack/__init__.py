"""fibstack: FIB-SEM serial-section stacks to 3-D microstructure numbers, numpy in and out.

Every operation is the library's own workflow step: the keyword arguments are the keys of the
step in a workflow file (same names, same defaults, same validation; see the manual's
"Workflow files" page), the work runs in the compiled library with the GIL released.

Arrays are ``(z, y, x)``. Grey volumes: ``uint8``, ``uint16`` or ``float32``; label volumes:
``uint8``. Lengths are nanometres; a voxel size ``voxel_nm = (dz, dy, dx)`` is required by every
metric unless ``allow_uncalibrated=True`` (then lengths are in voxels).
"""

from __future__ import annotations

import atexit
import json
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core
from ._core import FibstackError

__all__ = [
    "FibstackError", "Volume", "Output", "Result", "read", "write",
    "align", "geometry", "destripe", "denoise", "tophat", "segment", "classify",
    "porosity", "connectivity", "tortuosity", "sizes", "synth", "run_workflow", "run_step",
    "last_step_seconds", "__version__",
]

__version__ = _core.version()
atexit.register(_core.flush_scratch)

VoxelNm = Optional[Tuple[float, float, float]]
_last_step_seconds = 0.0


def last_step_seconds() -> float:
    """Seconds the library spent in the last step's own run (without the Python call, the array
    copies and the parameter checks): for overhead measurements."""
    return _last_step_seconds


def _wrap(v: Any) -> Any:
    if isinstance(v, dict):
        return Result(v)
    if isinstance(v, list):
        return [_wrap(x) for x in v]
    return v


def _is_table(v: Any) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(isinstance(r, dict) for r in v)


class Result:
    """A step's result (the JSON ``results.json`` holds for the step) with attribute access.

    Keys keep the library's names, units included (``*_nm``, ``unit`` fields). ``to_dict()``
    gives the plain JSON structure, ``to_pandas()`` a DataFrame of a table held by the result.
    """

    __slots__ = ("_d", "warnings")

    def __init__(self, d: Mapping[str, Any], warnings: Sequence[str] = ()):
        object.__setattr__(self, "_d", dict(d))
        object.__setattr__(self, "warnings", list(warnings))

    def __getattr__(self, name: str) -> Any:
        try:
            return _wrap(self._d[name])
        except KeyError:
            raise AttributeError(
                f"{name!r}: this result has {', '.join(sorted(self._d)) or 'no keys'}"
            ) from None

    def __getitem__(self, name: str) -> Any:
        return _wrap(self._d[name])

    def __contains__(self, name: str) -> bool:
        return name in self._d

    def __dir__(self) -> List[str]:
        return sorted(set(self._d) | {"to_dict", "to_pandas", "keys", "tables", "warnings"})

    def keys(self) -> List[str]:
        """The result's keys."""
        return list(self._d)

    def to_dict(self) -> Dict[str, Any]:
        """The result as plain Python data (a deep copy of the JSON)."""
        return json.loads(json.dumps(self._d))

    def tables(self) -> List[str]:
        """Dotted paths of the tables (lists of records) inside the result."""
        out: List[str] = []

        def walk(v: Any, p: str) -> None:
            if _is_table(v):
                out.append(p)
            elif isinstance(v, dict):
                for k, x in v.items():
                    walk(x, f"{p}.{k}" if p else k)

        walk(self._d, "")
        return out

    def to_pandas(self, table: Optional[str] = None):
        """A ``pandas.DataFrame`` of a table held by the result (lists of records, e.g. profiles
        or components). ``table`` is a dotted path from :meth:`tables`; by default the only
        table, else a one-row frame of the scalar values."""
        import pandas as pd

        names = self.tables()
        if table is None:
            if len(names) == 1:
                table = names[0]
            elif not names:
                flat = {k: v for k, v in self._d.items() if not isinstance(v, (dict, list))}
                return pd.DataFrame([flat])
            else:
                raise FibstackError(f"this result holds several tables; choose one of {names}")
        v: Any = self._d
        for part in table.split("."):
            if not isinstance(v, dict) or part not in v:
                raise FibstackError(f"{table!r} is not a table of this result; tables: {names}")
            v = v[part]
        if not _is_table(v):
            raise FibstackError(f"{table!r} is not a table of this result; tables: {names}")
        return pd.DataFrame(v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Result) and self._d == other._d

    def __repr__(self) -> str:
        keys = ", ".join(list(self._d)[:8])
        more = ", …" if len(self._d) > 8 else ""
        return f"Result({keys}{more})"


class Volume:
    """A volume read from a file: ``data`` (numpy, ``(z, y, x)``), ``voxel_nm`` (``(dz, dy, dx)``
    in nm, ``None`` when the file does not state it) and ``meta`` (the reader's metadata)."""

    __slots__ = ("data", "voxel_nm", "meta")

    def __init__(self, data: np.ndarray, voxel_nm: VoxelNm = None, meta: Optional[dict] = None):
        self.data = data
        self.voxel_nm = None if voxel_nm is None else tuple(float(x) for x in voxel_nm)
        self.meta = meta or {}

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(self.data.shape)

    def __repr__(self) -> str:
        return f"Volume(shape={self.shape}, dtype={self.data.dtype}, voxel_nm={self.voxel_nm})"


class Output:
    """What a transforming step returns: the new ``data`` (grey, or labels after ``segment``
    / ``classify``), ``labels`` (when the step made both, e.g. ``synth``: the truth),
    ``voxel_nm`` (after the step: ``geometry`` changes dy), the step's ``result`` (``None`` when the
    step only transforms) and ``warnings``."""

    __slots__ = ("data", "labels", "voxel_nm", "result", "warnings", "meta")

    def __init__(self, data, labels, voxel_nm, result, warnings, meta=None):
        self.meta = meta or {}
        self.data = data
        self.labels = labels
        self.voxel_nm = None if voxel_nm is None else tuple(voxel_nm)
        self.result = result
        self.warnings = list(warnings)

    def volume(self) -> Volume:
        """``data`` with its voxel size as a :class:`Volume`."""
        return Volume(self.data, self.voxel_nm, self.meta)

    def __repr__(self) -> str:
        d = None if self.data is None else (self.data.shape, str(self.data.dtype))
        return f"Output(data={d}, voxel_nm={self.voxel_nm}, result={self.result!r})"


def read(path: Union[str, os.PathLike], *, labels: bool = False, pattern: Optional[str] = None,
         slices: Optional[Tuple[int, int]] = None, crop: Optional[Sequence[int]] = None,
         keep_databar: bool = False, voxel_nm: VoxelNm = None,
         slice_thickness_nm: Optional[float] = None, voxel_unit: Optional[str] = None) -> Volume:
    """Read a volume (a folder of slices, TIFF, OME-TIFF, MRC, Amira, NumPy, VTK, raw …) exactly
    as the command line does: the same options as a workflow's ``[input]``."""
    data, vox, meta = _core.read(
        os.fspath(path), labels, pattern, None if slices is None else tuple(slices),
        None if crop is None else list(crop), keep_databar,
        None if voxel_nm is None else list(voxel_nm), slice_thickness_nm, voxel_unit)
    return Volume(data, vox, json.loads(meta))


def _split(vol: Any, voxel_nm: VoxelNm) -> Tuple[Any, VoxelNm, Optional[dict]]:
    if isinstance(vol, (Volume, Output)):
        return vol.data, voxel_nm if voxel_nm is not None else vol.voxel_nm, vol.meta
    return vol, voxel_nm, None


def write(path: Union[str, os.PathLike], vol: Any, *, voxel_nm: VoxelNm = None,
          labels: Optional[bool] = None) -> None:
    """Write a volume (numpy array or :class:`Volume`); the extension picks the format
    (``.tif``, ``.npy``, ``.vti``, ``.raw``, a folder …). ``labels`` (default: a ``uint8`` array
    passed with ``labels=True`` is written as a label volume)."""
    data, vox, _ = _split(vol, voxel_nm)
    _core.write(os.fspath(path), data, None if vox is None else list(vox), bool(labels))


def _params(params: Mapping[str, Any]) -> str:
    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items() if x is not None}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, os.PathLike):
            return os.fspath(v)
        return v

    return json.dumps(clean(dict(params)))


def run_step(kind: str, grey: Any = None, labels: Any = None, /, *, voxel_nm: VoxelNm = None,
             allow_uncalibrated: bool = False, allow_unconverged: bool = False, seed: int = 0,
             phase_names: Optional[Mapping[int, str]] = None, **params: Any):
    """Run one workflow step of any ``kind`` on arrays; ``params`` are the step's keys.
    Returns ``(grey, labels, truth_labels, voxel_nm, result, warnings, meta)``."""
    g, vg, mg = _split(grey, voxel_nm)
    lab, vl, ml = _split(labels, voxel_nm)
    vox = vg if vg is not None else vl
    meta = mg if mg is not None else ml
    names = None if phase_names is None else {int(k): str(v) for k, v in phase_names.items()}
    try:
        gout, lout, tout, vout, res, warns, mout, secs = _core.run_step(
            kind, _params(params), g, lab, None if vox is None else list(vox),
            allow_uncalibrated, allow_unconverged, int(seed), names,
            None if meta is None else json.dumps(meta))
    except FibstackError as e:
        if "voxel size unknown" in str(e) and vox is None:
            raise FibstackError(f"{e} (in Python: pass voxel_nm=(dz, dy, dx) in nm, or "
                                "allow_uncalibrated=True)") from None
        raise
    global _last_step_seconds
    _last_step_seconds = secs
    value = json.loads(res)
    result = Result(value, warns) if isinstance(value, dict) else value
    return gout, lout, tout, vout, result, warns, (None if mout is None else json.loads(mout))


def _grey_step(kind: str):
    def f(grey: Any, /, *, voxel_nm: VoxelNm = None, allow_uncalibrated: bool = False,
          seed: int = 0, **params: Any) -> Output:
        g, _, _, vox, res, warns, meta = run_step(kind, grey, voxel_nm=voxel_nm,
                                                  allow_uncalibrated=allow_uncalibrated,
                                                  seed=seed, **params)
        return Output(g, None, vox, res, warns, meta)

    f.__name__ = f.__qualname__ = kind
    return f


def _label_step(kind: str):
    def f(grey: Any, /, *, voxel_nm: VoxelNm = None, allow_uncalibrated: bool = False,
          seed: int = 0, phase_names: Optional[Mapping[int, str]] = None, **params: Any) -> Output:
        _, lab, _, vox, res, warns, meta = run_step(kind, grey, voxel_nm=voxel_nm,
                                                    allow_uncalibrated=allow_uncalibrated,
                                                    seed=seed, phase_names=phase_names,
                                                    **params)
        return Output(lab, None, vox, res, warns, meta)

    f.__name__ = f.__qualname__ = kind
    return f


def _metric_step(kind: str):
    def f(labels: Any, /, *, voxel_nm: VoxelNm = None, allow_uncalibrated: bool = False,
          allow_unconverged: bool = False, seed: int = 0,
          phase_names: Optional[Mapping[int, str]] = None, **params: Any) -> Result:
        _, _, _, _, res, warns, _ = run_step(kind, None, labels, voxel_nm=voxel_nm,
                                          allow_uncalibrated=allow_uncalibrated,
                                          allow_unconverged=allow_unconverged, seed=seed,
                                          phase_names=phase_names, **params)
        return res

    f.__name__ = f.__qualname__ = kind
    return f


def _doc(kind: str) -> str:
    from ._docs import STEP_DOCS

    return STEP_DOCS.get(kind, "")


align = _grey_step("align")
geometry = _grey_step("geometry")
destripe = _grey_step("destripe")
denoise = _grey_step("denoise")
tophat = _grey_step("tophat")
segment = _label_step("segment")
classify = _label_step("classify")
porosity = _metric_step("porosity")
connectivity = _metric_step("connectivity")
tortuosity = _metric_step("tortuosity")
sizes = _metric_step("sizes")


def synth(*, seed: int = 0, **params: Any) -> Output:
    """Generate a synthetic acquisition with exact ground truth (the ``synth`` step's keys):
    ``data`` = the rendered grey stack (``None`` when ``render = false``), ``labels`` = the truth
    labels, ``result`` = the truth numbers."""
    g, lab, truth, vox, res, warns, meta = run_step("synth", seed=seed, **params)
    return Output(g if g is not None else lab, truth if g is not None else None, vox, res, warns,
                  meta)


def run_workflow(path: Union[str, os.PathLike], output: Optional[Union[str, os.PathLike]] = None
                 ) -> Result:
    """Run a workflow file as ``fibstack run`` does (into its ``output`` folder, or ``output``);
    returns the results (``results.json``) by step name."""
    res = _core.run_workflow(os.fspath(path), None if output is None else os.fspath(output))
    return Result(json.loads(res))


def _signature(f, keys):
    """``f``'s signature with the step's keys as typed keyword parameters (the same definition
    as the stubs; shown by ``help()`` and ``inspect.signature``)."""
    import inspect

    sig = inspect.signature(f)
    ps = [p for p in sig.parameters.values() if p.kind != p.VAR_KEYWORD]
    own = {p.name for p in ps}
    for k in keys:
        if not k["name"].isidentifier():
            return sig
        if k["name"] in own:
            # a wrapper argument of the same name takes it (tortuosity's `seed`), as in the stubs
            continue
        default = inspect.Parameter.empty
        ann = k["type"]
        if k["default"] is not None:
            default = {"True": True, "False": False}.get(k["default"], None)
            if default is None:
                default = json.loads(k["default"])
        elif not k["required"]:
            default, ann = None, f"Optional[{ann}]"
        ps.append(inspect.Parameter(k["name"], inspect.Parameter.KEYWORD_ONLY, default=default,
                                    annotation=ann))
    return sig.replace(parameters=ps)


_SCHEMAS = {s["kind"]: s["keys"] for s in json.loads(_core.key_schemas())}
for _f in (align, geometry, destripe, denoise, tophat, segment, classify, porosity,
           connectivity, tortuosity, sizes):
    _f.__doc__ = _doc(_f.__name__)
    if _f.__name__ in _SCHEMAS:
        _f.__signature__ = _signature(_f, _SCHEMAS[_f.__name__])
del _f
