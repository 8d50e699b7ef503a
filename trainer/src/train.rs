// SPDX-License-Identifier: MIT
//! The training loop: batches from the worker threads, the paper's loss, Adam with the decaying
//! learning rate, and the checkpoints, logs and samples of the run directory.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use adainstyle::{DeviceSpec, Encoder, Model, Pretrained};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use tch::{Device, Kind, Tensor, nn};

use crate::adam::{Adam, LossScale};
use crate::cache::TargetCache;
use crate::checkpoint::{self, RunState};
use crate::config::TrainConfig;
use crate::data::{self, BatchLoader, Dataset, HostBatch, ImageFolder};
use crate::eval;
use crate::loss::{self, Compute, Pixels, Trainee};
use crate::report::{self, LossLog, LossRow};

/// Batches each data worker keeps ready.
const PREFETCH_PER_WORKER: usize = 2;
/// Held-out pairs shown in the sample grids.
const SAMPLE_PAIRS: usize = 4;
/// File name of the loss plot in a run directory.
pub const PLOT_FILE: &str = "losses.png";

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `--iterations` reached.
    Finished,
    /// The wall-clock budget (`--max-minutes`) ran out.
    TimeBudget,
    /// Interrupted (Ctrl-C / SIGTERM).
    Interrupted,
}

/// What a call to [`run`] did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Iterations completed in the run as a whole.
    pub iterations_done: u64,
    /// Iterations run by this call.
    pub iterations_this_call: u64,
    /// The last logged row.
    pub last: Option<LossRow>,
    /// Why it stopped.
    pub reason: StopReason,
    /// Mean seconds per iteration in this call (data wait included), if any ran.
    pub seconds_per_iteration: Option<f64>,
}

/// The device and the way a step computes that a configuration resolves to.
pub fn resolve_device(config: &TrainConfig) -> Result<(Device, Compute)> {
    let spec: DeviceSpec = config.device.parse().context("--device")?;
    let device = spec.resolve()?;
    let precision = config.precision.resolve(device).context("--precision")?;
    Ok((device, Compute::for_precision(precision)))
}

/// Exponential moving average of the logged losses (what the progress line shows).
#[derive(Debug, Default)]
struct Smoothed {
    content: f64,
    style: f64,
    total: f64,
    n: u64,
}

impl Smoothed {
    fn push(&mut self, row: &LossRow) {
        let a = if self.n == 0 {
            1.0
        } else {
            0.02f64.max(1.0 / (self.n + 1) as f64)
        };
        self.content += a * (row.content - self.content);
        self.style += a * (row.style - self.style);
        self.total += a * (row.total - self.total);
        self.n += 1;
    }
}

fn format_duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// Gives every variable of `vs` a uniform initialisation: weights in ±gain/sqrt(fan_in), biases
/// in ±1/sqrt(fan_in). Gain 1 is PyTorch's default convolution initialisation (what
/// pytorch-AdaIN's decoder starts from); gain sqrt(6) is He's, which keeps the activations' scale
/// through a deep stack of ReLUs trained from scratch (the light network).
///
/// The values come from a ChaCha stream of `seed` rather than libtorch's global generator, so
/// the initial network depends on the seed alone, whatever else the process does with libtorch.
pub fn initialise(vs: &nn::VarStore, seed: u64, gain: f64) -> Result<()> {
    let mut rng = Dataset::rng_for(seed, u64::MAX);
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        let var = &vars[name];
        let shape = var.size();
        let weight_key = match name.strip_suffix(".bias") {
            Some(stem) => format!("{stem}.weight"),
            None => name.clone(),
        };
        let weight_shape = vars
            .get(&weight_key)
            .map(Tensor::size)
            .with_context(|| format!("no weight for `{name}`"))?;
        let fan_in: i64 = weight_shape.iter().skip(1).product();
        let is_weight = !name.ends_with(".bias");
        let bound = (if is_weight { gain as f32 } else { 1.0 }) / (fan_in.max(1) as f32).sqrt();
        let count = shape.iter().product::<i64>() as usize;
        let values: Vec<f32> = (0..count).map(|_| rng.gen_range(-bound..bound)).collect();
        let src = Tensor::f_from_slice(&values)?
            .f_view(shape.as_slice())?
            .f_to_device(var.device())?;
        tch::no_grad(|| var.shallow_clone().f_copy_(&src))?;
    }
    Ok(())
}

/// Loads up to `n` fixed pairs from `dir/content` and `dir/style`, as square `size` crops.
pub fn load_pairs(dir: &Path, n: usize, size: u32, device: Device) -> Result<(Tensor, Tensor)> {
    let pick = |sub: &str| -> Result<Tensor> {
        let paths = data::list_images(&dir.join(sub))?;
        let step = (paths.len() / n).max(1);
        let mut images = Vec::new();
        for path in paths.iter().step_by(step) {
            match adainstyle::image_io::load_rgb(path) {
                Ok(img) => images.push(adainstyle::image_io::to_tensor(
                    &data::center_square(&img, size),
                    device,
                    Kind::Float,
                )?),
                Err(e) => eprintln!("warning: skipping held-out image {e}"),
            }
            if images.len() == n {
                break;
            }
        }
        if images.is_empty() {
            bail!("no readable images in {}", dir.join(sub).display());
        }
        Ok(Tensor::f_cat(&images, 0)?)
    };
    let (c, s) = (pick("content")?, pick("style")?);
    let k = c.size()[0].min(s.size()[0]);
    Ok((c.f_narrow(0, 0, k)?, s.f_narrow(0, 0, k)?))
}

/// Where the batches come from.
enum Source {
    /// Image crops decoded by worker threads, encoded every step.
    Pixels(BatchLoader),
    /// Encoder targets computed once per image.
    Cached(TargetCache),
}

/// Everything a run holds while it trains.
struct Session<'a> {
    run_dir: &'a Path,
    encoder: Pretrained<Encoder>,
    vs: nn::VarStore,
    trainee: Trainee,
    adam: Adam,
    state: RunState,
    compute: Compute,
    weights: loss::Weights,
}

impl Session<'_> {
    fn save(&self) -> Result<()> {
        checkpoint::save(
            self.run_dir,
            &self.vs,
            &self.trainee.metadata(),
            &self.adam,
            &self.state,
        )
    }

    fn sample(
        &self,
        pairs: Option<&(Tensor, Tensor)>,
        batch: Option<&(Tensor, Tensor, Tensor)>,
    ) -> Result<()> {
        let path = self
            .run_dir
            .join("samples")
            .join(format!("iter-{:07}.png", self.state.iteration));
        match pairs {
            Some((c, s)) => {
                let out = tch::no_grad(|| {
                    loss::compute(
                        &self.encoder.net,
                        &self.trainee,
                        c,
                        s,
                        self.compute,
                        &self.weights,
                    )
                })?;
                report::save_grid(c, s, &out.output, &path)
            }
            None => {
                // Batches of cached targets carry no pixels to show.
                let Some((c, s, g)) = batch else {
                    return Ok(());
                };
                let k = c.size()[0].min(SAMPLE_PAIRS as i64);
                report::save_grid(
                    &c.f_narrow(0, 0, k)?,
                    &s.f_narrow(0, 0, k)?,
                    &g.f_narrow(0, 0, k)?,
                    &path,
                )
            }
        }
    }
}

/// Trains as `config` says in `run_dir`, continuing its checkpoint when `resume` is set, until
/// the iterations are done, the time budget is spent or `stop` is raised. Always leaves a
/// checkpoint, `decoder.safetensors`, `losses.csv` and `losses.png` behind.
pub fn run(
    config: &TrainConfig,
    run_dir: &Path,
    resume: bool,
    stop: &AtomicBool,
) -> Result<Outcome> {
    let started = Instant::now();
    config.validate()?;
    std::fs::create_dir_all(run_dir)
        .with_context(|| format!("creating run directory {}", run_dir.display()))?;
    let ckpt = checkpoint::checkpoint_path(run_dir);
    if !resume && ckpt.exists() {
        bail!(
            "{} already holds a run; continue it with --resume {} or pick another --run-dir",
            run_dir.display(),
            run_dir.display()
        );
    }
    if config.threads > 0 {
        tch::set_num_threads(config.threads as i32);
    }
    let (device, compute) = resolve_device(config)?;
    let amp = compute.needs_loss_scaling();
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }

    let encoder = Pretrained::encoder(&config.encoder, device, compute.encoder_kind())
        .with_context(|| format!("loading encoder {}", config.encoder.display()))?;
    let vs = nn::VarStore::new(device);
    let trainee = Trainee::new(config.model, config.upsample, &vs.root())?;
    match &config.init_decoder {
        Some(path) => adainstyle::network::check_arch(path, config.model)
            .map_err(anyhow::Error::from)
            .and_then(|()| Ok(adainstyle::weights::load_into(&vs, path)?))
            .with_context(|| format!("--init-decoder {}", path.display()))?,
        None => initialise(&vs, config.seed, init_gain(config.model))?,
    }
    adainstyle::weights_to_channels_last(&vs)?;
    let mut adam = Adam::new(&vs)?;
    let state = if resume {
        let loaded = checkpoint::load(run_dir)?;
        if loaded.state.seed != config.seed {
            bail!(
                "checkpoint seed {} differs from config seed {}",
                loaded.state.seed,
                config.seed
            );
        }
        adainstyle::weights::copy_checked(
            &vs,
            loaded.decoder,
            &checkpoint::checkpoint_path(run_dir),
        )?;
        adam.load_state(&loaded.adam, loaded.state.adam_steps)?;
        loaded.state
    } else {
        RunState {
            iteration: 0,
            adam_steps: 0,
            loss_scale: LossScale::new(amp),
            train_seconds: 0.0,
            seed: config.seed,
        }
    };
    config.save(run_dir)?;

    let cache = config.cache_mb << 20;
    let dataset = Arc::new(Dataset {
        content: ImageFolder::open(&config.content_dir, config.resize, cache / 2)?,
        style: ImageFolder::open(&config.style_dir, config.resize, cache / 2)?,
        batch: config.batch_size,
        crop: config.crop,
        seed: config.seed,
    });
    let pairs = match &config.heldout_dir {
        Some(dir) => Some(load_pairs(dir, SAMPLE_PAIRS, config.crop, device)?),
        None => None,
    };
    let mut session = Session {
        run_dir,
        encoder,
        vs,
        trainee,
        adam,
        state,
        compute,
        weights: loss_weights(config),
    };
    let first = session.state.iteration;
    let end = config.iterations;
    println!(
        "adain-train: {} network, {} content and {} style images, batch {} at {} px (resized to {}), {:?}{}, iterations {}..{}, run dir {}",
        config.model,
        dataset.content.len(),
        dataset.style.len(),
        config.batch_size,
        config.crop,
        config.resize,
        device,
        match compute {
            Compute::Fp32 => " in fp32",
            Compute::Bf16 => " in bf16 (fp32 weights and losses)",
            Compute::Fp16Autocast => " with fp16 autocast",
        },
        first,
        end,
        run_dir.display()
    );

    let mut log = LossLog::open(run_dir, first)?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(end);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {pos}/{len} {per_sec} ETA {eta} {msg}",
            )?
            .progress_chars("=> "),
        );
        bar.set_position(first);
        bar.reset_eta();
        bar
    } else {
        ProgressBar::hidden()
    };
    let say = |bar: &ProgressBar, line: &str| {
        if bar.is_hidden() {
            println!("{line}");
        } else {
            bar.println(line);
        }
    };

    let budget = config
        .max_minutes
        .map(|m| Duration::from_secs_f64(m * 60.0));
    let mut source = if first >= end {
        None
    } else if config.cache_targets {
        let t0 = Instant::now();
        let (cache, warnings) =
            TargetCache::build(&dataset, &session.encoder.net, compute, device)?;
        for w in warnings {
            say(&bar, &format!("warning: {w}"));
        }
        let (c, s) = cache.len();
        say(
            &bar,
            &format!(
                "encoded {c} content and {s} style images once in {:.0} s",
                t0.elapsed().as_secs_f64()
            ),
        );
        Some(Source::Cached(cache))
    } else {
        Some(Source::Pixels(BatchLoader::start(
            dataset.clone(),
            first,
            end,
            config.workers,
            PREFETCH_PER_WORKER,
        )?))
    };
    let base_seconds = session.state.train_seconds;
    let loop_start = Instant::now();
    let mut smoothed = Smoothed::default();
    let mut last_row = None;
    let mut last_step = Duration::ZERO;
    let mut logged_at = (first, 0.0f64);
    let mut saved_at = first;
    let mut reason = StopReason::Finished;
    while let Some(source) = source.as_mut() {
        let t = session.state.iteration;
        if t >= end {
            break;
        }
        if stop.load(Ordering::Relaxed) {
            reason = StopReason::Interrupted;
            break;
        }
        if let Some(budget) = budget
            && started.elapsed() + last_step > budget
        {
            reason = StopReason::TimeBudget;
            break;
        }
        let step_start = Instant::now();
        let (targets, pixels) = match source {
            Source::Pixels(loader) => {
                let batch = loader.next_batch()?;
                for w in &batch.warnings {
                    say(&bar, &format!("warning: {w}"));
                }
                let content =
                    HostBatch::to_device(&batch.content, batch.batch, batch.crop, device)?;
                let style = HostBatch::to_device(&batch.style, batch.batch, batch.crop, device)?;
                let targets = loss::targets(&session.encoder.net, &content, &style, compute)?;
                (targets, Some((content, style)))
            }
            Source::Cached(cache) => (cache.batch(t)?, None),
        };
        let lr = config.lr_at(t);

        session.adam.zero_grad();
        let losses = loss::compute_from(
            &session.encoder.net,
            &session.trainee,
            &targets,
            pixels
                .as_ref()
                .map(|(content, style)| Pixels { content, style }),
            compute,
            &session.weights,
        )?;
        let total = losses.total(&session.weights)?;
        let scale = session.state.loss_scale.scale;
        total.f_mul_scalar(scale)?.f_backward()?;
        let finite = if amp {
            session.adam.grads_finite()?.f_to_kind(Kind::Float)?
        } else {
            Tensor::f_ones([], (Kind::Float, device))?
        };
        let values: Vec<f64> = Vec::<f64>::try_from(
            &Tensor::f_stack(&[&losses.content, &losses.style, &total, &finite], 0)?
                .f_to_kind(Kind::Double)?
                .f_to(Device::Cpu)?,
        )?;
        let grads_ok = values[3] > 0.5;
        if amp {
            session.state.loss_scale.update(grads_ok);
        } else if !values[2].is_finite() {
            bail!(
                "the loss became {} at iteration {t}; the last checkpoint (iteration {saved_at}) is intact",
                values[2]
            );
        }
        if grads_ok {
            session.adam.step(lr, scale)?;
            session.state.adam_steps = session.adam.steps;
        }
        session.state.iteration = t + 1;
        last_step = step_start.elapsed();
        session.state.train_seconds = base_seconds + loop_start.elapsed().as_secs_f64();

        let row = LossRow {
            iteration: t,
            lr,
            content: values[0],
            style: values[1],
            total: values[2],
            seconds: session.state.train_seconds,
        };
        log.push(row)?;
        smoothed.push(&row);
        last_row = Some(row);
        bar.set_position(t + 1);
        bar.set_message(format!(
            "content {:.3} style {:.3} total {:.3}",
            smoothed.content, smoothed.style, smoothed.total
        ));
        if (t + 1).is_multiple_of(config.log_every) || t + 1 == end {
            // Speed over the iterations since the previous log line (recent, not cumulative).
            let now = loop_start.elapsed().as_secs_f64();
            let per_it = (now - logged_at.1) / (t + 1 - logged_at.0) as f64;
            logged_at = (t + 1, now);
            say(
                &bar,
                &format!(
                    "iter {}/{end} lr {lr:.3e} content {:.4} style {:.4} total {:.4} (smoothed) {per_it:.3} s/it eta {}",
                    t + 1,
                    smoothed.content,
                    smoothed.style,
                    smoothed.total,
                    format_duration(per_it * (end - t - 1) as f64)
                ),
            );
        }
        if config.sample_every > 0 && (t + 1).is_multiple_of(config.sample_every) {
            let batch = match pixels {
                Some((c, s)) => Some((c, s, losses.output.f_detach()?)),
                None => None,
            };
            session.sample(pairs.as_ref(), batch.as_ref())?;
        }
        if config.save_every > 0 && (t + 1).is_multiple_of(config.save_every) {
            log.flush()?;
            session.save()?;
            saved_at = t + 1;
        }
        if config.eval_every > 0 && (t + 1).is_multiple_of(config.eval_every) {
            if session.state.iteration != saved_at {
                session.save()?;
                saved_at = t + 1;
            }
            if let Some(line) = heldout_eval(config, run_dir, &session.state)? {
                say(&bar, &line);
            }
        }
    }
    drop(source);
    bar.finish_and_clear();
    log.flush()?;
    if session.state.iteration != saved_at || !ckpt.exists() {
        session.save()?;
    }
    if iterations_since(&session.state, first) > 0
        && config.eval_every > 0
        && !session.state.iteration.is_multiple_of(config.eval_every)
        && let Some(line) = heldout_eval(config, run_dir, &session.state)?
    {
        println!("{line}");
    }
    let rows = report::read_losses(&run_dir.join(report::LOSSES_FILE))?;
    if let Err(e) = report::plot_losses(
        &rows,
        config.content_weight,
        config.style_weight,
        &run_dir.join(PLOT_FILE),
    ) {
        eprintln!("warning: no loss plot: {e:#}");
    }
    let done_here = iterations_since(&session.state, first);
    let outcome = Outcome {
        iterations_done: session.state.iteration,
        iterations_this_call: done_here,
        last: last_row,
        reason,
        seconds_per_iteration: (done_here > 0)
            .then(|| loop_start.elapsed().as_secs_f64() / done_here as f64),
    };
    println!(
        "adain-train: stopped ({:?}) after iteration {} ({} this call{}); decoder at {}",
        outcome.reason,
        outcome.iterations_done,
        done_here,
        outcome
            .seconds_per_iteration
            .map(|s| format!(", {s:.3} s/it"))
            .unwrap_or_default(),
        run_dir.join(checkpoint::DECODER_FILE).display()
    );
    Ok(outcome)
}

fn iterations_since(state: &RunState, first: u64) -> u64 {
    state.iteration - first
}

/// Measures the run's current decoder on the held-out pairs (when the run has a held-out folder),
/// appends the figures to `heldout.csv` and keeps the measured decoder (fp16) in the run's
/// [`eval::KEPT_DIR`]; returns the line to print.
fn heldout_eval(config: &TrainConfig, run_dir: &Path, state: &RunState) -> Result<Option<String>> {
    let Some(dir) = &config.heldout_dir else {
        return Ok(None);
    };
    let (device, _) = resolve_device(config)?;
    let started = Instant::now();
    let r = eval::evaluate(&eval::EvalSettings {
        model: config.model,
        encoder: config.encoder.clone(),
        decoder: decoder_path(run_dir),
        content_dir: dir.join("content"),
        style_dir: dir.join("style"),
        pairs: config.eval_pairs,
        precision: adainstyle::Precision::Fp32,
        device,
        grid: Some(run_dir.join("heldout-grid.png")),
        grid_pairs: 8,
    })?;
    report::append_heldout(run_dir, state.iteration, state.train_seconds, &r)?;
    // A copy for picking the best decoder later: failing to write it must not stop the run.
    let kept = eval::kept_decoder(run_dir, state.iteration);
    if let Err(e) = eval::export(&decoder_path(run_dir), &kept, true) {
        eprintln!("warning: could not keep {}: {e:#}", kept.display());
    }
    Ok(Some(format!(
        "held-out at iteration {} ({:.2} h): style ratio {:.4}, content keep {:.4}, luma SSIM {:.4}, blockiness {:.3} ({} pairs, {:.0} s)",
        state.iteration,
        state.train_seconds / 3600.0,
        r.style_ratio,
        r.content_keep,
        r.ssim,
        r.blockiness,
        r.pairs,
        started.elapsed().as_secs_f64()
    )))
}

/// The loss weights of a configuration.
pub fn loss_weights(config: &TrainConfig) -> loss::Weights {
    loss::Weights {
        content: config.content_weight,
        style: config.style_weight,
        identity: config.identity_weight,
        shallow: config.shallow_content_weight,
        tv: config.tv_weight,
    }
}

/// The initialisation gain of [`initialise`] for a network trained from scratch.
fn init_gain(model: Model) -> f64 {
    match model {
        Model::Lite => 6f64.sqrt(),
        _ => 1.0,
    }
}

/// Where `run` leaves the plain decoder of a run directory.
pub fn decoder_path(run_dir: &Path) -> PathBuf {
    run_dir.join(checkpoint::DECODER_FILE)
}
