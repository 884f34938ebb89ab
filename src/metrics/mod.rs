//! metrics (see architecture.md).
pub mod edt;
pub mod local_thickness;
pub mod particles;
pub mod sizes;
pub mod surface;
