//! A compact random forest for voxel classification: quantile-binned (histogram) splits, Gini
//! impurity, class-balanced bootstrap per tree, `max_features` features tried per split (default
//! √F), per-class probabilities, out-of-bag accuracy and confusion.
//!
//! **Determinism.** Tree t draws every random number from `Rng::stream(seed, t)`; trees are built
//! in parallel but collected in tree order, and the out-of-bag votes are summed in tree order, so
//! the forest and its report do not depend on the thread count.
//!
//! **Splits.** Each feature's training values are cut into at most `bins` quantile bins (edges =
//! distinct sample quantiles). A split "bin ≤ t" is stored as the float test `x < edge[t]`, so
//! prediction needs no binning: it compares the raw feature value with the threshold.
//!
//! **Training layout.** The bins are one byte per feature, row-major with the class appended.
//! Each tree copies the rows of its distinct bootstrap samples (with their multiplicities) and
//! moves them at every split, so a node is a contiguous range of rows and the histograms of all
//! the features tried at it are filled in one sequential pass.

use super::ClassifyError;
use crate::rng::Rng;
use ndarray::{ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Default number of trees.
pub const DEFAULT_TREES: usize = 100;
/// Default maximum depth.
pub const DEFAULT_MAX_DEPTH: usize = 14;
/// Default minimum samples per leaf.
pub const DEFAULT_MIN_SAMPLES_LEAF: usize = 5;
/// Default number of quantile bins per feature.
pub const DEFAULT_BINS: usize = 64;
/// Default cap of training voxels per class.
pub const DEFAULT_MAX_PER_CLASS: usize = 50_000;

/// Hyper-parameters of the forest: the library schema of the `train` flags and of the `forest`
/// table of the `classify` workflow step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct ForestParams {
    /// Number of trees.
    #[arg(long, default_value_t = DEFAULT_TREES)]
    pub trees: usize,
    /// Maximum depth of a tree (root = depth 0).
    #[arg(long, default_value_t = DEFAULT_MAX_DEPTH)]
    pub max_depth: usize,
    /// Minimum training samples in a leaf.
    #[arg(long, default_value_t = DEFAULT_MIN_SAMPLES_LEAF)]
    pub min_samples_leaf: usize,
    /// Features tried per split; 0 = round(√F).
    #[arg(long, default_value_t = 0)]
    pub max_features: usize,
    /// Quantile bins per feature for the split search, 2…256.
    #[arg(long, default_value_t = DEFAULT_BINS)]
    pub bins: usize,
    /// Bootstrap draws per class per tree (balanced by sampling); 0 = a stratified bootstrap
    /// (each class's own count) with class weights n/(C·n_c), so every class weighs the same in
    /// every split (scikit-learn's `class_weight = "balanced_subsample"`).
    #[arg(long, default_value_t = 0)]
    pub samples_per_class: usize,
    /// Training voxels kept per class: a seeded random subset of the labelled voxels.
    #[arg(long, default_value_t = DEFAULT_MAX_PER_CLASS)]
    pub max_per_class: usize,
    /// Class weights: `balanced` (every class weighs the same in every split; for painted
    /// strokes, whose amounts say nothing about the phase fractions) or `labelled` (classes
    /// weigh by their share of the labelled voxels: the phase fractions, for a complete truth).
    #[arg(long, value_enum, default_value_t = ClassWeight::Balanced)]
    pub class_weight: ClassWeight,
    /// Seed of every random choice (subset, bootstrap, features per split).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            trees: DEFAULT_TREES,
            max_depth: DEFAULT_MAX_DEPTH,
            min_samples_leaf: DEFAULT_MIN_SAMPLES_LEAF,
            max_features: 0,
            bins: DEFAULT_BINS,
            samples_per_class: 0,
            max_per_class: DEFAULT_MAX_PER_CLASS,
            class_weight: ClassWeight::Balanced,
            seed: 0,
        }
    }
}

impl ForestParams {
    /// Check every value.
    pub fn validate(&self) -> Result<(), crate::error::ParamError> {
        use crate::error::in_range;
        in_range("trees", self.trees as f64, 1.0, 10_000.0)?;
        in_range("max_depth", self.max_depth as f64, 1.0, 64.0)?;
        in_range("min_samples_leaf", self.min_samples_leaf as f64, 1.0, 1e9)?;
        in_range("bins", self.bins as f64, 2.0, 256.0)?;
        in_range("max_per_class", self.max_per_class as f64, 1.0, 1e9)?;
        Ok(())
    }
    /// Features tried per split for `nf` features.
    pub fn mtry(&self, nf: usize) -> usize {
        if self.max_features == 0 {
            ((nf as f64).sqrt().round() as usize).clamp(1, nf.max(1))
        } else {
            self.max_features.min(nf).max(1)
        }
    }
}

/// How classes are weighted in the splits and leaves ([`ForestParams::class_weight`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeight {
    /// Equal total weight per class.
    #[default]
    Balanced,
    /// Weight proportional to the class's share of the labelled voxels.
    Labelled,
}

impl std::fmt::Display for ClassWeight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClassWeight::Balanced => "balanced",
            ClassWeight::Labelled => "labelled",
        })
    }
}

const LEAF: u16 = u16::MAX;

/// One node, stored in pre-order: the left child of node i is i + 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    /// Feature index, or `u16::MAX` for a leaf.
    pub feature: u16,
    /// Go left when `x[feature] < threshold`.
    pub threshold: f32,
    /// Index of the right child (inner node) or of the leaf's probability row (leaf).
    pub next: u32,
}

/// A trained forest.
#[derive(Debug, Clone, PartialEq)]
pub struct Forest {
    /// Features per sample the forest splits on.
    pub n_features: usize,
    /// Classes (phases) it votes among.
    pub n_classes: usize,
    /// Nodes of every tree, concatenated.
    pub nodes: Vec<Node>,
    /// First node of each tree.
    pub roots: Vec<u32>,
    /// Leaf class probabilities, `n_classes` per leaf.
    pub leaf_probs: Vec<f32>,
}

/// What training measured on its own samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Training samples per class.
    pub samples_per_class: Vec<usize>,
    /// Samples out of the bag of at least one tree (those the OOB figures use).
    pub oob_samples: usize,
    /// Out-of-bag accuracy (fraction of OOB samples whose OOB vote is their class).
    pub oob_accuracy: f64,
    /// Mean per-class OOB recall (accuracy with every class weighted equally).
    pub oob_balanced_accuracy: f64,
    /// `oob_confusion[true][predicted]` counts.
    pub oob_confusion: Vec<Vec<u64>>,
    /// Nodes per tree (mean) and the deepest leaf.
    pub mean_nodes_per_tree: f64,
    /// Depth of the deepest leaf (the root is depth 0).
    pub max_depth_reached: usize,
}

/// Quantile bin edges of one feature column (ascending, distinct; at most `bins − 1`).
pub fn bin_edges(col: ArrayView1<f32>, bins: usize) -> Vec<f32> {
    let mut v: Vec<f32> = col.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let mut e = Vec::new();
    if n == 0 {
        return e;
    }
    for i in 1..bins {
        let q = v[(i * n / bins).min(n - 1)];
        if q > v[0] && e.last().is_none_or(|&l| q > l) {
            e.push(q);
        }
    }
    e
}

/// Bin of `v` for `edges`: the number of edges ≤ v (so "bin ≤ t" ⟺ `v < edges[t]`).
#[inline]
pub fn bin_of(v: f32, edges: &[f32]) -> u8 {
    edges.partition_point(|&e| e <= v) as u8
}

/// Best split of the samples `idx` on feature `f`: `(score, t, n_left)` maximising
/// Σ L_c²/n_L + Σ R_c²/n_R (equivalently the smallest weighted Gini impurity), `None` when the
/// feature is constant on these samples or no cut leaves `min_leaf` samples on both sides.
#[allow(clippy::too_many_arguments)]
pub fn best_split_on(
    bins: &[u8],
    y: &[u8],
    idx: &[u32],
    nc: usize,
    w: &[f64],
    nbins: usize,
    min_leaf: usize,
    hist: &mut Vec<u32>,
) -> (bool, Option<(f64, usize, usize)>) {
    hist.clear();
    hist.resize(nbins * nc, 0);
    for &i in idx {
        let i = i as usize;
        hist[bins[i] as usize * nc + y[i] as usize] += 1;
    }
    split_from_hist(hist, nc, w, nbins, min_leaf)
}

/// The split search of [`best_split_on`] on a ready histogram `hist[bin · nc + class]`
/// (sample counts, a sample drawn k times counted k times).
pub fn split_from_hist(
    hist: &[u32],
    nc: usize,
    w: &[f64],
    nbins: usize,
    min_leaf: usize,
) -> (bool, Option<(f64, usize, usize)>) {
    let mut total = [0u64; 256];
    let total = &mut total[..nc];
    let mut occupied = 0;
    for b in 0..nbins {
        let mut any = false;
        for c in 0..nc {
            total[c] += hist[b * nc + c] as u64;
            any |= hist[b * nc + c] > 0;
        }
        occupied += any as usize;
    }
    if occupied < 2 {
        return (false, None);
    }
    let n = total.iter().sum::<u64>() as usize;
    let mut left = [0u64; 256];
    let left = &mut left[..nc];
    let mut nl = 0usize;
    let mut best: Option<(f64, usize, usize)> = None;
    for t in 0..nbins - 1 {
        let mut add = 0usize;
        for c in 0..nc {
            let h = hist[t * nc + c] as u64;
            left[c] += h;
            add += h as usize;
        }
        if add == 0 {
            continue;
        }
        nl += add;
        let nr = n - nl;
        if nl < min_leaf || nr < min_leaf {
            continue;
        }
        if nr == 0 {
            break;
        }
        let (mut sl, mut sr, mut wl, mut wr) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for c in 0..nc {
            let l = left[c] as f64 * w[c];
            let r = (total[c] - left[c]) as f64 * w[c];
            sl += l * l;
            sr += r * r;
            wl += l;
            wr += r;
        }
        let score = sl / wl + sr / wr;
        if best.is_none_or(|b| score > b.0) {
            best = Some((score, t, nl));
        }
    }
    (true, best)
}

/// Grows one tree on its own copy of the binned training set, row-major: row j holds the bins
/// of one distinct bootstrap sample's `nf` features, then its class (`stride` bytes), and
/// `cnt[j]` its bootstrap multiplicity. A node owns a contiguous range of rows; splitting it
/// moves the rows (a stable partition), so the histograms of all the features tried at a node
/// are filled in one sequential pass over its range, whatever the depth.
struct Builder<'a> {
    data: Vec<u8>,
    cnt: Vec<u32>,
    stride: usize,
    nf: usize,
    /// Bins per feature (`edges[f].len() + 1`).
    nbins: &'a [usize],
    edges: &'a [Vec<f32>],
    nc: usize,
    /// Weight of each class in the impurity and the leaf frequencies.
    w: &'a [f64],
    p: &'a ForestParams,
    mtry: usize,
    nodes: Vec<Node>,
    probs: Vec<f32>,
    depth_max: usize,
    /// Histograms of the features of one batch, 256 · nc per feature.
    hist: Vec<u32>,
    tmp_d: Vec<u8>,
    tmp_c: Vec<u32>,
}

/// Leaf probabilities from per-class sample counts (with multiplicity) and class weights.
fn leaf_row(counts: &[u64], w: &[f64], probs: &mut Vec<f32>) {
    let c: Vec<f64> = counts.iter().zip(w).map(|(&n, &w)| n as f64 * w).collect();
    let n: f64 = c.iter().sum::<f64>().max(1e-300);
    probs.extend(c.iter().map(|v| (v / n) as f32));
}

impl Builder<'_> {
    fn leaf(&mut self, counts: &[u64]) {
        let row = (self.probs.len() / self.nc) as u32;
        leaf_row(counts, self.w, &mut self.probs);
        self.nodes.push(Node {
            feature: LEAF,
            threshold: 0.0,
            next: row,
        });
    }

    /// Grow the node of rows `lo..hi`.
    fn grow(&mut self, lo: usize, hi: usize, depth: usize, rng: &mut Rng) {
        self.depth_max = self.depth_max.max(depth);
        let (nf, nc, stride) = (self.nf, self.nc, self.stride);
        let data = &self.data[lo * stride..hi * stride];
        let cnt = &self.cnt[lo..hi];
        let mut counts = vec![0u64; nc];
        for (r, &k) in data.chunks_exact(stride).zip(cnt) {
            counts[r[nf] as usize] += k as u64;
        }
        let n = counts.iter().sum::<u64>() as usize;
        let pure = counts.iter().filter(|&&c| c > 0).count() <= 1;
        if pure || depth >= self.p.max_depth || n < 2 * self.p.min_samples_leaf {
            self.leaf(&counts);
            return;
        }
        let wc: Vec<f64> = counts
            .iter()
            .zip(self.w)
            .map(|(&c, &w)| c as f64 * w)
            .collect();
        let parent: f64 = wc.iter().map(|v| v * v).sum::<f64>() / wc.iter().sum::<f64>();
        let mut order: Vec<usize> = (0..nf).collect();
        let (mut tried, mut k) = (0, 0);
        let mut fs = vec![0usize; self.mtry];
        let hsz = 256 * nc;
        let mut best: Option<(f64, usize, usize, usize)> = None; // score, feature, t, n_left
                                                                 // the features are drawn in the order a one-at-a-time search draws them: a batch of
                                                                 // as many as are still to try, then another batch for those that were constant
        while tried < self.mtry && k < nf {
            let m = (self.mtry - tried).min(nf - k);
            for f in fs.iter_mut().take(m) {
                let j = k + rng.below((nf - k) as u64) as usize;
                order.swap(k, j);
                *f = order[k];
                k += 1;
            }
            let fs = &fs[..m];
            if self.hist.len() < m * hsz {
                self.hist.resize(m * hsz, 0);
            }
            for (q, &f) in fs.iter().enumerate() {
                self.hist[q * hsz..q * hsz + self.nbins[f] * nc].fill(0);
            }
            let hist = &mut self.hist[..m * hsz];
            for (r, &c) in data.chunks_exact(stride).zip(cnt) {
                let y = r[nf] as usize;
                for (q, &f) in fs.iter().enumerate() {
                    hist[q * hsz + r[f] as usize * nc + y] += c;
                }
            }
            for (q, &f) in fs.iter().enumerate() {
                let nb = self.nbins[f];
                let (varies, s) = split_from_hist(
                    &self.hist[q * hsz..q * hsz + nb * nc],
                    nc,
                    self.w,
                    nb,
                    self.p.min_samples_leaf,
                );
                if !varies {
                    continue;
                }
                tried += 1;
                if let Some((score, t, nl)) = s {
                    if best.is_none_or(|b| score > b.0) {
                        best = Some((score, f, t, nl));
                    }
                }
            }
        }
        let Some((score, f, t, n_left)) = best else {
            self.leaf(&counts);
            return;
        };
        if score <= parent * (1.0 + 1e-12) {
            self.leaf(&counts);
            return;
        }
        // stable partition of the rows: bin ≤ t to the left (moved down in place), the rest
        // through the scratch buffer to the end of the range
        self.tmp_d.clear();
        self.tmp_c.clear();
        let mut l = lo;
        for j in lo..hi {
            let o = j * stride;
            if self.data[o + f] as usize <= t {
                if l != j {
                    self.data.copy_within(o..o + stride, l * stride);
                    self.cnt[l] = self.cnt[j];
                }
                l += 1;
            } else {
                self.tmp_d.extend_from_slice(&self.data[o..o + stride]);
                self.tmp_c.push(self.cnt[j]);
            }
        }
        self.data[l * stride..hi * stride].copy_from_slice(&self.tmp_d);
        self.cnt[l..hi].copy_from_slice(&self.tmp_c);
        debug_assert_eq!(
            self.cnt[lo..l].iter().map(|&c| c as usize).sum::<usize>(),
            n_left
        );
        let me = self.nodes.len();
        self.nodes.push(Node {
            feature: f as u16,
            threshold: self.edges[f][t],
            next: 0,
        });
        self.grow(lo, l, depth + 1, rng);
        self.nodes[me].next = self.nodes.len() as u32;
        self.grow(l, hi, depth + 1, rng);
    }
}

/// The bootstrap of one tree: the samples drawn, in draw order (with repeats).
fn bootstrap(rng: &mut Rng, by_class: &[Vec<u32>], p: &ForestParams) -> Vec<u32> {
    let mut idx = Vec::new();
    for members in by_class {
        let draws = if p.samples_per_class == 0 {
            members.len()
        } else {
            p.samples_per_class
        };
        for _ in 0..draws {
            idx.push(members[rng.below(members.len() as u64) as usize]);
        }
    }
    idx
}
/// Class weights: the total weight of class c in a bootstrap is `priors[c]` (normalised; `None`
/// = equal), by weighting each sample n·q_c/n_c in a stratified bootstrap; 1 when every class
/// is drawn `samples_per_class` times.
fn class_weights(
    by_class: &[Vec<u32>],
    n: usize,
    n_classes: usize,
    p: &ForestParams,
    priors: Option<&[f64]>,
) -> Vec<f64> {
    let prior: Vec<f64> = match priors {
        Some(q) if q.len() == n_classes && q.iter().all(|v| *v > 0.0) => {
            let s: f64 = q.iter().sum();
            q.iter().map(|v| v / s).collect()
        }
        _ => vec![1.0 / n_classes as f64; n_classes],
    };
    if p.samples_per_class == 0 {
        by_class
            .iter()
            .zip(&prior)
            .map(|(v, q)| n as f64 * q / v.len() as f64)
            .collect()
    } else {
        vec![1.0; n_classes]
    }
}

struct Tree {
    nodes: Vec<Node>,
    probs: Vec<f32>,
    in_bag: Vec<u64>,
    depth: usize,
}

impl Forest {
    /// Train on `x` (`[n, F]`, finite values) with class indices `y` (`0..n_classes`), classes
    /// weighted equally. Every class must have at least one sample.
    pub fn fit(
        x: ArrayView2<f32>,
        y: &[u8],
        n_classes: usize,
        p: &ForestParams,
    ) -> Result<(Forest, TrainReport), ClassifyError> {
        Self::fit_with_priors(x, y, n_classes, p, None)
    }

    /// [`Forest::fit`] with the total weight of each class set to `priors[c]` (normalised;
    /// `None` = equal), as used for `class_weight = labelled`.
    pub fn fit_with_priors(
        x: ArrayView2<f32>,
        y: &[u8],
        n_classes: usize,
        p: &ForestParams,
        priors: Option<&[f64]>,
    ) -> Result<(Forest, TrainReport), ClassifyError> {
        p.validate()?;
        let x = x.as_standard_layout();
        let (n, nf) = x.dim();
        if n != y.len() || n == 0 || nf == 0 || nf >= LEAF as usize {
            return Err(ClassifyError::Training(format!(
                "{n} samples with {} labels and {nf} features",
                y.len()
            )));
        }
        let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); n_classes];
        for (i, &c) in y.iter().enumerate() {
            if c as usize >= n_classes {
                return Err(ClassifyError::Training(format!(
                    "class index {c} ≥ {n_classes}"
                )));
            }
            by_class[c as usize].push(i as u32);
        }
        if let Some(c) = by_class.iter().position(|v| v.is_empty()) {
            return Err(ClassifyError::Training(format!(
                "class index {c} has no samples"
            )));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(ClassifyError::Training(
                "a feature value is not finite".into(),
            ));
        }
        let edges: Vec<Vec<f32>> = (0..nf)
            .into_par_iter()
            .map(|f| bin_edges(x.index_axis(Axis(1), f), p.bins))
            .collect();
        let nbins: Vec<usize> = edges.iter().map(|e| e.len() + 1).collect();
        // row-major bins with the class appended: row i = bins of sample i, then y[i]
        let stride = nf + 1;
        let mut rows = vec![0u8; n * stride];
        rows.par_chunks_mut(stride * 1024)
            .enumerate()
            .for_each(|(b, chunk)| {
                for (k, r) in chunk.chunks_exact_mut(stride).enumerate() {
                    let i = b * 1024 + k;
                    let xr = x.row(i);
                    for f in 0..nf {
                        r[f] = bin_of(xr[f], &edges[f]);
                    }
                    r[nf] = y[i];
                }
            });
        let w = class_weights(&by_class, n, n_classes, p, priors);
        let mtry = p.mtry(nf);
        let words = n.div_ceil(64);
        let trees: Vec<Tree> = (0..p.trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = Rng::stream(p.seed, t as u64);
                let drawn = bootstrap(&mut rng, &by_class, p);
                let mut in_bag = vec![0u64; words];
                let mut mult = vec![0u32; n];
                for &i in &drawn {
                    in_bag[i as usize / 64] |= 1 << (i % 64);
                    mult[i as usize] += 1;
                }
                drop(drawn);
                let distinct = mult.iter().filter(|&&m| m > 0).count();
                let mut data = Vec::with_capacity(distinct * stride);
                let mut cnt = Vec::with_capacity(distinct);
                for (i, &m) in mult.iter().enumerate() {
                    if m > 0 {
                        data.extend_from_slice(&rows[i * stride..(i + 1) * stride]);
                        cnt.push(m);
                    }
                }
                drop(mult);
                let mut b = Builder {
                    data,
                    cnt,
                    stride,
                    nf,
                    nbins: &nbins,
                    edges: &edges,
                    nc: n_classes,
                    w: &w,
                    p,
                    mtry,
                    nodes: Vec::new(),
                    probs: Vec::new(),
                    depth_max: 0,
                    hist: Vec::new(),
                    tmp_d: Vec::new(),
                    tmp_c: Vec::new(),
                };
                b.grow(0, distinct, 0, &mut rng);
                Tree {
                    nodes: b.nodes,
                    probs: b.probs,
                    in_bag,
                    depth: b.depth_max,
                }
            })
            .collect();
        let mut f = Forest {
            n_features: nf,
            n_classes,
            nodes: Vec::new(),
            roots: Vec::new(),
            leaf_probs: Vec::new(),
        };
        let mut depth = 0;
        for t in &trees {
            f.push_tree(&t.nodes, &t.probs);
            depth = depth.max(t.depth);
        }
        // out-of-bag votes, summed in tree order per sample
        let votes: Vec<Option<usize>> = (0..n)
            .into_par_iter()
            .map(|i| {
                let row = x.row(i);
                let mut acc = vec![0f32; n_classes];
                let mut any = false;
                for (t, tr) in trees.iter().enumerate() {
                    if tr.in_bag[i / 64] >> (i % 64) & 1 == 1 {
                        continue;
                    }
                    any = true;
                    let leaf = f.leaf(t, row.as_slice().expect("standard layout"));
                    for (a, v) in acc.iter_mut().zip(&f.leaf_probs[leaf * n_classes..]) {
                        *a += v;
                    }
                }
                any.then(|| argmax(&acc))
            })
            .collect();
        let mut conf = vec![vec![0u64; n_classes]; n_classes];
        for (i, v) in votes.iter().enumerate() {
            if let Some(c) = v {
                conf[y[i] as usize][*c] += 1;
            }
        }
        let oob: u64 = conf.iter().flatten().sum();
        let right: u64 = (0..n_classes).map(|c| conf[c][c]).sum();
        let recall: Vec<f64> = (0..n_classes)
            .filter_map(|c| {
                let s: u64 = conf[c].iter().sum();
                (s > 0).then(|| conf[c][c] as f64 / s as f64)
            })
            .collect();
        let report = TrainReport {
            samples_per_class: by_class.iter().map(|v| v.len()).collect(),
            oob_samples: oob as usize,
            oob_accuracy: if oob > 0 {
                right as f64 / oob as f64
            } else {
                f64::NAN
            },
            oob_balanced_accuracy: recall.iter().sum::<f64>() / recall.len().max(1) as f64,
            oob_confusion: conf,
            mean_nodes_per_tree: f.nodes.len() as f64 / p.trees as f64,
            max_depth_reached: depth,
        };
        Ok((f, report))
    }

    /// Leaf (probability row) of tree `t` for feature vector `x`.
    #[inline]
    pub fn leaf(&self, t: usize, x: &[f32]) -> usize {
        let mut i = self.roots[t] as usize;
        loop {
            let n = self.nodes[i];
            if n.feature == LEAF {
                return n.next as usize;
            }
            i = if x[n.feature as usize] < n.threshold {
                i + 1
            } else {
                n.next as usize
            };
        }
    }

    /// Class probabilities (mean of the trees' leaf frequencies) of one feature vector.
    pub fn predict_one(&self, x: &[f32], out: &mut [f32]) {
        out.iter_mut().for_each(|v| *v = 0.0);
        for t in 0..self.roots.len() {
            let l = self.leaf(t, x);
            for (a, v) in out.iter_mut().zip(&self.leaf_probs[l * self.n_classes..]) {
                *a += v;
            }
        }
        let s = 1.0 / self.roots.len() as f32;
        out.iter_mut().for_each(|v| *v *= s);
    }

    /// The winning class of every row of `x` (`[n, F]`) into `labels`: the argmax of
    /// [`Forest::predict_rows`], exactly, with less work. Tree-major like it; every
    /// [`DECIDE_EVERY`] trees the rows whose vote is decided leave: a row whose leading class is
    /// ahead of every other by more than the number of trees still to come (each adds at most 1
    /// to a class) keeps its winner whatever those trees say. Unanimous rows stop after half
    /// the forest.
    pub fn predict_labels(&self, x: ArrayView2<f32>, labels: &mut [u8]) {
        let (n, nf) = x.dim();
        let nc = self.n_classes;
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let nt = self.roots.len();
        let mut acc = vec![0f32; n * nc];
        let mut active: Vec<u32> = (0..n as u32).collect();
        let mut win = vec![0u8; n];
        for t in 0..nt {
            for &i in &active {
                let i = i as usize;
                let l = self.leaf(t, &xs[i * nf..(i + 1) * nf]);
                for (a, v) in acc[i * nc..(i + 1) * nc]
                    .iter_mut()
                    .zip(&self.leaf_probs[l * nc..(l + 1) * nc])
                {
                    *a += v;
                }
            }
            let left = (nt - t - 1) as f32;
            if (t + 1) % DECIDE_EVERY == 0 || t + 1 == nt {
                let scale = 1.0 / nt as f32;
                active.retain(|&i| {
                    let i = i as usize;
                    let a = &acc[i * nc..(i + 1) * nc];
                    // the winner of the scaled sums, as predict_rows' argmax sees them
                    let mut sc = [0f32; 256];
                    for (o, v) in sc.iter_mut().zip(a) {
                        *o = v * scale;
                    }
                    let b = argmax(&sc[..nc]);
                    win[i] = b as u8;
                    let decided = a
                        .iter()
                        .enumerate()
                        .all(|(c, &v)| c == b || a[b] - v > left + DECIDE_MARGIN);
                    !decided && t + 1 < nt
                });
            }
        }
        labels[..n].copy_from_slice(&win);
    }

    /// Probabilities of every row of `x` (`[n, F]`) into `out` (`[n · n_classes]`), exactly as
    /// [`Forest::predict_one`] per row (the same sums in the same tree order). Tree-major: one
    /// tree at a time over all rows, so the tree stays in cache while the rows stream through.
    pub fn predict_rows(&self, x: ArrayView2<f32>, out: &mut [f32]) {
        let (n, nf) = x.dim();
        let nc = self.n_classes;
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let out = &mut out[..n * nc];
        out.iter_mut().for_each(|v| *v = 0.0);
        for t in 0..self.roots.len() {
            for (i, o) in out.chunks_exact_mut(nc).enumerate() {
                let l = self.leaf(t, &xs[i * nf..(i + 1) * nf]);
                for (a, v) in o.iter_mut().zip(&self.leaf_probs[l * nc..(l + 1) * nc]) {
                    *a += v;
                }
            }
        }
        let s = 1.0 / self.roots.len() as f32;
        out.iter_mut().for_each(|v| *v *= s);
    }
}

impl Forest {
    /// Append one tree (its nodes numbered from 0, leaves indexing its own `probs`), renumbering
    /// its links into the flat node and leaf arrays.
    fn push_tree(&mut self, nodes: &[Node], probs: &[f32]) {
        let base_node = self.nodes.len() as u32;
        let base_leaf = (self.leaf_probs.len() / self.n_classes) as u32;
        self.roots.push(base_node);
        self.nodes.extend(nodes.iter().map(|nd| Node {
            next: nd.next
                + if nd.feature == LEAF {
                    base_leaf
                } else {
                    base_node
                },
            ..*nd
        }));
        self.leaf_probs.extend_from_slice(probs);
    }

    /// The forest of the first `t` trees (every tree draws from its own random stream, so this
    /// is the forest that training with `trees = t` and the same seed grows).
    pub fn first_trees(&self, t: usize) -> Forest {
        let t = t.clamp(1, self.roots.len());
        let end = self
            .roots
            .get(t)
            .map(|&v| v as usize)
            .unwrap_or(self.nodes.len());
        let nodes = self.nodes[..end].to_vec();
        let leaves = nodes
            .iter()
            .filter(|n| n.feature == LEAF)
            .map(|n| n.next as usize + 1)
            .max()
            .unwrap_or(0);
        Forest {
            n_features: self.n_features,
            n_classes: self.n_classes,
            nodes,
            roots: self.roots[..t].to_vec(),
            leaf_probs: self.leaf_probs[..leaves * self.n_classes].to_vec(),
        }
    }

    /// Mean number of inner nodes a row of `x` (`[n, F]`) visits per tree (the depth of the
    /// leaf it reaches): the work of a prediction is this × trees per voxel.
    pub fn mean_path_length(&self, x: ArrayView2<f32>) -> f64 {
        let x = x.as_standard_layout();
        let mut steps = 0u64;
        for row in x.rows() {
            let row = row.to_vec();
            for t in 0..self.roots.len() {
                let mut i = self.roots[t] as usize;
                while self.nodes[i].feature != LEAF {
                    let n = self.nodes[i];
                    steps += 1;
                    i = if row[n.feature as usize] < n.threshold {
                        i + 1
                    } else {
                        n.next as usize
                    };
                }
            }
        }
        steps as f64 / (x.nrows() * self.roots.len()).max(1) as f64
    }
}

/// Trees between two checks of [`Forest::predict_labels`] for decided votes.
pub const DECIDE_EVERY: usize = 4;
/// Safety margin (in votes) of that check against the rounding of the f32 sums.
const DECIDE_MARGIN: f32 = 1e-3;

/// Index of the largest value (the first on ties).
#[inline]
pub fn argmax(v: &[f32]) -> usize {
    let mut b = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[b] {
            b = i;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn noisy(n: usize, seed: u64, noise: f64) -> (Array2<f32>, Vec<u8>) {
        let mut r = Rng::new(seed);
        let x = Array2::from_shape_fn((n, 5), |_| r.uniform() as f32);
        let y = (0..n)
            .map(|i| {
                let c = if x[[i, 0]] + 0.5 * x[[i, 3]] > 0.75 {
                    1
                } else {
                    0
                };
                if r.uniform() < noise {
                    1 - c
                } else {
                    c
                }
            })
            .collect();
        (x, y)
    }

    /// The one-feature-at-a-time tree growing this forest started with (feature-major bins,
    /// the bootstrap as a list with repeats, unstable partitions): the slow reference twin of
    /// the row-major, multiplicity-weighted builder.
    mod reference {
        use super::super::*;

        struct Builder<'a> {
            /// Binned features, feature-major: `bins[f][i]`.
            binned: &'a [Vec<u8>],
            edges: &'a [Vec<f32>],
            y: &'a [u8],
            nc: usize,
            /// Weight of each class in the impurity and the leaf frequencies.
            w: Vec<f64>,
            p: &'a ForestParams,
            mtry: usize,
            nodes: Vec<Node>,
            probs: Vec<f32>,
            depth_max: usize,
        }

        impl Builder<'_> {
            fn leaf(&mut self, idx: &[u32]) {
                let mut c = vec![0u64; self.nc];
                for &i in idx {
                    c[self.y[i as usize] as usize] += 1;
                }
                let row = (self.probs.len() / self.nc) as u32;
                leaf_row(&c, &self.w, &mut self.probs);
                self.nodes.push(Node {
                    feature: LEAF,
                    threshold: 0.0,
                    next: row,
                });
            }

            fn grow(&mut self, idx: &mut [u32], depth: usize, rng: &mut Rng, hist: &mut Vec<u32>) {
                self.depth_max = self.depth_max.max(depth);
                let n = idx.len();
                let mut counts = vec![0u64; self.nc];
                for &i in idx.iter() {
                    counts[self.y[i as usize] as usize] += 1;
                }
                let pure = counts.iter().filter(|&&c| c > 0).count() <= 1;
                if pure || depth >= self.p.max_depth || n < 2 * self.p.min_samples_leaf {
                    self.leaf(idx);
                    return;
                }
                let wc: Vec<f64> = counts
                    .iter()
                    .zip(&self.w)
                    .map(|(&c, &w)| c as f64 * w)
                    .collect();
                let parent: f64 = wc.iter().map(|v| v * v).sum::<f64>() / wc.iter().sum::<f64>();
                let nf = self.binned.len();
                let mut order: Vec<usize> = (0..nf).collect();
                let mut tried = 0;
                let mut best: Option<(f64, usize, usize, usize)> = None; // score, feature, t, n_left
                for k in 0..nf {
                    if tried >= self.mtry {
                        break;
                    }
                    let j = k + rng.below((nf - k) as u64) as usize;
                    order.swap(k, j);
                    let f = order[k];
                    let nb = self.edges[f].len() + 1;
                    let (varies, s) = best_split_on(
                        &self.binned[f],
                        self.y,
                        idx,
                        self.nc,
                        &self.w,
                        nb,
                        self.p.min_samples_leaf,
                        hist,
                    );
                    if !varies {
                        continue;
                    }
                    tried += 1;
                    if let Some((score, t, nl)) = s {
                        if best.is_none_or(|b| score > b.0) {
                            best = Some((score, f, t, nl));
                        }
                    }
                }
                let Some((score, f, t, nl)) = best else {
                    self.leaf(idx);
                    return;
                };
                if score <= parent * (1.0 + 1e-12) {
                    self.leaf(idx);
                    return;
                }
                // partition: bin ≤ t to the left (stable order is not needed, only determinism)
                let b = &self.binned[f];
                let (mut i, mut j) = (0usize, n);
                while i < j {
                    if b[idx[i] as usize] as usize <= t {
                        i += 1;
                    } else {
                        j -= 1;
                        idx.swap(i, j);
                    }
                }
                debug_assert_eq!(i, nl);
                let me = self.nodes.len();
                self.nodes.push(Node {
                    feature: f as u16,
                    threshold: self.edges[f][t],
                    next: 0,
                });
                let (l, r) = idx.split_at_mut(nl);
                self.grow(l, depth + 1, rng, hist);
                self.nodes[me].next = self.nodes.len() as u32;
                self.grow(r, depth + 1, rng, hist);
            }
        }

        /// The forest (no OOB report) grown by the reference builder.
        pub fn fit(x: ArrayView2<f32>, y: &[u8], nc: usize, p: &ForestParams) -> Forest {
            let (n, nf) = x.dim();
            let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); nc];
            for (i, &c) in y.iter().enumerate() {
                by_class[c as usize].push(i as u32);
            }
            let edges: Vec<Vec<f32>> = (0..nf)
                .map(|f| bin_edges(x.index_axis(Axis(1), f), p.bins))
                .collect();
            let binned: Vec<Vec<u8>> = (0..nf)
                .map(|f| {
                    x.index_axis(Axis(1), f)
                        .iter()
                        .map(|&v| bin_of(v, &edges[f]))
                        .collect()
                })
                .collect();
            let w = class_weights(&by_class, n, nc, p, None);
            let mut f = Forest {
                n_features: nf,
                n_classes: nc,
                nodes: Vec::new(),
                roots: Vec::new(),
                leaf_probs: Vec::new(),
            };
            for t in 0..p.trees {
                let mut rng = Rng::stream(p.seed, t as u64);
                let mut idx = bootstrap(&mut rng, &by_class, p);
                let mut b = Builder {
                    binned: &binned,
                    edges: &edges,
                    y,
                    nc,
                    w: w.clone(),
                    p,
                    mtry: p.mtry(nf),
                    nodes: Vec::new(),
                    probs: Vec::new(),
                    depth_max: 0,
                };
                let mut hist = Vec::new();
                b.grow(&mut idx, 0, &mut rng, &mut hist);
                f.push_tree(&b.nodes, &b.probs);
            }
            f
        }
    }

    /// The row-major builder grows exactly the forest of the reference builder (the same
    /// splits, thresholds and leaf frequencies), for 2…4 classes, both bootstrap modes, several
    /// features per split, bin counts and leaf sizes, and features that are constant.
    #[test]
    fn builder_matches_reference_twin() {
        let mut r = Rng::new(21);
        for trial in 0..8 {
            let n = 700 + 300 * trial;
            let nf = 4 + trial;
            let nc = 2 + trial % 3;
            let x = Array2::from_shape_fn((n, nf), |(i, f)| {
                if f == 1 {
                    1.0 // constant: never a split, a redraw
                } else if f == 2 {
                    (i % 3) as f32 // few distinct values
                } else {
                    r.normal() as f32
                }
            });
            let y: Vec<u8> = (0..n)
                .map(|i| {
                    let s = x[[i, 0]] + 0.7 * x[[i, 3]] + 0.3 * x[[i, 2]] + 0.5 * r.normal() as f32;
                    ((s + 1.5).max(0.0) as usize).min(nc - 1) as u8
                })
                .collect();
            let p = ForestParams {
                trees: 4,
                max_depth: 6 + trial,
                min_samples_leaf: 1 + trial % 4,
                max_features: [0, 2, 3, 0][trial % 4],
                bins: [64, 256, 16, 7][trial % 4],
                samples_per_class: if trial % 3 == 2 { 200 } else { 0 },
                seed: trial as u64,
                ..Default::default()
            };
            let (got, _) = Forest::fit(x.view(), &y, nc, &p).unwrap();
            let want = reference::fit(x.view(), &y, nc, &p);
            assert!(got.nodes.len() > 4 * 3, "trial {trial}: trivial trees");
            assert_eq!(got, want, "trial {trial}");
        }
    }

    /// Naive twin of the histogram split search: every threshold evaluated by counting the
    /// samples on each side directly and computing the weighted Gini impurity.
    #[test]
    fn split_search_matches_brute_force_gini() {
        let mut r = Rng::new(11);
        for trial in 0..50 {
            let n = 5 + trial;
            let nb = 2 + trial % 7;
            let nc = 2 + trial % 3;
            let bins: Vec<u8> = (0..n).map(|_| r.below(nb as u64) as u8).collect();
            let y: Vec<u8> = (0..n).map(|_| r.below(nc as u64) as u8).collect();
            let idx: Vec<u32> = (0..n as u32).filter(|_| r.uniform() < 0.8).collect();
            let min_leaf = 1 + trial % 3;
            let mut h = Vec::new();
            let (_, got) = best_split_on(&bins, &y, &idx, nc, &vec![1.0; nc], nb, min_leaf, &mut h);
            let mut want: Option<(f64, usize)> = None;
            for t in 0..nb - 1 {
                let l: Vec<u32> = idx
                    .iter()
                    .copied()
                    .filter(|&i| bins[i as usize] as usize <= t)
                    .collect();
                let rr: Vec<u32> = idx
                    .iter()
                    .copied()
                    .filter(|&i| bins[i as usize] as usize > t)
                    .collect();
                if l.len() < min_leaf || rr.len() < min_leaf {
                    continue;
                }
                let gini = |s: &[u32]| {
                    let m = s.len() as f64;
                    1.0 - (0..nc)
                        .map(|c| {
                            (s.iter().filter(|&&i| y[i as usize] as usize == c).count() as f64 / m)
                                .powi(2)
                        })
                        .sum::<f64>()
                };
                let w =
                    (l.len() as f64 * gini(&l) + rr.len() as f64 * gini(&rr)) / idx.len() as f64;
                if want.is_none_or(|b| w < b.0 - 1e-12) {
                    want = Some((w, t));
                }
            }
            match (got, want) {
                (None, None) => {}
                (Some((score, _, _)), Some((w, _))) => {
                    // Σ L²/nL + Σ R²/nR = n·(1 − weighted Gini); the same impurity (ties may
                    // pick another threshold)
                    let m = idx.len() as f64;
                    assert!((score - m * (1.0 - w)).abs() < 1e-9, "trial {trial}");
                }
                (a, b) => panic!("trial {trial}: {a:?} vs {b:?}"),
            }
        }
    }

    #[test]
    fn bins_split_values_as_the_float_test() {
        let col = ndarray::Array1::from_vec(vec![3.0f32, 1.0, 2.0, 2.0, 5.0, 4.0, 1.0, 6.0]);
        let e = bin_edges(col.view(), 4);
        assert!(e.windows(2).all(|w| w[0] < w[1]));
        for &v in col.iter() {
            let b = bin_of(v, &e) as usize;
            for (t, &edge) in e.iter().enumerate() {
                assert_eq!(b <= t, v < edge);
            }
        }
    }

    /// OOB accuracy estimates the accuracy on new samples: with 10 % label noise both are ≈ 0.9.
    #[test]
    fn oob_accuracy_matches_held_out_accuracy() {
        let (x, y) = noisy(4000, 1, 0.1);
        let p = ForestParams {
            trees: 40,
            min_samples_leaf: 5,
            ..Default::default()
        };
        let (f, rep) = Forest::fit(x.view(), &y, 2, &p).unwrap();
        let (xt, yt) = noisy(4000, 2, 0.1);
        let mut out = vec![0f32; 4000 * 2];
        f.predict_rows(xt.view(), &mut out);
        let acc = (0..4000)
            .filter(|&i| argmax(&out[2 * i..2 * i + 2]) == yt[i] as usize)
            .count() as f64
            / 4000.0;
        println!("oob {:.4} held-out {acc:.4}", rep.oob_accuracy);
        assert!(
            (rep.oob_accuracy - acc).abs() < 0.03,
            "{} vs {acc}",
            rep.oob_accuracy
        );
        assert!(acc > 0.85 && acc < 0.93, "{acc}");
        let s: u64 = rep.oob_confusion.iter().flatten().sum();
        assert_eq!(s as usize, rep.oob_samples);
        // the cached prediction equals the per-row one
        let mut one = vec![0f32; 2];
        for i in 0..4000 {
            f.predict_one(xt.row(i).as_slice().unwrap(), &mut one);
            assert_eq!(&out[2 * i..2 * i + 2], &one[..], "row {i}");
        }
    }

    /// Naive twin of the early-stopping label prediction: the argmax of the full forest's
    /// probabilities, for every row, with 2…4 classes, few and many trees, and ties.
    #[test]
    fn predict_labels_equals_argmax_of_all_trees() {
        let mut r = Rng::new(8);
        let n = 3000;
        let x = Array2::from_shape_fn((n, 7), |_| r.normal() as f32);
        for (nc, trees) in [(4usize, 15usize), (2, 40), (3, 3)] {
            let y: Vec<u8> = (0..n)
                .map(|i| ((x[[i, 0]] * 2.0 + x[[i, 2]] * x[[i, 5]]).abs() as u8).min(nc as u8 - 1))
                .collect();
            let p = ForestParams {
                trees,
                max_depth: 20,
                min_samples_leaf: 1,
                ..Default::default()
            };
            let (f, _) = Forest::fit(x.view(), &y, nc, &p).unwrap();
            let xt = Array2::from_shape_fn((517, 7), |_| (r.normal() * 1.5) as f32);
            let mut pr = vec![0f32; 517 * nc];
            f.predict_rows(xt.view(), &mut pr);
            let mut lab = vec![0u8; 517];
            f.predict_labels(xt.view(), &mut lab);
            for i in 0..517 {
                assert_eq!(
                    lab[i] as usize,
                    argmax(&pr[i * nc..(i + 1) * nc]),
                    "row {i}"
                );
            }
            let m = f.mean_path_length(xt.view());
            assert!(m > 1.0 && m <= 20.0, "{m}");
        }
    }

    /// The same seed gives the same forest with 1 and 2 threads; another seed another forest.
    #[test]
    fn thread_count_independent() {
        let (x, y) = noisy(1500, 3, 0.05);
        let p = ForestParams {
            trees: 12,
            ..Default::default()
        };
        let run = |threads: usize, p: &ForestParams| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| Forest::fit(x.view(), &y, 2, p).unwrap())
        };
        let a = run(1, &p);
        let b = run(2, &p);
        assert_eq!(a, b);
        let c = run(
            2,
            &ForestParams {
                seed: 1,
                ..p.clone()
            },
        );
        assert_ne!(a.0, c.0);
        // the first 5 trees are the forest grown with trees = 5
        let five = run(
            2,
            &ForestParams {
                trees: 5,
                ..p.clone()
            },
        );
        assert_eq!(a.0.first_trees(5), five.0);
        assert_ne!(a.0.first_trees(4), five.0);
    }

    /// Class-balanced sampling: with a 95/5 class imbalance the minority class is still found.
    #[test]
    fn balanced_sampling_recovers_the_rare_class() {
        let mut r = Rng::new(5);
        let n = 6000;
        let x = Array2::from_shape_fn((n, 3), |_| r.uniform() as f32);
        let y: Vec<u8> = (0..n).map(|i| (x[[i, 1]] > 0.95) as u8).collect();
        let (_, rep) = Forest::fit(
            x.view(),
            &y,
            2,
            &ForestParams {
                trees: 20,
                ..Default::default()
            },
        )
        .unwrap();
        let rec1 = rep.oob_confusion[1][1] as f64 / rep.oob_confusion[1].iter().sum::<u64>() as f64;
        assert!(rec1 > 0.95, "minority recall {rec1}");
        assert!(Forest::fit(x.view(), &y, 3, &ForestParams::default()).is_err());
    }
}
