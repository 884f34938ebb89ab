//! Silent truncation and refused integers: slice ranges are never clamped, a multi-page TIFF in a
//! slice folder is refused, broken `.vti`/`.npy` headers are caught at read, and integer arrays
//! (how numpy and PoreSpy save labels) load.

#[path = "support/trust.rs"]
mod trust;
use trust::*;

#[test]
fn slice_ranges_beyond_the_stack_are_errors_not_clamped() {
    let d = tempfile::tempdir().unwrap();
    let a = channels((8, 12, 12));
    let folder = write_labels(&d.path().join("slices"), &a, vox([20.0, 5.0, 5.0]));
    let tif = write_labels(&d.path().join("stack.tif"), &a, vox([20.0, 5.0, 5.0]));
    let npy = write_labels(&d.path().join("stack.npy"), &a, vox([20.0, 5.0, 5.0]));
    for p in [&folder, &tif, &npy] {
        fails_with(
            &fib(&["info", p, "--slices", "0..500", "-q"]),
            &["0..500", "8 slices", "0..8"],
        );
        // the open end still means "to the last slice"
        let j = ok_json(&fib(&["info", p, "--slices", "2..", "--json", "-q"]));
        assert_eq!(j["shape"][0], 6);
    }
    // streamed commands too
    fails_with(
        &fib(&[
            "denoise",
            &tif,
            d.path().join("o.tif").to_str().unwrap(),
            "--sigma",
            "5",
            "--slices",
            "3..9",
            "-q",
        ]),
        &["3..9", "8 slices"],
    );
    let w = workflow(
        d.path(),
        "output = \"out\"\n[input]\npath = \"slices\"\nlabels = true\nslices = [0, 500]\n[[steps]]\nkind = \"passthrough\"\n",
    );
    fails_with(
        &fib(&["run", w.to_str().unwrap(), "-q"]),
        &["slices", "0..500", "8 slices"],
    );
}

#[test]
fn multi_page_tiff_inside_a_slice_folder_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let a = channels((3, 8, 8));
    let folder = d.path().join("slices");
    write_labels(&folder, &a, vox([20.0, 5.0, 5.0]));
    // a stack dropped among the slices
    write_labels(
        &folder.join("slice_0003.tif"),
        &channels((4, 8, 8)),
        vox([20.0, 5.0, 5.0]),
    );
    let f = folder.to_str().unwrap();
    for args in [
        vec!["info", f],
        vec!["convert", f, d.path().join("o.tif").to_str().unwrap()],
        vec![
            "denoise",
            f,
            d.path().join("d.tif").to_str().unwrap(),
            "--sigma",
            "5",
        ],
    ] {
        fails_with(
            &fib(&[args.as_slice(), &["-q"]].concat()),
            &["slice_0003.tif", "multi-page TIFF", "slice folder"],
        );
    }
}

#[test]
fn broken_vti_and_npy_headers_are_caught_at_read() {
    let d = tempfile::tempdir().unwrap();
    let a = channels((2, 4, 4));
    let good = d.path().join("good.vti");
    write_labels(&good, &a, vox([20.0, 5.0, 5.0]));
    let bytes = std::fs::read(&good).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let sp = text.find("Spacing=\"").unwrap() + 9;
    let end = sp + text[sp..].find('"').unwrap();
    for (name, spacing) in [
        ("zero.vti", "0 0 0"),
        ("nan.vti", "nan nan nan"),
        ("neg.vti", "5 -5 20"),
    ] {
        let mut b = bytes[..sp].to_vec();
        b.extend_from_slice(spacing.as_bytes());
        b.extend_from_slice(&bytes[end..]);
        let p = d.path().join(name);
        std::fs::write(&p, b).unwrap();
        fails_with(
            &fib(&["info", p.to_str().unwrap(), "-q"]),
            &[name, "Spacing", spacing],
        );
    }
    // a VTI of another tool: spacing without unit is no calibration
    let other = d.path().join("other.vti");
    std::fs::write(
        &other,
        String::from_utf8_lossy(&bytes).replace("fibstack voxel_nm", "voxel"),
    )
    .unwrap();
    let o = fib(&["info", other.to_str().unwrap(), "--json"]);
    assert_eq!(ok_json(&o)["calibrated"], false);
    assert!(stderr(&o).contains("no unit"), "{}", stderr(&o));
    // an empty array
    let p = d.path().join("empty.npy");
    write_npy_raw(&p, "|u1", &[0, 4, 4], &[]);
    fails_with(
        &fib(&["info", p.to_str().unwrap(), "-q"]),
        &["empty.npy", "[0, 4, 4]", "no voxels"],
    );
}

/// `.npy` of every integer dtype with label values loads as a label volume; grey data in wide or
/// signed integers is held exactly (u16 or f32) and refused as labels.
#[test]
fn integer_npy_load_as_labels() {
    let d = tempfile::tempdir().unwrap();
    let a = channels((4, 6, 6));
    let n = a.len();
    let expected: serde_json::Value = {
        let p = write_labels(&d.path().join("ref.npy"), &a, vox([10.0; 3]));
        ok_json(&fib(&[
            "porosity",
            &p,
            "--phase",
            "1",
            "--voxel",
            "10,10,10",
            "--json",
            "-q",
            "--rev-sizes",
            "0",
        ]))
    };
    for (descr, size) in [
        ("|i1", 1),
        ("<i2", 2),
        ("<i4", 4),
        ("<i8", 8),
        ("<u4", 4),
        ("<u8", 8),
        (">i4", 4),
    ] {
        let mut raw = Vec::with_capacity(n * size);
        for &v in a.iter() {
            let b = (v as u64).to_le_bytes();
            if descr.starts_with('>') {
                raw.extend(b[..size].iter().rev());
            } else {
                raw.extend_from_slice(&b[..size]);
            }
        }
        let p = d
            .path()
            .join(format!("l{}.npy", descr.replace(['<', '>', '|'], "_")));
        write_npy_raw(&p, descr, &[4, 6, 6], &raw);
        let j = ok_json(&fib(&[
            "porosity",
            p.to_str().unwrap(),
            "--phase",
            "1",
            "--voxel",
            "10,10,10",
            "--json",
            "-q",
            "--rev-sizes",
            "0",
        ]));
        assert_eq!(j["phases"], expected["phases"], "{descr}");
        let i = ok_json(&fib(&["info", p.to_str().unwrap(), "--json", "-q"]));
        assert_eq!(i["sample_type"], "u8", "{descr}");
    }
    // int16 grey with negative values (CT numbers): exact f32, refused as labels
    let vals: Vec<i16> = (0..n as i16).map(|v| v * 7 - 100).collect();
    let raw: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    let p = d.path().join("ct.npy");
    write_npy_raw(&p, "<i2", &[4, 6, 6], &raw);
    let o = fib(&["info", p.to_str().unwrap(), "--json"]);
    let i = ok_json(&o);
    assert_eq!(i["sample_type"], "f32");
    assert_eq!(i["min"], -100.0);
    assert!(stderr(&o).contains("int16"), "{}", stderr(&o));
    fails_with(
        &fib(&[
            "porosity",
            p.to_str().unwrap(),
            "--phase",
            "0",
            "--voxel",
            "1,1,1",
            "-q",
        ]),
        &["ct.npy", "label", "segment"],
    );
    // uint32 values of 16-bit range: u16 grey
    let raw: Vec<u8> = (0..n as u32)
        .flat_map(|v| (v * 400).to_le_bytes())
        .collect();
    let p = d.path().join("wide.npy");
    write_npy_raw(&p, "<u4", &[4, 6, 6], &raw);
    assert_eq!(
        ok_json(&fib(&["info", p.to_str().unwrap(), "--json", "-q"]))["sample_type"],
        "u16"
    );
    // beyond what f32 holds exactly: refused, naming the dtype and the values
    let raw: Vec<u8> = (0..n as i64)
        .flat_map(|v| (v << 30).to_le_bytes())
        .collect();
    let p = d.path().join("huge.npy");
    write_npy_raw(&p, "<i8", &[4, 6, 6], &raw);
    fails_with(
        &fib(&["info", p.to_str().unwrap(), "-q"]),
        &["huge.npy", "int64", "exactly"],
    );
}

/// Signed and 32-bit integer TIFFs load the same way (one page and multi-page).
#[test]
fn integer_tiff_load_as_labels() {
    let d = tempfile::tempdir().unwrap();
    // 4x2 image, values 0..3 as int16 (sample format 2)
    let vals: [i16; 8] = [0, 1, 2, 1, 0, 0, 2, 1];
    let raw: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    let p = d.path().join("i16.tif");
    tiny_tiff(&p, 4, 2, 16, 2, &raw);
    let j = ok_json(&fib(&["info", p.to_str().unwrap(), "--json", "-q"]));
    assert_eq!(j["sample_type"], "u8");
    assert_eq!(j["max"], 2.0);
    let j = ok_json(&fib(&[
        "porosity",
        p.to_str().unwrap(),
        "--phase",
        "2",
        "--voxel",
        "1,5,5",
        "--json",
        "-q",
        "--rev-sizes",
        "0",
    ]));
    assert_eq!(j["porosity"]["value"], 0.25);
    // uint32, two pages, values up to 300: u16, and the same through a folder of such slices
    let page = |k: u32| -> (u32, u32, u16, u16, Vec<u8>) {
        let v: Vec<u8> = (0..8u32).flat_map(|i| (i * 40 + k).to_le_bytes()).collect();
        (4, 2, 32, 1, v)
    };
    let p = d.path().join("u32.tif");
    std::fs::write(&p, tiff_bytes(&[page(0), page(20)])).unwrap();
    let j = ok_json(&fib(&["info", p.to_str().unwrap(), "--json", "-q"]));
    assert_eq!(j["shape"], serde_json::json!([2, 2, 4]));
    assert_eq!(j["sample_type"], "u16");
    assert_eq!(j["max"], 300.0);
    // signed with negative values: f32, exact
    let raw: Vec<u8> = [-5i32, 3, 0, 7, 1, 1, 1, 1]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let p = d.path().join("i32.tif");
    tiny_tiff(&p, 4, 2, 32, 2, &raw);
    let j = ok_json(&fib(&["info", p.to_str().unwrap(), "--json", "-q"]));
    assert_eq!(j["sample_type"], "f32");
    assert_eq!(j["min"], -5.0);
    // pages of different types are named
    let u8page = (4u32, 2u32, 8u16, 1u16, vec![0u8; 8]);
    let p = d.path().join("mixed.tif");
    std::fs::write(&p, tiff_bytes(&[u8page, page(0)])).unwrap();
    fails_with(
        &fib(&["info", p.to_str().unwrap(), "-q"]),
        &[
            "mixed.tif",
            "page 1",
            "32-bit unsigned integer",
            "page 0",
            "u8",
        ],
    );
}
