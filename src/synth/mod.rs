//! Synthetic FIB-SEM stacks with exact ground truth.
//!
//! * [`structures`]: ground-truth label volumes (electrode, lithium deposit, analytic shapes).
//! * [`acquisition`]: renders any label volume through a FIB-SEM acquisition model.
//! * [`truth`]: the `truth.json` record.
//! * [`presets`]: preset names and defaults; [`output`]: the folder writer.
//!
//! Entry point: [`generate`] with a [`SynthSpec`]; [`from_labels`] for a user's own truth.
//!
//! ```
//! use fibstack::synth::{generate, SynthSpec, Preset};
//! let mut spec = SynthSpec { preset: Preset::Staircase, ..Default::default() };
//! spec.acquisition = fibstack::synth::acquisition::AcquisitionParams::clean();
//! let out = generate(&spec).unwrap();
//! assert_eq!(out.labels.count(1), 80);
//! ```

pub mod acquisition;
pub mod curtains;
pub mod output;
pub mod presets;
pub mod shine_geometric;
pub mod stream;
pub mod structures;
pub mod truth;

pub use acquisition::{render, AcquisitionParams, Rendered};
pub use presets::Preset;
pub use truth::{StructureTruth, Truth};

use crate::error::ParamError;
use crate::volume::{LabelVolume, VoxelSize, VoxelSource};
use serde::{Deserialize, Serialize};
use structures::{ElectrodeParams, LiDepositParams};

/// Parameters of the analytic shapes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticParams {
    /// Channel axis: 0 = z, 1 = y, 2 = x.
    pub channel_axis: usize,
    /// Channel width (voxels).
    pub channel_width: usize,
    /// Channel pitch (voxels).
    pub channel_pitch: usize,
    /// Staircase size N (box N×(N+1)×(N+1)); 20 reproduces TauFactor's τ = 7.51667.
    pub staircase_n: usize,
    /// Radii (nm) of the `spheres` preset, placed along x through the box centre.
    pub sphere_radii_nm: Vec<f64>,
    /// Sphere radius (nm) of the lattice.
    pub lattice_radius_nm: f64,
    /// Lattice constant (nm).
    pub lattice_spacing_nm: f64,
    /// Inclination (degrees) of the plane.
    pub plane_angle_deg: f64,
    /// Axis (0 = z, 2 = x) along which the plane rises.
    pub plane_tilt_axis: usize,
}

impl Default for AnalyticParams {
    fn default() -> Self {
        AnalyticParams {
            channel_axis: 0,
            channel_width: 4,
            channel_pitch: 12,
            staircase_n: 20,
            sphere_radii_nm: vec![100.0, 200.0, 300.0],
            lattice_radius_nm: 150.0,
            lattice_spacing_nm: 400.0,
            plane_angle_deg: 20.0,
            plane_tilt_axis: 2,
        }
    }
}

/// What to generate: preset, size, seed, structure and acquisition parameters. Also the TOML
/// table of the `synth` workflow step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthSpec {
    /// Which structure to generate.
    pub preset: Preset,
    /// `[nz, ny, nx]`; `None` = 64×96×96 (staircase: N×(N+1)×(N+1)).
    pub shape: Option<[usize; 3]>,
    /// Truth voxel `[dz, dy, dx]` (nm); `None` = 20 nm cubes.
    pub voxel_nm: Option<[f64; 3]>,
    /// Seed of every random draw (structure and acquisition).
    pub seed: u64,
    /// Parameters of the `electrode` preset.
    pub electrode: ElectrodeParams,
    /// Parameters of the `li-deposit` preset.
    pub li_deposit: LiDepositParams,
    /// Stack pressure (kPa) for `li-deposit`: sets packing and thickness (overrides them).
    pub pressure_kpa: Option<f64>,
    /// Parameters of the analytic presets (channels, spheres, planes, staircase).
    pub analytic: AnalyticParams,
    /// How the structure is imaged (geometry, drift, curtains, shading, noise).
    pub acquisition: AcquisitionParams,
    /// False = only the structure (no grey rendering).
    pub render: bool,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            preset: Preset::Electrode,
            shape: None,
            voxel_nm: None,
            seed: 0,
            electrode: ElectrodeParams::default(),
            li_deposit: LiDepositParams::default(),
            pressure_kpa: None,
            analytic: AnalyticParams::default(),
            acquisition: AcquisitionParams::default(),
            render: true,
        }
    }
}

/// Default truth shape.
pub const DEFAULT_SHAPE: [usize; 3] = [64, 96, 96];
/// Default truth voxel (nm).
pub const DEFAULT_VOXEL_NM: [f64; 3] = [20.0, 20.0, 20.0];

impl SynthSpec {
    /// Truth shape after defaults.
    pub fn resolved_shape(&self) -> Result<[usize; 3], ParamError> {
        if self.preset == Preset::Staircase {
            let n = self.analytic.staircase_n;
            if let Some(s) = self.shape {
                if s != [n, n + 1, n + 1] {
                    return Err(ParamError::new(
                        "shape",
                        format!("{}x{}x{}", s[0], s[1], s[2]),
                        format!("the staircase is N×(N+1)×(N+1) with N = staircase_n = {n}; drop --shape or set --staircase-n"),
                    ));
                }
            }
            return Ok([n, n + 1, n + 1]);
        }
        Ok(self.shape.unwrap_or(DEFAULT_SHAPE))
    }

    /// Truth voxel after defaults.
    pub fn resolved_voxel(&self) -> VoxelSize {
        match self.voxel_nm {
            Some(v) => VoxelSize::new(v, VoxelSource::CommandLine),
            None => VoxelSize::new(DEFAULT_VOXEL_NM, VoxelSource::Derived),
        }
    }

    /// Acquisition parameters with the preset's grey levels filled in when none were given.
    pub fn resolved_acquisition(&self) -> AcquisitionParams {
        let mut a = self.acquisition.clone();
        if a.levels.is_none() {
            a.levels = Some(self.preset.levels());
        }
        if a.shine_through.model == acquisition::ShineModel::Geometric
            && a.shine_through.geometric.is_none()
        {
            // recorded in truth.json with the values used
            a.shine_through.geometric = Some(Default::default());
        }
        if a.outside == acquisition::Outside::Auto {
            a.outside = if self.preset == Preset::LiDeposit {
                acquisition::Outside::Edge
            } else {
                acquisition::Outside::PoreLevel
            };
        }
        a
    }

    /// Lithium-deposit parameters after applying `pressure_kpa`.
    pub fn resolved_li_deposit(
        &self,
        shape: [usize; 3],
        voxel: &VoxelSize,
    ) -> Result<LiDepositParams, ParamError> {
        let mut p = self.li_deposit.clone();
        if let Some(kpa) = self.pressure_kpa {
            p.packing = presets::packing_for_pressure(kpa)?;
            let height = shape[1] as f64 * voxel.dy();
            let coll = p
                .collector_thickness_nm
                .unwrap_or((3.0 * voxel.dy()).max(0.08 * height));
            let rows = ((coll / voxel.dy()).round() as usize).max(1);
            let avail = shape[1].saturating_sub(rows) as f64 * voxel.dy();
            p.thickness_nm = Some(avail * presets::thickness_fraction_for_packing(p.packing));
        }
        Ok(p)
    }

    /// Check everything that can be checked before work starts.
    pub fn validate(&self) -> Result<(), ParamError> {
        let shape = self.resolved_shape()?;
        structures::check_shape(shape)?;
        let voxel = self.resolved_voxel();
        voxel.validate()?;
        if let Some(k) = self.pressure_kpa {
            if self.preset != Preset::LiDeposit {
                return Err(ParamError::new(
                    "pressure_kpa",
                    k,
                    "only applies to the li-deposit preset",
                ));
            }
        }
        match self.preset {
            Preset::Electrode => self.electrode.validate(shape, &voxel)?,
            Preset::LiDeposit => {
                let p = self.resolved_li_deposit(shape, &voxel)?;
                in_range_packing(p.packing)?;
            }
            _ => {}
        }
        if self.render {
            self.resolved_acquisition().validate()?;
        }
        Ok(())
    }
}

fn in_range_packing(p: f64) -> Result<f64, ParamError> {
    crate::error::in_range("packing", p, 0.0, 1.0)
}

/// A generated stack.
#[derive(Debug, Clone)]
pub struct SynthOutput {
    /// Ground truth.
    pub labels: LabelVolume,
    /// The rendered acquisition (`None` when `render = false`).
    pub rendered: Option<Rendered>,
    /// Everything true about the stack.
    pub truth: Truth,
}

/// Generate the structure of `spec` (labels, structure truth, analytic τ).
pub fn structure(
    spec: &SynthSpec,
) -> Result<(LabelVolume, StructureTruth, Vec<structures::AnalyticTau>), ParamError> {
    let shape = spec.resolved_shape()?;
    let voxel = spec.resolved_voxel();
    let a = &spec.analytic;
    Ok(match spec.preset {
        Preset::Electrode => {
            let (l, t) = structures::electrode(&spec.electrode, shape, voxel, spec.seed)?;
            (l, StructureTruth::Electrode(t), vec![])
        }
        Preset::LiDeposit => {
            let p = spec.resolved_li_deposit(shape, &voxel)?;
            let (l, t) = structures::li_deposit(&p, shape, voxel, spec.seed)?;
            (l, StructureTruth::LiDeposit(t), vec![])
        }
        Preset::Box => {
            let (l, t) = structures::open_box(shape, voxel)?;
            (l, StructureTruth::OpenBox, t)
        }
        Preset::Channels => {
            let (l, t) = structures::channels(
                shape,
                voxel,
                a.channel_axis,
                a.channel_width,
                a.channel_pitch,
            )?;
            let cross: Vec<usize> = (0..3).filter(|&x| x != a.channel_axis).collect();
            let n: usize = cross
                .iter()
                .map(|&x| structures::channel_count_1d(shape[x], a.channel_width, a.channel_pitch))
                .product();
            let area: usize = cross.iter().map(|&x| shape[x]).product();
            (
                l,
                StructureTruth::Channels {
                    axis: a.channel_axis,
                    width_voxels: a.channel_width,
                    pitch_voxels: a.channel_pitch,
                    analytic_porosity: n as f64 / area as f64,
                },
                t,
            )
        }
        Preset::Staircase => {
            let (l, t) = structures::staircase(a.staircase_n, voxel)?;
            let n = a.staircase_n;
            (
                l,
                StructureTruth::Staircase {
                    n,
                    analytic_voxels: 4 * n,
                },
                t,
            )
        }
        Preset::Spheres => {
            let d = voxel.nm;
            let c = [0, 1, 2].map(|x| (shape[x] as f64 - 1.0) * 0.5 * d[x]);
            let m = a.sphere_radii_nm.len();
            let list: Vec<([f64; 3], f64)> = a
                .sphere_radii_nm
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let x = (i as f64 + 0.5) / m as f64 * shape[2] as f64 * d[2];
                    ([c[0], c[1], x], *r)
                })
                .collect();
            let (l, s) = structures::spheres(shape, voxel, &list)?;
            (l, StructureTruth::Spheres { spheres: s }, vec![])
        }
        Preset::SphereLattice => {
            let (l, s) = structures::sphere_lattice(
                shape,
                voxel,
                a.lattice_radius_nm,
                a.lattice_spacing_nm,
            )?;
            (
                l,
                StructureTruth::SphereLattice {
                    radius_nm: a.lattice_radius_nm,
                    spacing_nm: a.lattice_spacing_nm,
                    spheres: s,
                },
                vec![],
            )
        }
        Preset::InclinedPlane => {
            let (l, t) =
                structures::inclined_plane(shape, voxel, a.plane_angle_deg, a.plane_tilt_axis)?;
            (l, StructureTruth::InclinedPlane(t), vec![])
        }
    })
}

/// Generate structure and (when `spec.render`) its acquisition.
pub fn generate(spec: &SynthSpec) -> Result<SynthOutput, ParamError> {
    spec.validate()?;
    let (labels, st, taus) = structure(spec)?;
    let acq = spec.resolved_acquisition();
    let rendered = if spec.render {
        Some(render(&labels, &acq, spec.seed)?)
    } else {
        None
    };
    let truth = Truth::new(
        spec.preset.name(),
        spec.seed,
        &labels,
        spec.preset.phase_names(),
        st,
        taus,
        rendered.as_ref().map(|r| r.truth.clone()),
    );
    Ok(SynthOutput {
        labels,
        rendered,
        truth,
    })
}

/// Render a user's label volume (e.g. a segmented CT volume) as the ground truth.
pub fn from_labels(
    labels: LabelVolume,
    source: &str,
    acq: &AcquisitionParams,
    seed: u64,
) -> Result<SynthOutput, ParamError> {
    let rendered = render(&labels, acq, seed)?;
    let names = labels
        .phases()
        .iter()
        .map(|&l| {
            (
                l,
                if l == 0 {
                    "pore".to_string()
                } else {
                    format!("phase {l}")
                },
            )
        })
        .collect();
    let truth = Truth::new(
        "labels",
        seed,
        &labels,
        names,
        StructureTruth::External {
            source: source.into(),
        },
        vec![],
        Some(rendered.truth.clone()),
    );
    Ok(SynthOutput {
        labels,
        rendered: Some(rendered),
        truth,
    })
}

/// The pressure series: one `li-deposit` output per pressure (kPa), same seed and size.
pub fn pressure_series(
    spec: &SynthSpec,
    pressures_kpa: &[f64],
) -> Result<Vec<(f64, SynthOutput)>, ParamError> {
    let mut out = Vec::new();
    for &p in pressures_kpa {
        let s = SynthSpec {
            preset: Preset::LiDeposit,
            pressure_kpa: Some(p),
            ..spec.clone()
        };
        out.push((p, generate(&s)?));
    }
    Ok(out)
}
