//! Tidy CSV tables, written atomically. Every CSV fibstack writes names its columns the same
//! way: `name_unit` in snake case (`position_nm`, `area_nm2`, `specific_area_per_um`); a
//! dimensionless quantity has no suffix (`porosity`). [`column_name`] is that rule.
//!
//! ```
//! use fibstack::report::table::Table;
//! let mut t = Table::new(&[("z", "nm"), ("porosity", "1")]);
//! t.push(vec![0.0.into(), 0.5.into()]);
//! assert_eq!(t.to_csv().lines().next(), Some("z_nm,porosity"));
//! assert_eq!(t.display_headers(), vec!["z [nm]", "porosity"]);
//! ```

use crate::io::IoError;
use std::path::Path;

/// A cell: number or text.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A number (written with up to 9 decimals, or in exponent form when very small or large;
    /// non-finite values as `inf`, `-inf`, `nan`).
    Num(f64),
    /// An integer (counts, indices).
    Int(i64),
    /// Text (names, labels).
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

/// The CSV column name of quantity `name` in `unit`: `name_unit` in snake case, the unit
/// spelled in ASCII (`µm` → `um`, `nm²` → `nm2`, `µm⁻¹` or `1/um` → `per_um`); `""` (text) and
/// `"1"` (dimensionless) add nothing.
///
/// ```
/// use fibstack::report::table::column_name;
/// assert_eq!(column_name("position", "nm"), "position_nm");
/// assert_eq!(column_name("porosity", "1"), "porosity");
/// assert_eq!(column_name("specific area", "µm⁻¹"), "specific_area_per_um");
/// assert_eq!(column_name("pressure", "kPa"), "pressure_kpa");
/// assert_eq!(column_name("current density", "mA/cm2"), "current_density_ma_per_cm2");
/// ```
pub fn column_name(name: &str, unit: &str) -> String {
    let n = snake(name);
    let u = unit_slug(unit);
    if u.is_empty() || n.ends_with(&format!("_{u}")) {
        n
    } else {
        format!("{n}_{u}")
    }
}

/// A unit in ASCII snake case (see [`column_name`]).
fn unit_slug(unit: &str) -> String {
    let u = unit
        .trim()
        .replace(['µ', 'μ'], "u")
        .replace('²', "2")
        .replace('³', "3");
    if u.is_empty() || u == "1" {
        return String::new();
    }
    let per = |base: &str| format!("per_{}", snake(base));
    if let Some(b) = u.strip_suffix("⁻¹").or_else(|| u.strip_suffix("-1")) {
        return per(b);
    }
    if let Some(b) = u.strip_prefix("1/") {
        return per(b);
    }
    snake(&u.replace('/', " per "))
}

/// Lower-case snake case: runs of anything but ASCII letters and digits become one `_`.
fn snake(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

/// A table with named, unit-carrying columns.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// `(name, unit)`; unit `""` for text columns, `"1"` for dimensionless.
    pub columns: Vec<(String, String)>,
    /// The rows, each with one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with columns `(name, unit)` (unit `""` for text, `"1"` for dimensionless).
    pub fn new(cols: &[(&str, &str)]) -> Self {
        Table {
            columns: cols
                .iter()
                .map(|(n, u)| (n.to_string(), u.to_string()))
                .collect(),
            rows: Vec::new(),
        }
    }
    /// Append a row (one cell per column).
    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }
    /// CSV column names: [`column_name`] of every column.
    pub fn headers(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|(n, u)| column_name(n, u))
            .collect()
    }
    /// Column titles for reading (HTML): `name [unit]`, no brackets when dimensionless or text.
    pub fn display_headers(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|(n, u)| {
                if u.is_empty() || u == "1" {
                    n.clone()
                } else {
                    format!("{n} [{u}]")
                }
            })
            .collect()
    }
    /// The table as CSV text: a header row of [`column_name`]s, then one record per row.
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
