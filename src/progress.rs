//! Progress reporting without printing from kernels: long loops take `&dyn Progress`; the CLI
//! passes an indicatif bar, tests pass [`Silent`].

/// Receives progress from long-running kernels. Must be cheap and thread-safe.
pub trait Progress: Sync {
    /// A new phase of work with `total` units.
    fn start(&self, _label: &str, _total: u64) {}
    /// `n` more units done.
    fn inc(&self, _n: u64) {}
    /// The phase is over.
    fn finish(&self) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}
