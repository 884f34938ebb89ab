//! metrics (see architecture.md).
