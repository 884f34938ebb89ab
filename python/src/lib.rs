//! Python bindings of fibstack: the library's own workflow steps run on numpy arrays.
//!
//! Every operation is one workflow step (`fibstack::workflow::steps::StepSpec`): the Python
//! keyword arguments become the step's table (the same keys, defaults and validation as a
//! workflow file), the step runs on a `workflow::Context` holding the arrays, and the resulting
//! arrays and the step's JSON result come back. There is no second definition of any parameter.

use fibstack::progress::Silent;
use fibstack::volume::{GreyData, GreyVolume, LabelVolume, VoxelSize, VoxelSource};
use fibstack::workflow::schema::{parse_steps, InputSpec};
use fibstack::workflow::Context;
use ndarray::Array3;
use numpy::{IntoPyArray, PyArray3, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::path::PathBuf;

/// Large arrays on transparent huge pages, as numpy allocates its own (fewer page faults on first
/// touch, faster frees of returned arrays); numpy buffers lent to a step are never freed by Rust
/// (see [`lent`]).
#[global_allocator]
static ALLOC: lent::LendingAlloc = lent::LendingAlloc;

/// A numpy array's buffer lent to the library as the owned `Array3` a step's volume holds,
/// without a copy.
///
/// The library's volumes own their data (`Array3`), so a step cannot be given an `ArrayView`.
/// Instead the buffer of a C-contiguous, aligned numpy array is wrapped as an `Array3` (a `Vec`
/// over numpy's memory) and its address is registered here. The extension's global allocator
/// ignores a `dealloc` of a registered address (and copies out of it on `realloc`), so when the
/// step drops or replaces the volume, numpy's memory is left alone; the numpy array itself is kept
/// alive (and borrowed read-only through the `numpy` crate) for the whole call. An output volume
/// that still points into a lent buffer is never moved into a new numpy array: it is the input
/// itself (the caller's array is returned) or, if it is a part of it, copied.
///
/// Steps take their input volume by shared reference and write new volumes (none changes its
/// input's data in place); `python/tests/test_equal_cli.py::test_inputs_unchanged` runs every
/// step function and fails if one ever does, since the data is the caller's array.
mod lent {
    use std::alloc::{GlobalAlloc, Layout};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SLOTS: usize = 16;
    static ADDR: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
    static LEN: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
    static ACTIVE: AtomicUsize = AtomicUsize::new(0);

    /// Register `[addr, addr + len)` as lent; `false` when every slot is taken (then copy).
    pub fn register(addr: usize, len: usize) -> bool {
        for (i, a) in ADDR.iter().enumerate() {
            if a.compare_exchange(0, addr, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                LEN[i].store(len, Ordering::Release);
                ACTIVE.fetch_add(1, Ordering::AcqRel);
                return true;
            }
        }
        false
    }

    /// Unregister one registration of `addr`; `true` if it was registered.
    fn take(addr: usize) -> bool {
        if ACTIVE.load(Ordering::Acquire) == 0 {
            return false;
        }
        for a in ADDR.iter() {
            if a.compare_exchange(addr, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                ACTIVE.fetch_sub(1, Ordering::AcqRel);
                return true;
            }
        }
        false
    }

    /// The lent buffer `(start, len)` that `p` points into, if any.
    pub fn within(p: usize) -> Option<(usize, usize)> {
        if ACTIVE.load(Ordering::Acquire) == 0 {
            return None;
        }
        ADDR.iter().zip(LEN.iter()).find_map(|(a, l)| {
            let (a, l) = (a.load(Ordering::Acquire), l.load(Ordering::Acquire));
            (a != 0 && p >= a && p < a + l).then_some((a, l))
        })
    }

    /// [`fibstack::alloc::HugePageAlloc`] that never frees a lent numpy buffer.
    pub struct LendingAlloc;

    unsafe impl GlobalAlloc for LendingAlloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            fibstack::alloc::HugePageAlloc.alloc(layout)
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            fibstack::alloc::HugePageAlloc.alloc_zeroed(layout)
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if take(ptr as usize) {
                return; // numpy's memory: numpy frees it
            }
            fibstack::alloc::HugePageAlloc.dealloc(ptr, layout)
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if take(ptr as usize) {
                let new = Layout::from_size_align_unchecked(new_size, layout.align());
                let q = fibstack::alloc::HugePageAlloc.alloc(new);
                if !q.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
                }
                return q;
            }
            fibstack::alloc::HugePageAlloc.realloc(ptr, layout, new_size)
        }
    }
}

// `fibstack._core`: the module path pickle imports, so errors raised on a Dask worker reach
// the client as this exception with its message.
create_exception!(
    fibstack._core,
    FibstackError,
    PyValueError,
    "An error reported by fibstack (bad parameter, bad input, missing calibration)."
);

fn err<E: std::fmt::Display>(e: E) -> PyErr {
    FibstackError::new_err(e.to_string())
}

const DTYPES: &str = "grey volumes: uint8, uint16 or float32; label volumes: uint8";

/// A C-contiguous 3-D numpy array as the owned `Array3` of a library volume: its buffer lent
/// without a copy (see [`lent`]) when it is aligned and non-empty, else copied (one memcpy); a
/// strided array is a clear error. The caller keeps `a` alive until the volume is dropped or
/// returned through [`to_py`].
fn owned<T: numpy::Element + Copy>(a: &Bound<'_, PyArray3<T>>, what: &str) -> PyResult<Array3<T>> {
    if !a.is_c_contiguous() {
        return Err(err(format!(
            "{what}: the array is not C-contiguous (a transposed or strided view); \
             pass numpy.ascontiguousarray(a)"
        )));
    }
    let r = a.readonly();
    let v = r.as_array();
    let ptr = v.as_ptr();
    let n = v.len();
    let aligned = (ptr as usize).is_multiple_of(std::mem::align_of::<T>());
    if n > 0
        && std::mem::size_of::<T>() > 0
        && aligned
        && lent::register(ptr as usize, n * std::mem::size_of::<T>())
    {
        let shape = v.raw_dim();
        // SAFETY: `ptr` points to `n` initialised, aligned `T`s (a C-contiguous numpy array of
        // that shape), kept alive by the caller for as long as the array exists; the address is
        // registered, so the global allocator never frees or reallocates numpy's memory in place
        // when the Vec is dropped or grown.
        let vec = unsafe { Vec::from_raw_parts(ptr as *mut T, n, n) };
        return Ok(Array3::from_shape_vec(shape, vec).expect("shape of a C-contiguous array"));
    }
    Ok(v.to_owned())
}

/// An output array as numpy: moved without a copy when it owns its memory; the caller's own
/// array (`inputs`) when it is a lent input returned whole; copied when it is a part of one.
fn to_py<T: numpy::Element + Copy>(
    py: Python<'_>,
    a: Array3<T>,
    inputs: &[Option<&Bound<'_, PyAny>>],
) -> Py<PyAny> {
    let p = a.as_ptr() as usize;
    if let Some((start, len)) = lent::within(p) {
        let whole =
            p == start && a.len() * std::mem::size_of::<T>() == len && a.is_standard_layout();
        let same = inputs.iter().flatten().find(|x| {
            x.cast::<PyArray3<T>>()
                .map(|x| x.data() as usize == start && x.shape() == a.shape())
                .unwrap_or(false)
        });
        if let (true, Some(x)) = (whole, same) {
            drop(a); // releases the loan (the allocator leaves numpy's memory alone)
            return Bound::clone(x).unbind();
        }
        let copy = a.to_owned();
        drop(a);
        return copy.into_pyarray(py).into_any().unbind();
    }
    a.into_pyarray(py).into_any().unbind()
}

fn check_3d(a: &Bound<'_, PyAny>, what: &str) -> PyResult<()> {
    let nd: usize = a.getattr("ndim")?.extract()?;
    if nd != 3 {
        return Err(err(format!(
            "{what}: a volume is a 3-D array (z, y, x), this one has {nd} dimensions"
        )));
    }
    Ok(())
}

fn dtype_name(a: &Bound<'_, PyAny>) -> String {
    a.getattr("dtype")
        .and_then(|d| d.str())
        .map(|s| s.to_string())
        .unwrap_or_else(|_| format!("{}", a.get_type()))
}

fn grey_from(a: &Bound<'_, PyAny>) -> PyResult<GreyData> {
    check_3d(a, "grey volume")?;
    if let Ok(x) = a.cast::<PyArray3<u8>>() {
        return Ok(GreyData::U8(owned(x, "grey volume")?));
    }
    if let Ok(x) = a.cast::<PyArray3<u16>>() {
        return Ok(GreyData::U16(owned(x, "grey volume")?));
    }
    if let Ok(x) = a.cast::<PyArray3<f32>>() {
        return Ok(GreyData::F32(owned(x, "grey volume")?));
    }
    Err(err(format!(
        "grey volume: dtype {} is not supported ({DTYPES}); convert with a.astype(numpy.float32)",
        dtype_name(a)
    )))
}

fn labels_from(a: &Bound<'_, PyAny>) -> PyResult<Array3<u8>> {
    check_3d(a, "label volume")?;
    if let Ok(x) = a.cast::<PyArray3<u8>>() {
        return owned(x, "label volume");
    }
    Err(err(format!(
        "label volume: dtype {} is not supported ({DTYPES}); labels are uint8 phase values",
        dtype_name(a)
    )))
}

fn voxel_from(v: Option<[f64; 3]>) -> PyResult<VoxelSize> {
    match v {
        None => Ok(VoxelSize::default()),
        Some(nm) => {
            let vs = VoxelSize::new(nm, VoxelSource::CommandLine);
            vs.validate().map_err(err)?;
            Ok(vs)
        }
    }
}

fn grey_to_py(py: Python<'_>, g: GreyData, inputs: &[Option<&Bound<'_, PyAny>>]) -> Py<PyAny> {
    match g {
        GreyData::U8(a) => to_py(py, a, inputs),
        GreyData::U16(a) => to_py(py, a, inputs),
        GreyData::F32(a) => to_py(py, a, inputs),
    }
}

fn voxel_out(v: &VoxelSize) -> Option<[f64; 3]> {
    if v.is_calibrated() {
        Some(v.nm)
    } else {
        None
    }
}

/// Build one step from its kind and a JSON table of parameters, validated exactly as a workflow
/// file's `[[steps]]` entry (unknown keys, types, ranges, and what the step needs).
fn build_step(
    kind: &str,
    params_json: &str,
    has_labels: bool,
    has_grey: bool,
) -> PyResult<fibstack::workflow::steps::StepSpec> {
    let v: serde_json::Value = serde_json::from_str(params_json).map_err(err)?;
    let mut t: toml::Value = toml::Value::try_from(v).map_err(err)?;
    let tab = t
        .as_table_mut()
        .ok_or_else(|| err("parameters must be a table"))?;
    tab.insert("kind".into(), toml::Value::String(kind.into()));
    // an input stands for the arrays given: grey → grey input, labels only → label input
    let input: Option<InputSpec> = if has_grey || has_labels {
        let mut it = toml::map::Map::new();
        it.insert("path".into(), toml::Value::String("array".into()));
        it.insert(
            "labels".into(),
            toml::Value::Boolean(has_labels && !has_grey),
        );
        Some(toml::Value::Table(it).try_into().map_err(err)?)
    } else {
        None
    };
    let (mut steps, _) = parse_steps(&[t], input.as_ref()).map_err(|e| {
        err(e
            .strip_prefix("step 1 (")
            .map(|r| r.replacen("):", ":", 1))
            .unwrap_or(e.clone()))
    })?;
    Ok(steps.remove(0))
}

/// Run one workflow step (`kind`, parameters as a JSON table) on the given arrays.
///
/// Returns `(grey, labels, truth_labels, voxel_nm, result_json, warnings, meta_json,
/// step_seconds)`: `step_seconds` is the time of the step's own run (the library kernel).
#[pyfunction]
#[pyo3(signature = (kind, params_json, grey=None, labels=None, voxel_nm=None, allow_uncalibrated=false, allow_unconverged=false, seed=0, phase_names=None, meta_json=None))]
#[allow(clippy::too_many_arguments)]
fn run_step<'py>(
    py: Python<'py>,
    kind: &str,
    params_json: &str,
    grey: Option<&Bound<'py, PyAny>>,
    labels: Option<&Bound<'py, PyAny>>,
    voxel_nm: Option<[f64; 3]>,
    allow_uncalibrated: bool,
    allow_unconverged: bool,
    seed: u64,
    phase_names: Option<std::collections::BTreeMap<u8, String>>,
    meta_json: Option<&str>,
) -> PyResult<Bound<'py, PyTuple>> {
    let meta: fibstack::volume::Metadata = match meta_json {
        Some(m) => serde_json::from_str(m).map_err(|e| err(format!("meta: {e}")))?,
        None => Default::default(),
    };
    let step = build_step(kind, params_json, labels.is_some(), grey.is_some())?;
    let voxel = voxel_from(voxel_nm)?;
    let g = grey.map(grey_from).transpose()?;
    let l = labels.map(labels_from).transpose()?;
    if let (Some(g), Some(l)) = (&g, &l) {
        if g.shape() != [l.shape()[0], l.shape()[1], l.shape()[2]] {
            return Err(err(format!(
                "grey volume {:?} and label volume {:?} differ in shape",
                g.shape(),
                l.shape()
            )));
        }
    }
    let tmp = tempfile::tempdir().map_err(err)?;
    let out_dir = tmp.path().to_path_buf();
    let res = py.detach(move || {
        let progress = Silent;
        let mut ctx = Context::new(out_dir, seed, &progress);
        ctx.allow_uncalibrated = allow_uncalibrated;
        ctx.allow_unconverged = allow_unconverged;
        if let Some(n) = phase_names {
            ctx.phase_names = n;
        }
        ctx.grey = g.map(|data| GreyVolume {
            data,
            voxel,
            meta: meta.clone(),
        });
        ctx.labels = l.map(|a| LabelVolume {
            data: a,
            voxel,
            meta,
        });
        ctx.name_labels();
        let t0 = std::time::Instant::now();
        let r = step.as_step().run(&mut ctx);
        let secs = t0.elapsed().as_secs_f64();
        r.map(|value| {
            (
                ctx.grey,
                ctx.labels,
                ctx.truth_labels,
                value,
                ctx.warnings,
                secs,
            )
        })
    });
    scratch::remove_later(tmp);
    let (g, l, t, value, warnings, secs) = res.map_err(err)?;
    let vox = g
        .as_ref()
        .map(|g| g.voxel)
        .or(l.as_ref().map(|l| l.voxel))
        .and_then(|v| voxel_out(&v));
    let meta_out = g
        .as_ref()
        .map(|g| &g.meta)
        .or(l.as_ref().map(|l| &l.meta))
        .map(serde_json::to_string)
        .transpose()
        .map_err(err)?;
    let inputs = [grey, labels];
    let gp = g.map(|g| grey_to_py(py, g.data, &inputs));
    let lp = l.map(|l| to_py(py, l.data, &inputs));
    let tp = t.map(|l| to_py(py, l.data, &inputs));
    // the step's result as results.json holds it (keys sorted)
    let value = value.map(|r| r.to_json()).transpose().map_err(err)?;
    let json = serde_json::to_string(&value).map_err(err)?;
    PyTuple::new(
        py,
        [
            gp.into_pyobject(py)?.into_any(),
            lp.into_pyobject(py)?.into_any(),
            tp.into_pyobject(py)?.into_any(),
            vox.into_pyobject(py)?.into_any(),
            json.into_pyobject(py)?.into_any(),
            warnings.into_pyobject(py)?.into_any(),
            meta_out.into_pyobject(py)?.into_any(),
            secs.into_pyobject(py)?.into_any(),
        ],
    )
}

/// The scratch folders of the calls (a step's files, e.g. porosity's profile CSV, are written
/// there and not kept: their content is in the returned result). Removing a folder takes
/// milliseconds on some file systems, so it is done on a background thread; the package joins
/// the outstanding removals when the interpreter exits ([`flush_scratch`]).
mod scratch {
    use std::sync::Mutex;
    use std::thread::JoinHandle;

    static PENDING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

    pub fn remove_later(dir: tempfile::TempDir) {
        let mut p = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        p.retain(|h| !h.is_finished());
        // without a thread, the folder is removed with the closure, on this thread
        if let Ok(h) = std::thread::Builder::new()
            .name("fibstack-scratch".into())
            .spawn(move || drop(dir))
        {
            p.push(h);
        }
    }

    pub fn join_all() {
        let hs: Vec<_> = std::mem::take(&mut *PENDING.lock().unwrap_or_else(|e| e.into_inner()));
        for h in hs {
            let _ = h.join();
        }
    }
}

/// Wait until the scratch folders of earlier calls are removed (called at interpreter exit).
#[pyfunction]
fn flush_scratch(py: Python<'_>) {
    py.detach(scratch::join_all)
}

/// Read a volume (any format the CLI reads). Returns `(array, voxel_nm or None, meta_json)`.
#[pyfunction]
#[pyo3(signature = (path, labels=false, pattern=None, slices=None, crop=None, keep_databar=false, voxel_nm=None, slice_thickness_nm=None, voxel_unit=None))]
#[allow(clippy::too_many_arguments)]
fn read<'py>(
    py: Python<'py>,
    path: PathBuf,
    labels: bool,
    pattern: Option<String>,
    slices: Option<(usize, usize)>,
    crop: Option<[usize; 4]>,
    keep_databar: bool,
    voxel_nm: Option<[f64; 3]>,
    slice_thickness_nm: Option<f64>,
    voxel_unit: Option<String>,
) -> PyResult<Bound<'py, PyTuple>> {
    let opts = fibstack::io::ReadOptions {
        pattern,
        slices,
        crop,
        crop_databar: !keep_databar,
        length_unit_nm: voxel_unit
            .map(|u| fibstack::io::parse_length_unit(&u))
            .transpose()
            .map_err(err)?,
        ..Default::default()
    };
    let vol = py.detach(|| -> Result<GreyVolume, String> {
        let mut v = fibstack::io::read_volume(&path, &opts).map_err(|e| e.to_string())?;
        fibstack::io::apply_given_calibration(
            &mut v,
            voxel_nm,
            slice_thickness_nm,
            VoxelSource::CommandLine,
        );
        Ok(v)
    });
    let vol = vol.map_err(err)?;
    let vox = voxel_out(&vol.voxel);
    let sources: Vec<String> = vol
        .voxel
        .source
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    let mut meta = serde_json::to_value(&vol.meta).map_err(err)?;
    if let Some(o) = meta.as_object_mut() {
        o.insert("voxel_source".into(), serde_json::json!(sources));
        o.insert(
            "sample_type".into(),
            serde_json::json!(vol.sample_type().as_str()),
        );
    }
    let data = if labels {
        let l = LabelVolume::from_grey(vol).map_err(err)?;
        l.data.into_pyarray(py).into_any().unbind()
    } else {
        grey_to_py(py, vol.data, &[])
    };
    PyTuple::new(
        py,
        [
            data.into_pyobject(py)?.into_any(),
            vox.into_pyobject(py)?.into_any(),
            serde_json::to_string(&meta)
                .map_err(err)?
                .into_pyobject(py)?
                .into_any(),
        ],
    )
}

/// Write a grey (uint8/uint16/float32) or label (uint8, `labels=True`) volume; the extension
/// picks the format. The file is written atomically.
#[pyfunction]
#[pyo3(signature = (path, data, voxel_nm=None, labels=false))]
fn write(
    py: Python<'_>,
    path: PathBuf,
    data: &Bound<'_, PyAny>,
    voxel_nm: Option<[f64; 3]>,
    labels: bool,
) -> PyResult<()> {
    let voxel = voxel_from(voxel_nm)?;
    if labels {
        let l = LabelVolume::new(labels_from(data)?, voxel);
        py.detach(|| fibstack::io::write_labels(&path, &l))
            .map_err(err)
    } else {
        let g = GreyVolume {
            data: grey_from(data)?,
            voxel,
            meta: Default::default(),
        };
        py.detach(|| fibstack::io::write_volume(&path, &g))
            .map_err(err)
    }
}

/// Run a workflow file (as `fibstack run`); returns the JSON of `results.json`.
#[pyfunction]
#[pyo3(signature = (path, output=None))]
fn run_workflow(py: Python<'_>, path: PathBuf, output: Option<PathBuf>) -> PyResult<String> {
    let wf = fibstack::workflow::schema::Workflow::load(&path).map_err(err)?;
    let s = py
        .detach(|| fibstack::workflow::run(&wf, output, &Silent))
        .map_err(err)?;
    serde_json::to_string(&s.results).map_err(err)
}

/// Connected components of label `phase` (the library's labelling, the same as the
/// `connectivity` step's): returns `(labels uint32, sizes)`; 0 = other phases, components
/// numbered 1..=n by their first voxel in raster order.
#[pyfunction]
#[pyo3(signature = (labels, phase, connectivity=6))]
fn label_components<'py>(
    py: Python<'py>,
    labels: &Bound<'py, PyAny>,
    phase: u8,
    connectivity: u32,
) -> PyResult<Bound<'py, PyTuple>> {
    let a = labels_from(labels)?;
    let conn = fibstack::metrics::components::Connectivity::from_n(connectivity).map_err(err)?;
    let c = py
        .detach(|| fibstack::metrics::components::label_phase(a.view(), phase, conn))
        .map_err(err)?;
    PyTuple::new(
        py,
        [
            c.labels.into_pyarray(py).into_any(),
            c.sizes.into_pyobject(py)?.into_any(),
        ],
    )
}

/// Shape `(nz, ny, nx)`, sample type and voxel size of a stack, from its headers (the first slice
/// of a folder, the IFDs of a TIFF, a Zarr store's metadata), without reading the pixel data
/// where the format allows. Returns `(shape, sample_type, voxel_nm or None)`.
#[pyfunction]
#[pyo3(signature = (path, pattern=None, keep_databar=false))]
fn stack_info<'py>(
    py: Python<'py>,
    path: PathBuf,
    pattern: Option<String>,
    keep_databar: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let opts = fibstack::io::ReadOptions {
        pattern,
        crop_databar: !keep_databar,
        ..Default::default()
    };
    let r = py
        .detach(|| fibstack::io::stream::SliceReader::open(&path, &opts))
        .map_err(err)?;
    PyTuple::new(
        py,
        [
            r.shape().into_pyobject(py)?.into_any(),
            r.sample_type().as_str().into_pyobject(py)?.into_any(),
            voxel_out(&r.voxel()).into_pyobject(py)?.into_any(),
        ],
    )
}

/// The Python annotation of a workflow key defined as a clap argument: `bool` for a flag,
/// `Literal[...]` for a value enum, the value parser's Rust type otherwise, `Sequence[...]` for a
/// comma-separated list.
fn key_type(a: &clap::Arg) -> String {
    use std::any::TypeId;
    if !a.get_action().takes_values() {
        return "bool".into();
    }
    let pv = a.get_possible_values();
    let t = a.get_value_parser().type_id();
    let one = if !pv.is_empty() {
        let names: Vec<String> = pv.iter().map(|p| format!("{:?}", p.get_name())).collect();
        format!("Literal[{}]", names.join(", "))
    } else if t == TypeId::of::<f64>() || t == TypeId::of::<f32>() {
        "float".into()
    } else if [
        TypeId::of::<usize>(),
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
    ]
    .iter()
    .any(|x| t == *x)
    {
        "int".into()
    } else if t == TypeId::of::<bool>() {
        "bool".into()
    } else if t == TypeId::of::<String>() || t == TypeId::of::<PathBuf>() {
        "str".into()
    } else if t == TypeId::of::<[f64; 3]>() {
        "Tuple[float, float, float]".into()
    } else if t == TypeId::of::<[usize; 3]>() {
        "Tuple[int, int, int]".into()
    } else {
        "Any".into()
    };
    let list =
        a.get_value_delimiter().is_some() || matches!(a.get_action(), clap::ArgAction::Append);
    if list {
        format!("Sequence[{one}]")
    } else {
        one
    }
}

/// A key's default (the workflow spelling of `workflow::steps::key_default_toml`) as a Python
/// literal of the key's type; `None` when the key has no default.
fn key_default_py(a: &clap::Arg, ty: &str) -> Option<String> {
    let d = fibstack::workflow::steps::key_default_toml(a)?;
    Some(match d.as_str() {
        "false" => "False".into(),
        "true" => "True".into(),
        _ if d.starts_with('"') => d,
        _ if ty == "float" && d.parse::<i64>().is_ok() => format!("{d}.0"),
        _ => d,
    })
}

/// The keys of the step kinds defined by one struct (`workflow::steps::key_schemas`, the
/// definition the workflow reader and the command line share), as JSON:
/// `[{"kind", "keys": [{"name", "type", "default", "required", "help"}]}]` with Python
/// annotations and defaults as Python literals (`null` when the key has none). The stubs and
/// docstrings of the package are generated from it (`python/gen_docs.py`).
#[pyfunction]
fn key_schemas() -> PyResult<String> {
    let mut out = Vec::new();
    for (kind, cmd) in fibstack::workflow::steps::key_schemas() {
        // `table.key` rows are keys of a nested table (e.g. classify's `train.*`): in Python
        // that table is one dict-valued keyword
        let keys: Vec<serde_json::Value> = cmd
            .get_arguments()
            .filter(|a| a.get_id() != "help" && !a.get_id().as_str().contains('.'))
            .map(|a| {
                let ty = key_type(a);
                let help = a
                    .get_long_help()
                    .or(a.get_help())
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                serde_json::json!({
                    "name": a.get_id().as_str(),
                    "default": key_default_py(a, &ty),
                    "type": ty,
                    "required": a.is_required_set(),
                    "help": help.trim(),
                })
            })
            .collect();
        out.push(serde_json::json!({ "kind": kind, "keys": keys }));
    }
    serde_json::to_string(&out).map_err(err)
}

/// A block's share of the full-volume histogram of [`fibstack::segment::histogram`] (the
/// streamed accumulator `fibstack::stream::HistAcc`): for uint8/uint16 the count of every
/// possible value (256 or 65 536 entries, to be summed over blocks and cut to `[min, max]`); for
/// float32 `nbins` counts in the bins of the whole volume's range `(lo, hi)` (see
/// [`float_range`]). Returns a uint64 array.
#[pyfunction]
#[pyo3(signature = (block, lo=None, hi=None, nbins=256))]
fn block_histogram<'py>(
    py: Python<'py>,
    block: &Bound<'py, PyAny>,
    lo: Option<f32>,
    hi: Option<f32>,
    nbins: usize,
) -> PyResult<Py<PyAny>> {
    use fibstack::stream::HistAcc;
    let g = grey_from(block)?;
    let st = g.sample_type();
    if nbins < 2 {
        return Err(err(format!("nbins = {nbins}: must be at least 2")));
    }
    let counts = py.detach(|| -> Result<Vec<u64>, String> {
        let mut acc = match (&g, lo, hi) {
            (GreyData::F32(_), Some(lo), Some(hi)) => HistAcc::float(lo, hi, nbins),
            (GreyData::F32(_), _, _) => {
                return Err("a float32 block's histogram needs the volume's range (lo, hi)".into())
            }
            _ => HistAcc::int(st),
        };
        acc.add(&g);
        let full = if matches!(g, GreyData::U8(_)) {
            256
        } else {
            65536
        };
        Ok(match acc.finish() {
            None => vec![
                0;
                if matches!(g, GreyData::F32(_)) {
                    nbins
                } else {
                    full
                }
            ],
            Some(h) if h.binning == "uniform" => h.counts,
            Some(h) => {
                let mut c = vec![0u64; full];
                c[h.min as usize..=h.max as usize].copy_from_slice(&h.counts);
                c
            }
        })
    });
    Ok(counts.map_err(err)?.into_pyarray(py).into_any().unbind())
}

/// Smallest and largest value of a float32 block, refusing NaN and infinities as the in-memory
/// histogram does (`fibstack::stream::float_range`); `(inf, -inf)` for an empty block.
#[pyfunction]
fn float_range(block: &Bound<'_, PyAny>) -> PyResult<(f32, f32)> {
    let g = grey_from(block)?;
    let mut r = (f32::INFINITY, f32::NEG_INFINITY);
    fibstack::stream::float_range(&g, &mut r).map_err(err)?;
    Ok(r)
}

/// Thresholds of the `segment` step's method (its keys as a JSON table: `method`, `classes`,
/// `nbins` …) from a full-volume histogram given as the sum of [`block_histogram`]s of every
/// block (`sample_type` "u8", "u16" or "f32"; `lo`, `hi`: the float32 range, ignored for
/// integers). The same function the in-memory and the streamed segmentation call
/// (`segment::threshold::thresholds_from_hist`). Returns `(thresholds, min, max)`.
#[pyfunction]
#[pyo3(signature = (counts, sample_type, params_json, lo=None, hi=None))]
fn thresholds_from_histogram(
    counts: Vec<u64>,
    sample_type: &str,
    params_json: &str,
    lo: Option<f32>,
    hi: Option<f32>,
) -> PyResult<(Vec<f64>, f64, f64)> {
    use fibstack::segment::histogram::Histogram;
    let step: fibstack::workflow::steps::filters::Segment =
        serde_json::from_str(params_json).map_err(|e| err(format!("segment: {e}")))?;
    let p = step.params().map_err(err)?;
    let empty = || err("volume: has no voxels; nothing to threshold");
    let h = match sample_type {
        "f32" => {
            let (lo, hi) = lo.zip(hi).ok_or_else(empty)?;
            if counts.len() != p.nbins {
                return Err(err(format!(
                    "{} counts for nbins = {}: sum the block histograms made with the same nbins",
                    counts.len(),
                    p.nbins
                )));
            }
            let mut h = fibstack::stream::HistAcc::float(lo, hi, p.nbins)
                .finish()
                .ok_or_else(empty)?;
            h.counts = counts;
            h
        }
        "u8" | "u16" => {
            let first = counts.iter().position(|&c| c > 0).ok_or_else(empty)?;
            let last = counts.iter().rposition(|&c| c > 0).unwrap_or(first);
            Histogram {
                counts: counts[first..=last].to_vec(),
                centers: (first..=last).map(|v| v as f64).collect(),
                binning: "integer",
                min: first as f64,
                max: last as f64,
            }
        }
        other => {
            return Err(err(format!(
                "sample_type {other:?}: use \"u8\", \"u16\" or \"f32\""
            )))
        }
    };
    let t = fibstack::segment::threshold::thresholds_from_hist(&h, &p).map_err(err)?;
    Ok((t, h.min, h.max))
}

/// Per-slice label histograms of a label block along `axis` ("z", "y" or "x"), as the porosity
/// profiles count them (`metrics::porosity::slice_histograms`): a uint64 array of shape
/// `(slices along axis, 256)`.
#[pyfunction]
fn slice_histograms<'py>(
    py: Python<'py>,
    labels: &Bound<'py, PyAny>,
    axis: &str,
) -> PyResult<Py<PyAny>> {
    use fibstack::metrics::porosity::Axis;
    let ax = match axis {
        "z" => Axis::Z,
        "y" => Axis::Y,
        "x" => Axis::X,
        _ => return Err(err(format!("axis = {axis:?}: use \"z\", \"y\" or \"x\""))),
    };
    let a = labels_from(labels)?;
    let hs = py.detach(|| fibstack::metrics::porosity::slice_histograms(a.view(), ax));
    let flat: Vec<u64> = hs.iter().flat_map(|h| h.iter().copied()).collect();
    let arr = ndarray::Array2::from_shape_vec((hs.len(), 256), flat).map_err(err)?;
    Ok(arr.into_pyarray(py).into_any().unbind())
}

fn rw_options(
    opts_json: &str,
) -> PyResult<fibstack::metrics::tortuosity::random_walk::RandomWalkOptions> {
    let o: fibstack::metrics::tortuosity::random_walk::RandomWalkOptions =
        serde_json::from_str(opts_json).map_err(|e| err(format!("random walk: {e}")))?;
    o.validate().map_err(err)?;
    Ok(o)
}

/// The batches and first walk length of a random walk (`RandomWalkOptions` as JSON: `seed`,
/// `walkers`, `steps`, `precision`, `max_steps`, `confidence`): `(batches, walkers per batch,
/// steps, interval)`.
#[pyfunction]
fn rw_plan(opts_json: &str) -> PyResult<(usize, usize, u64, u64)> {
    let p = fibstack::metrics::tortuosity::random_walk::walk_plan(&rw_options(opts_json)?);
    Ok((p.batches, p.per_batch, p.steps, p.interval))
}

/// Bit-pack the voxels of `phase` of a label block (bit `i & 63` of word `i >> 6` = voxel `i`
/// in C order, as the random walk reads its mask); the block's voxel count must be a multiple
/// of 64 except for the last block. Returns `(uint64 words, phase voxels)`.
#[pyfunction]
fn rw_pack<'py>(
    py: Python<'py>,
    labels: &Bound<'py, PyAny>,
    phase: u8,
) -> PyResult<(Py<PyAny>, u64)> {
    let a = labels_from(labels)?;
    let (w, n) = py.detach(|| {
        let s = a.as_slice().expect("C-contiguous");
        let words: Vec<u64> = s
            .chunks(64)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u64, |v, (b, &l)| v | (u64::from(l == phase) << b))
            })
            .collect();
        let n = s.iter().filter(|&&l| l == phase).count() as u64;
        (words, n)
    });
    Ok((w.into_pyarray(py).into_any().unbind(), n))
}

/// Mean chord length (nm) of a bit-packed phase, as the random walk's stopping rule uses it.
#[pyfunction]
fn rw_mean_chord(
    words: numpy::PyReadonlyArray1<'_, u64>,
    shape: [usize; 3],
    voxel_nm: [f64; 3],
) -> PyResult<f64> {
    let w = words.as_slice().map_err(err)?;
    Ok(fibstack::metrics::tortuosity::random_walk::mean_chord_packed(w, shape, voxel_nm))
}

/// MSD sums of batches `b0..b1` of a random walk over a bit-packed phase mask (one worker's
/// share) after `doublings` doublings of the first walk: a float64 array
/// `(b1 - b0, samples, 3)`. See
/// `metrics::tortuosity::random_walk::walk_batches`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn rw_batches<'py>(
    py: Python<'py>,
    words: numpy::PyReadonlyArray1<'py, u64>,
    shape: [usize; 3],
    phase: u8,
    phase_voxels: u64,
    voxel_nm: [f64; 3],
    opts_json: &str,
    b0: usize,
    b1: usize,
    doublings: u32,
) -> PyResult<Py<PyAny>> {
    use fibstack::metrics::tortuosity::random_walk::{walk_batches, PackedPhase};
    let opts = rw_options(opts_json)?;
    let w = words.as_slice().map_err(err)?;
    let packed = PackedPhase {
        words: w,
        shape,
        phase,
        phase_voxels,
        percolating_voxels: [0; 3],
        mean_chord_nm: 0.0,
    };
    let sums = py
        .detach(|| walk_batches(&packed, voxel_nm, &opts, b0..b1, doublings))
        .map_err(err)?;
    let ns = sums.first().map_or(0, |s| s.len());
    let flat: Vec<f64> = sums
        .iter()
        .flatten()
        .flat_map(|s| s.iter().copied())
        .collect();
    let arr = ndarray::Array3::from_shape_vec((sums.len(), ns, 3), flat).map_err(err)?;
    Ok(arr.into_pyarray(py).into_any().unbind())
}

/// Judge a random walk from every batch's MSD sums (`(batches, samples, 3)`, batch order):
/// `("longer", steps, interval, pooled)` to walk again, or `("done", result_json)` with the
/// `RandomWalkOutput` (`results` per axis and the `msd` curve). See
/// `metrics::tortuosity::random_walk::walk_assess`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (sums, shape, phase, phase_voxels, percolating_voxels, mean_chord_nm, voxel_nm, axes, opts_json, total, interval, prev_pooled=None))]
fn rw_assess<'py>(
    py: Python<'py>,
    sums: numpy::PyReadonlyArray3<'py, f64>,
    shape: [usize; 3],
    phase: u8,
    phase_voxels: u64,
    percolating_voxels: [u64; 3],
    mean_chord_nm: f64,
    voxel_nm: [f64; 3],
    axes: Vec<usize>,
    opts_json: &str,
    total: u64,
    interval: u64,
    prev_pooled: Option<Vec<f64>>,
) -> PyResult<Bound<'py, PyTuple>> {
    use fibstack::metrics::tortuosity::random_walk::{walk_assess, PackedPhase, WalkNext};
    let opts = rw_options(opts_json)?;
    let v = sums.as_array();
    let per_batch: Vec<Vec<[f64; 3]>> = v
        .outer_iter()
        .map(|b| b.outer_iter().map(|s| [s[0], s[1], s[2]]).collect())
        .collect();
    let packed = PackedPhase {
        words: &[],
        shape,
        phase,
        phase_voxels,
        percolating_voxels,
        mean_chord_nm,
    };
    let next = walk_assess(
        &packed,
        voxel_nm,
        &axes,
        &opts,
        &per_batch,
        total,
        interval,
        prev_pooled.as_deref(),
    )
    .map_err(err)?;
    match next {
        WalkNext::Longer {
            steps,
            interval,
            pooled,
        } => PyTuple::new(
            py,
            [
                "longer".into_pyobject(py)?.into_any(),
                steps.into_pyobject(py)?.into_any(),
                interval.into_pyobject(py)?.into_any(),
                pooled.into_pyobject(py)?.into_any(),
            ],
        ),
        WalkNext::Done(out) => PyTuple::new(
            py,
            [
                "done".into_pyobject(py)?.into_any(),
                serde_json::to_string(&out)
                    .map_err(err)?
                    .into_pyobject(py)?
                    .into_any(),
            ],
        ),
    }
}

/// The optional cargo features the extension was built with (e.g. `["zarr"]`).
#[pyfunction]
fn features() -> Vec<&'static str> {
    let mut v = Vec::new();
    if cfg!(feature = "zarr") {
        v.push("zarr");
    }
    v
}

/// The version of the fibstack library the module was built with.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Native part of the `fibstack` package.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("FibstackError", m.py().get_type::<FibstackError>())?;
    m.add_function(wrap_pyfunction!(run_step, m)?)?;
    m.add_function(wrap_pyfunction!(read, m)?)?;
    m.add_function(wrap_pyfunction!(write, m)?)?;
    m.add_function(wrap_pyfunction!(run_workflow, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(features, m)?)?;
    m.add_function(wrap_pyfunction!(label_components, m)?)?;
    m.add_function(wrap_pyfunction!(stack_info, m)?)?;
    m.add_function(wrap_pyfunction!(key_schemas, m)?)?;
    m.add_function(wrap_pyfunction!(flush_scratch, m)?)?;
    m.add_function(wrap_pyfunction!(block_histogram, m)?)?;
    m.add_function(wrap_pyfunction!(float_range, m)?)?;
    m.add_function(wrap_pyfunction!(thresholds_from_histogram, m)?)?;
    m.add_function(wrap_pyfunction!(slice_histograms, m)?)?;
    m.add_function(wrap_pyfunction!(rw_plan, m)?)?;
    m.add_function(wrap_pyfunction!(rw_pack, m)?)?;
    m.add_function(wrap_pyfunction!(rw_mean_chord, m)?)?;
    m.add_function(wrap_pyfunction!(rw_batches, m)?)?;
    m.add_function(wrap_pyfunction!(rw_assess, m)?)?;
    Ok(())
}
