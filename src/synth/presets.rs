//! Preset names, their defaults (shape, grey levels, phase names) and the pressure → packing map.

use crate::error::{in_range, ParamError};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The built-in ground-truth structures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Polydisperse active-material particles + carbon binder.
    #[default]
    Electrode,
    /// Lithium deposit on a current collector (`packing` or `pressure_kpa`).
    LiDeposit,
    /// Open space (all pore).
    Box,
    /// Straight square pore channels through solid.
    Channels,
    /// TauFactor's slanted 2-voxel staircase strip, box N×(N+1)×(N+1) (N = 20 → τ = 7.51667).
    Staircase,
    /// Solid spheres of given radii.
    Spheres,
    /// Simple-cubic lattice of solid spheres.
    SphereLattice,
    /// Solid half-space under an inclined plane.
    InclinedPlane,
}

impl Preset {
    /// All presets, in documentation order.
    pub const ALL: [Preset; 8] = [
        Preset::Electrode,
        Preset::LiDeposit,
        Preset::Box,
        Preset::Channels,
        Preset::Staircase,
        Preset::Spheres,
        Preset::SphereLattice,
        Preset::InclinedPlane,
    ];

    /// Name as written on the command line and in workflows.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Electrode => "electrode",
            Preset::LiDeposit => "li-deposit",
            Preset::Box => "box",
            Preset::Channels => "channels",
            Preset::Staircase => "staircase",
            Preset::Spheres => "spheres",
            Preset::SphereLattice => "sphere-lattice",
            Preset::InclinedPlane => "inclined-plane",
        }
    }

    /// Label → phase name.
    pub fn phase_names(self) -> Vec<(u8, String)> {
        let v: &[(u8, &str)] = match self {
            Preset::Electrode => &[(0, "pore"), (1, "active material"), (2, "carbon binder")],
            Preset::LiDeposit => &[(0, "pore"), (1, "lithium"), (2, "current collector")],
            _ => &[(0, "pore"), (1, "solid")],
        };
        v.iter().map(|(l, n)| (*l, n.to_string())).collect()
    }

    /// Normalised grey levels per label (BSE-like contrast; pores dark).
    pub fn levels(self) -> Vec<f64> {
        match self {
            Preset::Electrode => vec![0.12, 0.68, 0.38],
            Preset::LiDeposit => vec![0.10, 0.42, 0.85],
            _ => vec![0.15, 0.70],
        }
    }
}

impl FromStr for Preset {
    type Err = ParamError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase().replace('_', "-");
        Preset::ALL
            .iter()
            .copied()
            .find(|p| p.name() == t)
            .ok_or_else(|| {
                let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
                ParamError::new(
                    "preset",
                    s,
                    format!(
                        "unknown preset; choose one of {} (or pressure-series on the command line)",
                        names.join(", ")
                    ),
                )
            })
    }
}

/// Pressures (kPa) of the bundled pressure series.
pub const PRESSURE_SERIES_KPA: [f64; 5] = [0.0, 70.0, 140.0, 210.0, 350.0];

/// Stack pressure (kPa) → packing: `1 − exp(−P / 150 kPa)` (0 → 0, 70 → 0.37, 140 → 0.61,
/// 210 → 0.75, 350 → 0.90). Our choice: monotone, saturating; porosity then falls with pressure.
pub fn packing_for_pressure(kpa: f64) -> Result<f64, ParamError> {
    in_range("pressure_kpa", kpa, 0.0, 5000.0)?;
    Ok(1.0 - (-kpa / 150.0).exp())
}

/// Nominal deposit thickness as a fraction of the height above the collector for a packing:
/// `0.85 − 0.45·packing` (looser deposits of the same lithium stand taller).
pub fn thickness_fraction_for_packing(packing: f64) -> f64 {
    0.85 - 0.45 * packing
}
