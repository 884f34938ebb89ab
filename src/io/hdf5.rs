//! HDF5 datasets (feature `hdf5`): `file.h5:/exported_data` as ilastik and Dragonfly export.
//! Built only with `--features hdf5` (links the system libhdf5).
