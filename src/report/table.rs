//! Tidy CSV tables with units in the headers (`porosity [1]`, `depth [nm]`), written atomically.
//!
//! ```
//! use fibstack::report::table::Table;
//! let mut t = Table::new(&[("z", "nm"), ("porosity", "1")]);
//! t.push(vec![0.0.into(), 0.5.into()]);
//! assert_eq!(t.to_csv().lines().next(), Some("z [nm],porosity [1]"));
//! ```

use crate::io::IoError;
use std::path::Path;

/// A cell: number or text.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Num(f64),
    Int(i64),
    Text(String),
    /// Empty (e.g. τ of a non-percolating phase is written as `inf`; missing values as empty).
    Empty,
}

impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::Num(v)
    }
}
impl From<usize> for Cell {
    fn from(v: usize) -> Self {
        Cell::Int(v as i64)
    }
}
impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Cell::Int(v)
    }
}
impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Text(v.into())
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Text(v)
    }
}
impl From<Option<f64>> for Cell {
    fn from(v: Option<f64>) -> Self {
        v.map(Cell::Num).unwrap_or(Cell::Empty)
    }
}

impl Cell {
    /// Short form for reading (HTML tables): numbers to 4 significant digits, ∞ for infinity.
    ///
    /// ```
    /// use fibstack::report::table::Cell;
    /// assert_eq!(Cell::Num(0.915104782).display(), "0.9151");
    /// assert_eq!(Cell::Num(1000.86772).display(), "1001");
    /// assert_eq!(Cell::Num(f64::INFINITY).display(), "∞");
    /// ```
    pub fn display(&self) -> String {
        match self {
            Cell::Num(v) if v.is_infinite() => if *v > 0.0 { "∞" } else { "−∞" }.into(),
            Cell::Num(v) if v.is_finite() && *v != 0.0 => {
                let mag = v.abs().log10().floor() as i32;
                if !(-4..6).contains(&mag) {
                    format!("{v:.3e}")
                } else {
                    let d = (3 - mag).max(0) as usize;
                    format!("{v:.d$}")
                }
            }
            other => other.text(),
        }
    }
    /// Text form: numbers with up to 9 significant digits, stable across runs.
    pub fn text(&self) -> String {
        match self {
            Cell::Num(v) if v.is_nan() => "nan".into(),
            Cell::Num(v) if v.is_infinite() => if *v > 0.0 { "inf" } else { "-inf" }.into(),
            Cell::Num(v) => {
                if *v == 0.0 {
                    "0".into()
                } else if v.abs() >= 1e-4 && v.abs() < 1e12 {
                    let s = format!("{:.9}", v);
                    let s = s.trim_end_matches('0').trim_end_matches('.');
                    s.to_string()
                } else {
                    format!("{v:.8e}")
                }
            }
            Cell::Int(i) => i.to_string(),
            Cell::Text(t) => t.clone(),
            Cell::Empty => String::new(),
        }
    }
}

/// A table with named, unit-carrying columns.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// `(name, unit)`; unit `""` for text columns, `"1"` for dimensionless.
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(cols: &[(&str, &str)]) -> Self {
        Table {
            columns: cols
                .iter()
                .map(|(n, u)| (n.to_string(), u.to_string()))
                .collect(),
            rows: Vec::new(),
        }
    }
    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }
    /// Header names with units: `name [unit]` (no brackets when the unit is empty).
    pub fn headers(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|(n, u)| {
                if u.is_empty() {
                    n.clone()
                } else {
                    format!("{n} [{u}]")
                }
            })
            .collect()
    }
    pub fn to_csv(&self) -> String {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        let _ = w.write_record(self.headers());
        for r in &self.rows {
            let _ = w.write_record(r.iter().map(Cell::text));
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }
    /// Write atomically.
    pub fn write_csv(&self, path: &Path) -> Result<(), IoError> {
        crate::io::atomic::write_bytes(path, self.to_csv().as_bytes())
    }
}
