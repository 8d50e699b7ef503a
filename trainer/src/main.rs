// SPDX-License-Identifier: MIT
//! `adain-train`: trains, exports and evaluates the AdaIN decoder of the adainstyle element.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use adainstyle::DeviceSpec;
use adainstyle_trainer::config::TrainConfig;
use adainstyle_trainer::{eval, train};
use anyhow::{Context, Result, bail};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// Train the AdaIN decoder (Huang & Belongie 2017) against the frozen normalised VGG-19 encoder,
/// export it for the adainstyle element, and measure it on held-out images.
///
/// Without a subcommand, `train` is assumed.
#[derive(Debug, Parser)]
#[command(
    name = "adain-train",
    version,
    args_conflicts_with_subcommands = true,
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: TrainArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a decoder (the default).
    #[command(args_override_self = true)]
    Train(TrainArgs),
    /// Write a run's decoder as the safetensors file the element loads, and check it loads.
    Export(ExportArgs),
    /// Print a decoder's mean content and style losses over held-out pairs.
    Eval(EvalArgs),
    /// Print the style ratio of stylised video frames (PNG folders), as `eval` measures pairs.
    FramesEval(FramesEvalArgs),
}

/// Flags of `frames-eval`.
#[derive(Debug, Args)]
struct FramesEvalArgs {
    /// The input frames (PNG), named like the outputs.
    #[arg(long)]
    content: PathBuf,
    /// The stylised frames (PNG).
    #[arg(long)]
    output: PathBuf,
    /// The style image the frames were stylised with.
    #[arg(long)]
    style: PathBuf,
    /// The yardstick encoder (run in fp32); default: the shipped one.
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// Where to run: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
}

/// Flags of `train`.
#[derive(Debug, Args)]
struct TrainArgs {
    /// The network to train: full (the decoder of VGG-19 + AdaIN + decoder, against the frozen
    /// VGG-19) or lite (the light network for CPUs, encoder and decoder, with VGG-19 as its loss
    /// network).
    #[arg(long, default_value = "full")]
    model: adainstyle::Model,
    /// How the full model's decoder upsamples: nearest (pytorch-AdaIN's) or bilinear (the
    /// exported file's header says which; the keys stay pytorch-AdaIN's).
    #[arg(long, default_value = "nearest")]
    upsample: adainstyle::arch::Upsample,
    /// Content photos, searched recursively (jpg, jpeg, png, webp, bmp).
    #[arg(long)]
    content_dir: Option<PathBuf>,
    /// Style images, searched recursively (jpg, jpeg, png, webp, bmp).
    #[arg(long)]
    style_dir: Option<PathBuf>,
    /// The frozen encoder (normalised VGG-19, pytorch-AdaIN keys); default: the shipped one
    /// ($ADAINSTYLE_DATADIR, else the installed or source tree's models/).
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// Run directory: checkpoint, decoder, config.json, losses.csv, samples/, losses.png.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Continue the run in this directory exactly where its checkpoint left it. Its config.json
    /// supplies every setting; only --iterations, --lr, the loss weights (--style-weight,
    /// --identity-weight, --shallow-content-weight, --tv-weight), --crop, --resize,
    /// --max-minutes, --device, --precision, --workers, --threads, --save-every,
    /// --sample-every, --log-every, --heldout-dir, --cache-mb, --eval-every and --eval-pairs may
    /// be given anew (the optimiser state carries over either way).
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "run_dir")]
    resume: Option<PathBuf>,
    /// Total iterations of the run.
    #[arg(long, default_value_t = 160_000)]
    iterations: u64,
    /// Content and style images per batch.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Side of the square random crop (a multiple of 8).
    #[arg(long, default_value_t = 256)]
    crop: u32,
    /// Short side every image is resized to before the random crop.
    #[arg(long, default_value_t = 512)]
    resize: u32,
    /// Initial Adam learning rate.
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// Learning-rate decay: lr = lr0 / (1 + decay * iteration).
    #[arg(long, default_value_t = 5e-5)]
    lr_decay: f64,
    /// Weight λ of the style loss.
    #[arg(long, default_value_t = 10.0)]
    style_weight: f64,
    /// Weight of the content loss.
    #[arg(long, default_value_t = 1.0)]
    content_weight: f64,
    /// Weight of the identity loss: pixel MSE between a photo and the network's stylisation of
    /// it with itself as the style (0 = off).
    #[arg(long, default_value_t = 0.0)]
    identity_weight: f64,
    /// Weight of a content loss at relu2_1 and relu3_1 against AdaIN of the photo's features
    /// there with the style's statistics there (0 = off).
    #[arg(long, default_value_t = 0.0)]
    shallow_content_weight: f64,
    /// Weight of a total-variation loss on the output (mean absolute difference of neighbouring
    /// pixels; 0 = off).
    #[arg(long, default_value_t = 0.0)]
    tv_weight: f64,
    /// Where to train: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
    /// Precision of the convolutions: auto (fp16 autocast on CUDA, bf16 on a CPU with native
    /// bf16, else fp32), fp32, fp16 (CUDA; dynamic loss scaling) or bf16. Weights, statistics
    /// and losses stay fp32.
    #[arg(long, default_value = "auto")]
    precision: adainstyle::Precision,
    /// Start from these weights instead of random ones: a decoder (pytorch-AdaIN keys), or with
    /// --model lite the light network's weights.
    #[arg(long)]
    init_decoder: Option<PathBuf>,
    /// Encode every image once at the start; each step then takes random crops of the content
    /// features and whole-image style statistics instead of encoding two batches of crops.
    #[arg(long)]
    cache_targets: bool,
    /// Seed for the decoder's initial weights and every batch (a run is reproducible from it).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Checkpoint every N iterations (0 = only at the end).
    #[arg(long, default_value_t = 1000)]
    save_every: u64,
    /// Write a content | style | output PNG grid every N iterations (0 = never).
    #[arg(long, default_value_t = 1000)]
    sample_every: u64,
    /// Print a log line every N iterations.
    #[arg(long, default_value_t = 50)]
    log_every: u64,
    /// Threads decoding and cropping images ahead of the device.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// libtorch CPU threads (0 = libtorch's default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Wall-clock budget in minutes: stop cleanly, save and export when it runs out.
    #[arg(long)]
    max_minutes: Option<f64>,
    /// Folder with content/ and style/ whose first images make the sample grids (instead of
    /// the current batch).
    #[arg(long)]
    heldout_dir: Option<PathBuf>,
    /// MiB of decoded, resized images kept in memory between iterations.
    #[arg(long, default_value_t = 2048)]
    cache_mb: usize,
    /// Measure the held-out style ratio and content keep (into heldout.csv, with the grid
    /// heldout-grid.png) every N iterations and when the invocation ends, keeping each measured
    /// decoder as heldout/decoder-<iteration>.safetensors (fp16) for `export`; 0 = never. Needs
    /// --heldout-dir.
    #[arg(long, default_value_t = 1000)]
    eval_every: u64,
    /// Held-out pairs each of those evaluations uses (0 = all; the first N cover every photo).
    #[arg(long, default_value_t = 0)]
    eval_pairs: usize,
}

/// Flags of `export`.
#[derive(Debug, Args)]
struct ExportArgs {
    /// A run directory (exports its checkpoint's decoder) or a decoder file, such as
    /// `RUN/heldout/decoder-<iteration>.safetensors`, the copy kept by each held-out evaluation.
    source: PathBuf,
    /// The decoder file to write (safetensors, pytorch-AdaIN keys).
    out: PathBuf,
    /// Store fp16 instead of fp32 (half the size; loaded as fp32 by the element).
    #[arg(long)]
    half: bool,
}

/// Flags of `eval`.
#[derive(Debug, Args)]
struct EvalArgs {
    /// The weights to measure: a full-model decoder, or the light network's weights (its file
    /// header says which).
    #[arg(long)]
    decoder: PathBuf,
    /// The encoder it was trained against (also the yardstick, always run in fp32); default:
    /// the shipped one.
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// Held-out content photos (used at 384 px on the longest edge).
    #[arg(long)]
    content_dir: PathBuf,
    /// Held-out style images (used at 512 px on the longest edge).
    #[arg(long)]
    style_dir: PathBuf,
    /// Number of pairs; 0 = every photo with every painting.
    #[arg(long, default_value_t = 0)]
    pairs: usize,
    /// Precision the stylisation runs in (the measurements stay fp32).
    #[arg(long, default_value = "fp32")]
    precision: adainstyle::Precision,
    /// Where to run: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
    /// Also write a PNG grid (content | style | output) of the first pairs.
    #[arg(long)]
    grid: Option<PathBuf>,
    /// Pairs shown in the grid.
    #[arg(long, default_value_t = 8)]
    grid_pairs: usize,
}

/// The shipped encoder, found like the element finds it (not relative to the working directory).
fn shipped_encoder() -> PathBuf {
    adainstyle::data::find(adainstyle::data::ENCODER)
}

/// Raised by Ctrl-C / SIGTERM; the training loop stops after the current iteration.
static STOP: AtomicBool = AtomicBool::new(false);

/// Settings that may change when a run is resumed (clap ids).
const RESUMABLE: [&str; 20] = [
    "eval_pairs",
    "tv_weight",
    "crop",
    "resize",
    "iterations",
    "lr",
    "style_weight",
    "identity_weight",
    "shallow_content_weight",
    "max_minutes",
    "device",
    "precision",
    "workers",
    "threads",
    "save_every",
    "sample_every",
    "log_every",
    "heldout_dir",
    "cache_mb",
    "eval_every",
];

fn explicit(m: &ArgMatches, id: &str) -> bool {
    m.value_source(id) == Some(ValueSource::CommandLine)
}

impl TrainArgs {
    fn to_config(&self) -> Result<TrainConfig> {
        let content_dir = self
            .content_dir
            .clone()
            .context("--content-dir is required")?;
        let style_dir = self.style_dir.clone().context("--style-dir is required")?;
        Ok(self.config_with(content_dir, style_dir))
    }

    fn config_with(&self, content_dir: PathBuf, style_dir: PathBuf) -> TrainConfig {
        TrainConfig {
            model: self.model,
            upsample: self.upsample,
            content_dir,
            style_dir,
            encoder: self.encoder.clone().unwrap_or_else(shipped_encoder),
            batch_size: self.batch_size,
            crop: self.crop,
            resize: self.resize,
            lr: self.lr,
            lr_decay: self.lr_decay,
            style_weight: self.style_weight,
            content_weight: self.content_weight,
            identity_weight: self.identity_weight,
            shallow_content_weight: self.shallow_content_weight,
            tv_weight: self.tv_weight,
            seed: self.seed,
            init_decoder: self.init_decoder.clone(),
            cache_targets: self.cache_targets,
            iterations: self.iterations,
            device: self.device.to_string(),
            precision: self.precision,
            save_every: self.save_every,
            sample_every: self.sample_every,
            log_every: self.log_every,
            workers: self.workers,
            threads: self.threads,
            max_minutes: self.max_minutes,
            heldout_dir: self.heldout_dir.clone(),
            cache_mb: self.cache_mb,
            eval_every: self.eval_every,
            eval_pairs: self.eval_pairs,
        }
    }

    /// The saved config of `run_dir` with the run-control flags given on the command line.
    fn resumed_config(&self, m: &ArgMatches, run_dir: &std::path::Path) -> Result<TrainConfig> {
        let saved = TrainConfig::load(run_dir)?;
        let given = self.config_with(
            self.content_dir
                .clone()
                .unwrap_or(saved.content_dir.clone()),
            self.style_dir.clone().unwrap_or(saved.style_dir.clone()),
        );
        let changed: Vec<&str> = saved
            .learning_differences(&given)
            .into_iter()
            .filter(|name| explicit(m, &name.replace('-', "_")))
            .collect();
        if !changed.is_empty() {
            bail!(
                "--resume keeps the run's settings; cannot change --{}",
                changed.join(", --")
            );
        }
        let mut config = saved;
        for id in RESUMABLE {
            if !explicit(m, id) {
                continue;
            }
            match id {
                "iterations" => config.iterations = given.iterations,
                // A schedule chosen by the user: the optimiser state carries over.
                "lr" => config.lr = given.lr,
                "style_weight" => config.style_weight = given.style_weight,
                "identity_weight" => config.identity_weight = given.identity_weight,
                "shallow_content_weight" => {
                    config.shallow_content_weight = given.shallow_content_weight
                }
                "max_minutes" => config.max_minutes = given.max_minutes,
                "device" => config.device = given.device.clone(),
                "precision" => config.precision = given.precision,
                "workers" => config.workers = given.workers,
                "threads" => config.threads = given.threads,
                "save_every" => config.save_every = given.save_every,
                "sample_every" => config.sample_every = given.sample_every,
                "log_every" => config.log_every = given.log_every,
                "heldout_dir" => config.heldout_dir = given.heldout_dir.clone(),
                "cache_mb" => config.cache_mb = given.cache_mb,
                "eval_every" => config.eval_every = given.eval_every,
                "eval_pairs" => config.eval_pairs = given.eval_pairs,
                "tv_weight" => config.tv_weight = given.tv_weight,
                "crop" => config.crop = given.crop,
                "resize" => config.resize = given.resize,
                other => bail!("internal: resumable flag `{other}` has no handler"),
            }
        }
        if !explicit(m, "max_minutes") {
            // A budget belongs to one invocation, not to the run.
            config.max_minutes = None;
        }
        Ok(config)
    }
}

fn run_train(args: &TrainArgs, m: &ArgMatches) -> Result<()> {
    let (config, run_dir, resume) = match &args.resume {
        Some(dir) => (args.resumed_config(m, dir)?, dir.clone(), true),
        None => {
            let dir = args
                .run_dir
                .clone()
                .context("--run-dir is required (or --resume RUN_DIR)")?;
            (args.to_config()?, dir, false)
        }
    };
    ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            eprintln!("adain-train: interrupted again, exiting without saving");
            std::process::exit(130);
        }
        eprintln!(
            "adain-train: stopping after this iteration (saving; press Ctrl-C again to abort)"
        );
    })
    .context("installing the Ctrl-C handler")?;
    train::run(&config, &run_dir, resume, &STOP)?;
    Ok(())
}

fn run_export(args: &ExportArgs) -> Result<()> {
    let n = eval::export(&args.source, &args.out, args.half)?;
    println!(
        "exported {} ({n} tensors, {}); it loads with adainstyle::Pretrained::decoder",
        args.out.display(),
        if args.half { "fp16" } else { "fp32" }
    );
    Ok(())
}

fn run_eval(args: &EvalArgs) -> Result<()> {
    let settings = eval::EvalSettings {
        model: adainstyle::Model::of_weights(&args.decoder)?,
        encoder: args.encoder.clone().unwrap_or_else(shipped_encoder),
        decoder: args.decoder.clone(),
        content_dir: args.content_dir.clone(),
        style_dir: args.style_dir.clone(),
        pairs: args.pairs,
        precision: args.precision,
        device: args.device.resolve()?,
        grid: args.grid.clone(),
        grid_pairs: args.grid_pairs,
    };
    let r = eval::evaluate(&settings)?;
    println!("decoder       {}", args.decoder.display());
    println!("model         {}", settings.model);
    println!("precision     {}", args.precision);
    println!("pairs         {} ({} images skipped)", r.pairs, r.skipped);
    println!("style_ratio   {:.4}", r.style_ratio);
    println!("content_keep  {:.4}", r.content_keep);
    println!("content_loss  {:.4}", r.content_loss);
    println!("style_loss    {:.4}", r.style_loss);
    println!("luma_ssim     {:.4}", r.ssim);
    println!("blockiness    {:.4}", r.blockiness);
    if let Some(db) = r.psnr_vs_fp32 {
        println!("psnr_vs_fp32  {db:.2} dB");
    }
    Ok(())
}

fn run_frames_eval(args: &FramesEvalArgs) -> Result<()> {
    let (ratio, frames) = eval::frames_style_ratio(
        &args.encoder.clone().unwrap_or_else(shipped_encoder),
        &args.content,
        &args.output,
        &args.style,
        args.device.resolve()?,
    )?;
    println!("{{\"style_ratio\": {ratio:.6}, \"frames\": {frames}}}");
    Ok(())
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let result = Cli::from_arg_matches(&matches)
        .map_err(anyhow::Error::from)
        .and_then(|cli| match &cli.command {
            None => run_train(&cli.train, &matches),
            Some(Command::Train(args)) => {
                let sub = matches.subcommand_matches("train").unwrap_or(&matches);
                run_train(args, sub)
            }
            Some(Command::Export(args)) => run_export(args),
            Some(Command::Eval(args)) => run_eval(args),
            Some(Command::FramesEval(args)) => run_frames_eval(args),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("adain-train: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
