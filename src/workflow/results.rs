//! Step results by name. A workflow names each step's results after its kind: the first step of a
//! kind is `kind`, later ones `kind_2`, `kind_3`, … (what `results.json` holds). Every reader of
//! results (report, export, score, later steps) finds them through these functions.
//!
//! ```
//! use fibstack::workflow::results::{is_result_of, result_name, results_of};
//! assert_eq!(result_name("porosity", 0), "porosity");
//! assert_eq!(result_name("porosity", 1), "porosity_2");
//! assert!(is_result_of("porosity_2", "porosity"));
//! assert!(!is_result_of("porosity_x", "porosity"));
//! let mut m = serde_json::Map::new();
//! m.insert("segment".into(), 1.into());
//! m.insert("porosity".into(), 2.into());
//! m.insert("segment_2".into(), 3.into());
//! let seg: Vec<_> = results_of(&m, "segment").map(|(_, v)| v.clone()).collect();
//! assert_eq!(seg.len(), 2);
//! ```

use serde_json::{Map, Value};

/// The result name of a step of `kind` after `earlier` steps of the same kind.
pub fn result_name(kind: &str, earlier: usize) -> String {
    if earlier == 0 {
        kind.to_string()
    } else {
        format!("{kind}_{}", earlier + 1)
    }
}

/// Whether `name` names the results of a step of `kind` (`kind` or `kind_N`).
pub fn is_result_of(name: &str, kind: &str) -> bool {
    name == kind
        || name
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix('_'))
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// The results of every step of `kind`, in the map's order.
pub fn results_of<'a>(
    results: &'a Map<String, Value>,
    kind: &'a str,
) -> impl DoubleEndedIterator<Item = (&'a String, &'a Value)> + 'a {
    results.iter().filter(move |(k, _)| is_result_of(k, kind))
}

/// The first result of a step of `kind`.
pub fn first_result<'a>(results: &'a Map<String, Value>, kind: &str) -> Option<&'a Value> {
    results
        .iter()
        .find(|(k, _)| is_result_of(k, kind))
        .map(|(_, v)| v)
}
