//! metrics (see architecture.md).

pub mod components;
pub mod connectivity;
pub mod edt;
pub mod euler;
pub mod graph;
pub mod local_thickness;
pub mod particles;
pub mod phases;
pub mod porosity;
pub mod sizes;
pub mod surface;
pub mod tortuosity;
