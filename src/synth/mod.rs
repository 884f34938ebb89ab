//! synth (see architecture.md).
