// SPDX-License-Identifier: MIT
//! `adain-train`: trains, exports and evaluates the AdaIN decoder of the adainstyle element.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use adainstyle::DeviceSpec;
use adainstyle_trainer::config::{self, TrainConfig};
use adainstyle_trainer::{eval, pack, train};
use anyhow::{Context, Result};
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
    Train(Box<TrainArgs>),
    /// Write a run's decoder as the safetensors file the element loads, and check it loads.
    Export(ExportArgs),
    /// Print a decoder's mean content and style losses over held-out pairs.
    Eval(EvalArgs),
    /// Print the style ratio and grid figure of stylised video frames (PNG folders), as `eval`
    /// measures pairs.
    FramesEval(FramesEvalArgs),
    /// Write a data folder's images as square JPEG crops into a tar, prepared as training
    /// prepares them (for a machine without the data: scripts/fetch-data.sh --pack).
    Pack(PackArgs),
}

/// Flags of `pack`.
#[derive(Debug, Args)]
struct PackArgs {
    /// The data folder (content/, style/, optionally heldout/{content,style}/, MANIFEST.tsv,
    /// licenses/), as scripts/fetch-data.sh builds it.
    data: PathBuf,
    /// The tar to write.
    out: PathBuf,
    /// Side of the square crops (every image's short side is resized to it first).
    #[arg(long, default_value_t = 256)]
    size: u32,
    /// JPEG quality of the crops.
    #[arg(long, default_value_t = 90)]
    quality: u8,
    /// Seed of the crop positions in the training images (held-out ones are centre crops).
    #[arg(long, default_value_t = 0)]
    seed: u64,
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

/// Flags of `train`: where the run lives, and its settings (one declaration: [`TrainConfig`],
/// also what `config.json` holds).
#[derive(Debug, Args)]
struct TrainArgs {
    /// Run directory: checkpoint, decoder, config.json, losses.csv, samples/, losses.png.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "run_dir", help = config::resume_help())]
    resume: Option<PathBuf>,
    #[command(flatten)]
    config: TrainConfig,
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
    /// Export the mean of the source and these weights (repeat the flag; the same network, such
    /// as other copies one run kept): a run's decoder wanders between iterations, and the mean
    /// of a few copies wanders less than any one of them.
    #[arg(long, value_name = "WEIGHTS")]
    average_with: Vec<PathBuf>,
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

/// Raised by Ctrl-C / SIGTERM; the training loop stops after the current iteration.
static STOP: AtomicBool = AtomicBool::new(false);

/// The settings typed on the command line (clap ids, which are the settings' names).
fn explicit(m: &ArgMatches) -> Vec<&str> {
    m.ids()
        .map(|id| id.as_str())
        .filter(|id| m.value_source(id) == Some(ValueSource::CommandLine))
        .collect()
}

fn run_train(args: &TrainArgs, m: &ArgMatches) -> Result<()> {
    let (config, run_dir, resume) = match &args.resume {
        Some(dir) => {
            let saved = TrainConfig::load(dir)?;
            let config = TrainConfig::resumed(&saved, &args.config, &explicit(m))?;
            (config, dir.clone(), true)
        }
        None => {
            let dir = args
                .run_dir
                .clone()
                .context("--run-dir is required (or --resume RUN_DIR)")?;
            (args.config.clone(), dir, false)
        }
    };
    config.validate()?;
    // This process is the trainer's own, so it may set what libtorch keeps per process (the
    // library leaves it alone): on CUDA, cuDNN benchmarks the convolution algorithms for the
    // run's fixed batch shape once and keeps the fastest.
    if train::resolve_device(&config)?.0.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }
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
    let n = eval::export(&args.source, &args.average_with, &args.out, args.half)?;
    println!(
        "exported {} ({n} tensors, {}{}); it loads with adainstyle::Pretrained::decoder",
        args.out.display(),
        if args.half { "fp16" } else { "fp32" },
        if args.average_with.is_empty() {
            String::new()
        } else {
            format!(
                ", the mean of {} weights files",
                args.average_with.len() + 1
            )
        }
    );
    Ok(())
}

fn run_eval(args: &EvalArgs) -> Result<()> {
    let settings = eval::EvalSettings {
        model: adainstyle::Model::of_weights(&args.decoder)?,
        encoder: args.encoder.clone().unwrap_or_else(config::shipped_encoder),
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
    println!(
        "grid          {:.3} (the photos' own: {:.3})",
        r.grid, r.grid_floor
    );
    if let Some(db) = r.psnr_vs_fp32 {
        println!("psnr_vs_fp32  {db:.2} dB");
    }
    Ok(())
}

fn run_frames_eval(args: &FramesEvalArgs) -> Result<()> {
    let r = eval::frames_eval(
        &args.encoder.clone().unwrap_or_else(config::shipped_encoder),
        &args.content,
        &args.output,
        &args.style,
        args.device.resolve()?,
    )?;
    println!(
        "{{\"style_ratio\": {:.6}, \"grid\": {:.4}, \"grid_floor\": {:.4}, \"frames\": {}}}",
        r.style_ratio, r.grid, r.grid_floor, r.frames
    );
    Ok(())
}

fn run_pack(args: &PackArgs) -> Result<()> {
    let packed = pack::pack(
        &args.data,
        &args.out,
        pack::PackSettings {
            size: args.size,
            quality: args.quality,
            seed: args.seed,
        },
    )?;
    println!(
        "packed {} crops of {}x{} into {} ({:.1} MB; {} unreadable images skipped)",
        packed.crops,
        args.size,
        args.size,
        args.out.display(),
        packed.bytes as f64 / 1e6,
        packed.skipped
    );
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
            Some(Command::Pack(args)) => run_pack(args),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("adain-train: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
