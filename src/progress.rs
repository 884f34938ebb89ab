//! Progress reporting without printing from kernels: long loops take `&dyn Progress`; the CLI
//! passes an indicatif bar, tests pass [`Silent`].

#![deny(missing_docs)]

/// Receives progress from long-running kernels. Must be cheap and thread-safe.
pub trait Progress: Sync {
    /// A new phase of work with `total` units.
    fn start(&self, _label: &str, _total: u64) {}
    /// `n` more units done.
    fn inc(&self, _n: u64) {}
    /// The phase is over.
    fn finish(&self) {}
    /// The phase's total changed (e.g. a random walk doubled its length).
    fn set_total(&self, _total: u64) {}
    /// A short live detail of the phase (e.g. the solver's residual against its tolerance).
    fn detail(&self, _text: &str) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}
