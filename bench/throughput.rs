// SPDX-License-Identifier: MIT
//! Throughput of the model alone (through the library) or of the element in a pipeline, at one
//! frame size; prints one JSON line. `scripts/bench.sh` runs it per size and mode in fresh
//! processes (so peak memory is per measurement) next to `bench/reference.py`.
//!
//! ```text
//! target/release/examples/bench --mode element --width 512 --height 512 --frames 10
//! # cost of spatial control or temporal smoothing: those frames and plain ones interleaved
//! target/release/examples/bench --mode model --mask-mode keep --width 512 --height 512 --frames 15
//! target/release/examples/bench --mode model --temporal 0.5 --width 512 --height 512 --frames 15
//! ```

use std::sync::{Arc, Mutex};
use std::time::Instant;

use adainstyle::{Region, StyleBank, StyleSpec, StylizeOptions, data};
use adainstyle_cli::options::{self, ElementOptions};
use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use gst::prelude::*;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Encoder + AdaIN + decoder on a tensor already on the device.
    Model,
    /// `videotestsrc ! queue ! adainstyle ! fakesink`, wall clock between output buffers.
    Element,
}

/// Spatial control measured in model mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MaskMode {
    /// No mask.
    None,
    /// Left half styled, right half kept (soft edge of 8 px).
    Keep,
    /// Left half one style, right half another.
    Style,
    /// `mask=person`: the segmenter on every frame (its time counted), the room styled.
    Person,
}

/// Benchmark one configuration and print a JSON line.
#[derive(Parser, Debug)]
struct Args {
    #[arg(long, value_enum)]
    mode: Mode,
    #[arg(long)]
    width: i64,
    #[arg(long)]
    height: i64,
    /// The element's options (element mode sets them all; model mode takes the network's).
    #[command(flatten)]
    element: ElementOptions,
    /// Frames measured after warm-up.
    #[arg(long, default_value_t = 5)]
    frames: u64,
    /// Frames run before measuring.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Model mode only: stylise with a half mask, alternating with unmasked frames, and report
    /// both and the overhead.
    #[arg(long, value_enum, default_value = "none")]
    mask_mode: MaskMode,
    /// Model mode only: stylise as a stream with this temporal smoothing, alternating with plain
    /// frames, and report both and the overhead.
    #[arg(long, default_value_t = 0.0)]
    temporal: f64,
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn sync(device: tch::Device) {
    if let tch::Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Seconds of each measured frame of the model alone; with a mask or temporal smoothing, also of
/// plain frames run in alternation with those.
fn bench_model(args: &Args) -> Result<(Vec<f64>, Vec<f64>)> {
    let stylizer = args.element.load_network()?;
    let device = stylizer.device();
    let mut bank = StyleBank::new();
    let style = bank.stats(
        &stylizer.network,
        &StyleSpec::single(data::find(data::DEFAULT_STYLE)),
        512,
        None,
    )?;
    let other = bank.stats(
        &stylizer.network,
        &StyleSpec::single(data::find("styles/langlois-bridge.jpg")),
        512,
        None,
    )?;
    let content = tch::Tensor::rand([1, 3, args.height, args.width], (tch::Kind::Float, device));
    let half = args.width / 2;
    let mask = tch::Tensor::cat(
        &[
            tch::Tensor::ones([1, 1, args.height, half], (tch::Kind::Float, device)),
            tch::Tensor::zeros(
                [1, 1, args.height, args.width - half],
                (tch::Kind::Float, device),
            ),
        ],
        3,
    );
    let region = match args.mask_mode {
        MaskMode::None => None,
        MaskMode::Keep => Some(Region {
            mask: &mask,
            outside: None,
            feather: 8,
            feathered: None,
        }),
        MaskMode::Style => Some(Region {
            mask: &mask,
            outside: Some(&other),
            feather: 8,
            feathered: None,
        }),
        // Drawn per frame below; the person mask comes feathered.
        MaskMode::Person => Some(Region {
            mask: &mask,
            outside: None,
            feather: 0,
            feathered: None,
        }),
    };
    let person = match args.mask_mode {
        MaskMode::Person => Some(std::cell::RefCell::new(
            args.element.load_person_mask(&stylizer)?,
        )),
        _ => None,
    };
    let opts = StylizeOptions::default();
    let mut temporal = (args.temporal > 0.0).then(|| adainstyle::Temporal::new(args.temporal));
    let variant = region.is_some() || temporal.is_some();
    let frame = |region: Option<&Region>, temporal: Option<&mut adainstyle::Temporal>| {
        let started = Instant::now();
        let drawn;
        let region = match (region, &person) {
            (Some(r), Some(person)) => {
                let size = (args.height, args.width);
                drawn = person
                    .borrow_mut()
                    .for_frame(&content, 0.5, 8, size, false)?;
                Some(Region { mask: &drawn, ..*r })
            }
            _ => region.map(|r| Region { ..*r }),
        };
        let region = region.as_ref();
        let out = match temporal {
            Some(t) => stylizer.stylize_frame(&content, &style, region, &opts, t)?,
            None => stylizer.stylize_region(&content, &style, region, &opts)?,
        };
        sync(device);
        drop(out);
        anyhow::Ok(started.elapsed().as_secs_f64())
    };
    for _ in 0..args.warmup {
        frame(region.as_ref(), temporal.as_mut())?;
    }
    adainstyle::profile::enable(true);
    let (mut measured, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..args.frames {
        measured.push(frame(region.as_ref(), temporal.as_mut())?);
        if variant {
            plain.push(frame(None, None)?);
        }
    }
    Ok((measured, plain))
}

/// The median and the minimum of `v` (sorted in place; not empty).
fn median_min(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0])
}

/// Seconds between consecutive output buffers of the element, from the warm-up's last output on.
fn bench_element(args: &Args) -> Result<Vec<f64>> {
    options::init()?;
    let total = args.warmup + args.frames;
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=1 pattern=snow ! \
         video/x-raw,format=RGBx,width={},height={},framerate=1000/1 ! \
         imagefreeze num-buffers={total} ! queue max-size-buffers=4 ! \
         adainstyle name=s ! fakesink name=sink sync=false",
        args.width, args.height,
    ))?
    .downcast::<gst::Pipeline>()
    .expect("a pipeline");
    args.element
        .apply(&pipeline.by_name("s").context("the element")?)?;
    let arrivals = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let sink = pipeline.by_name("sink").context("sink")?;
    let a = arrivals.clone();
    let warmup = args.warmup as usize;
    sink.static_pad("sink").context("sink pad")?.add_probe(
        gst::PadProbeType::BUFFER,
        move |_, _| {
            let mut arrivals = a.lock().expect("not poisoned");
            arrivals.push(Instant::now());
            // The stage timings cover the measured frames (those after the warm-up's last).
            if arrivals.len() == warmup {
                adainstyle::profile::enable(true);
            }
            gst::PadProbeReturn::Ok
        },
    );
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().expect("bus");
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::NONE,
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let result = match msg.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Error(e)) => Err(anyhow::anyhow!("{} ({:?})", e.error(), e.debug())),
        _ => Ok(()),
    };
    pipeline.set_state(gst::State::Null)?;
    result?;
    let arrivals = arrivals.lock().expect("not poisoned");
    if arrivals.len() as u64 != total || args.warmup == 0 {
        bail!(
            "{} buffers out of {total} (warm-up must be >= 1)",
            arrivals.len()
        );
    }
    Ok(arrivals[args.warmup as usize - 1..]
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let (model, device) = args.element.model()?;
    if (args.mask_mode != MaskMode::None || args.temporal > 0.0) && args.mode != Mode::Model {
        bail!("--mask-mode and --temporal are measured in --mode model only");
    }
    let (mut frames, mut plain) = match args.mode {
        Mode::Model => bench_model(&args)?,
        Mode::Element => (bench_element(&args)?, Vec::new()),
    };
    if frames.is_empty() {
        bail!("no frames measured (--frames must be at least 1)");
    }
    let (seconds, min) = median_min(&mut frames);
    let mask_fields = if plain.is_empty() {
        String::new()
    } else {
        let (plain_s, plain_min) = median_min(&mut plain);
        format!(
            ", \"mask\": \"{}\", \"temporal\": {}, \"ms_plain\": {:.2}, \"ms_plain_min\": {:.2}, \
             \"overhead_pct\": {:.1}",
            format!("{:?}", args.mask_mode).to_lowercase(),
            args.temporal,
            plain_s * 1e3,
            plain_min * 1e3,
            (seconds / plain_s - 1.0) * 100.0
        )
    };
    // Milliseconds per measured frame in each stage of the hot path (plain frames included).
    let measured = (frames.len() + plain.len()) as f64;
    let stages = adainstyle::profile::summary()
        .iter()
        .map(|(stage, ms, _)| format!("\"{}\": {:.2}", stage.name(), ms / measured))
        .collect::<Vec<_>>()
        .join(", ");
    adainstyle::profile::enable(false);
    let flops = adainstyle::network::Shape::of_weights(&args.element.weights(model))?
        .flops_per_frame(args.height, args.width);
    println!(
        "{{\"impl\": \"{}\", \"model\": \"{model}\", \"device\": \"{}\", \"precision\": \"{}\", \"width\": {}, \"height\": {}, \
         \"ms\": {:.2}, \"ms_min\": {:.2}, \"frames\": {}, \"fps\": {:.3}, \"gflop_per_frame\": {:.1}, \
         \"gflops\": {:.1}, \"peak_rss_mb\": {:.0}, \"threads\": {}{mask_fields}, \"stages\": {{{}}}}}",
        match args.mode {
            Mode::Model => "model",
            Mode::Element => "element",
        },
        if device.is_cuda() { "cuda" } else { "cpu" },
        args.element
            .get::<adainstyle::Precision>("precision")?
            .resolve(device)?,
        args.width,
        args.height,
        seconds * 1e3,
        min * 1e3,
        frames.len(),
        1.0 / seconds,
        flops / 1e9,
        flops / seconds / 1e9,
        peak_rss_mb(),
        tch::get_num_threads(),
        stages,
    );
    Ok(())
}
