//! metrics (see architecture.md).
pub mod tortuosity;
