// SPDX-License-Identifier: MIT
//! Where a frame's time goes: wall-clock time per stage of the hot path (upload, the network's
//! parts, smoothing, download, ...), summed in process-wide counters while enabled. The
//! element, the examples and the library record into the same counters through [`span`]; the
//! benchmark enables them, runs frames and prints [`summary`]. Disabled (the default), a span
//! costs one relaxed atomic load.
//!
//! On CUDA, kernels run asynchronously: a span then waits for the device at its end (only while
//! enabled), so that each stage's time is its own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use tch::Device;

/// A stage of one frame's processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The mapped 8-bit frame to the network's input (layout, precision, channel order).
    Upload,
    /// The mask of the frame (file, alpha or person).
    Mask,
    /// Resizing to and from `processing-size`, and padding to a multiple of 8.
    Resize,
    /// The network's encoder.
    Encode,
    /// AdaIN (and the smoothing of its content statistics).
    Adain,
    /// The network's decoder.
    Decode,
    /// Colour preservation and the mask's compositing.
    Composite,
    /// Temporal smoothing of the output (and scene-cut detection).
    Smooth,
    /// The result to 8-bit pixels in the output buffer.
    Download,
    /// The whole frame inside the element's `transform_frame`.
    Frame,
}

impl Stage {
    /// Every stage, in the order a frame passes them.
    pub const ALL: [Stage; 10] = [
        Self::Upload,
        Self::Mask,
        Self::Resize,
        Self::Encode,
        Self::Adain,
        Self::Decode,
        Self::Composite,
        Self::Smooth,
        Self::Download,
        Self::Frame,
    ];

    /// Its name in summaries.
    pub fn name(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Mask => "mask",
            Self::Resize => "resize",
            Self::Encode => "encode",
            Self::Adain => "adain",
            Self::Decode => "decode",
            Self::Composite => "composite",
            Self::Smooth => "smooth",
            Self::Download => "download",
            Self::Frame => "frame",
        }
    }
}

const STAGES: usize = Stage::ALL.len();
static ENABLED: AtomicBool = AtomicBool::new(false);
static NANOS: [AtomicU64; STAGES] = [const { AtomicU64::new(0) }; STAGES];
static COUNTS: [AtomicU64; STAGES] = [const { AtomicU64::new(0) }; STAGES];

/// Starts (or stops) recording, and clears what was recorded.
pub fn enable(on: bool) {
    for (n, c) in NANOS.iter().zip(&COUNTS) {
        n.store(0, Ordering::Relaxed);
        c.store(0, Ordering::Relaxed);
    }
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether spans are being recorded.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A stage being timed: records its wall-clock time when dropped.
#[must_use = "a span records when it is dropped"]
#[derive(Debug)]
pub struct Span {
    stage: Stage,
    device: Device,
    started: Option<Instant>,
}

/// Times `stage` (on `device`) until the returned span is dropped.
pub fn span(stage: Stage, device: Device) -> Span {
    Span {
        stage,
        device,
        started: enabled().then(Instant::now),
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        let Some(started) = self.started else { return };
        if let Device::Cuda(i) = self.device {
            tch::Cuda::synchronize(i as i64);
        }
        let i = self.stage as usize;
        NANOS[i].fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        COUNTS[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// What was recorded since [`enable`]: each stage that ran, with its total milliseconds and the
/// number of times it ran.
pub fn summary() -> Vec<(Stage, f64, u64)> {
    Stage::ALL
        .iter()
        .filter_map(|&stage| {
            let count = COUNTS[stage as usize].load(Ordering::Relaxed);
            let nanos = NANOS[stage as usize].load(Ordering::Relaxed);
            (count > 0).then_some((stage, nanos as f64 / 1e6, count))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_record_only_while_enabled() {
        // The counters are process-wide: this is the only test of the library that enables them.
        drop(span(Stage::Mask, Device::Cpu));
        assert!(summary().iter().all(|(s, ..)| *s != Stage::Mask));
        enable(true);
        for _ in 0..3 {
            let _s = span(Stage::Mask, Device::Cpu);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let mask = summary().into_iter().find(|(s, ..)| *s == Stage::Mask);
        enable(false);
        let (_, ms, count) = mask.expect("recorded");
        // Other tests of the process may record while this one has recording on.
        assert!(count >= 3, "{count}");
        assert!(ms >= 6.0, "{ms}");
        assert!(summary().is_empty());
    }
}
