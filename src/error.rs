//! Shared error types. Module-specific errors live in their modules; every message names the value
//! and what to do.

use std::fmt::Display;
use thiserror::Error;

/// An impossible or out-of-range parameter.
///
/// ```
/// let e = fibstack::error::ParamError::new("sigma", -1.0, "must be > 0 nm");
/// assert_eq!(e.to_string(), "invalid sigma = -1: must be > 0 nm");
/// ```
#[derive(Debug, Clone, Error, PartialEq)]
#[error("invalid {name} = {value}: {fix}")]
pub struct ParamError {
    /// Parameter name as the user writes it.
    pub name: String,
    /// The offending value, printed.
    pub value: String,
    /// What is wrong and what to do.
    pub fix: String,
}

impl ParamError {
    pub fn new(name: impl Into<String>, value: impl Display, fix: impl Into<String>) -> Self {
        ParamError {
            name: name.into(),
            value: value.to_string(),
            fix: fix.into(),
        }
    }
}

/// Largest length parameter (σ, radius, window …) accepted, in nm: 1 mm, far beyond any FIB-SEM
/// volume (a larger value is a unit mistake — metres or µm given as nm).
pub const MAX_LENGTH_NM: f64 = 1e6;

/// Check `0 < value <= MAX_LENGTH_NM` (a physical length in nm).
///
/// ```
/// assert!(fibstack::error::length_nm("sigma", 20.0).is_ok());
/// let e = fibstack::error::length_nm("sigma", 1e30).unwrap_err();
/// assert!(e.to_string().contains("at most 1000000 nm"));
/// ```
pub fn length_nm(name: &str, value: f64) -> Result<f64, ParamError> {
    if value.is_finite() && value > 0.0 && value <= MAX_LENGTH_NM {
        Ok(value)
    } else {
        Err(ParamError::new(
            name,
            value,
            format!("must be a length in nm, > 0 and at most {MAX_LENGTH_NM} nm (1 mm)"),
        ))
    }
}

/// Check `value > 0` and finite.
pub fn positive(name: &str, value: f64) -> Result<f64, ParamError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ParamError::new(name, value, "must be a finite number > 0"))
    }
}

/// Check `lo <= value <= hi`.
pub fn in_range(name: &str, value: f64, lo: f64, hi: f64) -> Result<f64, ParamError> {
    if value.is_finite() && value >= lo && value <= hi {
        Ok(value)
    } else {
        Err(ParamError::new(
            name,
            value,
            format!("must lie in [{lo}, {hi}]"),
        ))
    }
}

/// The library's top-level error.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    #[error(transparent)]
    Calibration(#[from] crate::volume::Uncalibrated),
    #[error(transparent)]
    Phase(#[from] crate::metrics::phases::PhaseError),
    #[error("{0}")]
    Other(String),
}
