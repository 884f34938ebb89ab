//! Segmentation: full-volume histograms, Otsu / multi-Otsu / ISO-50 / manual thresholds, phase labels and
//! the threshold sensitivity report (methods §5). Thresholds equal scikit-image's
//! `threshold_otsu` / `threshold_multiotsu` (tests/filters_otsu.rs).

pub mod corrected;
pub mod histogram;
pub mod iso50;
pub mod otsu;
pub mod rim;
pub mod shine;
pub mod threshold;

pub use threshold::{segment_volume, Method, SegmentParams, SegmentResult};
