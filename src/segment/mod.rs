//! segment (see architecture.md).
