//! preprocess (see architecture.md).
