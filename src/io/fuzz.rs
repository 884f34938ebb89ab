//! The readers the fuzz harnesses exercise: the stable byte-mutation suite
//! (`tests/fuzz_readers.rs`, run briefly by `cargo test` and for longer by `benches/fuzz.sh`) and
//! the cargo-fuzz target in `fuzz/`. Both take this table, so a new reader is fuzzed by adding
//! one line to [`READERS`]; its seeds are the files with its extension under `fixtures/` and
//! `../shared/data/`, plus files written by our own writers where one exists.
//!
//! Every entry reads a file the way a user's command would, under [`fuzz_options`] (a memory
//! budget far below the harness's address-space cap, so a reader that ignores `--max-memory`
//! aborts instead of passing). An `Err` is the expected outcome for a damaged file; a panic, an
//! abort, a hang or a temporary file left behind is a defect.

use super::{read_volume, ReadOptions};
use std::path::Path;

/// One fuzzed reader.
#[derive(Debug, Clone, Copy)]
pub struct FuzzReader {
    /// Name used in reports and to select readers (`FIBSTACK_FUZZ_READERS=tiff,png`).
    pub name: &'static str,
    /// File extension of its inputs (without the dot): picks its seeds and the file name.
    pub ext: &'static str,
    /// Read the file; `Err` = refused with a message.
    pub read: fn(&Path) -> Result<(), String>,
}

/// Every reader under fuzzing. Add a line here to fuzz a new one.
pub const READERS: &[FuzzReader] = &[
    FuzzReader {
        name: "tiff",
        ext: "tif",
        read: read_whole,
    },
    FuzzReader {
        name: "tiff-stream",
        ext: "tif",
        read: read_streamed,
    },
    FuzzReader {
        name: "png",
        ext: "png",
        read: read_whole,
    },
    FuzzReader {
        name: "npy",
        ext: "npy",
        read: read_whole,
    },
    FuzzReader {
        name: "raw",
        ext: "raw",
        read: read_raw_self_described,
    },
    FuzzReader {
        name: "vti",
        ext: "vti",
        read: read_whole,
    },
    FuzzReader {
        name: "mrc",
        ext: "mrc",
        read: read_whole,
    },
    FuzzReader {
        name: "amira",
        ext: "am",
        read: read_whole,
    },
    FuzzReader {
        name: "workflow",
        ext: "toml",
        read: read_workflow,
    },
];

/// Memory budget of fuzzed reads (256 MiB).
pub const FUZZ_MAX_BYTES: u64 = 256 << 20;

/// Read options of fuzzed reads: defaults with a [`FUZZ_MAX_BYTES`] budget.
pub fn fuzz_options() -> ReadOptions {
    ReadOptions {
        max_bytes: FUZZ_MAX_BYTES,
        ..Default::default()
    }
}

/// [`read_volume`], then the label conversion a label metric would do.
pub fn read_whole(path: &Path) -> Result<(), String> {
    let v = read_volume(path, &fuzz_options()).map_err(|e| e.to_string())?;
    let _ = crate::volume::LabelVolume::from_grey(v);
    Ok(())
}

/// The streaming reader, slab by slab, twice (with a rewind), as the streamed filters read.
pub fn read_streamed(path: &Path) -> Result<(), String> {
    let mut r =
        super::stream::SliceReader::open(path, &fuzz_options()).map_err(|e| e.to_string())?;
    for _ in 0..2 {
        while r.next_slab(3).map_err(|e| e.to_string())?.is_some() {}
        r.rewind().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Size of the layout header of [`read_raw_self_described`] files.
pub const RAW_FUZZ_HEADER: usize = 8;

/// The layout header a raw fuzz seed starts with: `nz, ny, nx` (u16 little-endian), the sample
/// type (0 = u8, 1 = u16, 2 = f32) and the byte order (0 = little, 1 = big).
pub fn raw_fuzz_header(shape: [u16; 3], sample: crate::volume::SampleType, big: bool) -> [u8; 8] {
    let mut h = [0u8; 8];
    for (i, d) in shape.iter().enumerate() {
        h[2 * i..2 * i + 2].copy_from_slice(&d.to_le_bytes());
    }
    h[6] = match sample {
        crate::volume::SampleType::U8 => 0,
        crate::volume::SampleType::U16 => 1,
        crate::volume::SampleType::F32 => 2,
    };
    h[7] = big as u8;
    h
}

/// A raw file whose first [`RAW_FUZZ_HEADER`] bytes give its layout (see [`raw_fuzz_header`]),
/// read as `--raw NZ,NY,NX,TYPE,ENDIAN,8` would read it.
pub fn read_raw_self_described(path: &Path) -> Result<(), String> {
    let mut h = [0u8; RAW_FUZZ_HEADER];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
        f.read_exact(&mut h).map_err(|e| e.to_string())?;
    }
    let d = |i: usize| u16::from_le_bytes([h[2 * i], h[2 * i + 1]]) as usize;
    let sample = match h[6] % 3 {
        0 => crate::volume::SampleType::U8,
        1 => crate::volume::SampleType::U16,
        _ => crate::volume::SampleType::F32,
    };
    let spec = super::RawSpec {
        shape: [d(0), d(1), d(2)],
        sample,
        little_endian: h[7] & 1 == 0,
        header_bytes: RAW_FUZZ_HEADER as u64,
    };
    let opts = ReadOptions {
        raw: Some(spec),
        ..fuzz_options()
    };
    read_volume(path, &opts).map_err(|e| e.to_string())?;
    Ok(())
}

/// Parse and validate a workflow file, and check its paths (nothing is run).
pub fn read_workflow(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&bytes);
    let wf = crate::workflow::schema::Workflow::parse(path, &text).map_err(|e| e.to_string())?;
    wf.check_paths(None).map_err(|e| e.to_string())?;
    Ok(())
}
