// SPDX-License-Identifier: MIT
//! A training session: batches from the worker threads, the paper's loss, Adam with the decaying
//! learning rate, and the checkpoints, logs, samples and held-out figures of the run directory.
//! [`Session::step`] is one iteration on its own; [`run`] is a whole invocation.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use adainstyle::{DeviceSpec, Encoder, Model, Pretrained};
use anyhow::{Context, Result, bail};
use rand::Rng;
use tch::{Device, Kind, Tensor, nn};

use crate::adam::{Adam, LossScale};
use crate::cache::TargetCache;
use crate::checkpoint::{self, RunState};
use crate::config::TrainConfig;
use crate::data::{self, BatchLoader, Dataset, HostBatch, ImageFolder};
use crate::eval;
use crate::loss::{self, Compute, Pixels, Terms, Trainee};
use crate::progress::Progress;
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

/// What one training step did.
#[derive(Debug)]
pub struct Step {
    /// Its row of `losses.csv` (already appended to the log).
    pub row: LossRow,
    /// Whether Adam updated the weights (false only when fp16 gradients overflowed).
    pub updated: bool,
    /// The network's output for the batch, detached.
    pub output: Tensor,
    /// The batch's content and style crops, when the batch came as pixels (not from the cache).
    pub pixels: Option<(Tensor, Tensor)>,
}

/// A training run while it is open in this process: [`Session::open`] sets it up (or resumes it
/// from its checkpoint), [`Session::step`] runs one iteration, [`Session::train`] runs them with
/// the run directory's samples, checkpoints and held-out evaluations, [`Session::finish`] leaves
/// the checkpoint, the decoder, the loss log and the plot behind.
///
/// Process-wide effects: with `threads` > 0 the session sets libtorch's CPU thread count, which
/// is one per process, and restores it when the session is dropped; it starts `workers` data
/// threads, joined when the session finishes or is dropped. It changes nothing else of its host
/// process (not the global random generator: initial weights and batches come from ChaCha
/// streams of the seed; not cuDNN's benchmark mode, which `adain-train` turns on itself).
pub struct Session {
    config: TrainConfig,
    run_dir: PathBuf,
    device: Device,
    compute: Compute,
    encoder: Pretrained<Encoder>,
    vs: nn::VarStore,
    trainee: Trainee,
    adam: Adam,
    state: RunState,
    weights: loss::Weights,
    dataset: Arc<Dataset>,
    /// Started at the first step (building a target cache takes minutes).
    source: Option<Source>,
    /// Fixed held-out pairs for the sample grids.
    pairs: Option<(Tensor, Tensor)>,
    log: LossLog,
    progress: Progress,
    /// The iteration the session opened at.
    first: u64,
    /// The iteration of the checkpoint on disk.
    saved_at: u64,
    /// When the session was opened (the time budget counts from there).
    opened: Instant,
    /// When the data were ready; `train_seconds` grows from there.
    clock: Instant,
    /// Training seconds of the run when the session opened.
    base_seconds: f64,
    /// The row of this session's latest step.
    last_row: Option<LossRow>,
    /// libtorch's process-wide thread count while the session is open (`--threads`).
    _threads: Option<adainstyle::threads::ProcessThreads>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("run_dir", &self.run_dir)
            .field("state", &self.state)
            .field("device", &self.device)
            .field("compute", &self.compute)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Sets up training as `config` says in `run_dir`: validates the configuration, loads the
    /// encoder, builds (or warm-starts) the network, continues the checkpoint when `resume` is
    /// set (a fresh run in a folder that already holds a checkpoint is refused), writes
    /// `config.json` and opens the data folders and the loss log.
    pub fn open(config: &TrainConfig, run_dir: &Path, resume: bool) -> Result<Self> {
        let opened = Instant::now();
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
        let threads = adainstyle::threads::ProcessThreads::set(config.threads)?;
        let (device, compute) = resolve_device(config)?;
        let amp = compute.needs_loss_scaling();
        if device == Device::Cpu {
            adainstyle::alloc::reuse_freed_memory();
        }

        let encoder = Pretrained::encoder(&config.encoder, device, compute.encoder_kind())
            .with_context(|| format!("loading encoder {}", config.encoder.display()))?;
        let vs = nn::VarStore::new(device);
        let trainee = Trainee::new(config.model, config.upsample, config.lite_arch, &vs.root())?;
        let (adam, state) = start_or_resume(&vs, &trainee, config, run_dir, resume, amp)?;
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
        let first = state.iteration;
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
        let log = LossLog::open(run_dir, first)?;
        let progress = Progress::new(first, end, config.log_every)?;
        Ok(Self {
            weights: loss_weights(config),
            config: config.clone(),
            run_dir: run_dir.to_owned(),
            device,
            compute,
            encoder,
            vs,
            trainee,
            adam,
            base_seconds: state.train_seconds,
            state,
            dataset,
            source: None,
            pairs,
            log,
            progress,
            first,
            saved_at: first,
            opened,
            clock: Instant::now(),
            last_row: None,
            _threads: threads,
        })
    }

    /// The configuration the session trains with.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Counters of the run: the next iteration, Adam's steps, the loss scale, the seconds.
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// The device the networks run on and how a step computes.
    pub fn device(&self) -> (Device, Compute) {
        (self.device, self.compute)
    }

    /// The frozen VGG-19 (the loss network).
    pub fn encoder(&self) -> &Encoder {
        &self.encoder.net
    }

    /// The network being trained.
    pub fn trainee(&self) -> &Trainee {
        &self.trainee
    }

    /// The trained network's variables.
    pub fn variables(&self) -> &nn::VarStore {
        &self.vs
    }

    /// The loss weights of the configuration.
    pub fn loss_weights(&self) -> &loss::Weights {
        &self.weights
    }

    /// The data the batches are drawn from.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// Starts the data source if it is not running yet: worker threads that decode batches
    /// ahead, or (with `cache_targets`) the encoder targets of every image.
    fn start_data(&mut self) -> Result<()> {
        if self.source.is_some() {
            return Ok(());
        }
        let source = if self.config.cache_targets {
            let t0 = Instant::now();
            let (cache, warnings) =
                TargetCache::build(&self.dataset, &self.encoder.net, self.compute, self.device)?;
            for w in warnings {
                self.progress.say(&format!("warning: {w}"));
            }
            let (c, s) = cache.len();
            self.progress.say(&format!(
                "encoded {c} content and {s} style images once in {:.0} s",
                t0.elapsed().as_secs_f64()
            ));
            Source::Cached(cache)
        } else {
            Source::Pixels(BatchLoader::start(
                self.dataset.clone(),
                self.state.iteration,
                self.config.iterations,
                self.config.workers,
                PREFETCH_PER_WORKER,
            )?)
        };
        self.source = Some(source);
        self.clock = Instant::now();
        self.base_seconds = self.state.train_seconds;
        Ok(())
    }

    /// Runs iteration `state().iteration`: its batch, the loss, the backward pass and the Adam
    /// update with the learning rate of that iteration; appends the row to the loss log. An
    /// error once the run has all its iterations, or when the loss is not finite (without fp16
    /// loss scaling, which skips such a step instead).
    pub fn step(&mut self) -> Result<Step> {
        let t = self.state.iteration;
        if t >= self.config.iterations {
            bail!("the run has all its {} iterations", self.config.iterations);
        }
        self.start_data()?;
        let (device, compute) = (self.device, self.compute);
        let amp = compute.needs_loss_scaling();
        let (targets, pixels) = self.next_targets(t)?;
        let lr = self.config.lr_at(t);

        self.adam.zero_grad();
        let losses = loss::compute_from(
            &self.encoder.net,
            &self.trainee,
            &targets,
            pixels
                .as_ref()
                .map(|(content, style)| Pixels { content, style }),
            Some(loss::Motion::draw(self.config.seed, t)),
            compute,
            &self.weights,
        )?;
        let total = losses.total(&self.weights)?;
        let scale = self.state.loss_scale.scale;
        total.f_mul_scalar(scale)?.f_backward()?;
        let finite = if amp {
            self.adam.grads_finite()?.f_to_kind(Kind::Float)?
        } else {
            Tensor::f_ones([], (Kind::Float, device))?
        };
        // One read back to the host per step: the terms, the total and whether the gradients
        // are finite (terms not asked for read as 0; every term is fp32).
        let zero = Tensor::f_zeros([], (Kind::Float, device))?;
        let mut read = vec![total.shallow_clone(), finite];
        read.extend(
            losses
                .terms
                .as_ref()
                .into_array()
                .map(|t| t.as_ref().unwrap_or(&zero).shallow_clone()),
        );
        let values: Vec<f64> = Vec::<f64>::try_from(
            &Tensor::f_stack(&read, 0)?
                .f_to_kind(Kind::Double)?
                .f_to(Device::Cpu)?,
        )?;
        let (total, grads_ok) = (values[0], values[1] > 0.5);
        if amp {
            self.state.loss_scale.update(grads_ok);
        } else if !total.is_finite() {
            bail!(
                "the loss became {total} at iteration {t}; the last checkpoint (iteration {}) is intact",
                self.saved_at
            );
        }
        if grads_ok {
            self.adam.step(lr, scale)?;
            self.state.adam_steps = self.adam.steps;
        }
        self.state.iteration = t + 1;
        self.state.train_seconds = self.base_seconds + self.clock.elapsed().as_secs_f64();

        let row = LossRow {
            iteration: t,
            lr,
            terms: Terms::from_array(std::array::from_fn(|i| values[2 + i])),
            total,
            seconds: self.state.train_seconds,
        };
        self.log.push(row)?;
        self.last_row = Some(row);
        Ok(Step {
            row,
            updated: grads_ok,
            output: losses.output.f_detach()?,
            pixels,
        })
    }

    /// The loss network's targets of iteration `t`, and the batch's pixels (content, style)
    /// when it has them (not with cached targets).
    fn next_targets(&mut self, t: u64) -> Result<(loss::Targets, Option<(Tensor, Tensor)>)> {
        let (device, compute) = (self.device, self.compute);
        Ok(match self.source.as_mut() {
            Some(Source::Pixels(loader)) => {
                let batch = loader.next_batch()?;
                for w in &batch.warnings {
                    self.progress.say(&format!("warning: {w}"));
                }
                let content =
                    HostBatch::to_device(&batch.content, batch.batch, batch.crop, device)?;
                let style = HostBatch::to_device(&batch.style, batch.batch, batch.crop, device)?;
                let targets = loss::targets(&self.encoder.net, &content, &style, compute)?;
                (targets, Some((content, style)))
            }
            Some(Source::Cached(cache)) => (cache.batch(t)?, None),
            None => bail!("internal: no data source"),
        })
    }

    /// Runs the remaining iterations until the run has them all, the time budget
    /// (`max_minutes`, counted from [`Session::open`]) would be spent by one more step, or
    /// `stop` is raised; after each step it logs, writes the sample grid, the checkpoint and
    /// the held-out evaluation that are due. Returns why it stopped.
    pub fn train(&mut self, stop: &AtomicBool) -> Result<StopReason> {
        let budget = self
            .config
            .max_minutes
            .map(|m| Duration::from_secs_f64(m * 60.0));
        let mut last_step = Duration::ZERO;
        while self.state.iteration < self.config.iterations {
            if stop.load(Ordering::Relaxed) {
                return Ok(StopReason::Interrupted);
            }
            if let Some(budget) = budget
                && self.opened.elapsed() + last_step > budget
            {
                return Ok(StopReason::TimeBudget);
            }
            let step_start = Instant::now();
            let step = self.step()?;
            last_step = step_start.elapsed();
            self.after_step(step)?;
        }
        Ok(StopReason::Finished)
    }

    /// The log line, sample grid, checkpoint and held-out evaluation due after `step`.
    fn after_step(&mut self, step: Step) -> Result<()> {
        let done = self.state.iteration;
        self.progress
            .record(&step.row, self.clock.elapsed().as_secs_f64());
        let every = |n: u64| n > 0 && done.is_multiple_of(n);
        if every(self.config.sample_every) {
            let batch = step.pixels.map(|(c, s)| (c, s, step.output));
            self.sample(batch.as_ref())?;
        }
        if every(self.config.save_every) {
            self.checkpoint()?;
        }
        if every(self.config.eval_every) {
            if self.saved_at != done {
                self.checkpoint()?;
            }
            if let Some(line) = heldout_eval(&self.config, &self.run_dir, &self.state)? {
                self.progress.say(&line);
            }
        }
        Ok(())
    }

    /// Writes the loss log's buffered rows, then the checkpoint and the plain decoder (each
    /// atomically), so that the log on disk always covers the checkpoint's iterations.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.log.flush()?;
        checkpoint::save(
            &self.run_dir,
            &self.vs,
            &self.trainee.metadata(),
            &self.adam,
            &self.state,
        )?;
        self.saved_at = self.state.iteration;
        Ok(())
    }

    /// Writes the sample grid of the current iteration: the held-out pairs stylised, or else the
    /// batch's crops and output (batches of cached targets carry no pixels to show).
    fn sample(&self, batch: Option<&(Tensor, Tensor, Tensor)>) -> Result<()> {
        let path = self
            .run_dir
            .join("samples")
            .join(format!("iter-{:07}.png", self.state.iteration));
        match &self.pairs {
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

    /// Ends the session: stops the data threads, checkpoints what is not saved yet, measures the
    /// held-out figures when this session trained past the last evaluation, and plots the losses.
    pub fn finish(mut self, reason: StopReason) -> Result<Outcome> {
        self.source = None;
        self.progress.finish();
        let iteration = self.state.iteration;
        if iteration != self.saved_at || !checkpoint::checkpoint_path(&self.run_dir).exists() {
            self.checkpoint()?;
        } else {
            self.log.flush()?;
        }
        let done_here = iteration - self.first;
        let eval_every = self.config.eval_every;
        if done_here > 0
            && eval_every > 0
            && !iteration.is_multiple_of(eval_every)
            && let Some(line) = heldout_eval(&self.config, &self.run_dir, &self.state)?
        {
            println!("{line}");
        }
        let rows = report::read_losses(&self.run_dir.join(report::LOSSES_FILE))?;
        if let Err(e) = report::plot_losses(&rows, &self.weights, &self.run_dir.join(PLOT_FILE)) {
            eprintln!("warning: no loss plot: {e:#}");
        }
        let outcome = Outcome {
            iterations_done: iteration,
            iterations_this_call: done_here,
            last: self.last_row,
            reason,
            seconds_per_iteration: (done_here > 0)
                .then(|| self.clock.elapsed().as_secs_f64() / done_here as f64),
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
            decoder_path(&self.run_dir).display()
        );
        Ok(outcome)
    }
}

/// Trains as `config` says in `run_dir`, continuing its checkpoint when `resume` is set, until
/// the iterations are done, the time budget is spent or `stop` is raised: [`Session::open`],
/// [`Session::train`], [`Session::finish`]. Always leaves a checkpoint, `decoder.safetensors`,
/// `losses.csv` and `losses.png` behind. See [`Session`] for what it changes in its process.
pub fn run(
    config: &TrainConfig,
    run_dir: &Path,
    resume: bool,
    stop: &AtomicBool,
) -> Result<Outcome> {
    let mut session = Session::open(config, run_dir, resume)?;
    let reason = session.train(stop)?;
    session.finish(reason)
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
    if let Err(e) = eval::export(&decoder_path(run_dir), &[], &kept, true) {
        eprintln!("warning: could not keep {}: {e:#}", kept.display());
    }
    Ok(Some(format!(
        "held-out at iteration {} ({:.2} h): style ratio {:.4}, content keep {:.4}, luma SSIM {:.4}, blockiness {:.3}, grid {:.2} (photos {:.2}) ({} pairs, {:.0} s)",
        state.iteration,
        state.train_seconds / 3600.0,
        r.style_ratio,
        r.content_keep,
        r.ssim,
        r.blockiness,
        r.grid,
        r.grid_floor,
        r.pairs,
        started.elapsed().as_secs_f64()
    )))
}

/// The network's first weights and the optimiser: a resumed run's from its checkpoint, a new
/// run's from `--init-decoder` or a seeded initialisation.
fn start_or_resume(
    vs: &nn::VarStore,
    trainee: &Trainee,
    config: &TrainConfig,
    run_dir: &Path,
    resume: bool,
    amp: bool,
) -> Result<(Adam, RunState)> {
    match &config.init_decoder {
        Some(path) if !resume => warm_start(vs, trainee, config, path)
            .with_context(|| format!("--init-decoder {}", path.display()))?,
        _ => {
            initialise(vs, config.seed, init_gain(config.model))?;
            initialise_output(vs, trainee)?;
        }
    }
    adainstyle::weights_to_channels_last(vs)?;
    let mut adam = Adam::new(vs)?;
    if !resume {
        let state = RunState {
            iteration: 0,
            adam_steps: 0,
            loss_scale: LossScale::new(amp),
            train_seconds: 0.0,
            seed: config.seed,
        };
        return Ok((adam, state));
    }
    let loaded = checkpoint::load(run_dir)?;
    if loaded.state.seed != config.seed {
        bail!(
            "checkpoint seed {} differs from config seed {}",
            loaded.state.seed,
            config.seed
        );
    }
    adainstyle::weights::copy_checked(vs, loaded.decoder, &checkpoint::checkpoint_path(run_dir))?;
    adam.load_state(&loaded.adam, loaded.state.adam_steps)?;
    Ok((adam, loaded.state))
}

/// Starts the network from the weights file `path`: all of it when it holds the same network;
/// for a light network of another architecture, the variables both have (same name and shape),
/// the others initialised as a new run's (named on the console).
fn warm_start(
    vs: &nn::VarStore,
    trainee: &Trainee,
    config: &TrainConfig,
    path: &Path,
) -> Result<()> {
    let found = adainstyle::network::check_arch(path, config.model)?;
    if found == trainee.shape() {
        return Ok(adainstyle::weights::load_into(vs, path)?);
    }
    initialise(vs, config.seed, init_gain(config.model))?;
    initialise_output(vs, trainee)?;
    let fresh = adainstyle::weights::copy_matching(vs, adainstyle::weights::read_tensors(path)?)?;
    println!(
        "adain-train: started the {} network from {} ({}); new: {}",
        config.lite_arch,
        path.display(),
        match found {
            adainstyle::network::Shape::Lite(a) => a.tag,
            adainstyle::network::Shape::Full => "full",
        },
        if fresh.is_empty() {
            "nothing".to_owned()
        } else {
            fresh.join(", ")
        }
    );
    Ok(())
}

/// A guided light network starts as the identity colour transform (its last layer's weights
/// scaled down, its biases the identity matrix and no residual), so that its first outputs are
/// the photo rather than noise.
fn initialise_output(vs: &nn::VarStore, trainee: &Trainee) -> Result<()> {
    let Trainee::Lite(lite) = trainee else {
        return Ok(());
    };
    if lite.arch().output != adainstyle::arch::LiteOutput::GuidedAffine {
        return Ok(());
    }
    let last = lite
        .arch()
        .decoder
        .last()
        .context("a light decoder has layers")?
        .index;
    let vars = vs.variables();
    let get = |name: &str| {
        vars.get(&format!("decoder.{last}.{name}"))
            .with_context(|| format!("no decoder.{last}.{name}"))
    };
    let (mut weight, mut bias) = (get("weight")?.shallow_clone(), get("bias")?.shallow_clone());
    let mut identity = vec![0f32; adainstyle::arch::GUIDED_CHANNELS as usize];
    for row in 0..3 {
        identity[row * 4 + row] = 1.0;
    }
    tch::no_grad(|| -> Result<()> {
        let _ = weight.f_mul_scalar_(0.01)?;
        bias.f_copy_(&Tensor::f_from_slice(&identity)?.f_to_device(bias.device())?)?;
        Ok(())
    })
}

/// The loss weights of a configuration.
pub fn loss_weights(config: &TrainConfig) -> loss::Weights {
    loss::Weights {
        content: config.content_weight,
        style: config.style_weight,
        identity: config.identity_weight,
        shallow: config.shallow_content_weight,
        tv: config.tv_weight,
        temporal: config.temporal_weight,
        lattice: config.lattice_weight,
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
