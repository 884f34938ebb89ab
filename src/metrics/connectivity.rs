//! Connectivity of one phase: components, percolation per axis, Euler characteristic.
//!
//! Percolation classes (methods §6), per axis: a component *percolates* when it touches both faces
//! perpendicular to the axis (index 0 and index n − 1), is *dead-end* when it touches exactly one
//! and *isolated* when it touches neither. Fractions are of the phase's voxels. Along an axis one
//! voxel long both faces are the same plane, so every component touching it percolates.

use crate::error::ParamError;
use crate::metrics::components::{label_phase, Components, Connectivity};
use crate::metrics::euler::{euler, EulerResult};
use crate::metrics::graph::{phase_contacts, pore_graph, GraphSummary, PhaseContact, PoreGraph};
use crate::metrics::porosity::{check_nonempty, Axis, Units};
use crate::volume::VoxelSize;
use ndarray::{ArrayView3, Axis as NdAxis};
use serde::{Deserialize, Serialize};

/// Faces touched by every component: bit `2a` = low face of axis `a` (index 0), bit `2a + 1` = high
/// face (index n − 1). `result[k]` is for component `k + 1`.
pub fn face_touches(c: &Components) -> Vec<u8> {
    let mut t = vec![0u8; c.count()];
    let sh = c.labels.shape();
    for (a, &len) in sh.iter().enumerate() {
        if len == 0 {
            continue;
        }
        for (side, idx) in [(0usize, 0usize), (1, len - 1)] {
            for &l in c.labels.index_axis(NdAxis(a), idx).iter() {
                if l != 0 {
                    t[l as usize - 1] |= 1 << (2 * a + side);
                }
            }
        }
    }
    t
}

/// Percolation classes of a phase along one axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AxisPercolation {
    /// The axis the two faces are perpendicular to.
    pub axis: Axis,
    /// At least one component touches both faces.
    pub percolates: bool,
    /// Number of components touching both faces.
    pub n_percolating_components: usize,
    /// Voxels in components touching both faces.
    pub percolating_voxels: u64,
    /// Voxels in components touching exactly one face.
    pub dead_end_voxels: u64,
    /// Voxels in components touching neither face.
    pub isolated_voxels: u64,
    /// Fractions of the phase's voxels (0 when the phase is absent); they sum to 1.
    pub percolating_fraction: f64,
    /// Dead-end voxels / phase voxels (0 when the phase is absent).
    pub dead_end_fraction: f64,
    /// Isolated voxels / phase voxels (0 when the phase is absent).
    pub isolated_fraction: f64,
    /// Percolating voxels / all voxels of the volume ("effective porosity" for the pore phase).
    pub percolating_volume_fraction: f64,
}

/// Classify the components along `axis`.
pub fn percolation(c: &Components, touches: &[u8], axis: Axis) -> AxisPercolation {
    classify_components(
        axis,
        c.sizes.iter().copied().zip(touches.iter().copied()),
        c.labels.len(),
    )
}

/// Classify components given as `(voxels, face bits)` along `axis` (face bits: `2a` = low face,
/// `2a + 1` = high face of axis index `a`) in a volume of `n_voxels`: percolating when touching
/// both faces, dead end when one, isolated when none.
pub fn classify_components(
    axis: Axis,
    components: impl Iterator<Item = (u64, u8)>,
    n_voxels: usize,
) -> AxisPercolation {
    let a = axis.index();
    let (mut p, mut d, mut i, mut np) = (0u64, 0u64, 0u64, 0usize);
    for (s, t) in components {
        let lo = t >> (2 * a) & 1;
        let hi = t >> (2 * a + 1) & 1;
        match lo + hi {
            2 => {
                p += s;
                np += 1;
            }
            1 => d += s,
            _ => i += s,
        }
    }
    let tot = (p + d + i) as f64;
    let f = |v: u64| if tot > 0.0 { v as f64 / tot } else { 0.0 };
    AxisPercolation {
        axis,
        percolates: np > 0,
        n_percolating_components: np,
        percolating_voxels: p,
        dead_end_voxels: d,
        isolated_voxels: i,
        percolating_fraction: f(p),
        dead_end_fraction: f(d),
        isolated_fraction: f(i),
        percolating_volume_fraction: p as f64 / n_voxels.max(1) as f64,
    }
}

/// Everything `fibstack connectivity` reports for one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectivityReport {
    /// How the numbers were computed (connectivity, algorithm, percolation rule), for the record.
    pub method: String,
    /// The phase label analysed.
    pub phase: u8,
    /// 6, 18 or 26 (components and percolation).
    pub connectivity: u32,
    /// Voxel size `[dz, dy, dx]` (nm) used.
    pub voxel_size_nm: [f64; 3],
    /// Unit of lengths: `"nm"` when the voxel size is calibrated, `"voxel"` otherwise.
    pub length_unit: String,
    /// Voxels in the volume.
    pub n_voxels: u64,
    /// Voxels of the phase.
    pub phase_voxels: u64,
    /// Phase voxels / all voxels.
    pub phase_fraction: f64,
    /// Number of connected components of the phase.
    pub n_components: usize,
    /// Voxels of the largest component (0 when the phase is absent).
    pub largest_component_voxels: u64,
    /// Largest component / phase voxels (0 when the phase is absent).
    pub largest_component_fraction: f64,
    /// Phase volume in `volume_unit`.
    pub phase_volume: f64,
    /// Unit of `phase_volume`: `"nm^3"` or `"voxel^3"`.
    pub volume_unit: String,
    /// Percolation along each requested axis, in the order asked.
    pub axes: Vec<AxisPercolation>,
    /// Euler characteristic, connectivity β₁ and connectivity density of the phase.
    pub euler: EulerResult,
    /// Interfaces between every pair of phases (face counting).
    pub phase_contacts: Vec<PhaseContact>,
    /// Pore-region graph summary (when requested).
    pub graph: Option<GraphSummary>,
    /// Remarks on the result (uncalibrated voxel size, absent phase); `None` when there are none.
    pub note: Option<String>,
}

/// Components, percolation along `axes` and the Euler characteristic of `phase`.
/// Also returns the components (for the pore graph or a label export).
pub fn analyze(
    labels: ArrayView3<u8>,
    phase: u8,
    conn: Connectivity,
    axes: &[Axis],
    voxel: &VoxelSize,
) -> Result<(ConnectivityReport, Components), ParamError> {
    let (c, comps) = components_part(labels, phase, conn, axes, voxel)?;
    let report = ConnectivityReport {
        method: format!(
            "connected components ({}-connectivity, two-pass union-find over slabs); percolation: \
             component touches both faces / one face / none",
            conn.n()
        ),
        phase,
        connectivity: c.connectivity,
        voxel_size_nm: c.voxel_size_nm,
        length_unit: c.length_unit,
        n_voxels: c.n_voxels,
        phase_voxels: c.phase_voxels,
        phase_fraction: c.phase_fraction,
        n_components: c.n_components,
        largest_component_voxels: c.largest_component_voxels,
        largest_component_fraction: c.largest_component_fraction,
        phase_volume: c.phase_volume,
        volume_unit: c.volume_unit,
        axes: c.axes,
        euler: euler(labels, phase, voxel)?,
        phase_contacts: phase_contacts(labels, voxel)?,
        graph: None,
        note: c.note,
    };
    Ok((report, comps))
}

/// What `fibstack connectivity` computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectivityOptions {
    /// Phase label to analyse (default 0).
    pub phase: u8,
    /// Neighbourhood for components and percolation: 6 (faces, default), 18 or 26.
    pub connectivity: Connectivity,
    /// Axes to test for percolation (default all three, `[z, y, x]`).
    pub axes: Vec<Axis>,
    /// Build the pore-region graph (watershed; slower).
    pub graph: bool,
    /// Only the components and their percolation ([`components_report`]): no Euler
    /// characteristic, no phase contacts, no graph (the work of a plain labelling call).
    #[serde(default)]
    pub components_only: bool,
}

impl Default for ConnectivityOptions {
    fn default() -> Self {
        ConnectivityOptions {
            phase: 0,
            connectivity: Connectivity::Six,
            axes: Axis::ALL.to_vec(),
            graph: false,
            components_only: false,
        }
    }
}

/// The components part of [`ConnectivityReport`] (`fibstack connectivity --components-only`):
/// the same fields, computed the same way, without the Euler characteristic and the phase contacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentsReport {
    /// How the numbers were computed (connectivity, algorithm, percolation rule), for the record.
    pub method: String,
    /// The phase label analysed.
    pub phase: u8,
    /// 6, 18 or 26 (components and percolation).
    pub connectivity: u32,
    /// Voxel size `[dz, dy, dx]` (nm) used.
    pub voxel_size_nm: [f64; 3],
    /// Unit of lengths: `"nm"` when the voxel size is calibrated, `"voxel"` otherwise.
    pub length_unit: String,
    /// Voxels in the volume.
    pub n_voxels: u64,
    /// Voxels of the phase.
    pub phase_voxels: u64,
    /// Phase voxels / all voxels.
    pub phase_fraction: f64,
    /// Number of connected components of the phase.
    pub n_components: usize,
    /// Voxels of the largest component (0 when the phase is absent).
    pub largest_component_voxels: u64,
    /// Largest component / phase voxels (0 when the phase is absent).
    pub largest_component_fraction: f64,
    /// Phase volume in `volume_unit`.
    pub phase_volume: f64,
    /// Unit of `phase_volume`: `"nm^3"` or `"voxel^3"`.
    pub volume_unit: String,
    /// Percolation along each requested axis, in the order asked.
    pub axes: Vec<AxisPercolation>,
    /// Remarks on the result (uncalibrated voxel size, absent phase); `None` when there are none.
    pub note: Option<String>,
}

/// Components and their percolation along `opts.axes` only (labelling plus one pass over the six
/// faces); `opts.graph` must be off.
pub fn components_report(
    labels: ArrayView3<u8>,
    voxel: &VoxelSize,
    opts: &ConnectivityOptions,
) -> Result<ComponentsReport, ParamError> {
    if opts.graph {
        return Err(ParamError::new(
            "components_only",
            "true with graph = true",
            "the pore-region graph needs the full analysis; drop components-only or the graph",
        ));
    }
    components_part(labels, opts.phase, opts.connectivity, &opts.axes, voxel).map(|(r, _)| r)
}

/// Labelling, sizes and percolation of `phase`: the part [`analyze`] and [`components_report`]
/// share (the one place these fields are computed).
fn components_part(
    labels: ArrayView3<u8>,
    phase: u8,
    conn: Connectivity,
    axes: &[Axis],
    voxel: &VoxelSize,
) -> Result<(ComponentsReport, Components), ParamError> {
    check_nonempty(labels.shape())?;
    let units = Units::from_voxel(voxel)?;
    let comps = label_phase(labels, phase, conn)?;
    let touches = face_touches(&comps);
    let phase_voxels: u64 = comps.sizes.iter().sum();
    let n = labels.len() as u64;
    let largest = comps.sizes.iter().cloned().max().unwrap_or(0);
    let mut note = units.note.clone();
    if phase_voxels == 0 {
        let t = format!("phase {phase} is absent: all fractions are 0");
        note = Some(note.map_or(t.clone(), |n| format!("{n}; {t}")));
    }
    let report = ComponentsReport {
        method: format!(
            "connected components only ({}-connectivity, two-pass union-find over slabs); \
             percolation: component touches both faces / one face / none",
            conn.n()
        ),
        phase,
        connectivity: conn.n(),
        voxel_size_nm: voxel.nm,
        length_unit: units.length.clone(),
        n_voxels: n,
        phase_voxels,
        phase_fraction: phase_voxels as f64 / n as f64,
        n_components: comps.count(),
        largest_component_voxels: largest,
        largest_component_fraction: if phase_voxels > 0 {
            largest as f64 / phase_voxels as f64
        } else {
            0.0
        },
        phase_volume: phase_voxels as f64 * units.voxel_volume(),
        volume_unit: units.volume(),
        axes: axes
            .iter()
            .map(|&a| percolation(&comps, &touches, a))
            .collect(),
        note,
    };
    Ok((report, comps))
}

/// [`analyze`] plus, when asked, the pore-region graph (its summary goes into the report).
pub fn connectivity_report(
    labels: ArrayView3<u8>,
    voxel: &VoxelSize,
    opts: &ConnectivityOptions,
) -> Result<(ConnectivityReport, Option<PoreGraph>), ParamError> {
    connectivity_report_progress(labels, voxel, opts, &crate::progress::Silent)
}

/// [`connectivity_report`] reporting to `progress`: phase `connectivity`, one unit for the
/// components (with percolation, Euler characteristic and contacts) and one for the pore graph
/// when asked, the part running named in the detail.
pub fn connectivity_report_progress(
    labels: ArrayView3<u8>,
    voxel: &VoxelSize,
    opts: &ConnectivityOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<(ConnectivityReport, Option<PoreGraph>), ParamError> {
    let ph = crate::progress::Phase::start(progress, "connectivity", 1 + opts.graph as u64);
    progress.detail("components, percolation, Euler characteristic");
    let (mut r, _) = analyze(labels, opts.phase, opts.connectivity, &opts.axes, voxel)?;
    ph.inc(1);
    let g = if opts.graph {
        progress.detail("pore graph");
        let g = pore_graph(labels, opts.phase, voxel)?;
        ph.inc(1);
        r.graph = Some(g.summary.clone());
        Some(g)
    } else {
        None
    };
    Ok((r, g))
}
