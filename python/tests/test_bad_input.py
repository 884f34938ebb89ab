"""Bad input gives a clear FibstackError, never a quiet number."""

import numpy as np
import pytest

import fibstack as fs

LAB = (np.arange(8 * 16 * 16).reshape(8, 16, 16) % 3 == 0).astype(np.uint8)


def test_non_contiguous():
    g = np.zeros((8, 16, 16), np.float32)
    with pytest.raises(fs.FibstackError, match="C-contiguous"):
        fs.denoise(g.transpose(2, 1, 0), sigma=2.0, voxel_nm=(1, 1, 1))


@pytest.mark.parametrize("dtype", [np.int32, np.float64, np.int8])
def test_wrong_dtype(dtype):
    with pytest.raises(fs.FibstackError, match="uint8, uint16 or float32"):
        fs.denoise(np.zeros((8, 16, 16), dtype), sigma=2.0, voxel_nm=(1, 1, 1))


def test_wrong_label_dtype():
    with pytest.raises(fs.FibstackError, match="label volume: dtype float32"):
        fs.porosity(LAB.astype(np.float32), voxel_nm=(1, 1, 1))


def test_not_3d():
    with pytest.raises(fs.FibstackError, match="3-D"):
        fs.porosity(LAB[0], voxel_nm=(1, 1, 1))


def test_missing_voxel_size():
    with pytest.raises(fs.FibstackError, match="voxel size unknown.*allow_uncalibrated=True"):
        fs.porosity(LAB)
    r = fs.porosity(LAB, allow_uncalibrated=True)
    assert r.voxel_calibrated is False
    assert r.porosity.value == pytest.approx((LAB == 0).mean())


def test_unknown_kwarg():
    with pytest.raises(fs.FibstackError, match="unknown key `sigmaa`; did you mean `sigma`"):
        fs.denoise(np.zeros((8, 16, 16), np.float32), sigmaa=2.0, voxel_nm=(1, 1, 1))


def test_bad_value():
    with pytest.raises(fs.FibstackError, match="segment"):
        fs.segment(np.zeros((8, 16, 16), np.float32), method="otsuu", voxel_nm=(1, 1, 1))


def test_bad_voxel():
    with pytest.raises(fs.FibstackError):
        fs.porosity(LAB, voxel_nm=(-1, 1, 1))


def test_error_is_value_error():
    assert issubclass(fs.FibstackError, ValueError)


def test_result_object():
    r = fs.porosity(LAB, voxel_nm=(20, 10, 10))
    d = r.to_dict()
    assert r.porosity.value == d["porosity"]["value"] == pytest.approx((LAB == 0).mean())
    assert r.porosity.unit == "1"
    assert r.length_unit == "nm"
    df = r.to_pandas("profiles")
    assert len(df) > 0
    with pytest.raises(AttributeError, match="this result has"):
        r.nonexistent


def test_error_survives_pickling():
    """An error raised on a Dask worker reaches the client as FibstackError with its message."""
    import pickle

    e = pickle.loads(pickle.dumps(fs.FibstackError("voxel size unknown")))
    assert isinstance(e, fs.FibstackError) and str(e) == "voxel size unknown"
