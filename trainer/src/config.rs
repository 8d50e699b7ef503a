// SPDX-License-Identifier: MIT
//! The settings of a training run: the flags of `adain-train train` and, the same struct
//! serialised, `config.json` in its run directory.
//!
//! Each setting is declared once, as a field of [`TrainConfig`]: its doc comment is its `--help`
//! text, its `#[arg]` its flag and default, its `#[serde]` how an older `config.json` without it
//! reads. Whether `--resume` may change it is [`DEFINES_RUN`] (listed: may not) or not listed
//! (may).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};

/// Everything that defines a run. The fields named in [`DEFINES_RUN`] cannot change on resume;
/// the rest (loss weights, crops, learning rate, how and for how long the
/// run goes) may, as a schedule.
///
/// The field names are the flags (`batch_size` is `--batch-size`), the clap argument ids and the
/// keys of `config.json`. Missing keys of an older `config.json` take their serde defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
pub struct TrainConfig {
    /// The network to train: full (the decoder of VGG-19 + AdaIN + decoder, against the frozen
    /// VGG-19) or lite (the light network for CPUs, encoder and decoder, with VGG-19 as its loss
    /// network).
    #[arg(long, default_value = "full")]
    #[serde(default = "full_model")]
    pub model: adainstyle::Model,
    /// Which light network --model lite trains: lite (pixel-shuffle to full size, as first
    /// shipped), lite-bilinear (bilinear upsampling and a convolution at full size),
    /// lite-smooth (lite-bilinear with no pixel-shuffle in its body either), lite-detail
    /// (lite-smooth with a nonlinear step at full size) or lite-guided (per-pixel affine colour
    /// transforms of the photo, upsampled bilinearly).
    #[arg(long, default_value = "lite")]
    #[serde(default = "first_lite")]
    pub lite_arch: adainstyle::arch::LiteArch,
    /// How the full model's decoder upsamples: nearest (pytorch-AdaIN's) or bilinear (the
    /// exported file's header says which; the keys stay pytorch-AdaIN's).
    #[arg(long, default_value = "nearest")]
    #[serde(default)]
    pub upsample: adainstyle::arch::Upsample,
    /// Content photos, searched recursively (jpg, jpeg, png, webp, bmp). Required for a new run.
    #[arg(long, default_value = "", hide_default_value = true, value_parser = any_path())]
    pub content_dir: PathBuf,
    /// Style images, searched recursively (jpg, jpeg, png, webp, bmp). Required for a new run.
    #[arg(long, default_value = "", hide_default_value = true, value_parser = any_path())]
    pub style_dir: PathBuf,
    /// The frozen encoder (normalised VGG-19, pytorch-AdaIN keys); default: the shipped one
    /// ($ADAINSTYLE_DATADIR, else the installed or source tree's models/).
    #[arg(long, default_value_os_t = shipped_encoder(), hide_default_value = true)]
    pub encoder: PathBuf,
    /// Content and style images per batch.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Side of the square random crop (a multiple of 8).
    #[arg(long, default_value_t = 256)]
    pub crop: u32,
    /// Short side every image is resized to before the random crop.
    #[arg(long, default_value_t = 512)]
    pub resize: u32,
    /// Initial Adam learning rate.
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Learning-rate decay: lr = lr0 / (1 + decay * iteration).
    #[arg(long, default_value_t = 5e-5)]
    pub lr_decay: f64,
    /// Weight λ of the style loss.
    #[arg(long, default_value_t = 10.0)]
    pub style_weight: f64,
    /// Weight of the content loss.
    #[arg(long, default_value_t = 1.0)]
    pub content_weight: f64,
    /// Weight of the identity loss: pixel MSE between a photo and the network's stylisation of
    /// it with itself as the style (0 = off).
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub identity_weight: f64,
    /// Weight of a content loss at relu2_1 and relu3_1 against AdaIN of the photo's features
    /// there with the style's statistics there (0 = off).
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub shallow_content_weight: f64,
    /// Weight of a total-variation loss on the output (mean absolute difference of neighbouring
    /// pixels; 0 = off).
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub tv_weight: f64,
    /// Weight of the temporal term: the mean squared difference between the stylisation of a
    /// photo moved (up to 2 px), zoomed (up to 2 %) and noised (σ 0.01) and the stylisation of
    /// the photo moved and zoomed alike (0 = off).
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub temporal_weight: f64,
    /// Weight of the lattice term: the power of the output's 8-pixel-periodic fine structure
    /// over that of its whole fine structure, the `grid` figure's peaks as a loss (0 = off).
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub lattice_weight: f64,
    /// Seed for the decoder's initial weights and every batch (a run is reproducible from it).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Start from these weights instead of random ones: a decoder (pytorch-AdaIN keys), or with
    /// --model lite a light network's weights (of another --lite-arch too: the layers both
    /// networks have in common, same name and shape, are copied and the rest start afresh).
    #[arg(long)]
    #[serde(default)]
    pub init_decoder: Option<PathBuf>,
    /// Encode every image once at the start; each step then takes random crops of the content
    /// features and whole-image style statistics instead of encoding two batches of crops.
    #[arg(long)]
    #[serde(default)]
    pub cache_targets: bool,

    /// Total iterations of the run.
    #[arg(long, default_value_t = 160_000)]
    pub iterations: u64,
    /// Where to train: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto", value_parser = device_spec)]
    pub device: String,
    /// Precision of the convolutions: auto (fp16 autocast on CUDA, bf16 on a CPU with native
    /// bf16, else fp32), fp32, fp16 (CUDA; dynamic loss scaling) or bf16. Weights, statistics
    /// and losses stay fp32.
    #[arg(long, default_value = "auto")]
    #[serde(default)]
    pub precision: adainstyle::Precision,
    /// Checkpoint every N iterations (0 = only at the end).
    #[arg(long, default_value_t = 1000)]
    pub save_every: u64,
    /// Write a content | style | output PNG grid every N iterations (0 = never).
    #[arg(long, default_value_t = 1000)]
    pub sample_every: u64,
    /// Print a log line every N iterations.
    #[arg(long, default_value_t = 50)]
    pub log_every: u64,
    /// Threads decoding and cropping images ahead of the device.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// libtorch CPU threads (0 = libtorch's default). libtorch's thread count is one per
    /// process: a training session sets it while it is open and restores it when it ends.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Wall-clock budget in minutes: stop cleanly, save and export when it runs out. It belongs
    /// to one invocation: a resumed run has none unless given again.
    #[arg(long)]
    pub max_minutes: Option<f64>,
    /// Folder with content/ and style/ whose first images make the sample grids (instead of
    /// the current batch) and the held-out evaluations.
    #[arg(long)]
    pub heldout_dir: Option<PathBuf>,
    /// MiB of decoded, resized images kept in memory between iterations.
    #[arg(long, default_value_t = 2048)]
    pub cache_mb: usize,
    /// Measure the held-out style ratio and content keep (into heldout.csv, with the grid
    /// heldout-grid.png) every N iterations and when the invocation ends, keeping each measured
    /// decoder as heldout/decoder-<iteration>.safetensors (fp16) for `export`; 0 = never. Needs
    /// --heldout-dir.
    #[arg(long, default_value_t = 1000)]
    #[serde(default)]
    pub eval_every: u64,
    /// Held-out pairs each of those evaluations uses (0 = all; the first N cover every photo).
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub eval_pairs: usize,
}

/// The settings that define what a run learns from and with: the data, the network and its
/// start, the encoder, the batch, the seed and the decay. `--resume` refuses
/// to change them; every other setting of [`TrainConfig`] may be given anew on resume (the
/// optimiser state carries over either way).
pub const DEFINES_RUN: [&str; 11] = [
    "model",
    "lite_arch",
    "upsample",
    "content_dir",
    "style_dir",
    "encoder",
    "batch_size",
    "lr_decay",
    "seed",
    "init_decoder",
    "cache_targets",
];

/// Settings that belong to one invocation rather than to the run: a resume that does not give
/// them again drops the saved value.
pub const PER_INVOCATION: [&str; 1] = ["max_minutes"];

fn full_model() -> adainstyle::Model {
    adainstyle::Model::Full
}

fn first_lite() -> adainstyle::arch::LiteArch {
    adainstyle::arch::LITE
}

/// The shipped encoder, found like the element finds it (not relative to the working directory).
pub fn shipped_encoder() -> PathBuf {
    adainstyle::data::find(adainstyle::data::ENCODER)
}

/// Takes a path as given, the empty one too: it stands for a folder not given (which
/// [`TrainConfig::validate`] names), since a resumed run takes its folders from `config.json`.
fn any_path() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// Parses a `--device` value and stores it in its canonical spelling (`cuda` is `cuda:0`).
fn device_spec(s: &str) -> Result<String, adainstyle::Error> {
    Ok(s.parse::<adainstyle::DeviceSpec>()?.to_string())
}

/// The command-line flag of a setting (`batch_size` → `--batch-size`).
pub fn flag(setting: &str) -> String {
    format!("--{}", setting.replace('_', "-"))
}

/// Name of the configuration file in a run directory.
pub const CONFIG_FILE: &str = "config.json";

impl TrainConfig {
    /// Every setting's name, in declaration order (the keys of `config.json`).
    pub fn settings() -> Vec<String> {
        Self::augment_args(clap::Command::new("settings"))
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect()
    }

    /// The configuration a resumed run continues with: the `saved` one, with the settings named
    /// in `given_explicitly` (the flags typed on the command line) taken from `given`. A setting
    /// of [`DEFINES_RUN`] given with another value than the saved one is an error naming every
    /// such flag; [`PER_INVOCATION`] settings not given are dropped.
    pub fn resumed(saved: &Self, given: &Self, given_explicitly: &[&str]) -> Result<Self> {
        let explicit: BTreeSet<&str> = given_explicitly.iter().copied().collect();
        let serde_json::Value::Object(mut merged) = serde_json::to_value(saved)? else {
            bail!("internal: a configuration serialises to a JSON object");
        };
        let serde_json::Value::Object(given) = serde_json::to_value(given)? else {
            bail!("internal: a configuration serialises to a JSON object");
        };
        let refused: Vec<String> = DEFINES_RUN
            .iter()
            .filter(|name| explicit.contains(*name) && merged.get(**name) != given.get(**name))
            .map(|name| flag(name))
            .collect();
        if !refused.is_empty() {
            bail!(
                "--resume keeps the run's settings; cannot change {}",
                refused.join(", ")
            );
        }
        for name in &explicit {
            if let Some(value) = given.get(*name)
                && merged.contains_key(*name)
            {
                merged.insert((*name).to_owned(), value.clone());
            }
        }
        for name in PER_INVOCATION {
            if !explicit.contains(name) {
                merged.insert(name.to_owned(), serde_json::Value::Null);
            }
        }
        Ok(serde_json::from_value(serde_json::Value::Object(merged))?)
    }

    /// Checks values that would make training meaningless or crash later.
    pub fn validate(&self) -> Result<()> {
        if self.content_dir.as_os_str().is_empty() {
            bail!("--content-dir is required (or --resume RUN_DIR)");
        }
        if self.style_dir.as_os_str().is_empty() {
            bail!("--style-dir is required (or --resume RUN_DIR)");
        }
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
            ("--temporal-weight", self.temporal_weight),
            ("--lattice-weight", self.lattice_weight),
        ] {
            if !v.is_finite() || v < 0.0 {
                bail!("{name} must be a non-negative number, got {v}");
            }
        }
        if !crate::train::loss_weights(self).stylises() && self.identity_weight == 0.0 {
            bail!("every loss weight is 0: nothing to train");
        }
        if self.model == adainstyle::Model::Auto {
            bail!("--model must be full or lite");
        }
        if self.cache_targets && self.model == adainstyle::Model::Lite {
            bail!(
                "--cache-targets trains a decoder on cached VGG features; --model lite needs pixels"
            );
        }
        for (flag, weight) in [
            ("--identity-weight", self.identity_weight),
            ("--shallow-content-weight", self.shallow_content_weight),
            ("--temporal-weight", self.temporal_weight),
            ("--lattice-weight", self.lattice_weight),
        ] {
            if self.cache_targets && weight > 0.0 {
                bail!("{flag} needs the batch's pixels, which --cache-targets does not load");
            }
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
}

/// The `--help` text of `--resume`, naming the flags it refuses ([`DEFINES_RUN`]).
pub fn resume_help() -> String {
    let fixed: Vec<String> = DEFINES_RUN.iter().map(|s| flag(s)).collect();
    format!(
        "Continue the run in this directory exactly where its checkpoint left it. Its \
         config.json supplies every setting; any other flag given replaces its setting from \
         then on (the optimiser state carries over), except what defines the data and the \
         model, which may not change: {}",
        fixed.join(", ")
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration `adain-train train` would make of `flags` (without the program name),
    /// defaults included; a flag clap rejects is an error with clap's message.
    fn from_flags<I, T>(flags: I) -> Result<TrainConfig>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::FromArgMatches;
        let command =
            TrainConfig::augment_args(clap::Command::new("adain-train").no_binary_name(true));
        let matches = command.try_get_matches_from(flags)?;
        Ok(TrainConfig::from_arg_matches(&matches)?)
    }

    fn base() -> TrainConfig {
        from_flags(["--content-dir", "c", "--style-dir", "s", "--device", "cpu"]).unwrap()
    }

    /// The format of `config.json` as the trainer wrote it before the flags and the file became
    /// one declaration: same keys, same order, same spelling of every value.
    #[test]
    fn config_json_keeps_its_format() {
        let mut c = base();
        c.encoder = "models/vgg19-normalised.safetensors".into();
        let expected = r#"{
  "model": "full",
  "lite_arch": "lite",
  "upsample": "nearest",
  "content_dir": "c",
  "style_dir": "s",
  "encoder": "models/vgg19-normalised.safetensors",
  "batch_size": 8,
  "crop": 256,
  "resize": 512,
  "lr": 0.0001,
  "lr_decay": 0.00005,
  "style_weight": 10.0,
  "content_weight": 1.0,
  "identity_weight": 0.0,
  "shallow_content_weight": 0.0,
  "tv_weight": 0.0,
  "temporal_weight": 0.0,
  "lattice_weight": 0.0,
  "seed": 0,
  "init_decoder": null,
  "cache_targets": false,
  "iterations": 160000,
  "device": "cpu",
  "precision": "auto",
  "save_every": 1000,
  "sample_every": 1000,
  "log_every": 50,
  "workers": 2,
  "threads": 0,
  "max_minutes": null,
  "heldout_dir": null,
  "cache_mb": 2048,
  "eval_every": 1000,
  "eval_pairs": 0
}"#;
        assert_eq!(serde_json::to_string_pretty(&c).unwrap(), expected);
        let mut settings = TrainConfig::settings();
        settings.sort();
        assert_eq!(
            settings,
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(expected)
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>(),
            "a setting that is a flag but not a key of config.json, or the reverse"
        );
    }

    /// A `config.json` of the first rounds, before the light network, the extra loss terms, the
    /// precision and the held-out evaluations: the missing keys take their serde defaults.
    #[test]
    fn an_old_config_json_loads_with_defaults() {
        let old = r#"{"content_dir": "c", "style_dir": "s", "encoder": "e", "batch_size": 8,
            "crop": 128, "resize": 256, "lr": 0.0001, "lr_decay": 5e-5, "style_weight": 5.0,
            "content_weight": 1.0, "seed": 0, "iterations": 160000, "device": "cpu",
            "save_every": 250, "sample_every": 1000, "log_every": 50, "workers": 2,
            "threads": 1, "max_minutes": 60.0, "heldout_dir": null, "cache_mb": 2048}"#;
        let c: TrainConfig = serde_json::from_str(old).unwrap();
        assert_eq!(c.model, adainstyle::Model::Full);
        assert_eq!(c.precision, adainstyle::Precision::Auto);
        assert_eq!(
            (c.identity_weight, c.shallow_content_weight, c.tv_weight),
            (0.0, 0.0, 0.0)
        );
        assert_eq!((c.init_decoder, c.cache_targets), (None, false));
        // Not the flags' defaults (1000): a run made before held-out evaluations has none.
        assert_eq!((c.eval_every, c.eval_pairs), (0, 0));
        assert_eq!((c.crop, c.style_weight, c.save_every), (128, 5.0, 250));
    }

    #[test]
    fn flags_and_their_defaults() {
        let c = base();
        assert_eq!(c.encoder, shipped_encoder());
        assert_eq!((c.batch_size, c.crop, c.resize), (8, 256, 512));
        assert_eq!((c.lr, c.lr_decay, c.style_weight), (1e-4, 5e-5, 10.0));
        assert_eq!((c.eval_every, c.save_every, c.log_every), (1000, 1000, 50));
        let cuda = from_flags(["--device", "CUDA"]).unwrap();
        assert_eq!(cuda.device, "cuda:0");
        let err = from_flags(["--device", "tpu"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid value 'tpu' for '--device"),
            "{err}"
        );
        let err = from_flags(["--batch-size", "x"]).unwrap_err();
        assert!(err.to_string().contains("'--batch-size"), "{err}");
        let err = from_flags(["--style-dir", "s"]).unwrap().validate();
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("--content-dir is required")
        );
    }

    /// What `--resume` may change is what the trainer has let it change: the learning rate, the
    /// loss weights, the crop and resize, and how and for how long the run goes; not the data,
    /// the network, the encoder, the batch, the seed, the decay.
    #[test]
    fn resume_changes_the_schedule_not_what_defines_the_run() {
        let saved = base();
        let resumable = [
            ("--iterations", "iterations", "5"),
            ("--lr", "lr", "0.0003"),
            ("--style-weight", "style_weight", "0.25"),
            ("--content-weight", "content_weight", "2"),
            ("--identity-weight", "identity_weight", "2"),
            ("--shallow-content-weight", "shallow_content_weight", "3"),
            ("--tv-weight", "tv_weight", "4"),
            ("--temporal-weight", "temporal_weight", "5"),
            ("--lattice-weight", "lattice_weight", "6"),
            ("--crop", "crop", "128"),
            ("--resize", "resize", "256"),
            ("--max-minutes", "max_minutes", "30"),
            ("--device", "device", "auto"),
            ("--precision", "precision", "bf16"),
            ("--workers", "workers", "5"),
            ("--threads", "threads", "1"),
            ("--save-every", "save_every", "7"),
            ("--sample-every", "sample_every", "8"),
            ("--log-every", "log_every", "9"),
            ("--heldout-dir", "heldout_dir", "h"),
            ("--cache-mb", "cache_mb", "10"),
            ("--eval-every", "eval_every", "11"),
            ("--eval-pairs", "eval_pairs", "12"),
        ];
        assert_eq!(
            resumable.len() + DEFINES_RUN.len(),
            TrainConfig::settings().len(),
            "every setting is either resumable or defines the run"
        );
        for (flag_name, id, value) in resumable {
            let given = from_flags([flag_name, value]).unwrap();
            let resumed = TrainConfig::resumed(&saved, &given, &[id]).unwrap();
            let json = |c: &TrainConfig| serde_json::to_value(c).unwrap()[id].clone();
            assert_eq!(json(&resumed), json(&given), "{flag_name}");
            assert_ne!(json(&resumed), json(&saved), "{flag_name} did not change");
            // Nothing else moved.
            let mut back = resumed.clone();
            let mut v = serde_json::to_value(&back).unwrap();
            v[id] = json(&saved);
            back = serde_json::from_value(v).unwrap();
            assert_eq!(back, saved, "{flag_name}");
        }
        let refused = [
            ["--model", "lite"],
            ["--lite-arch", "lite-bilinear"],
            ["--content-dir", "other"],
            ["--style-dir", "other"],
            ["--encoder", "other"],
            ["--batch-size", "3"],
            ["--lr-decay", "0"],
            ["--seed", "1"],
            ["--init-decoder", "d"],
        ];
        for [flag_name, value] in refused {
            let id = flag_name.trim_start_matches("--").replace('-', "_");
            let given = from_flags([flag_name, value]).unwrap();
            let err = TrainConfig::resumed(&saved, &given, &[&id]).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("--resume keeps the run's settings; cannot change {flag_name}")
            );
        }
        let given = from_flags(["--cache-targets", "--batch-size", "3"]).unwrap();
        let err = TrainConfig::resumed(&saved, &given, &["cache_targets", "batch_size"]);
        assert_eq!(
            err.unwrap_err().to_string(),
            "--resume keeps the run's settings; cannot change --batch-size, --cache-targets"
        );
        // Given again with the saved value, a setting that defines the run is accepted; not
        // given, the saved value stays whatever the flag's default is.
        let given = from_flags(["--content-dir", "c", "--batch-size", "2"]).unwrap();
        let resumed = TrainConfig::resumed(&saved, &given, &["content_dir"]).unwrap();
        assert_eq!(resumed, saved);
        // A budget is one invocation's.
        let mut with_budget = saved.clone();
        with_budget.max_minutes = Some(5.0);
        let resumed = TrainConfig::resumed(&with_budget, &given, &[]).unwrap();
        assert_eq!(resumed.max_minutes, None);
    }

    #[test]
    fn resume_help_names_every_fixed_flag() {
        let help = resume_help();
        for name in DEFINES_RUN {
            assert!(help.contains(&flag(name)), "{name}: {help}");
        }
    }
}
