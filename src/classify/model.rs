//! The model file (`.fsrf`): a versioned, self-describing random forest.
//!
//! ```text
//! bytes 0..12   magic  "FIBSTACK-RF\0"
//! bytes 12..20  u64 LE length H of the header
//! H bytes       header, UTF-8 JSON (ModelHeader: format and fibstack versions, features and
//!               their names, voxel size, sample type, phases, hyper-parameters, provenance)
//! body          roots: u32 LE × trees; nodes: (u16 feature, u16 0, f32 threshold, u32 next)
//!               × nodes; leaf probabilities: f32 LE × leaves × classes
//! 32 bytes      SHA-256 of everything before it
//! ```
//! Counts of the body are in the header (`trees`, `nodes`, `leaves`, `classes`); a file whose
//! checksum or sizes do not match is refused.

use super::forest::{Forest, ForestParams, Node, TrainReport};
use super::ClassifyError;
use crate::features::{FeatureParams, FEATURE_VERSION};
use crate::volume::SampleType;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// File magic.
pub const MAGIC: &[u8; 12] = b"FIBSTACK-RF\0";
/// Version of the layout above.
pub const FORMAT_VERSION: u32 = 1;

/// A phase: label value written in the output and its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseName {
    /// Label value written in the output.
    pub label: u8,
    /// Name of the phase (e.g. `pore`).
    pub name: String,
}

/// A training input (file or folder) with its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRecord {
    /// The file or folder.
    pub path: PathBuf,
    /// Files hashed (a folder's files in name order; the digest is then the SHA-256 of their
    /// hex digests).
    pub files: usize,
    /// Bytes hashed.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// Where the training data came from and what training measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The training files with their digests.
    pub inputs: Vec<InputRecord>,
    /// One description per training stack (file, or simulator truth).
    pub sources: Vec<String>,
    /// Labelled voxels per label value, per stack.
    pub labelled_voxels: Vec<Vec<(u8, u64)>>,
    /// Out-of-bag figures and sample counts.
    pub training: TrainReport,
}

/// The JSON header of a model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelHeader {
    /// Always `"fibstack random forest"`.
    pub format: String,
    /// Layout version of the file ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// fibstack version that trained the model.
    pub fibstack_version: String,
    /// Version of the feature definitions (a model is refused by a build whose features differ).
    pub feature_version: u32,
    /// The feature stack the forest was trained on.
    pub features: FeatureParams,
    /// One name per feature, in order (checked against `features` when loading).
    pub feature_names: Vec<String>,
    /// Voxel `[dz, dy, dx]` (nm) of the training data.
    pub voxel_nm: [f64; 3],
    /// Sample type of the training data (u8, u16, f32).
    pub sample_type: String,
    /// Phases in class order.
    pub phases: Vec<PhaseName>,
    /// Forest hyper-parameters used.
    pub forest: ForestParams,
    /// Trees in the forest.
    pub trees: usize,
    /// Nodes over all trees.
    pub nodes: usize,
    /// Leaves over all trees.
    pub leaves: usize,
    /// Classes (phases).
    pub classes: usize,
    /// Training inputs and out-of-bag figures.
    pub provenance: Provenance,
}

impl ModelHeader {
    /// The header of a freshly trained `forest`.
    pub fn new(
        features: &FeatureParams,
        forest_params: &ForestParams,
        voxel_nm: [f64; 3],
        sample: SampleType,
        phases: Vec<PhaseName>,
        provenance: Provenance,
        forest: &Forest,
    ) -> Self {
        ModelHeader {
            format: "fibstack random forest".into(),
            format_version: FORMAT_VERSION,
            fibstack_version: env!("CARGO_PKG_VERSION").into(),
            feature_version: FEATURE_VERSION,
            features: features.clone(),
            feature_names: features.names(),
            voxel_nm,
            sample_type: sample.as_str().into(),
            phases,
            forest: forest_params.clone(),
            trees: forest.roots.len(),
            nodes: forest.nodes.len(),
            leaves: forest.leaf_probs.len() / forest.n_classes.max(1),
            classes: forest.n_classes,
            provenance,
        }
    }
}

/// A model: header and forest.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The JSON header.
    pub header: ModelHeader,
    /// The trees.
    pub forest: Forest,
}

impl Model {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let js = serde_json::to_vec_pretty(&self.header).expect("header serialises");
        let f = &self.forest;
        let mut b = Vec::with_capacity(64 + js.len() + 12 * f.nodes.len() + 4 * f.leaf_probs.len());
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&(js.len() as u64).to_le_bytes());
        b.extend_from_slice(&js);
        for r in &f.roots {
            b.extend_from_slice(&r.to_le_bytes());
        }
        for n in &f.nodes {
            b.extend_from_slice(&n.feature.to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes());
            b.extend_from_slice(&n.threshold.to_le_bytes());
            b.extend_from_slice(&n.next.to_le_bytes());
        }
        for v in &f.leaf_probs {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let h = Sha256::digest(&b);
        b.extend_from_slice(&h);
        b
    }

    /// Write atomically.
    pub fn save(&self, path: &Path) -> Result<(), ClassifyError> {
        crate::io::atomic::write_bytes(path, &self.to_bytes())?;
        Ok(())
    }

    /// Parse a model file's bytes (`file` for messages); checks magic, checksum, versions, sizes
    /// and that the stored feature names are what this fibstack computes for the stored features.
    pub fn from_bytes(b: &[u8], file: &str) -> Result<Model, ClassifyError> {
        let bad = |d: String| ClassifyError::Model {
            file: file.into(),
            detail: d,
        };
        if b.len() < 20 + 32 || &b[..12] != MAGIC {
            return Err(bad("no FIBSTACK-RF magic".into()));
        }
        let (body, sum) = b.split_at(b.len() - 32);
        if Sha256::digest(body).as_slice() != sum {
            return Err(bad(
                "checksum mismatch: the file is truncated or corrupt".into()
            ));
        }
        let hl = u64::from_le_bytes(body[12..20].try_into().expect("8 bytes")) as usize;
        if 20 + hl > body.len() {
            return Err(bad(format!("header length {hl} beyond the file")));
        }
        let header: ModelHeader =
            serde_json::from_slice(&body[20..20 + hl]).map_err(|e| bad(format!("header: {e}")))?;
        if header.format_version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {} (this fibstack reads {FORMAT_VERSION}); retrain with this version",
                header.format_version
            )));
        }
        if header.feature_version != FEATURE_VERSION
            || header.features.names() != header.feature_names
        {
            return Err(ClassifyError::FeatureMismatch {
                file: file.into(),
                detail: format!(
                    "the model's feature definitions (version {}) are not this fibstack's (version {FEATURE_VERSION})",
                    header.feature_version
                ),
            });
        }
        let (t, n, l, c) = (header.trees, header.nodes, header.leaves, header.classes);
        let need = 4 * t + 12 * n + 4 * l * c;
        let rest = &body[20 + hl..];
        if rest.len() != need || c < 2 || c != header.phases.len() || t == 0 {
            return Err(bad(format!(
                "body of {} bytes for {t} trees, {n} nodes, {l} leaves, {c} classes",
                rest.len()
            )));
        }
        let u32at = |o: usize| u32::from_le_bytes(rest[o..o + 4].try_into().expect("4"));
        let roots: Vec<u32> = (0..t).map(|i| u32at(4 * i)).collect();
        let nodes: Vec<Node> = (0..n)
            .map(|i| {
                let o = 4 * t + 12 * i;
                Node {
                    feature: u16::from_le_bytes([rest[o], rest[o + 1]]),
                    threshold: f32::from_le_bytes(rest[o + 4..o + 8].try_into().expect("4")),
                    next: u32at(o + 8),
                }
            })
            .collect();
        let o = 4 * t + 12 * n;
        let leaf_probs: Vec<f32> = (0..l * c)
            .map(|i| f32::from_le_bytes(rest[o + 4 * i..o + 4 * i + 4].try_into().expect("4")))
            .collect();
        let nf = header.feature_names.len();
        // every index in range, so prediction cannot go out of bounds
        for (i, nd) in nodes.iter().enumerate() {
            let ok = if nd.feature == u16::MAX {
                (nd.next as usize) < l
            } else {
                (nd.feature as usize) < nf && (nd.next as usize) < n && nd.next as usize > i
            };
            if !ok {
                return Err(bad(format!("node {i} points outside the forest")));
            }
        }
        if roots.iter().any(|&r| r as usize >= n) {
            return Err(bad("a tree root points outside the forest".into()));
        }
        Ok(Model {
            forest: Forest {
                n_features: nf,
                n_classes: c,
                nodes,
                roots,
                leaf_probs,
            },
            header,
        })
    }

    /// Read a model file.
    pub fn load(path: &Path) -> Result<Model, ClassifyError> {
        let b = std::fs::read(path).map_err(|e| crate::io::IoError::os(path, e))?;
        Model::from_bytes(&b, &path.display().to_string())
    }

    /// Refuse a requested feature set that differs from the model's.
    pub fn check_features(&self, wanted: &FeatureParams, file: &str) -> Result<(), ClassifyError> {
        if wanted.names() != self.header.feature_names {
            return Err(ClassifyError::FeatureMismatch {
                file: file.into(),
                detail: format!(
                    "asked for {} features ({}), the model has {}",
                    wanted.names().len(),
                    wanted.names().join(", "),
                    self.header.feature_names.len()
                ),
            });
        }
        Ok(())
    }
}
