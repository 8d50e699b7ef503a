// SPDX-License-Identifier: MIT
//! A soak: many frames through the element with its settings changed every few hundred frames,
//! and the process's resident memory sampled. This binary holds this one test, so that the
//! memory it samples is the soak's alone.
//!
//! `SOAK_FRAMES` sets the number of frames (default 2,000; `make soak` runs 20,000).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adainstyle::Model;
use gst::prelude::*;

use common::*;

/// Frames between two changes of a setting, at most (shorter runs change more often, so that
/// every value comes twice).
const CHANGE_EVERY: u64 = 200;
/// Changes before resident memory is taken as the baseline: every value of every changed
/// setting once (4 settings of 3 values, in turn), for libtorch's allocator and oneDNN's kernel
/// caches to fill up.
const WARM_UP_CHANGES: u64 = 12;
/// How far resident memory may rise above the baseline. A leak of one 64x48 float frame per
/// frame (37 KiB) passes it within about 450 frames.
const RSS_BOUND_KIB: u64 = 16 * 1024;

/// The process's resident memory (VmRSS), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// The `k`th change: style, alpha, mask and temporal
/// smoothing in turn, each through several values.
fn change(el: &gst::Element, k: u64, mask_file: &str) {
    let styles = [
        "cafe-terrace-at-night.jpg",
        "night-cafe.jpg",
        "langlois-bridge.jpg",
    ];
    let round = (k / 4) as usize;
    match k % 4 {
        0 => el.set_property("style", style(styles[round % 3]).to_str().unwrap()),
        1 => el.set_property("alpha", [0.3, 0.7, 1.0][round % 3]),
        2 => el.set_property("mask", [mask_file, "alpha", ""][round % 3]),
        _ => el.set_property("temporal-smoothing", [0.0, 0.7, 0.4][round % 3]),
    }
}

#[test]
fn frames_memory_and_timestamps_hold_while_settings_change() {
    let frames: u64 = std::env::var("SOAK_FRAMES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    let every = CHANGE_EVERY.min(frames / (2 * WARM_UP_CHANGES + 1)).max(1);
    let warm_up = (WARM_UP_CHANGES + 1) * every;
    let scratch = Scratch::new("soak");
    let dir = scratch.path();
    // A mask with the frame's aspect ratio (another one would be stretched, with a warning).
    let mask_path = dir.join("half.png");
    image::GrayImage::from_fn(32, 24, |x, _| image::Luma([if x < 16 { 255 } else { 0 }]))
        .save(&mask_path)
        .unwrap();
    let mask_file = mask_path.to_str().unwrap().to_owned();

    let pipeline = launch(&format!(
        "videotestsrc num-buffers={frames} pattern=ball ! \
         video/x-raw,format=RGBA,width=64,height=48,framerate=30/1 ! identity name=in ! \
         adainstyle name=s device=cpu model=lite decoder={} style-size=64 ! \
         fakesink sync=false",
        weights_path(Model::Lite).display()
    ));
    let el = pipeline.by_name("s").unwrap();
    let pts_in = capture_pts(&pipeline, "in");
    let pts_out = Arc::new(Mutex::new(Vec::with_capacity(frames as usize)));
    let samples = Arc::new(Mutex::new(Vec::new()));
    {
        // Before each frame: every `every` frames a setting changes.
        let seen = AtomicU64::new(0);
        let handle = el.downgrade();
        el.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let n = seen.fetch_add(1, Ordering::Relaxed);
                if n > 0
                    && n.is_multiple_of(every)
                    && let Some(el) = handle.upgrade()
                {
                    change(&el, n / every - 1, &mask_file);
                }
                gst::PadProbeReturn::Ok
            });
        let (pts_out, samples) = (pts_out.clone(), samples.clone());
        el.static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                    let mut out = pts_out.lock().unwrap();
                    out.push(pts);
                    if out.len().is_multiple_of(100) {
                        samples.lock().unwrap().push((out.len() as u64, rss_kib()));
                    }
                }
                gst::PadProbeReturn::Ok
            });
    }
    let started = Instant::now();
    let (error, warnings) = run(&pipeline, Duration::from_secs(60 + frames / 10));
    let seconds = started.elapsed().as_secs_f64();
    assert!(error.is_none(), "{error:?}");
    assert!(warnings.is_empty(), "{warnings:?}");

    let (pts_in, pts_out) = (pts_in.lock().unwrap(), pts_out.lock().unwrap());
    assert_eq!(pts_in.len() as u64, frames, "frames into the element");
    assert_eq!(pts_out.len() as u64, frames, "frames out of the element");
    assert!(
        *pts_in == *pts_out,
        "the output timestamps differ from the input's"
    );
    assert_eq!(el.property::<u64>("frames-processed"), frames);

    let samples = samples.lock().unwrap();
    let baseline = samples
        .iter()
        .find(|(n, _)| *n >= warm_up)
        .map(|(_, kib)| *kib)
        .expect("a sample after warm-up");
    let peak = samples
        .iter()
        .filter(|(n, _)| *n >= warm_up)
        .map(|(_, kib)| *kib)
        .max()
        .unwrap();
    let end = samples.last().unwrap().1;
    println!(
        "soak: {frames} frames in {seconds:.1} s ({:.0} fps), {} setting changes; resident \
         memory {} MiB after {warm_up} frames, peak {} MiB after, {} MiB at the end",
        frames as f64 / seconds,
        frames / every,
        baseline / 1024,
        peak / 1024,
        end / 1024
    );
    assert!(
        peak <= baseline + RSS_BOUND_KIB,
        "resident memory grew from {baseline} KiB to {peak} KiB after warm-up"
    );
}
