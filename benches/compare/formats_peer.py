"""Peer-written files for fibstack's readers (issue: read what labs actually have).

Run: /work/venv/bin/python benches/compare/formats_peer.py
     /work/venv/bin/python benches/compare/formats_peer.py --readback target/release/fibstack

The first form writes small files into fixtures/peer/formats/ with the peer libraries
  - tifffile: palette (indexed-colour) label TIFFs (LZW, Deflate + horizontal predictor,
    PackBits, uncompressed) with an Avizo `BoundingBox` description, OME-TIFFs (one channel; two
    channels, DimensionOrder XYZCT), a grey-palette page;
  - mrcfile: MRC modes 0 (int8, negative values), 1 (int16), 2 (float32), 6 (uint16),
    12 (float16), with voxel size, origin and an extended header; one big-endian file;
  - h5py: ilastik-style /exported_data with element_size_um, and a /volume with resolution;
  - write_amira() below: AmiraMesh binary little/big-endian, ASCII and HxByteRLE files;
and fixtures/peer/formats/expected.json with each file's array (flattened, C order), dtype and
the voxel size [dz, dy, dx] in nm that a correct reader must find.

The second form converts each fixture with our `fibstack convert` into every writable format and
reads the results back with the peer libraries (tifffile, mrcfile, h5py, read_amira below),
storing what they found in fixtures/peer/formats_readback.json (Rust tests check it).

AmiraMesh writer: written from the format description (Amira User's Guide, "AmiraMesh file
format"): a text header `# AmiraMesh BINARY-LITTLE-ENDIAN 2.1` (or `BINARY` = big-endian, or
`ASCII`), `define Lattice NX NY NZ`, `Parameters { BoundingBox xmin xmax ymin ymax zmin zmax,
CoordType "uniform" }` where the box spans the centres of the corner voxels, `Lattice { TYPE
Data } @1` (optionally `@1(HxByteRLE,N)`), then `# Data section follows`, `@1` and the data,
x fastest. HxByteRLE: a control byte c; c > 127: c − 128 literal bytes follow; else the next byte
repeats c times.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tifffile
import mrcfile

try:
    import h5py
except ImportError:  # pragma: no cover
    h5py = None

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "..", "fixtures", "peer", "formats"))
RNG = np.random.default_rng(20261206)


def labels_volume(shape):
    """Labels 0..2 with a pore channel along every axis (so the pore percolates)."""
    nz, ny, nx = shape
    v = RNG.integers(1, 3, size=shape).astype(np.uint8)
    v[:, ny // 2, :] = 0
    v[:, :, nx // 2] = 0
    v[nz // 2, :, :] = 0
    return v


def rle_encode(b):
    out = bytearray()
    i = 0
    n = len(b)
    while i < n:
        j = i
        while j < n and j - i < 127 and b[j] == b[i]:
            j += 1
        if j - i >= 3:
            out += bytes([j - i, b[i]])
            i = j
            continue
        k = i
        while k < n and k - i < 127 and not (k + 2 < n and b[k] == b[k + 1] == b[k + 2]):
            k += 1
        out += bytes([0x80 | (k - i)]) + bytes(b[i:k])
        i = k
    return bytes(out)


def write_amira(path, arr, bbox, encoding="binary-le", rle=False, units=None):
    """Write a uniform-lattice AmiraMesh file (see the module docstring)."""
    nz, ny, nx = arr.shape
    types = {np.uint8: "byte", np.int16: "short", np.uint16: "ushort", np.float32: "float",
             np.int32: "int"}
    ty = types[arr.dtype.type]
    head = {"binary-le": "BINARY-LITTLE-ENDIAN 2.1", "binary-be": "BINARY 2.1",
            "ascii": "ASCII 2.1"}[encoding]
    params = []
    if units:
        params.append('    Units {\n        Coordinates "%s"\n    }' % units)
    params.append('    Content "%dx%dx%d %s, uniform coordinates",' % (nx, ny, nz, ty))
    params.append("    BoundingBox %s," % " ".join(repr(float(v)) for v in bbox))
    params.append('    CoordType "uniform"')
    if encoding == "ascii":
        data = ("\n".join(" ".join(str(v) for v in row) for row in arr.reshape(-1, nx))
                + "\n").encode()
    else:
        order = "<" if encoding == "binary-le" else ">"
        data = arr.astype(arr.dtype.newbyteorder(order)).tobytes()
    ref = "@1"
    if rle:
        data = rle_encode(data)
        ref = "@1(HxByteRLE,%d)" % len(data)
    text = ("# AmiraMesh %s\n\n\ndefine Lattice %d %d %d\n\nParameters {\n%s\n}\n\n"
            "Lattice { %s Data } %s\n\n# Data section follows\n@1\n"
            % (head, nx, ny, nz, "\n".join(params), ty, ref))
    with open(path, "wb") as f:
        f.write(text.encode("latin-1") + data + b"\n")


def read_amira(path):
    """Minimal reader for the binary little-endian files fibstack writes (readback check)."""
    raw = open(path, "rb").read()
    i = raw.index(b"\n@1\n", raw.index(b"# Data section follows"))
    head = raw[:i].decode("latin-1")
    dims = [int(t) for t in head.split("define Lattice")[1].split("\n")[0].split()]
    ty = head.split("Lattice {")[1].split()[0]
    dt = {"uchar": "<u1", "byte": "<u1", "ushort": "<u2", "float": "<f4"}[ty]
    nx, ny, nz = dims
    n = nx * ny * nz
    arr = np.frombuffer(raw[i + 4:i + 4 + n * np.dtype(dt).itemsize], dtype=dt).reshape(nz, ny, nx)
    bb = [float(t.strip(",")) for t in head.split("BoundingBox")[1].split()[:6]]
    unit = "nm" if 'Coordinates "nm"' in head else None
    vox = [(bb[5] - bb[4]) / max(nz - 1, 1), (bb[3] - bb[2]) / max(ny - 1, 1),
           (bb[1] - bb[0]) / max(nx - 1, 1)]
    return arr, vox, unit


def entry(name, arr, voxel_nm, **extra):
    e = {"file": name, "shape": list(arr.shape), "dtype": str(arr.dtype),
         "values": [float(v) for v in arr.ravel()], "voxel_nm": voxel_nm}
    e.update(extra)
    return e


def generate():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    cmap = np.zeros((3, 256), dtype=np.uint16)
    colours = [(0, 0, 0), (255, 0, 0), (0, 200, 255)]
    for i, (r, g, b) in enumerate(colours):
        cmap[:, i] = (r * 257, g * 257, b * 257)
    cmap[:, 3:] = 30000  # anything not a grey ramp
    lab = labels_volume((6, 8, 10))
    # Avizo-style: BoundingBox in µm spanning voxel centres, no unit in the file
    # dz = 0.05 µm, dy = dx = 0.01 µm  →  extents (n − 1) × voxel
    bbox = [0.0, 0.09, 0.0, 0.07, 0.0, 0.25]
    for comp, pred, name in [("lzw", None, "palette_bbox_lzw.tif"),
                             ("zlib", "horizontal", "palette_bbox_deflate_pred.tif"),
                             ("packbits", None, "palette_bbox_packbits.tif"),
                             (None, None, "palette_bbox_none.tif")]:
        tifffile.imwrite(os.path.join(OUT, name), lab, photometric="palette", colormap=cmap,
                         compression=comp, predictor=pred, rowsperstrip=3,
                         description="BoundingBox %s\n" % " ".join(str(v) for v in bbox),
                         metadata=None)
        cases.append(entry(name, lab, [50.0, 10.0, 10.0], palette=True, voxel_unit="um",
                           colormap_first=[list(map(int, cmap[:, i])) for i in range(3)]))
    # the same box with a unit statement: no --voxel-unit needed
    name = "palette_bbox_units_nm.tif"
    tifffile.imwrite(os.path.join(OUT, name), lab, photometric="palette", colormap=cmap,
                     compression="lzw",
                     description="BoundingBox 0 90 0 70 0 250\nUnits nm\n", metadata=None)
    cases.append(entry(name, lab, [50.0, 10.0, 10.0], palette=True))

    # OME-TIFF, one channel; PhysicalSize in µm (X, Y) and nm (Z)
    grey = RNG.integers(0, 65535, size=(4, 6, 5)).astype(np.uint16)
    name = "ome_u16.ome.tif"
    tifffile.imwrite(os.path.join(OUT, name), grey, ome=True,
                     metadata={"axes": "ZYX", "PhysicalSizeX": 0.004, "PhysicalSizeXUnit": "µm",
                               "PhysicalSizeY": 0.005, "PhysicalSizeYUnit": "µm",
                               "PhysicalSizeZ": 20.0, "PhysicalSizeZUnit": "nm"})
    cases.append(entry(name, grey, [20.0, 5.0, 4.0]))
    # two channels (CZYX): channel 1 must be picked
    two = RNG.random((2, 3, 4, 5)).astype(np.float32)
    name = "ome_2ch_f32.ome.tif"
    tifffile.imwrite(os.path.join(OUT, name), two, ome=True,
                     metadata={"axes": "CZYX", "PhysicalSizeX": 0.01, "PhysicalSizeY": 0.01,
                               "PhysicalSizeZ": 0.03})
    cases.append(entry(name, two[1], [30.0, 10.0, 10.0], channel=1))

    # MRC
    def mrc(name, data, voxel_a, origin=None, ext=None, byteorder=None):
        p = os.path.join(OUT, name)
        with mrcfile.new(p, overwrite=True) as m:
            m.set_data(data)
            m.voxel_size = voxel_a
            if origin is not None:
                m.header.origin = origin
            if ext is not None:
                m.set_extended_header(ext)
        if byteorder == ">":
            # rewrite big-endian: mrcfile keeps the byte order of the header it is given
            with mrcfile.open(p) as m:
                d = m.data.copy()
                h = m.header.copy()
            with open(p, "wb") as f:
                hb = h.astype(h.dtype.newbyteorder(">"))
                hb["machst"] = [0x11, 0x11, 0, 0]
                f.write(hb.tobytes())
                f.write(d.astype(d.dtype.newbyteorder(">")).tobytes())
        return p

    i8 = RNG.integers(-128, 128, size=(3, 4, 5)).astype(np.int8)
    mrc("mrc_mode0_int8.mrc", i8, (12.0, 11.0, 10.0))
    cases.append(entry("mrc_mode0_int8.mrc", i8, [1.0, 1.1, 1.2]))
    i16 = RNG.integers(-3000, 3000, size=(3, 4, 5)).astype(np.int16)
    mrc("mrc_mode1_int16.rec", i16, (5.0, 5.0, 5.0), origin=(10.0, 20.0, 30.0))
    cases.append(entry("mrc_mode1_int16.rec", i16, [0.5, 0.5, 0.5], origin_nm=[3.0, 2.0, 1.0]))
    f32 = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    mrc("mrc_mode2_f32_ext.mrc", f32, (20.0, 20.0, 40.0),
        ext=np.zeros(256, dtype=np.uint8))
    cases.append(entry("mrc_mode2_f32_ext.mrc", f32, [4.0, 2.0, 2.0], nsymbt=256))
    u16 = RNG.integers(0, 65535, size=(2, 3, 4)).astype(np.uint16)
    mrc("mrc_mode6_u16.st", u16, (3.0, 3.0, 3.0))
    cases.append(entry("mrc_mode6_u16.st", u16, [0.3, 0.3, 0.3]))
    f16 = RNG.normal(size=(2, 3, 4)).astype(np.float16)
    mrc("mrc_mode12_f16.mrc", f16, (10.0, 10.0, 10.0))
    cases.append(entry("mrc_mode12_f16.mrc", f16.astype(np.float32), [1.0, 1.0, 1.0]))
    mrc("mrc_mode2_bigendian.map", f32, (20.0, 20.0, 40.0), byteorder=">")
    cases.append(entry("mrc_mode2_bigendian.map", f32, [4.0, 2.0, 2.0]))

    # AmiraMesh
    u8 = labels_volume((3, 4, 5))
    bb_nm = [0.0, 4 * 7.0, 0.0, 3 * 7.0, 0.0, 2 * 21.0]
    write_amira(os.path.join(OUT, "amira_uchar_le.am"), u8, bb_nm, units="nm")
    cases.append(entry("amira_uchar_le.am", u8, [21.0, 7.0, 7.0]))
    write_amira(os.path.join(OUT, "amira_uchar_rle.am"), u8, bb_nm, rle=True, units="nm")
    cases.append(entry("amira_uchar_rle.am", u8, [21.0, 7.0, 7.0]))
    us = RNG.integers(0, 65535, size=(3, 4, 5)).astype(np.uint16)
    write_amira(os.path.join(OUT, "amira_ushort_be.am"), us, [0, 0.028, 0, 0.021, 0, 0.042],
                encoding="binary-be")
    cases.append(entry("amira_ushort_be.am", us, [21.0, 7.0, 7.0], voxel_unit="um"))
    s16 = RNG.integers(-500, 500, size=(3, 4, 5)).astype(np.int16)
    write_amira(os.path.join(OUT, "amira_short_le.am"), s16, bb_nm, units="nm")
    cases.append(entry("amira_short_le.am", s16, [21.0, 7.0, 7.0]))
    fl = RNG.normal(size=(3, 4, 5)).astype(np.float32)
    write_amira(os.path.join(OUT, "amira_float_ascii.am"), fl, bb_nm, encoding="ascii",
                units="nm")
    cases.append(entry("amira_float_ascii.am", fl, [21.0, 7.0, 7.0]))
    # one slice: the z extent is the voxel size (Amira convention)
    one = labels_volume((1, 4, 5))
    write_amira(os.path.join(OUT, "amira_one_slice.am"), one, [0, 28, 0, 21, 5, 35], units="nm")
    cases.append(entry("amira_one_slice.am", one, [30.0, 7.0, 7.0]))

    # HDF5
    if h5py is not None:
        ex = labels_volume((3, 4, 5))
        with h5py.File(os.path.join(OUT, "ilastik.h5"), "w") as h:
            d = h.create_dataset("exported_data", data=ex[..., None])  # zyxc as ilastik
            d.attrs["axistags"] = json.dumps({"axes": [{"key": k, "typeFlags": 2, "resolution": 0,
                                                        "description": ""} for k in "zyxc"]})
            d.attrs["element_size_um"] = np.array([0.03, 0.01, 0.01])
        cases.append(entry("ilastik.h5:/exported_data", ex, [30.0, 10.0, 10.0]))
        fv = RNG.normal(size=(2, 3, 4)).astype(np.float32)
        with h5py.File(os.path.join(OUT, "dragonfly.h5"), "w") as h:
            g = h.create_group("data")
            d = g.create_dataset("volume", data=fv)
            d.attrs["resolution"] = np.array([40.0, 20.0, 20.0])
            d.attrs["resolution_unit"] = "nm"
        cases.append(entry("dragonfly.h5:/data/volume", fv, [40.0, 20.0, 20.0]))

    out = {"generator": "benches/compare/formats_peer.py", "tifffile": tifffile.__version__,
           "mrcfile": mrcfile.__version__, "h5py": h5py.__version__ if h5py else None,
           "numpy": np.__version__, "cases": cases}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(out, f, indent=0)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print("wrote", len(cases), "cases to", OUT, "(%d bytes)" % total)


def digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def readback(fibstack):
    """Convert each fixture with fibstack into every writable format and read it with peers."""
    exp = json.load(open(os.path.join(OUT, "expected.json")))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in exp["cases"]:
            src = os.path.join(OUT, case["file"])
            if ".h5:" in case["file"]:
                continue  # needs the hdf5 feature: covered by the Rust tests when built
            want = np.array(case["values"]).reshape(case["shape"])
            args = []
            if case.get("voxel_unit"):
                args += ["--voxel-unit", case["voxel_unit"]]
            if case.get("channel") is not None:
                args += ["--channel", str(case["channel"])]
            base = os.path.join(tmp, os.path.basename(case["file"]).split(".")[0])
            for ext in [".tif", ".ome.tif", ".mrc", ".am"]:
                dst = base + ext
                r = subprocess.run([fibstack, "-q", "convert", src, dst] + args,
                                   capture_output=True, text=True)
                rec = {"source": case["file"], "output": ext, "ok": False}
                if r.returncode != 0:
                    rec["error"] = r.stderr.strip()
                    results.append(rec)
                    continue
                if ext in (".tif", ".ome.tif"):
                    with tifffile.TiffFile(dst) as t:
                        got = t.asarray()
                        if ext == ".ome.tif":
                            px = t.ome_metadata
                            import re
                            vals = {k: float(v) for k, v in
                                    re.findall(r'PhysicalSize([XYZ])="([^"]+)"', px)}
                            units = dict(re.findall(r'PhysicalSize([XYZ])Unit="([^"]+)"', px))
                            vox = [vals.get(a) for a in "ZYX"]
                            rec["units"] = units
                        else:
                            vox = None
                        rec["photometric"] = int(t.pages[0].photometric)
                elif ext == ".mrc":
                    with mrcfile.open(dst, permissive=False) as m:
                        got = m.data.copy()
                        vs = m.voxel_size
                        vox = [float(vs.z) / 10, float(vs.y) / 10, float(vs.x) / 10]
                        rec["mode"] = int(m.header.mode)
                else:
                    got, vox, unit = read_amira(dst)
                    rec["unit"] = unit
                got = np.asarray(got).reshape(want.shape) if got.size == want.size else got
                rec["shape"] = list(np.shape(got))
                rec["values_equal"] = bool(got.shape == want.shape
                                           and np.array_equal(got.astype(np.float64), want))
                rec["voxel_nm"] = vox
                rec["ok"] = rec["values_equal"]
                results.append(rec)
    out = {"generator": "benches/compare/formats_peer.py --readback", "tifffile":
           tifffile.__version__, "mrcfile": mrcfile.__version__, "results": results}
    path = os.path.join(OUT, "..", "formats_readback.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    bad = [r for r in results if not r["ok"]]
    print("read back", len(results), "files;", len(bad), "not identical")
    for r in bad:
        print("  ", r)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--readback":
        readback(sys.argv[2])
    else:
        generate()
