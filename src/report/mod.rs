//! report (see architecture.md).
