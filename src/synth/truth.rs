//! The truth record written as `truth.json`: every true value of a synthetic stack.

use super::acquisition::AcqTruth;
use super::structures::{
    phase_fractions, AnalyticTau, ElectrodeTruth, LiDepositTruth, PlaneTruth, Sphere,
};
use crate::volume::LabelVolume;
use serde::{Deserialize, Serialize};

/// Fraction of one label, counted from the label volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseFraction {
    /// Label value.
    pub label: u8,
    /// What the label stands for (e.g. "pore", "active material").
    pub name: String,
    /// Number of voxels.
    pub voxels: usize,
    /// Volume fraction (voxels / all voxels).
    pub fraction: f64,
}

/// What the ground-truth structure is, with its own known values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StructureTruth {
    /// An electrode of particles, binder and pores.
    Electrode(ElectrodeTruth),
    /// A Li deposit on a collector.
    LiDeposit(LiDepositTruth),
    /// Open space: every voxel is pore (label 0), τ = 1.
    OpenBox,
    /// Straight channels of label 0 through solid.
    Channels {
        /// Axis the channels run along (0 = z, 1 = y, 2 = x).
        axis: usize,
        /// Channel width (voxels).
        width_voxels: usize,
        /// Channel spacing, centre to centre (voxels).
        pitch_voxels: usize,
        /// (channels along each cross axis product) width²·n / area: the analytic pore fraction.
        analytic_porosity: f64,
    },
    /// A staircase of labelled voxels (an exact count).
    Staircase {
        /// Steps of the staircase.
        n: usize,
        /// 4·N voxels of label 1.
        analytic_voxels: usize,
    },
    /// Spheres of given radii along x through the box centre.
    Spheres {
        /// The spheres painted.
        spheres: Vec<Sphere>,
    },
    /// Spheres on a lattice.
    SphereLattice {
        /// Sphere radius (nm).
        radius_nm: f64,
        /// Lattice spacing (nm).
        spacing_nm: f64,
        /// The spheres painted.
        spheres: Vec<Sphere>,
    },
    /// A plane inclined through the volume.
    InclinedPlane(PlaneTruth),
    /// A label volume supplied by the user.
    External {
        /// Where the labels came from.
        source: String,
    },
}

/// Everything true about a synthetic stack (serialised to `truth.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// Format tag and crate version.
    pub format: String,
    /// Simulator preset that made the stack.
    pub preset: String,
    /// Seed of the random draws.
    pub seed: u64,
    /// Truth label volume shape `[nz, ny, nx]`.
    pub labels_shape: [usize; 3],
    /// Truth voxel `[dz, dy, dx]` (nm).
    pub voxel_size_nm: [f64; 3],
    /// Label → phase name.
    pub phase_names: Vec<(u8, String)>,
    /// Phase fractions counted from the labels.
    pub phase_fractions: Vec<PhaseFraction>,
    /// Fraction of label 0 (pore), counted.
    pub porosity: f64,
    /// The structure and its known values.
    pub structure: StructureTruth,
    /// Tortuosity factors known in closed form or from reference solutions.
    pub analytic_tau: Vec<AnalyticTau>,
    /// The acquisition as applied; `None` when only the structure was generated.
    pub acquisition: Option<AcqTruth>,
}

impl Truth {
    /// Build the record, counting fractions from `labels`.
    pub fn new(
        preset: &str,
        seed: u64,
        labels: &LabelVolume,
        phase_names: Vec<(u8, String)>,
        structure: StructureTruth,
        analytic_tau: Vec<AnalyticTau>,
        acquisition: Option<AcqTruth>,
    ) -> Self {
        let fr = phase_fractions(labels);
        let name_of = |l: u8| {
            phase_names
                .iter()
                .find(|(k, _)| *k == l)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| format!("label {l}"))
        };
        let porosity = fr.iter().find(|f| f.0 == 0).map(|f| f.2).unwrap_or(0.0);
        Truth {
            format: format!(
                "fibstack-synth-truth/1 (fibstack {})",
                env!("CARGO_PKG_VERSION")
            ),
            preset: preset.into(),
            seed,
            labels_shape: labels.shape(),
            voxel_size_nm: labels.voxel.nm,
            phase_fractions: fr
                .iter()
                .map(|&(l, n, f)| PhaseFraction {
                    label: l,
                    name: name_of(l),
                    voxels: n,
                    fraction: f,
                })
                .collect(),
            phase_names,
            porosity,
            structure,
            analytic_tau,
            acquisition,
        }
    }
}
