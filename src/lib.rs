//! fibstack: FIB-SEM serial-section image stacks → trustworthy 3D microstructure numbers.
//!
//! Pipeline modules (see `../shared/docs/architecture.md`): [`io`] → [`preprocess`] → [`segment`]
//! → [`metrics`] → [`report`], driven by [`workflow`]; [`synth`] makes stacks with known truth.
//! All volumes are indexed `[z, y, x]` with a physical [`volume::VoxelSize`] in nm.

#![deny(missing_docs)]

pub mod alloc;
pub mod classify;
pub mod error;
pub mod features;
pub mod io;
pub mod metrics;
pub mod preprocess;
pub mod progress;
pub mod report;
pub mod rng;
pub mod segment;
pub mod stream;
pub mod synth;
pub mod validate;
pub mod volume;
pub mod workflow;

pub use error::{Error, ParamError};
pub use volume::{GreyData, GreyVolume, LabelVolume, Metadata, SampleType, VoxelSize, VoxelSource};
