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
    /// The phase's total changed (e.g. a random walk doubled its length).
    fn set_total(&self, _total: u64) {}
    /// A short live detail of the phase (e.g. the solver's residual against its tolerance).
    fn detail(&self, _text: &str) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}

/// One phase of work on a [`Progress`]: started when made, finished when dropped (also on an
/// early return with an error), so a kernel cannot leave a bar running.
///
/// ```
/// use fibstack::progress::{Phase, Silent};
/// let ph = Phase::start(&Silent, "slices", 3);
/// for _ in 0..3 {
///     ph.inc(1);
/// }
/// ```
pub struct Phase<'a>(&'a dyn Progress);

impl<'a> Phase<'a> {
    /// Start phase `label` of `total` units on `p`.
    pub fn start(p: &'a dyn Progress, label: &str, total: u64) -> Self {
        p.start(label, total);
        Phase(p)
    }
    /// `n` more units done.
    pub fn inc(&self, n: u64) {
        self.0.inc(n);
    }
}

impl Drop for Phase<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}
