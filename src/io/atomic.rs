//! Atomic output: write to a temporary file beside the target, then rename into place.

use super::IoError;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Write `path` atomically: `f` writes into a buffered temporary file in the same folder, which is
/// renamed onto `path` only when `f` succeeds and the data is flushed. On error nothing is left.
///
/// ```
/// let dir = std::env::temp_dir().join("fibstack-doc-atomic");
/// std::fs::create_dir_all(&dir).unwrap();
/// let p = dir.join("a.txt");
/// fibstack::io::atomic::write_atomic(&p, |w| { use std::io::Write; w.write_all(b"hi").map_err(|e| fibstack::io::IoError::Os{path: p.clone(), source: e}) }).unwrap();
/// assert_eq!(std::fs::read(&p).unwrap(), b"hi");
/// ```
pub fn write_atomic<F>(path: &Path, f: F) -> Result<(), IoError>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<(), IoError>,
{
    let tmp = temp_path(path);
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            fs::create_dir_all(parent).map_err(|e| IoError::os(parent, e))?;
        }
    }
    let file = File::create(&tmp).map_err(|e| IoError::os(path, e))?;
    let mut w = BufWriter::new(file);
    let result = f(&mut w).and_then(|_| {
        w.flush().map_err(|e| IoError::os(path, e))?;
        w.get_ref().sync_all().map_err(|e| IoError::os(path, e))
    });
    drop(w);
    match result {
        Ok(()) => fs::rename(&tmp, path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            IoError::os(path, e)
        }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Write bytes atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    write_atomic(path, |w| {
        w.write_all(bytes).map_err(|e| IoError::os(path, e))
    })
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = format!(".{name}.fibstack-tmp-{}", std::process::id());
    path.with_file_name(tmp)
}
