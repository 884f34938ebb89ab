//! Atomic output: write to a temporary name beside the target, then rename into place.
//!
//! Every temporary file or folder fibstack creates is called `.NAME.fibstack-tmp-PID` (or
//! `.NAME.fibstack-old-PID` for a folder being replaced), lives beside its target and is
//! registered here while it exists, so that:
//! - an error or an early return removes it (the guards' `Drop`);
//! - SIGINT / SIGTERM / SIGHUP remove every registered one before the process exits
//!   ([`install_signal_cleanup`], called by the `fibstack` binary);
//! - leftovers of a process that died without cleaning up (killed with SIGKILL, aborted) are
//!   removed the next time fibstack writes into that folder ([`clean_stale_temps`]; only names
//!   whose PID is no longer running are touched).
//!
//! A folder output (a folder of slices, a workflow's output folder) is written whole into a
//! temporary folder and swapped in at the end ([`replace_folder`]), so a reader never sees a mix
//! of old and new files and a failed run leaves the previous output as it was.

use super::IoError;
use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Marker in the names of temporary outputs.
pub const TMP_MARK: &str = ".fibstack-tmp-";
/// Marker in the names of folders moved aside while a new one is swapped in.
pub const OLD_MARK: &str = ".fibstack-old-";

static TERMINATING: AtomicBool = AtomicBool::new(false);

fn registry() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    static R: OnceLock<Mutex<BTreeSet<PathBuf>>> = OnceLock::new();
    R.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn cleaned() -> MutexGuard<'static, HashSet<PathBuf>> {
    static C: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    C.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The temporary name beside `path`: `.NAME.fibstack-tmp-PID`.
pub fn temp_path(path: &Path) -> PathBuf {
    marked_path(path, TMP_MARK)
}

fn marked_path(path: &Path, mark: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".{name}{mark}{}", std::process::id()))
}

/// A registered temporary path (file or folder), removed on drop unless [`TempPath::keep`] was
/// called (after it has been renamed into place).
#[derive(Debug)]
pub struct TempPath {
    path: PathBuf,
    armed: bool,
}

impl TempPath {
    /// Register `path` as a temporary output. Fails once the process is being terminated by a
    /// signal (so no new temporary file appears after the cleanup).
    pub fn register(path: PathBuf) -> Result<Self, IoError> {
        let mut r = registry();
        if TERMINATING.load(Ordering::SeqCst) {
            return Err(IoError::invalid(&path, "interrupted; output not written"));
        }
        r.insert(path.clone());
        Ok(TempPath { path, armed: true })
    }
    /// The temporary path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Forget the path (it was renamed away): nothing is removed on drop.
    pub fn keep(mut self) {
        self.armed = false;
        registry().remove(&self.path);
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if self.armed {
            remove_any(&self.path);
            registry().remove(&self.path);
        }
    }
}

fn remove_any(p: &Path) {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            // a worker may still be creating a file inside: retry a few times
            for _ in 0..20 {
                if fs::remove_dir_all(p).is_ok() || !p.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        Ok(_) => {
            let _ = fs::remove_file(p);
        }
        Err(_) => {}
    }
}

/// Temporary paths registered right now (for tests and diagnostics).
pub fn registered_temps() -> Vec<PathBuf> {
    registry().iter().cloned().collect()
}

/// Remove every registered temporary output and refuse new ones. Called by the signal handler;
/// returns how many paths were removed.
pub fn remove_all_temps() -> usize {
    let mut r = registry();
    TERMINATING.store(true, Ordering::SeqCst);
    let n = r.len();
    for p in r.iter() {
        remove_any(p);
    }
    r.clear();
    n
}

/// Install a handler for SIGINT, SIGTERM and SIGHUP that removes every temporary output and then
/// exits with status 128 + signal number (130 for Ctrl-C). Call once, early, from a binary.
#[cfg(unix)]
pub fn install_signal_cleanup() -> Result<(), std::io::Error> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("fibstack-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let n = remove_all_temps();
                if n > 0 {
                    eprintln!("\ninterrupted: {n} unfinished output(s) removed");
                } else {
                    eprintln!("\ninterrupted");
                }
                std::process::exit(128 + sig);
            }
        })?;
    Ok(())
}

/// Non-Unix: nothing to install (temporary files are still removed on errors and at the next
/// start).
#[cfg(not(unix))]
pub fn install_signal_cleanup() -> Result<(), std::io::Error> {
    Ok(())
}

/// Whether a process with this id is running (conservatively `true` when it cannot be told).
pub fn pid_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        let Ok(p) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if p <= 0 {
            return false;
        }
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let r = unsafe { libc::kill(p, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// The PID in a temporary name of ours (`.NAME.fibstack-tmp-PID` / `.NAME.fibstack-old-PID`).
pub fn temp_owner(name: &str) -> Option<u32> {
    if !name.starts_with('.') {
        return None;
    }
    let i = name.rfind(TMP_MARK).or_else(|| name.rfind(OLD_MARK))?;
    let digits = &name[i + TMP_MARK.len()..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Remove the temporary outputs left in `dir` by fibstack processes that no longer run. Each
/// folder is scanned once per process; returns the paths removed.
pub fn clean_stale_temps(dir: &Path) -> Vec<PathBuf> {
    let key = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    };
    if !cleaned().insert(key.clone()) {
        return Vec::new();
    }
    let mut removed = Vec::new();
    let Ok(rd) = fs::read_dir(&key) else {
        return removed;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = temp_owner(&name) {
            if !pid_alive(pid) {
                remove_any(&e.path());
                removed.push(e.path());
            }
        }
    }
    removed
}

/// Clean stale temporary outputs beside `target` (its folder) and, when `target` is a folder,
/// inside it.
pub fn clean_stale_around(target: &Path) {
    let parent = target.parent().unwrap_or(Path::new(""));
    clean_stale_temps(parent);
    if target.is_dir() {
        clean_stale_temps(target);
    }
}

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
    if path.is_dir() {
        return Err(IoError::invalid(
            path,
            "is an existing folder; give a file name, or remove the folder",
        ));
    }
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            fs::create_dir_all(parent).map_err(|e| IoError::os(parent, e))?;
        }
    }
    clean_stale_around(path);
    let tmp = TempPath::register(temp_path(path))?;
    let file = File::create(tmp.path()).map_err(|e| IoError::os(path, e))?;
    let mut w = BufWriter::new(file);
    let result = f(&mut w).and_then(|_| {
        w.flush().map_err(|e| IoError::os(path, e))?;
        w.get_ref().sync_all().map_err(|e| IoError::os(path, e))
    });
    drop(w);
    result?;
    fs::rename(tmp.path(), path).map_err(|e| IoError::os(path, e))?;
    tmp.keep();
    Ok(())
}

/// Write bytes atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    write_atomic(path, |w| {
        w.write_all(bytes).map_err(|e| IoError::os(path, e))
    })
}

/// A temporary folder beside `target` (`.NAME.fibstack-tmp-PID`, created empty and registered),
/// to be swapped in by [`replace_folder`]. Stale temporary outputs of dead processes beside and
/// inside `target` are removed first.
pub fn temp_folder(target: &Path) -> Result<TempPath, IoError> {
    if let Some(parent) = target.parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            fs::create_dir_all(parent).map_err(|e| IoError::os(parent, e))?;
        }
    }
    clean_stale_around(target);
    let tmp = TempPath::register(temp_path(target))?;
    if tmp.path().exists() {
        remove_any(tmp.path());
    }
    fs::create_dir(tmp.path()).map_err(|e| IoError::os(tmp.path(), e))?;
    Ok(tmp)
}

/// Whether every entry of an existing folder is something a fibstack slice writer puts there
/// (`slice_NNNN.tif`) or a temporary output of ours; `Err(name)` names the first other entry.
pub fn only_slices(dir: &Path) -> Result<(), String> {
    let rd = fs::read_dir(dir).map_err(|e| e.to_string())?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if temp_owner(&name).is_some() {
            continue;
        }
        let ok = name
            .strip_prefix("slice_")
            .and_then(|r| r.strip_suffix(".tif"))
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
        if !ok || e.path().is_dir() {
            return Err(name);
        }
    }
    Ok(())
}

/// Check, before any work, that a folder of slices may be written to `target`: it does not exist,
/// or it is a folder holding only slices fibstack wrote (which are then replaced whole).
pub fn check_slice_folder_target(target: &Path) -> Result<(), IoError> {
    match fs::symlink_metadata(target) {
        Err(_) => Ok(()),
        Ok(m) if !m.is_dir() => Err(IoError::invalid(
            target,
            "exists and is a file, but an output without extension is a folder of slices; give a file name with an extension (.tif, .npy, …) or remove the file",
        )),
        Ok(_) => only_slices(target).map_err(|name| {
            IoError::invalid(
                target,
                format!("folder holds {name:?}, which fibstack did not write; a folder output is replaced whole, so choose a new or empty folder"),
            )
        }),
    }
}

/// Swap the finished temporary folder `tmp` in as `target`: `target` (when it exists) is moved
/// aside, `tmp` renamed onto it, and the old folder removed. Readers see either the old or the
/// new folder, never a mix.
pub fn replace_folder(tmp: TempPath, target: &Path) -> Result<(), IoError> {
    if !target.exists() {
        fs::rename(tmp.path(), target).map_err(|e| IoError::os(target, e))?;
        tmp.keep();
        return Ok(());
    }
    if !target.is_dir() {
        return Err(IoError::invalid(
            target,
            "exists and is not a folder; remove it or choose another output",
        ));
    }
    let old = TempPath::register(marked_path(target, OLD_MARK))?;
    remove_any(old.path());
    fs::rename(target, old.path()).map_err(|e| IoError::os(target, e))?;
    if let Err(e) = fs::rename(tmp.path(), target) {
        // put the previous output back
        let _ = fs::rename(old.path(), target);
        return Err(IoError::os(target, e));
    }
    tmp.keep();
    drop(old); // removes the previous folder
    Ok(())
}

/// Move every entry of the finished temporary folder `tmp` into the existing folder `target`,
/// replacing entries of the same name (a replaced folder is swapped whole), then remove the
/// entries named in `stale` (previous outputs this run did not write again). Entries of
/// `target` that are neither written now nor listed in `stale` are left alone. `last` names an
/// entry moved after all others (e.g. the provenance record).
pub fn merge_folder(
    tmp: TempPath,
    target: &Path,
    stale: &[PathBuf],
    last: Option<&str>,
) -> Result<(), IoError> {
    if !target.exists() {
        return replace_folder(tmp, target);
    }
    let mut names: Vec<std::ffi::OsString> = fs::read_dir(tmp.path())
        .map_err(|e| IoError::os(tmp.path(), e))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    if let Some(l) = last {
        if let Some(i) = names.iter().position(|n| n == l) {
            let n = names.remove(i);
            names.push(n);
        }
    }
    for name in &names {
        let src = tmp.path().join(name);
        let dst = target.join(name);
        let src_dir = src.is_dir();
        match fs::symlink_metadata(&dst) {
            Ok(m) if m.is_dir() || src_dir => {
                let old = TempPath::register(marked_path(&dst, OLD_MARK))?;
                remove_any(old.path());
                fs::rename(&dst, old.path()).map_err(|e| IoError::os(&dst, e))?;
                if let Err(e) = fs::rename(&src, &dst) {
                    let _ = fs::rename(old.path(), &dst);
                    return Err(IoError::os(&dst, e));
                }
            }
            _ => fs::rename(&src, &dst).map_err(|e| IoError::os(&dst, e))?,
        }
    }
    for s in stale {
        let written = names.iter().any(|n| Path::new(n) == s.as_path());
        let safe = s.components().count() == 1
            && matches!(s.components().next(), Some(std::path::Component::Normal(_)));
        if !written && safe {
            remove_any(&target.join(s));
        }
    }
    drop(tmp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_parsed_from_our_names_only() {
        assert_eq!(temp_owner(".a.tif.fibstack-tmp-123"), Some(123));
        assert_eq!(temp_owner(".slices.fibstack-old-9"), Some(9));
        assert_eq!(temp_owner("a.tif.fibstack-tmp-123"), None);
        assert_eq!(temp_owner(".a.tif.fibstack-tmp-"), None);
        assert_eq!(temp_owner(".a.tif.fibstack-tmp-12x"), None);
        assert_eq!(temp_owner(".hidden"), None);
    }

    #[test]
    fn stale_temps_of_dead_processes_go_live_ones_stay() {
        let d = tempfile::tempdir().unwrap();
        // a PID far above pid_max is never running
        let dead = d.path().join(".x.tif.fibstack-tmp-4000000000");
        let dead_dir = d.path().join(".slices.fibstack-tmp-4000000001");
        let live = d
            .path()
            .join(format!(".y.tif.fibstack-tmp-{}", std::process::id()));
        let user = d.path().join(".keep-me");
        fs::write(&dead, b"").unwrap();
        fs::create_dir(&dead_dir).unwrap();
        fs::write(dead_dir.join("slice_0000.tif"), b"x").unwrap();
        fs::write(&live, b"").unwrap();
        fs::write(&user, b"").unwrap();
        let removed = clean_stale_temps(d.path());
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(!dead.exists() && !dead_dir.exists());
        assert!(live.exists() && user.exists());
    }

    #[test]
    fn folder_swap_replaces_whole_and_merge_keeps_foreign_entries() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("out");
        fs::create_dir(&target).unwrap();
        for i in 0..8 {
            fs::write(target.join(format!("slice_{i:04}.tif")), b"old").unwrap();
        }
        let tmp = temp_folder(&target).unwrap();
        for i in 0..4 {
            fs::write(tmp.path().join(format!("slice_{i:04}.tif")), b"new").unwrap();
        }
        replace_folder(tmp, &target).unwrap();
        assert_eq!(fs::read_dir(&target).unwrap().count(), 4);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        // merge: a foreign file stays, a stale previous output goes, a folder is swapped whole
        let t2 = d.path().join("run");
        fs::create_dir_all(t2.join("snapshots")).unwrap();
        fs::write(t2.join("snapshots/old.png"), b"").unwrap();
        fs::write(t2.join("notes.txt"), b"mine").unwrap();
        fs::write(t2.join("tortuosity.csv"), b"old").unwrap();
        let tmp = temp_folder(&t2).unwrap();
        fs::create_dir(tmp.path().join("snapshots")).unwrap();
        fs::write(tmp.path().join("snapshots/new.png"), b"").unwrap();
        fs::write(tmp.path().join("results.json"), b"{}").unwrap();
        merge_folder(
            tmp,
            &t2,
            &[PathBuf::from("tortuosity.csv"), PathBuf::from("../escape")],
            Some("results.json"),
        )
        .unwrap();
        let mut names: Vec<String> = fs::read_dir(&t2)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["notes.txt", "results.json", "snapshots"]);
        assert!(t2.join("snapshots/new.png").exists());
        assert!(!t2.join("snapshots/old.png").exists());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 2);
        assert!(registered_temps().iter().all(|p| !p.starts_with(d.path())));
    }

    #[test]
    fn slice_folder_target_rules() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("f");
        assert!(check_slice_folder_target(&t).is_ok());
        fs::create_dir(&t).unwrap();
        fs::write(t.join("slice_0001.tif"), b"").unwrap();
        assert!(check_slice_folder_target(&t).is_ok());
        fs::write(t.join("input.tif"), b"").unwrap();
        let e = check_slice_folder_target(&t).unwrap_err().to_string();
        assert!(
            e.contains("input.tif") && e.contains("new or empty folder"),
            "{e}"
        );
        let file = d.path().join("g");
        fs::write(&file, b"").unwrap();
        assert!(check_slice_folder_target(&file).is_err());
    }
}
