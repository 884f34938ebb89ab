//! Workflow step `kind = "tortuosity"` (same keys as the `fibstack tortuosity` flags).
//!
//! ```toml
//! [[steps]]
//! kind = "tortuosity"
//! phase = 0                  # label value to measure (required)
//! method = "both"            # "rw" | "fd" | "both" (default "fd")
//! axis = "all"               # "x" | "y" | "z" | "all" (default "all")
//! boundary = "half_voxel"    # or "fixed_layers" (steady state)
//! tol = 1e-5                 # steady state: relative residual
//! max_iter = 1000            # steady state
//! seed = 0                   # random walk (default: the workflow seed)
//! walkers = 20000            # random walk (default 2/precision²)
//! steps = 65536              # random walk fixed length (default automatic)
//! precision = 0.01           # random walk
//! max_steps = 2097152        # random walk, automatic length limit
//! msd_csv = "msd.csv"        # random walk: MSD curve written into the output folder
//! msd_png = "msd.png"
//! ```
//! Result JSON: `{ "results": [TortuosityResult…], "comparison": [{axis, fd, rw,
//! relative_difference}] }` — see [`crate::metrics::tortuosity::TortuosityResult`].

use crate::error::{Error, ParamError};
use crate::metrics::tortuosity::parse_axis;
use crate::metrics::tortuosity::random_walk::{tortuosity_rw, RandomWalkOptions};
use crate::metrics::tortuosity::steady_state::{tortuosity_fd, Boundary, SteadyStateOptions};
use crate::workflow::results::TortuosityStepResult;
use crate::workflow::{Context, Data, Step, StepError, StepResult};
use serde::Deserialize;

/// `kind = "tortuosity"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tortuosity {
    /// Label value or phase name (required).
    pub phase: crate::volume::PhaseRef,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default = "default_axis")]
    pub axis: String,
    #[serde(default = "default_boundary")]
    pub boundary: String,
    #[serde(default = "default_tol")]
    pub tol: f64,
    #[serde(default = "default_max_iter")]
    pub max_iter: usize,
    pub seed: Option<u64>,
    pub walkers: Option<u64>,
    pub steps: Option<u64>,
    #[serde(default = "default_precision")]
    pub precision: f64,
    #[serde(default = "default_max_steps")]
    pub max_steps: u64,
    pub msd_csv: Option<String>,
    pub msd_png: Option<String>,
}

fn default_method() -> String {
    "fd".into()
}
fn default_axis() -> String {
    "all".into()
}
fn default_boundary() -> String {
    "half_voxel".into()
}
fn default_tol() -> f64 {
    1e-5
}
fn default_max_iter() -> usize {
    1000
}
fn default_precision() -> f64 {
    0.01
}
fn default_max_steps() -> u64 {
    1 << 21
}

impl Tortuosity {
    fn axes(&self) -> Result<Vec<usize>, ParamError> {
        if self.axis.trim().eq_ignore_ascii_case("all") {
            return Ok(vec![0, 1, 2]);
        }
        let mut v = Vec::new();
        for p in self.axis.split(',') {
            let a = parse_axis(p)?;
            if !v.contains(&a) {
                v.push(a);
            }
        }
        Ok(v)
    }
    fn fd_opts(&self) -> Result<SteadyStateOptions, ParamError> {
        Ok(SteadyStateOptions {
            boundary: Boundary::parse(&self.boundary)?,
            rtol: self.tol,
            max_iter: self.max_iter,
            ..Default::default()
        })
    }
    fn rw_opts(&self, seed: u64) -> RandomWalkOptions {
        RandomWalkOptions {
            seed: self.seed.unwrap_or(seed),
            walkers: self.walkers,
            steps: self.steps,
            precision: self.precision,
            max_steps: self.max_steps,
            ..Default::default()
        }
    }
    fn methods(&self) -> Result<(bool, bool), ParamError> {
        match self.method.as_str() {
            "fd" => Ok((true, false)),
            "rw" => Ok((false, true)),
            "both" => Ok((true, true)),
            m => Err(ParamError::new(
                "method",
                m,
                "use \"rw\", \"fd\" or \"both\"",
            )),
        }
    }
}

impl Step for Tortuosity {
    fn validate(&self) -> Result<(), ParamError> {
        let (fd, rw) = self.methods()?;
        self.axes()?;
        self.fd_opts()?.validate()?;
        if rw {
            self.rw_opts(0).validate()?;
        }
        crate::workflow::check_output_name("msd_csv", &self.msd_csv)?;
        crate::workflow::check_output_name("msd_png", &self.msd_png)?;
        if fd && !rw && (self.msd_csv.is_some() || self.msd_png.is_some()) {
            return Err(ParamError::new(
                "msd_csv/msd_png",
                &self.method,
                "the MSD curve comes from the random walk: set method = \"rw\" or \"both\"",
            ));
        }
        Ok(())
    }
    fn needs(&self) -> Data {
        Data::Labels
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        let (fd, rw) = self.methods()?;
        let axes = self.axes()?;
        let fd_opts = self.fd_opts()?;
        let rw_opts = self.rw_opts(ctx.seed);
        let mut fd_res = Vec::new();
        let mut rw_res = Vec::new();
        let mut files: Vec<(std::path::PathBuf, Vec<u8>)> = Vec::new();
        let mut msd_curve = None;
        let calibrated;
        let phase = ctx.resolve_phase("tortuosity", &self.phase)?;
        {
            let (l, voxel) = ctx.metric_labels("tortuosity", &[("phase", phase)])?;
            calibrated = voxel.is_calibrated();
            if fd {
                for &a in &axes {
                    let r = tortuosity_fd(l.view(), phase, voxel.nm, a, &fd_opts, ctx.progress)?;
                    fd_res.push(r);
                }
            }
            if rw {
                let out = tortuosity_rw(l.view(), phase, voxel.nm, &axes, &rw_opts, ctx.progress)?;
                if let Some(p) = &self.msd_csv {
                    files.push((p.into(), out.msd.to_csv().into_bytes()));
                }
                if self.msd_png.is_some() {
                    msd_curve = Some(out.msd.clone());
                }
                rw_res = out.results;
            }
        }
        // doubtful values stop the run before anything of this step is written, unless the
        // workflow says allow_unconverged = true (then they are kept with their warnings)
        let suspect: Vec<&crate::metrics::tortuosity::TortuosityResult> = fd_res
            .iter()
            .chain(&rw_res)
            .filter(|r| r.is_suspect())
            .collect();
        if !suspect.is_empty() && !ctx.allow_unconverged {
            let what: Vec<String> = suspect
                .iter()
                .flat_map(|r| r.warnings.iter().cloned())
                .collect();
            return Err(StepError::Unconverged {
                warnings: what.join("; "),
            }
            .into());
        }
        for r in fd_res.iter().chain(&rw_res) {
            ctx.warnings
                .extend(r.warnings.iter().map(|w| format!("tortuosity: {w}")));
        }
        for (name, bytes) in files {
            let path = ctx.output(&name.to_string_lossy());
            crate::io::atomic::write_bytes(&path, &bytes)?;
        }
        if let (Some(p), Some(c)) = (&self.msd_png, &msd_curve) {
            crate::report::figures::msd_plot(c).write_png(&ctx.output(p), 800, 500)?;
        }
        Ok(Some(StepResult::Tortuosity(Box::new(
            TortuosityStepResult::build(fd_res, rw_res, calibrated, ctx.naming(phase), phase),
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Tortuosity, toml::de::Error> {
        toml::from_str(s)
    }

    #[test]
    fn keys_and_validation() {
        let t = parse("phase = 0\nmethod = \"both\"\naxis = \"z\"\nmsd_csv = \"m.csv\"").unwrap();
        assert!(t.validate().is_ok());
        assert!(parse("phase = 0\nwalker = 3").is_err());
        let t = parse("phase = 0\nmethod = \"walk\"").unwrap();
        assert!(t.validate().is_err());
        let t = parse("phase = 0\naxis = \"q\"").unwrap();
        assert!(t.validate().is_err());
        let t = parse("phase = 0\nboundary = \"periodic\"").unwrap();
        assert!(t.validate().is_err());
        let t = parse("phase = 0\nmsd_png = \"m.png\"").unwrap();
        assert!(t.validate().is_err(), "fd only cannot write an MSD plot");
        let t = parse("phase = 0\nmethod = \"rw\"\nprecision = 2.0").unwrap();
        assert!(t.validate().is_err());
    }

    #[test]
    fn runs_on_context_labels() {
        use crate::volume::{LabelVolume, VoxelSize};
        let dir = tempfile::tempdir().unwrap();
        let t = parse(
            "phase = 1\nmethod = \"both\"\naxis = \"z\"\nwalkers = 2000\nsteps = 256\nmsd_csv = \"m.csv\"",
        )
        .unwrap();
        let mut ctx = Context::new(dir.path().to_path_buf(), 3, &crate::progress::Silent);
        ctx.labels = Some(LabelVolume::new(
            ndarray::Array3::from_elem((6, 5, 5), 1u8),
            VoxelSize::default(),
        ));
        // an uncalibrated volume is refused unless the workflow allows it
        let e = t.run(&mut ctx).unwrap_err().to_string();
        assert!(e.contains("allow_uncalibrated"), "{e}");
        ctx.allow_uncalibrated = true;
        let v = t.run(&mut ctx).unwrap().unwrap().to_json().unwrap();
        assert_eq!(v["results"].as_array().unwrap().len(), 2);
        assert_eq!(v["results"][1]["seed"], 3);
        assert!(
            v["comparison"][0]["relative_difference"]
                .as_f64()
                .unwrap()
                .abs()
                < 0.1
        );
        assert!(dir.path().join("m.csv").exists());
    }
}
