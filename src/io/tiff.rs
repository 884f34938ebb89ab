//! TIFF reading and writing (through the `tiff` crate).

use super::IoError;
use crate::volume::GreyVolume;
use std::path::Path;

/// TIFF compression for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Lzw,
    Deflate,
    PackBits,
}

/// Options for [`write_tiff`].
#[derive(Debug, Clone, Default)]
pub struct TiffWriteOptions {
    pub compression: Compression,
    /// INI text for the Thermo/FEI private tag 34682 (written on every page).
    pub fei_metadata: Option<String>,
    /// Force BigTIFF (chosen automatically above 4 GiB).
    pub bigtiff: bool,
}

/// Write a multi-page TIFF (page = z) with an ImageJ description carrying the voxel size in nm.
pub fn write_tiff(path: &Path, vol: &GreyVolume, opts: &TiffWriteOptions) -> Result<(), IoError> {
    let _ = (path, vol, opts);
    todo!("foundation issue: write_tiff")
}
