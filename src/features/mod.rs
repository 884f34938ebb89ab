//! Voxel features for trainable segmentation ([`crate::classify`]): a stack of filter responses
//! per voxel, computed slice by slice (in-plane, σ in nm converted per axis, so anisotropic
//! pixels are handled) plus **depth-context** features that look into the slices behind the
//! face, where shine-through comes from.
//!
//! Families ([`Family`]), each at every scale σ of [`FeatureParams::scales_nm`] unless noted:
//! - `raw`: the grey value itself (one feature);
//! - `gaussian`: Gaussian smoothing G_σ (reflect borders, truncated at 4σ; the
//!   `preprocess::denoise` kernel, its recursive form from σ = 5 px on,
//!   [`smooth::RECURSIVE_FROM_PX`]);
//! - `gradient`: σ·|∇G_σ| (central differences of G_σ, per nm, scale-normalised);
//! - `log`: σ²·∇²G_σ (Laplacian of Gaussian, scale-normalised);
//! - `dog`: G_σi − G_σi+1 for consecutive scales;
//! - `hessian`: eigenvalues λ1 ≥ λ2 of σ²·H(G_σ);
//! - `structure`: eigenvalues of the structure tensor G_2σ ∗ (σ∇G_σ)(σ∇G_σ)ᵀ;
//! - `local`: minimum, maximum and mean of the grey value over a box of half-width σ (at least
//!   one pixel) per axis;
//! - `depth`: for each of the next `depth_slices` slices in milling order, G_σd at the same
//!   pixel and the minimum and maximum of G_σd over a box of half-width σd (σd =
//!   `depth_sigma_nm`). Past the last slice the last slice is repeated.
//!
//! Everything is per slice except `depth`, which also reads `depth_slices` slices behind: a slab
//! of slices `[z0, z1)` needs the input slices `[z0, min(z1 + depth_slices, nz))` (the *halo*,
//! [`FeatureParams::halo_slices`]), and the features of a slice do not depend on how the stack is
//! cut into slabs ([`compute_slab`] on the whole volume equals it on any slabs).
//!
//! ```
//! use fibstack::features::{compute_slab, FeatureParams};
//! use fibstack::volume::{VoxelSize, VoxelSource};
//! let vol = ndarray::Array3::<f32>::from_shape_fn((4, 16, 16), |(z, y, x)| (z + y * x) as f32);
//! let p = FeatureParams::default();
//! let voxel = VoxelSize::new([20.0, 10.0, 10.0], VoxelSource::CommandLine);
//! let f = compute_slab(vol.view(), 0, 0..4, 4, &voxel, &p).unwrap();
//! assert_eq!(f.len(), 4);
//! assert_eq!(f[0].dim(), (16 * 16, p.names().len()));
//! ```

pub mod depth;
pub mod derivative;
pub mod fast;
pub mod smooth;

use crate::error::ParamError;
use crate::volume::VoxelSize;
use ndarray::{Array2, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Version of the feature definitions; a model trained with another version is refused.
pub const FEATURE_VERSION: u32 = 2;
/// Default in-plane scales (nm).
pub const DEFAULT_SCALES_NM: [f64; 3] = [20.0, 40.0, 80.0];
/// Default number of slices the depth-context features look into.
pub const DEFAULT_DEPTH_SLICES: usize = 3;
/// Default σ (nm) of the depth-context smoothing.
pub const DEFAULT_DEPTH_SIGMA_NM: f64 = 20.0;

/// A family of features.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// The grey value.
    Raw,
    /// Gaussian smoothing at each scale.
    Gaussian,
    /// Scale-normalised gradient magnitude.
    Gradient,
    /// Scale-normalised Laplacian of Gaussian.
    Log,
    /// Difference of Gaussians of consecutive scales.
    Dog,
    /// Hessian eigenvalues.
    Hessian,
    /// Structure-tensor eigenvalues.
    Structure,
    /// Local minimum, maximum and mean.
    Local,
    /// Depth context: the next slices in milling order.
    Depth,
}

impl Family {
    /// Every family, in the order the features are laid out.
    pub const ALL: [Family; 9] = [
        Family::Raw,
        Family::Gaussian,
        Family::Gradient,
        Family::Log,
        Family::Dog,
        Family::Hessian,
        Family::Structure,
        Family::Local,
        Family::Depth,
    ];
    /// Lower-case name as written in files and flags.
    pub fn name(self) -> &'static str {
        match self {
            Family::Raw => "raw",
            Family::Gaussian => "gaussian",
            Family::Gradient => "gradient",
            Family::Log => "log",
            Family::Dog => "dog",
            Family::Hessian => "hessian",
            Family::Structure => "structure",
            Family::Local => "local",
            Family::Depth => "depth",
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which features to compute: the library schema of `--features …` (CLI) and of the `features`
/// table of the `classify` workflow step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureParams {
    /// Feature families, comma-separated: raw, gaussian, gradient, log, dog, hessian, structure,
    /// local, depth.
    #[arg(long = "features", value_enum, value_delimiter = ',', default_values_t = Family::ALL.to_vec())]
    pub families: Vec<Family>,
    /// In-plane scales σ (nm), comma-separated, ascending.
    #[arg(long = "scales-nm", value_delimiter = ',', default_values_t = DEFAULT_SCALES_NM.to_vec())]
    pub scales_nm: Vec<f64>,
    /// Slices behind the face that the depth-context features look into.
    #[arg(long, default_value_t = DEFAULT_DEPTH_SLICES)]
    pub depth_slices: usize,
    /// In-plane σ (nm) of the depth-context smoothing.
    #[arg(long, default_value_t = DEFAULT_DEPTH_SIGMA_NM)]
    pub depth_sigma_nm: f64,
    /// The material behind the face lies at lower slice indices (milled towards slice 0).
    #[arg(long)]
    pub depth_reverse: bool,
}

impl Default for FeatureParams {
    fn default() -> Self {
        FeatureParams {
            families: Family::ALL.to_vec(),
            scales_nm: DEFAULT_SCALES_NM.to_vec(),
            depth_slices: DEFAULT_DEPTH_SLICES,
            depth_sigma_nm: DEFAULT_DEPTH_SIGMA_NM,
            depth_reverse: false,
        }
    }
}

impl FeatureParams {
    /// Check every value (used by the CLI and `fibstack run --check`).
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.families.is_empty() {
            return Err(ParamError::new(
                "features",
                "[]",
                "name at least one family, e.g. gaussian,gradient,depth",
            ));
        }
        let mut f = self.families.clone();
        f.sort();
        f.dedup();
        if f.len() != self.families.len() {
            return Err(ParamError::new(
                "features",
                self.family_list(),
                "name each family once",
            ));
        }
        let scaled = self
            .families
            .iter()
            .any(|f| !matches!(f, Family::Raw | Family::Depth));
        if scaled && self.scales_nm.is_empty() {
            return Err(ParamError::new(
                "scales_nm",
                "[]",
                "give at least one scale σ in nm, e.g. 20,40,80",
            ));
        }
        for w in self.scales_nm.windows(2) {
            if w[1] <= w[0] {
                return Err(ParamError::new(
                    "scales_nm",
                    format!("{:?}", self.scales_nm),
                    "give distinct scales in ascending order",
                ));
            }
        }
        for &s in &self.scales_nm {
            crate::error::in_range("scales_nm", s, 1e-3, 1e5)?;
        }
        if self.families.contains(&Family::Dog) && self.scales_nm.len() < 2 {
            return Err(ParamError::new(
                "features",
                "dog",
                "the difference of Gaussians needs at least two scales",
            ));
        }
        if self.families.contains(&Family::Depth) {
            crate::error::in_range("depth_slices", self.depth_slices as f64, 1.0, 16.0)?;
            crate::error::in_range("depth_sigma_nm", self.depth_sigma_nm, 1e-3, 1e5)?;
        }
        Ok(())
    }

    fn family_list(&self) -> String {
        self.families
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn has(&self, f: Family) -> bool {
        self.families.contains(&f)
    }

    /// Slices behind a slab that its features read (0 without depth features).
    pub fn halo_slices(&self) -> usize {
        if self.has(Family::Depth) {
            self.depth_slices
        } else {
            0
        }
    }

    /// One name per feature, in the order of the feature vector (e.g. `gaussian(20nm)`).
    pub fn names(&self) -> Vec<String> {
        let mut n = Vec::new();
        let s = &self.scales_nm;
        for fam in Family::ALL {
            if !self.has(fam) {
                continue;
            }
            match fam {
                Family::Raw => n.push("raw".into()),
                Family::Gaussian => n.extend(s.iter().map(|v| format!("gaussian({v}nm)"))),
                Family::Gradient => n.extend(s.iter().map(|v| format!("gradient({v}nm)"))),
                Family::Log => n.extend(s.iter().map(|v| format!("log({v}nm)"))),
                Family::Dog => {
                    n.extend(s.windows(2).map(|w| format!("dog({}nm-{}nm)", w[0], w[1])))
                }
                Family::Hessian => {
                    for v in s {
                        n.push(format!("hessian_max({v}nm)"));
                        n.push(format!("hessian_min({v}nm)"));
                    }
                }
                Family::Structure => {
                    for v in s {
                        n.push(format!("structure_max({v}nm)"));
                        n.push(format!("structure_min({v}nm)"));
                    }
                }
                Family::Local => {
                    for v in s {
                        n.push(format!("local_min({v}nm)"));
                        n.push(format!("local_max({v}nm)"));
                        n.push(format!("local_mean({v}nm)"));
                    }
                }
                Family::Depth => {
                    let d = self.depth_sigma_nm;
                    for j in 1..=self.depth_slices {
                        n.push(format!("depth{j}_mean({d}nm)"));
                        n.push(format!("depth{j}_min({d}nm)"));
                        n.push(format!("depth{j}_max({d}nm)"));
                    }
                }
            }
        }
        n
    }
}

/// σ (nm) → pixels `[σy, σx]` for in-plane pixel size `d = [dy, dx]` (nm).
pub(crate) fn sigma_px(sigma_nm: f64, d: [f64; 2]) -> [f64; 2] {
    [sigma_nm / d[0], sigma_nm / d[1]]
}

/// Box half-width (pixels, at least 1) per axis for a length `nm`.
pub(crate) fn half_width(nm: f64, d: [f64; 2]) -> [usize; 2] {
    [
        ((nm / d[0]).round() as usize).max(1),
        ((nm / d[1]).round() as usize).max(1),
    ]
}

/// The feature planes of one slice, in the order of [`FeatureParams::names`]: `slice(z)` gives
/// any slice of the stack (`z < nz`), `z` is the slice to compute, `d = [dy, dx]` nm.
///
/// This is the per-family reference (each family from its own functions, nothing shared);
/// [`compute_slab`] and the classifier use the fast path [`SlabPlanes`], which equals it bit for
/// bit (`fast_equals_reference`).
pub fn slice_planes<'a>(
    slice: &dyn Fn(usize) -> ArrayView2<'a, f32>,
    z: usize,
    nz: usize,
    d: [f64; 2],
    p: &FeatureParams,
) -> Vec<Array2<f32>> {
    let img = slice(z);
    let mut out: Vec<Array2<f32>> = Vec::new();
    let smoothed: Vec<Array2<f32>> = if p
        .families
        .iter()
        .any(|f| !matches!(f, Family::Raw | Family::Local | Family::Depth))
    {
        p.scales_nm
            .iter()
            .map(|&s| smooth::gaussian(img, sigma_px(s, d)))
            .collect()
    } else {
        Vec::new()
    };
    for fam in Family::ALL {
        if !p.has(fam) {
            continue;
        }
        match fam {
            Family::Raw => out.push(img.to_owned()),
            Family::Gaussian => out.extend(smoothed.iter().cloned()),
            Family::Gradient => {
                for (g, &s) in smoothed.iter().zip(&p.scales_nm) {
                    out.push(derivative::gradient_magnitude(g.view(), d, s));
                }
            }
            Family::Log => {
                for (g, &s) in smoothed.iter().zip(&p.scales_nm) {
                    out.push(derivative::laplacian(g.view(), d, s));
                }
            }
            Family::Dog => {
                for w in smoothed.windows(2) {
                    out.push(&w[0] - &w[1]);
                }
            }
            Family::Hessian => {
                for (g, &s) in smoothed.iter().zip(&p.scales_nm) {
                    let (a, b) = derivative::hessian_eigenvalues(g.view(), d, s);
                    out.push(a);
                    out.push(b);
                }
            }
            Family::Structure => {
                for (g, &s) in smoothed.iter().zip(&p.scales_nm) {
                    let (a, b) = derivative::structure_eigenvalues(g.view(), d, s);
                    out.push(a);
                    out.push(b);
                }
            }
            Family::Local => {
                for &s in &p.scales_nm {
                    let r = half_width(s, d);
                    let (mn, mx, mean) = smooth::local_min_max_mean(img, r);
                    out.push(mn);
                    out.push(mx);
                    out.push(mean);
                }
            }
            Family::Depth => {
                out.extend(depth::depth_planes(slice, z, nz, d, p));
            }
        }
    }
    out
}

/// Interleave feature planes into one row per pixel: `[ny·nx, F]`.
pub fn interleave(planes: &[Array2<f32>]) -> Array2<f32> {
    let nf = planes.len();
    let n = planes.first().map(|a| a.len()).unwrap_or(0);
    let mut out = vec![0f32; n * nf];
    for (f, pl) in planes.iter().enumerate() {
        let src = pl.as_standard_layout();
        let s = src.as_slice().expect("standard layout");
        for (o, v) in out[f..].iter_mut().step_by(nf).zip(s) {
            *o = *v;
        }
    }
    Array2::from_shape_vec((n, nf), out).expect("rows")
}

/// Features of slices `core` (absolute indices) of a stack of `nz` slices, given `slab` = the
/// input slices `[offset, offset + slab.len_of(z))`, which must cover `core` and its halo
/// (`min(core.end + halo, nz)`; with `depth_reverse`, `core.start − halo` instead). `voxel`
/// gives the in-plane pixel size. One `[ny·nx, F]` array per core slice (rows in y-major order).
/// Parallel over slices; each slice's features are independent of the slab cut and the thread
/// count.
pub fn compute_slab(
    slab: ArrayView3<f32>,
    offset: usize,
    core: std::ops::Range<usize>,
    nz: usize,
    voxel: &VoxelSize,
    p: &FeatureParams,
) -> Result<Vec<Array2<f32>>, ParamError> {
    p.validate()?;
    voxel.validate()?;
    let have = offset..offset + slab.len_of(Axis(0));
    let h = p.halo_slices();
    let need = if p.depth_reverse {
        core.start.saturating_sub(h)..core.end
    } else {
        core.start..(core.end + h).min(nz)
    };
    if core.is_empty() || need.start < have.start || need.end > have.end || core.end > nz {
        return Err(ParamError::new(
            "feature slab",
            format!("slices {have:?} for {core:?} of {nz}"),
            format!("the slab must hold slices {need:?} (the core and {h} slices of halo)"),
        ));
    }
    let d = [voxel.dy(), voxel.dx()];
    let planes = SlabPlanes::new(slab, offset, core.clone(), nz, d, p);
    Ok(core
        .into_par_iter()
        .map(|z| interleave(&planes.slice(z)))
        .collect())
}

/// The fast feature path of one slab ([`fast`]): the depth-context bases of every slice of the
/// slab computed once, then the planes of any core slice on demand. Equal to
/// [`slice_planes`] (the per-family reference) for every slice.
pub struct SlabPlanes<'a, 'p> {
    slab: ArrayView3<'a, f32>,
    offset: usize,
    nz: usize,
    d: [f64; 2],
    p: &'p FeatureParams,
    bases: Vec<fast::DepthBase>,
    base0: usize,
}

impl<'a, 'p> SlabPlanes<'a, 'p> {
    /// `slab` holds the input slices from `offset`, covering `core` and its halo (checked by the
    /// callers); `d = [dy, dx]` nm.
    pub fn new(
        slab: ArrayView3<'a, f32>,
        offset: usize,
        core: std::ops::Range<usize>,
        nz: usize,
        d: [f64; 2],
        p: &'p FeatureParams,
    ) -> Self {
        let (mut lo, mut hi) = (0, 0);
        if p.has(Family::Depth) && !core.is_empty() {
            let k = p.depth_slices;
            let zs = core
                .clone()
                .flat_map(|z| (1..=k).map(move |j| depth::behind(z, j, nz, p.depth_reverse)));
            lo = zs.clone().min().unwrap_or(0);
            hi = zs.max().map(|v| v + 1).unwrap_or(0);
        }
        let bases = (lo..hi)
            .into_par_iter()
            .map(|z| fast::depth_base(slab.index_axis(Axis(0), z - offset), d, p))
            .collect();
        SlabPlanes {
            slab,
            offset,
            nz,
            d,
            p,
            bases,
            base0: lo,
        }
    }

    /// The feature planes of slice `z` (absolute index), in the order of
    /// [`FeatureParams::names`].
    pub fn slice(&self, z: usize) -> Vec<Array2<f32>> {
        let p = self.p;
        let behind: Vec<&fast::DepthBase> = if p.has(Family::Depth) {
            (1..=p.depth_slices)
                .map(|j| &self.bases[depth::behind(z, j, self.nz, p.depth_reverse) - self.base0])
                .collect()
        } else {
            Vec::new()
        };
        fast::slice_planes_fast(
            self.slab.index_axis(Axis(0), z - self.offset),
            &behind,
            self.d,
            p,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::VoxelSource;
    use ndarray::Array3;

    /// Naive twin of the fast path: every plane of every slice equals the per-family reference
    /// bit for bit, for anisotropic pixels, both milling directions, subsets of the families,
    /// odd sizes (1- and 2-pixel-wide images included) and a slab cut off the stack start.
    #[test]
    fn fast_equals_reference() {
        let mut r = crate::rng::Rng::new(21);
        let cases: Vec<(usize, usize, usize, FeatureParams)> = vec![
            (6, 23, 17, FeatureParams::default()),
            (
                5,
                9,
                2,
                FeatureParams {
                    scales_nm: vec![5.0, 12.0],
                    depth_slices: 2,
                    depth_sigma_nm: 7.0,
                    depth_reverse: true,
                    ..Default::default()
                },
            ),
            (
                4,
                1,
                13,
                FeatureParams {
                    families: vec![Family::Structure, Family::Local, Family::Depth],
                    scales_nm: vec![8.0],
                    depth_slices: 5,
                    ..Default::default()
                },
            ),
            (
                3,
                12,
                12,
                FeatureParams {
                    families: vec![Family::Hessian, Family::Gradient, Family::Raw],
                    ..Default::default()
                },
            ),
        ];
        for (nz, ny, nx, p) in cases {
            let vol = Array3::from_shape_fn((nz, ny, nx), |_| (r.uniform() * 100.0) as f32);
            let voxel = VoxelSize::new([20.0, 9.0, 6.0], VoxelSource::CommandLine);
            let d = [voxel.dy(), voxel.dx()];
            let get = |z: usize| vol.index_axis(Axis(0), z);
            let sp = SlabPlanes::new(vol.view(), 0, 0..nz, nz, d, &p);
            // a slab that starts inside the stack
            let sp1 = (!p.depth_reverse)
                .then(|| SlabPlanes::new(vol.slice(ndarray::s![1.., .., ..]), 1, 1..nz, nz, d, &p));
            for z in 0..nz {
                let want = slice_planes(&get, z, nz, d, &p);
                let got = sp.slice(z);
                assert_eq!(want.len(), p.names().len());
                assert_eq!(got.len(), want.len());
                for (k, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(a, b, "slice {z} feature {} ({nz}x{ny}x{nx})", p.names()[k]);
                }
                if let (true, Some(sp1)) = (z >= 1, sp1.as_ref()) {
                    assert_eq!(sp1.slice(z), want, "slab from 1, slice {z}");
                }
            }
        }
    }
}
