//! metrics (see architecture.md).

pub mod components;
pub mod connectivity;
pub mod euler;
pub mod graph;
pub mod porosity;
