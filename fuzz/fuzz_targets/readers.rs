//! One libFuzzer target for every reader in `fibstack::io::fuzz::READERS`: the first input byte
//! picks the reader, the rest is the file. A reader added to that table is fuzzed here without
//! a new target.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let readers = fibstack::io::fuzz::READERS;
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let r = readers[pick as usize % readers.len()];
    // readers take paths: one file per process, rewritten for each input
    thread_local! {
        static DIR: tempfile_dir::Dir = tempfile_dir::Dir::new();
    }
    DIR.with(|d| {
        let p = d.0.join(format!("input.{}", r.ext));
        if let Ok(mut f) = std::fs::File::create(&p) {
            if f.write_all(file).is_ok() {
                drop(f);
                let _ = (r.read)(&p);
            }
        }
    });
});

/// A private temporary folder removed at exit (no extra dependency).
mod tempfile_dir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Self {
            let p = std::env::temp_dir().join(format!("fibstack-fuzz-{}", std::process::id()));
            let _ = std::fs::create_dir_all(&p);
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
