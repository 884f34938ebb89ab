//! Minimal `.npy` reader for the filters peer fixtures (little-endian u8/u16/f32/f64, C order).
//! Included by the other `filters_*` tests with `#[path = "filters_npy.rs"] mod npy;`.
#![allow(dead_code)]

use std::path::Path;

/// Shape and raw little-endian payload with the numpy dtype descriptor (e.g. `<f4`, `|u1`).
pub struct Npy {
    pub shape: Vec<usize>,
    pub descr: String,
    pub data: Vec<u8>,
}

pub fn read(path: &Path) -> Npy {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "not an npy file");
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).expect("ascii header");
    assert!(header.contains("'fortran_order': False"), "C order only");
    let d0 = header.find("'descr': '").expect("descr") + 10;
    let descr = header[d0..d0 + header[d0..].find('\'').expect("descr end")].to_string();
    let s0 = header.find("'shape': (").expect("shape") + 10;
    let s1 = s0 + header[s0..].find(')').expect("shape end");
    let shape = header[s0..s1]
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().expect("shape int"))
        .collect();
    Npy {
        shape,
        descr,
        data: bytes[start + hlen..].to_vec(),
    }
}

fn dims3(n: &Npy) -> (usize, usize, usize) {
    match n.shape.as_slice() {
        [a, b, c] => (*a, *b, *c),
        [b, c] => (1, *b, *c),
        s => panic!("shape {s:?}"),
    }
}

pub fn f32_3(path: &Path) -> ndarray::Array3<f32> {
    let n = read(path);
    assert_eq!(n.descr, "<f4");
    let v: Vec<f32> = n
        .data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    ndarray::Array3::from_shape_vec(dims3(&n), v).expect("shape")
}

pub fn u8_3(path: &Path) -> ndarray::Array3<u8> {
    let n = read(path);
    assert_eq!(n.descr, "|u1");
    ndarray::Array3::from_shape_vec(dims3(&n), n.data.clone()).expect("shape")
}

pub fn u16_3(path: &Path) -> ndarray::Array3<u16> {
    let n = read(path);
    assert_eq!(n.descr, "<u2");
    let v: Vec<u16> = n
        .data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    ndarray::Array3::from_shape_vec(dims3(&n), v).expect("shape")
}

pub fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/peer")
        .join(name)
}
