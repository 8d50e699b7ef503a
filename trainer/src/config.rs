// SPDX-License-Identifier: MIT
//! The settings of a training run, stored as `config.json` in its run directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// Everything that defines a run. [`TrainConfig::learning_differences`] lists what cannot change
/// on resume; the rest (loss weights, crops, learning rate, how and for how long the run goes)
/// may, as a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The network trained: the full model's decoder (against the frozen VGG-19) or the whole
    /// light network (VGG-19 as its loss network).
    #[serde(default = "full_model")]
    pub model: adainstyle::Model,
    /// How the full model's decoder upsamples (nearest, as pytorch-AdaIN, or bilinear; stored in
    /// the exported file's header).
    #[serde(default)]
    pub upsample: adainstyle::arch::Upsample,
    /// Content photos (searched recursively).
    pub content_dir: PathBuf,
    /// Style images (searched recursively).
    pub style_dir: PathBuf,
    /// The frozen encoder checkpoint.
    pub encoder: PathBuf,
    /// Images per batch (content and style each).
    pub batch_size: usize,
    /// Side of the square random crop fed to the network.
    pub crop: u32,
    /// The short side every image is resized to before cropping.
    pub resize: u32,
    /// Initial learning rate.
    pub lr: f64,
    /// Inverse-time decay: `lr = lr0 / (1 + lr_decay * iteration)`.
    pub lr_decay: f64,
    /// Weight of the style loss.
    pub style_weight: f64,
    /// Weight of the content loss.
    pub content_weight: f64,
    /// Weight of the identity loss: the pixel MSE between a photo and its stylisation with itself
    /// as the style (0 = off).
    #[serde(default)]
    pub identity_weight: f64,
    /// Weight of the shallow content loss: MSE at relu2_1 and relu3_1 against AdaIN of the
    /// photo's features there with the style's statistics there (0 = off).
    #[serde(default)]
    pub shallow_content_weight: f64,
    /// Weight of the total-variation loss on the output: the mean absolute difference of
    /// neighbouring pixels (0 = off).
    #[serde(default)]
    pub tv_weight: f64,
    /// Seeds the decoder's initial weights and every batch.
    pub seed: u64,
    /// A decoder checkpoint the run starts from instead of a random initialisation (a warm
    /// start from an exported decoder).
    #[serde(default)]
    pub init_decoder: Option<PathBuf>,
    /// Encode every content and style image once at the start and train on crops of those
    /// features and on whole-image style statistics (see [`crate::cache`]).
    #[serde(default)]
    pub cache_targets: bool,

    /// Total iterations the run aims for.
    pub iterations: u64,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Precision of the convolutions: auto, fp32, fp16 (CUDA autocast) or bf16.
    #[serde(default)]
    pub precision: adainstyle::Precision,
    /// Checkpoint every this many iterations (0 = only at the end).
    pub save_every: u64,
    /// Write a sample grid every this many iterations (0 = never).
    pub sample_every: u64,
    /// Print a log line every this many iterations.
    pub log_every: u64,
    /// Image decoding threads.
    pub workers: usize,
    /// libtorch CPU threads (0 = libtorch's default).
    pub threads: usize,
    /// Wall-clock budget of this invocation in minutes.
    pub max_minutes: Option<f64>,
    /// Fixed held-out pairs for the sample grids (`content/` and `style/` inside).
    pub heldout_dir: Option<PathBuf>,
    /// Memory for decoded, resized images kept between iterations, in MiB.
    pub cache_mb: usize,
    /// Measure the held-out figures every this many iterations and when an invocation ends
    /// (0 = never); needs `heldout_dir`.
    #[serde(default)]
    pub eval_every: u64,
    /// Held-out pairs those evaluations use (0 = every photo with every painting).
    #[serde(default)]
    pub eval_pairs: usize,
}

fn full_model() -> adainstyle::Model {
    adainstyle::Model::Full
}

/// Name of the configuration file in a run directory.
pub const CONFIG_FILE: &str = "config.json";

impl TrainConfig {
    /// Checks values that would make training meaningless or crash later.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        if self.crop < 8 || !self.crop.is_multiple_of(8) {
            bail!(
                "--crop must be a multiple of 8 (the encoder downsamples by 8), got {}",
                self.crop
            );
        }
        if self.resize < self.crop {
            bail!(
                "--resize ({}) must be at least --crop ({})",
                self.resize,
                self.crop
            );
        }
        for (name, v) in [
            ("--lr", self.lr),
            ("--lr-decay", self.lr_decay),
            ("--style-weight", self.style_weight),
            ("--content-weight", self.content_weight),
            ("--identity-weight", self.identity_weight),
            ("--shallow-content-weight", self.shallow_content_weight),
            ("--tv-weight", self.tv_weight),
        ] {
            if !v.is_finite() || v < 0.0 {
                bail!("{name} must be a non-negative number, got {v}");
            }
        }
        if self.model == adainstyle::Model::Auto {
            bail!("--model must be full or lite");
        }
        if self.cache_targets && self.model == adainstyle::Model::Lite {
            bail!(
                "--cache-targets trains a decoder on cached VGG features; --model lite needs pixels"
            );
        }
        if self.log_every == 0 {
            bail!("--log-every must be at least 1");
        }
        if let Some(m) = self.max_minutes
            && (!m.is_finite() || m <= 0.0)
        {
            bail!("--max-minutes must be positive, got {m}");
        }
        self.device
            .parse::<adainstyle::DeviceSpec>()
            .context("--device")?;
        Ok(())
    }

    /// The learning rate at `iteration` (0-based), as in pytorch-AdaIN.
    pub fn lr_at(&self, iteration: u64) -> f64 {
        self.lr / (1.0 + self.lr_decay * iteration as f64)
    }

    /// Reads `config.json` from a run directory.
    pub fn load(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Writes `config.json` into a run directory (atomically).
    pub fn save(&self, run_dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        write_atomic(&run_dir.join(CONFIG_FILE), text.as_bytes())
    }

    /// Names of the fields that define what is learned and differ between `self` and `other`.
    pub fn learning_differences(&self, other: &Self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut check = |name, same: bool| {
            if !same {
                out.push(name);
            }
        };
        check("model", self.model == other.model);
        check("upsample", self.upsample == other.upsample);
        check("content-dir", self.content_dir == other.content_dir);
        check("style-dir", self.style_dir == other.style_dir);
        check("encoder", self.encoder == other.encoder);
        check("batch-size", self.batch_size == other.batch_size);
        check("lr-decay", self.lr_decay == other.lr_decay);
        check(
            "content-weight",
            self.content_weight == other.content_weight,
        );
        check("seed", self.seed == other.seed);
        check("init-decoder", self.init_decoder == other.init_decoder);
        check("cache-targets", self.cache_targets == other.cache_targets);
        out
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// readers only ever see the old or the new content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}
