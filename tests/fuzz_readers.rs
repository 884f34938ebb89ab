//! Byte-mutation fuzzing of every reader in `fibstack::io::fuzz::READERS`, on stable Rust.
//!
//! `cargo test --release` runs it for a few seconds with a fixed seed; `benches/fuzz.sh SECONDS`
//! runs it for longer. The parent process builds seeds (fixtures, `../shared/data/sem/*.tif` when
//! present, `../shared/data/volumes/*.tif` (multi-page), workflow files, and files written by
//! our own writers), then runs a child copy of this
//! binary that sets an address-space limit (`setrlimit(RLIMIT_AS)`, 4 GiB unless
//! `FIBSTACK_FUZZ_MEM_GB` says otherwise) and reads mutated seeds one after another, printing a
//! line before and after each case. The parent counts what goes wrong:
//! - panic: caught in the child (`catch_unwind`), reported with its message;
//! - abort / crash: the child died inside a case (e.g. an allocation refused by the cap); the
//!   parent restarts a child after that case;
//! - hang: no progress for `FIBSTACK_FUZZ_HANG_SECS` (10 s); the child is killed;
//! - temporary files: any `.fibstack-tmp-` name left in the work folder at the end (successful
//!   reads are sometimes written back through our writers, so their temp-file discipline is
//!   exercised too).
//!
//! Cases are a pure function of (seed, case number): a failing case is written to
//! `FIBSTACK_FUZZ_SAVE` (default `target/fuzz-failures/`) to be replayed with
//! `FIBSTACK_FUZZ_REPLAY=FILE:READER`.
//!
//! Environment: `FIBSTACK_FUZZ_SECS` (default 6), `FIBSTACK_FUZZ_SEED` (default 1),
//! `FIBSTACK_FUZZ_READERS` (comma-separated names; default all), `FIBSTACK_FUZZ_MEM_GB`,
//! `FIBSTACK_FUZZ_HANG_SECS`, `FIBSTACK_FUZZ_REPORT` (write the figures as JSON there).

use fibstack::io::fuzz::{FuzzReader, READERS};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ deterministic randomness

#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

// ------------------------------------------------------------------------------- mutations

const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    7,
    8,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0xffff_ffff_ffff_ffff,
    65_536,
    1 << 20,
    1 << 24,
    1 << 30,
];

fn interesting(r: &mut Rng) -> u64 {
    if r.chance(0.8) {
        INTERESTING[r.below(INTERESTING.len())]
    } else {
        r.next_u64() >> r.below(64)
    }
}

fn put_int(b: &mut [u8], at: usize, width: usize, v: u64, le: bool) {
    let end = (at + width).min(b.len());
    for (i, x) in b[at.min(end)..end].iter_mut().enumerate() {
        let shift = if le { 8 * i } else { 8 * (width - 1 - i) };
        *x = (v >> shift) as u8;
    }
}

fn uint(b: &[u8], at: usize, width: usize, le: bool) -> Option<u64> {
    let s = b.get(at..at + width)?;
    let mut v = 0u64;
    for (i, &x) in s.iter().enumerate() {
        if le {
            v |= (x as u64) << (8 * i);
        } else {
            v = (v << 8) | x as u64;
        }
    }
    Some(v)
}

/// Offsets of the IFD entries of a TIFF (first few IFDs), for structure-aware mutation.
fn tiff_entries(b: &[u8]) -> (Vec<usize>, bool, bool) {
    let le = b.starts_with(b"II");
    if !(le || b.starts_with(b"MM")) {
        return (vec![], le, false);
    }
    let big = uint(b, 2, 2, le) == Some(43);
    let (mut off, cl, el, nl) = if big {
        (uint(b, 8, 8, le).unwrap_or(0), 8, 20, 8)
    } else {
        (uint(b, 4, 4, le).unwrap_or(0), 2, 12, 4)
    };
    let mut out = Vec::new();
    for _ in 0..4 {
        let o = off as usize;
        let Some(n) = uint(b, o, cl, le) else { break };
        if n > 4096 {
            break;
        }
        for i in 0..n as usize {
            let e = o + cl + i * el;
            if e + el <= b.len() {
                out.push(e);
            }
        }
        match uint(b, o + cl + n as usize * el, nl, le) {
            Some(x) if x != 0 && x != off => off = x,
            _ => break,
        }
    }
    (out, le, big)
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Recompute every PNG chunk CRC so mutations reach the decoder's header handling.
fn png_fix_crcs(b: &mut [u8]) {
    let mut at = 8;
    while at + 12 <= b.len() {
        let len = uint(b, at, 4, false).unwrap_or(0) as usize;
        let Some(end) = (at + 8).checked_add(len) else {
            break;
        };
        if end + 4 > b.len() {
            break;
        }
        let c = crc32(&b[at + 4..end]);
        b[end..end + 4].copy_from_slice(&c.to_be_bytes());
        at = end + 4;
    }
}

/// Replace a run of ASCII digits in the text part of a file by an interesting number.
fn mutate_number_text(b: &mut Vec<u8>, r: &mut Rng) -> bool {
    let head = b.len().min(8192);
    let runs: Vec<(usize, usize)> = {
        let mut v = Vec::new();
        let mut i = 0;
        while i < head {
            if b[i].is_ascii_digit() {
                let s = i;
                while i < head && b[i].is_ascii_digit() {
                    i += 1;
                }
                v.push((s, i));
            } else {
                i += 1;
            }
        }
        v
    };
    if runs.is_empty() {
        return false;
    }
    let (s, e) = runs[r.below(runs.len())];
    let n = match r.below(6) {
        0 => "0".to_string(),
        1 => "-1".to_string(),
        2 => "99999999999999999999".to_string(),
        3 => "1e308".to_string(),
        4 => "nan".to_string(),
        _ => interesting(r).to_string(),
    };
    b.splice(s..e, n.bytes());
    true
}

fn mutate(seed: &[u8], other: &[u8], ext: &str, r: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    let rounds = 1 + r.below(4);
    for _ in 0..rounds {
        if b.is_empty() {
            b.push(0);
        }
        let n = b.len();
        match r.below(11) {
            0 => {
                for _ in 0..1 + r.below(8) {
                    let i = r.below(n);
                    b[i] ^= 1 << r.below(8);
                }
            }
            1 => {
                let i = r.below(n);
                b[i] = [0u8, 1, 0x7f, 0x80, 0xff][r.below(5)];
            }
            2 => {
                let w = [2usize, 4, 8][r.below(3)];
                let at = r.below(n);
                let v = interesting(r);
                let le = r.chance(0.5);
                put_int(&mut b, at, w, v, le);
            }
            3 => b.truncate(r.below(n)),
            4 => {
                let a = r.below(n);
                let e = (a + 1 + r.below(64)).min(n);
                b.drain(a..e);
            }
            5 => {
                let a = r.below(n);
                let e = (a + 1 + r.below(256)).min(n);
                let chunk = b[a..e].to_vec();
                let at = r.below(n);
                b.splice(at..at, chunk);
            }
            6 if !other.is_empty() => {
                let a = r.below(other.len());
                let e = (a + 1 + r.below(512)).min(other.len());
                let at = r.below(n);
                let e2 = (at + (e - a)).min(n);
                b.splice(at..e2, other[a..e].iter().copied());
            }
            7 | 8 if ext == "tif" => {
                // an IFD entry: its type, count or value/offset field
                let (entries, le, big) = tiff_entries(&b);
                if !entries.is_empty() {
                    let e = entries[r.below(entries.len())];
                    let (cnt, cw, val, vw) = if big { (4, 8, 12, 8) } else { (4, 4, 8, 4) };
                    match r.below(4) {
                        0 => put_int(&mut b, e + 2, 2, 1 + r.below(18) as u64, le),
                        1 => put_int(&mut b, e + cnt, cw, interesting(r), le),
                        2 => put_int(&mut b, e + val, vw, interesting(r), le),
                        _ => put_int(&mut b, e + val, 2, interesting(r), le),
                    }
                }
            }
            7 | 8 if ext == "png" && n > 33 => {
                // IHDR: width, height, depth, colour type
                match r.below(3) {
                    0 => put_int(&mut b, 16, 4, interesting(r), false),
                    1 => put_int(&mut b, 20, 4, interesting(r), false),
                    _ => b[24 + r.below(2)] = r.below(20) as u8,
                }
            }
            _ => {
                if !mutate_number_text(&mut b, r) {
                    let i = r.below(n);
                    b[i] = r.next_u64() as u8;
                }
            }
        }
    }
    if ext == "png" && r.chance(0.9) {
        png_fix_crcs(&mut b);
    }
    b
}

// ----------------------------------------------------------------------------------- seeds

fn add_files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if depth > 0 {
                add_files(&p, ext, out, depth - 1);
            }
        } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            e.eq_ignore_ascii_case(ext) || (ext == "tif" && e.eq_ignore_ascii_case("tiff"))
        }) {
            out.push(p);
        }
    }
}

/// Files written by our writers (every sample type, compressions, multi-page, BigTIFF).
fn written_seeds(dir: &Path, ext: &str) -> Vec<PathBuf> {
    use fibstack::io::tiff::{write_tiff, Compression, TiffWriteOptions};
    use fibstack::volume::{GreyData, GreyVolume, SampleType, VoxelSize, VoxelSource};
    let voxel = VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine);
    let u16v = GreyVolume::from_u16(
        ndarray::Array3::from_shape_fn((3, 12, 10), |(z, y, x)| {
            ((z * 31 + y * 7 + x * 3) % 4000) as u16
        }),
        voxel,
    );
    let u8v = GreyVolume {
        data: GreyData::U8(ndarray::Array3::from_shape_fn((2, 9, 11), |(z, y, x)| {
            ((z + y * x) % 3) as u8
        })),
        ..u16v.clone()
    };
    let f32v = GreyVolume {
        data: GreyData::F32(u16v.to_f32().mapv(|v| v * 0.5 - 3.0)),
        ..u16v.clone()
    };
    let vols = [("u16", &u16v), ("u8", &u8v), ("f32", &f32v)];
    let mut out = Vec::new();
    for (name, v) in vols {
        let p = dir.join(format!("w_{name}.{ext}"));
        let ok = match ext {
            "tif" => {
                for (k, comp) in [
                    Compression::Lzw,
                    Compression::Deflate,
                    Compression::PackBits,
                ]
                .into_iter()
                .enumerate()
                {
                    let q = dir.join(format!("w_{name}_c{k}.tif"));
                    let o = TiffWriteOptions {
                        compression: comp,
                        fei_metadata: Some("[Scan]\nPixelWidth=5e-09\nPixelHeight=5e-09\n[PrivateFei]\nDatabarHeight=2\n".into()),
                        ..Default::default()
                    };
                    if write_tiff(&q, v, &o).is_ok() {
                        out.push(q);
                    }
                }
                let q = dir.join(format!("w_{name}_big.tif"));
                let o = TiffWriteOptions {
                    bigtiff: true,
                    ..Default::default()
                };
                if write_tiff(&q, v, &o).is_ok() {
                    out.push(q);
                }
                fibstack::io::write_volume(&p, v).is_ok()
            }
            "npy" | "vti" | "png" => fibstack::io::write_volume(&p, v).is_ok(),
            "raw" => {
                let [nz, ny, nx] = v.shape();
                let st: SampleType = v.sample_type();
                let mut bytes = fibstack::io::fuzz::raw_fuzz_header(
                    [nz as u16, ny as u16, nx as u16],
                    st,
                    false,
                )
                .to_vec();
                let tmp = dir.join(format!("w_{name}.body"));
                let body = fibstack::io::raw::write_raw(&tmp, v, true)
                    .ok()
                    .and_then(|_| std::fs::read(&tmp).ok());
                let _ = std::fs::remove_file(&tmp);
                match body {
                    Some(b) => {
                        bytes.extend(b);
                        std::fs::write(&p, bytes).is_ok()
                    }
                    None => false,
                }
            }
            _ => false,
        };
        if ok {
            out.push(p);
        }
    }
    if ext == "png" {
        // a grey PNG written by our plain-image writer too
        let p = dir.join("w_gray.png");
        let img = ndarray::Array2::from_shape_fn((7, 13), |(y, x)| (y * 13 + x) as u8);
        if fibstack::io::png::write_gray(&p, img.view()).is_ok() {
            out.push(p);
        }
    }
    out
}

/// Seeds of a reader, as bytes (small files first; at most 8 MiB each).
fn seeds_for(reader: &FuzzReader, seed_dir: &Path) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    add_files(&root.join("fixtures"), reader.ext, &mut files, 4);
    add_files(&root.join("../shared/data/sem"), reader.ext, &mut files, 0);
    add_files(
        &root.join("../shared/data/volumes"),
        reader.ext,
        &mut files,
        0,
    );
    if reader.ext == "toml" {
        add_files(&root.join("workflows"), "toml", &mut files, 0);
    }
    files.extend(written_seeds(seed_dir, reader.ext));
    let mut out: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() <= 8 << 20))
        .filter_map(|p| Some((p.display().to_string(), std::fs::read(p).ok()?)))
        .collect();
    out.sort_by_key(|s| s.1.len());
    out.dedup_by(|a, b| a.1 == b.1);
    // a folder of per-slice fixtures gives many near-identical seeds: keep a spread
    if out.len() > 40 {
        let step = out.len() / 40;
        out = out.into_iter().step_by(step.max(1)).collect();
    }
    out
}

// ----------------------------------------------------------------------------------- cases

struct Config {
    secs: f64,
    seed: u64,
    mem_gb: f64,
    hang: Duration,
    readers: Vec<FuzzReader>,
}

fn config() -> Config {
    let env_f = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let names: Option<Vec<String>> = std::env::var("FIBSTACK_FUZZ_READERS")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let readers = READERS
        .iter()
        .filter(|r| names.as_ref().is_none_or(|n| n.iter().any(|x| x == r.name)))
        .copied()
        .collect();
    Config {
        secs: env_f("FIBSTACK_FUZZ_SECS", 6.0),
        seed: env_f("FIBSTACK_FUZZ_SEED", 1.0) as u64,
        mem_gb: env_f("FIBSTACK_FUZZ_MEM_GB", 4.0),
        hang: Duration::from_secs_f64(env_f("FIBSTACK_FUZZ_HANG_SECS", 10.0)),
        readers,
    }
}

/// The input of case `i`: (reader index, seed name, bytes).
fn case(
    cfg: &Config,
    seeds: &[Vec<(String, Vec<u8>)>],
    i: u64,
) -> Option<(usize, String, Vec<u8>)> {
    let mut r = Rng::new(cfg.seed.wrapping_mul(0x1000_0000_01b3) ^ i);
    let ri = (i as usize) % cfg.readers.len();
    let s = &seeds[ri];
    if s.is_empty() {
        return None;
    }
    let k = r.below(s.len());
    let other = &s[r.below(s.len())].1;
    let bytes = if r.chance(0.03) {
        s[k].1.clone() // the seed itself now and then: it must read
    } else {
        mutate(&s[k].1, other, cfg.readers[ri].ext, &mut r)
    };
    Some((ri, s[k].0.clone(), bytes))
}

// ----------------------------------------------------------------------------------- child

fn set_memory_cap(gb: f64) {
    let bytes = (gb * (1u64 << 30) as f64) as libc::rlim_t;
    let lim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: plain system call on a valid struct.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) };
    assert_eq!(r, 0, "setrlimit(RLIMIT_AS) failed");
}

fn child(work: &Path, start: u64, deadline: f64) {
    let cfg = config();
    set_memory_cap(cfg.mem_gb);
    std::panic::set_hook(Box::new(|_| {}));
    let seeds = load_seeds(work);
    let out = std::io::stdout();
    let mut i = start;
    let unix_now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    };
    while unix_now() < deadline {
        let Some((ri, _seed, bytes)) = case(&cfg, &seeds, i) else {
            i += 1;
            continue;
        };
        let reader = cfg.readers[ri];
        let dir = work.join("cases");
        let path = dir.join(format!("case.{}", reader.ext));
        let _ = std::fs::write(&path, &bytes);
        {
            let mut o = out.lock();
            let _ = writeln!(o, "S {i}");
            let _ = o.flush();
        }
        let t = Instant::now();
        let res = std::panic::catch_unwind(|| (reader.read)(&path));
        let outcome = match res {
            Ok(Ok(())) => {
                // now and then, write what was read back through our writers
                if i.is_multiple_of(16) && reader.ext != "toml" && reader.ext != "raw" {
                    if let Ok(v) =
                        fibstack::io::read_volume(&path, &fibstack::io::fuzz::fuzz_options())
                    {
                        let _ = fibstack::io::write_volume(&dir.join("back.tif"), &v);
                        let _ = fibstack::io::write_volume(&dir.join("back"), &v);
                    }
                }
                "ok".to_string()
            }
            Ok(Err(_)) => "err".to_string(),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                format!("panic {}", msg.replace('\n', " "))
            }
        };
        let mut o = out.lock();
        let _ = writeln!(o, "D {i} {:.4} {outcome}", t.elapsed().as_secs_f64());
        let _ = o.flush();
        i += 1;
    }
    let _ = writeln!(out.lock(), "E {i}");
}

fn load_seeds(work: &Path) -> Vec<Vec<(String, Vec<u8>)>> {
    let cfg = config();
    cfg.readers
        .iter()
        .map(|r| seeds_for(r, &work.join("seeds")))
        .collect()
}

// ---------------------------------------------------------------------------------- parent

#[derive(Default, Debug)]
struct Figures {
    cases: u64,
    ok: u64,
    refused: u64,
    panics: Vec<(u64, String)>,
    aborts: Vec<(u64, String)>,
    hangs: Vec<u64>,
    temp_files: Vec<PathBuf>,
    slowest_s: f64,
    per_reader: Vec<(String, u64, u64, usize)>,
}

fn find_temps(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(".fibstack-tmp-") || name.contains(".fibstack-old-") {
                out.push(e.path());
            }
            if e.path().is_dir() {
                find_temps(&e.path(), out);
            }
        }
    }
}

fn save_case(cfg: &Config, seeds: &[Vec<(String, Vec<u8>)>], i: u64, what: &str) -> String {
    let dir = std::env::var("FIBSTACK_FUZZ_SAVE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures"));
    let _ = std::fs::create_dir_all(&dir);
    match case(cfg, seeds, i) {
        Some((ri, seed, bytes)) => {
            let r = cfg.readers[ri];
            let p = dir.join(format!("{what}-{}-case{i}.{}", r.name, r.ext));
            let _ = std::fs::write(&p, bytes);
            format!(
                "{} (reader {}, seed {seed}) saved as {}",
                what,
                r.name,
                p.display()
            )
        }
        None => what.to_string(),
    }
}

fn parent(cfg: &Config) -> Figures {
    let work = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(work.path().join("seeds")).unwrap();
    std::fs::create_dir_all(work.path().join("cases")).unwrap();
    let seeds = load_seeds(work.path());
    for (r, s) in cfg.readers.iter().zip(&seeds) {
        assert!(!s.is_empty(), "reader {} has no seeds", r.name);
    }
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + cfg.secs;
    let exe = std::env::current_exe().unwrap();
    let mut fig = Figures {
        per_reader: cfg
            .readers
            .iter()
            .map(|r| (r.name.to_string(), 0, 0, 0))
            .collect(),
        ..Default::default()
    };
    for (k, s) in seeds.iter().enumerate() {
        fig.per_reader[k].3 = s.len();
    }
    let mut start = 0u64;
    loop {
        let mut ch = Command::new(&exe)
            .arg("--fuzz-child")
            .arg(work.path())
            .arg(start.to_string())
            .arg(format!("{deadline}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the fuzz child");
        let stdout = ch.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut current: Option<u64> = None;
        let mut ended = false;
        loop {
            match rx.recv_timeout(cfg.hang) {
                Ok(l) => {
                    let mut it = l.split(' ');
                    match it.next() {
                        Some("S") => current = it.next().and_then(|x| x.parse().ok()),
                        Some("D") => {
                            let i: u64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
                            let secs: f64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
                            let outcome: Vec<&str> = it.collect();
                            fig.cases += 1;
                            fig.slowest_s = fig.slowest_s.max(secs);
                            let ri = (i as usize) % cfg.readers.len();
                            match outcome.first().copied() {
                                Some("ok") => {
                                    fig.ok += 1;
                                    fig.per_reader[ri].1 += 1;
                                }
                                Some("err") => {
                                    fig.refused += 1;
                                    fig.per_reader[ri].2 += 1;
                                }
                                _ => {
                                    let msg = outcome[1..].join(" ");
                                    let saved = save_case(cfg, &seeds, i, "panic");
                                    fig.panics.push((i, format!("{msg} — {saved}")));
                                }
                            }
                            if secs > cfg.hang.as_secs_f64() {
                                fig.hangs.push(i);
                            }
                            current = None;
                            start = i + 1;
                        }
                        Some("E") => {
                            ended = true;
                        }
                        _ => {}
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = ch.kill();
                    let _ = ch.wait();
                    if let Some(i) = current {
                        let saved = save_case(cfg, &seeds, i, "hang");
                        eprintln!("hang: {saved}");
                        fig.hangs.push(i);
                        fig.cases += 1;
                        start = i + 1;
                    }
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = ch.wait().ok();
                    if !ended {
                        if let Some(i) = current {
                            let saved = save_case(cfg, &seeds, i, "abort");
                            fig.aborts.push((i, format!("{status:?} — {saved}")));
                            fig.cases += 1;
                            start = i + 1;
                        } else {
                            fig.aborts
                                .push((start, format!("child died outside a case: {status:?}")));
                            ended = true;
                        }
                    }
                    break;
                }
            }
        }
        if ended {
            let _ = ch.wait();
            break;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        if now >= deadline {
            break;
        }
    }
    find_temps(work.path(), &mut fig.temp_files);
    fig
}

fn replay(spec: &str) {
    let (file, name) = spec
        .rsplit_once(':')
        .expect("FIBSTACK_FUZZ_REPLAY=FILE:READER");
    let r = READERS
        .iter()
        .find(|r| r.name == name)
        .expect("unknown reader");
    let cfg = config();
    set_memory_cap(cfg.mem_gb);
    let t = Instant::now();
    let res = (r.read)(Path::new(file));
    println!(
        "{name} on {file}: {res:?} in {:.3} s",
        t.elapsed().as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--fuzz-child") {
        let work = PathBuf::from(&args[2]);
        let start: u64 = args[3].parse().unwrap();
        let deadline: f64 = args[4].parse().unwrap();
        child(&work, start, deadline);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        println!("fuzz_readers: test");
        return;
    }
    // a test-name filter that does not name us: nothing to run
    let filters: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "fuzz_readers".contains(f.as_str())) {
        return;
    }
    if let Ok(spec) = std::env::var("FIBSTACK_FUZZ_REPLAY") {
        replay(&spec);
        return;
    }
    let cfg = config();
    let names: Vec<&str> = cfg.readers.iter().map(|r| r.name).collect();
    eprintln!(
        "fuzzing {} for {} s (seed {}, address space capped at {} GiB, hang after {} s)",
        names.join(", "),
        cfg.secs,
        cfg.seed,
        cfg.mem_gb,
        cfg.hang.as_secs_f64()
    );
    let t = Instant::now();
    let fig = parent(&cfg);
    let summary = serde_json::json!({
        "seconds": t.elapsed().as_secs_f64(),
        "seed": cfg.seed,
        "memory_cap_gib": cfg.mem_gb,
        "cases": fig.cases,
        "read_ok": fig.ok,
        "refused": fig.refused,
        "panics": fig.panics.len(),
        "aborts": fig.aborts.len(),
        "hangs": fig.hangs.len(),
        "temp_files_left": fig.temp_files.len(),
        "slowest_case_s": fig.slowest_s,
        "per_reader": fig.per_reader.iter().map(|(n, ok, err, s)| serde_json::json!({
            "reader": n, "ok": ok, "refused": err, "seeds": s })).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap());
    if let Ok(p) = std::env::var("FIBSTACK_FUZZ_REPORT") {
        let _ = std::fs::write(p, serde_json::to_vec_pretty(&summary).unwrap());
    }
    for (i, m) in &fig.panics {
        eprintln!("PANIC case {i}: {m}");
    }
    for (i, m) in &fig.aborts {
        eprintln!("ABORT case {i}: {m}");
    }
    for p in &fig.temp_files {
        eprintln!("TEMP FILE LEFT: {}", p.display());
    }
    let bad = fig.panics.len() + fig.aborts.len() + fig.hangs.len() + fig.temp_files.len();
    assert!(fig.cases > 0, "no case ran");
    if bad > 0 {
        eprintln!("fuzz_readers: FAILED ({bad} problem(s))");
        std::process::exit(1);
    }
    eprintln!("fuzz_readers: ok ({} cases)", fig.cases);
}
