// SPDX-License-Identifier: MIT
//! One time range of a file for `stylize-file --start/--end/--warmup` (what the batch driver in
//! `batch/` runs per segment): frames before the warm-up are dropped before the element, the
//! warm-up frames are stylised (so temporal smoothing has settled) but not written, and the
//! output starts with the frame at `start`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Result, bail};
use gst::prelude::*;

/// A time range of the input, in stream time.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    /// First stylised frame (start minus the warm-up).
    pub warmup_from: gst::ClockTime,
    /// First written frame.
    pub start: gst::ClockTime,
    /// Frames at or after this are not stylised.
    pub end: Option<gst::ClockTime>,
}

impl Range {
    /// The range `--start`, `--end`, `--warmup` ask for (seconds), or None for the whole file.
    pub fn from_args(start: Option<f64>, end: Option<f64>, warmup: f64) -> Result<Option<Self>> {
        if start.is_none() && end.is_none() {
            if warmup != 0.0 {
                bail!("--warmup needs --start");
            }
            return Ok(None);
        }
        let time = |secs: f64, name: &str| {
            if !(secs.is_finite() && secs >= 0.0) {
                bail!("--{name} must be a time in seconds >= 0, got {secs}");
            }
            Ok(gst::ClockTime::from_nseconds((secs * 1e9).round() as u64))
        };
        let start = time(start.unwrap_or(0.0), "start")?;
        let end = end.map(|e| time(e, "end")).transpose()?;
        let warmup = time(warmup, "warmup")?;
        if end.is_some_and(|e| e <= start) {
            bail!("--end must come after --start");
        }
        Ok(Some(Self {
            warmup_from: start.saturating_sub(warmup),
            start,
            end,
        }))
    }

    /// Installs the probes: `before` is the pad frames enter the stylising chain through,
    /// `after` the element's source pad. Until the seek (see [`Gate::seek`]) every frame is
    /// dropped before the element, so nothing stylised ahead of the range reaches the encoder.
    pub fn install(self, before: &gst::Pad, after: &gst::Pad) -> Gate {
        let flushed = AtomicBool::new(false);
        let written = Arc::new(AtomicU64::new(0));
        let (ready_tx, ready) = mpsc::sync_channel(1);
        before.add_probe(
            gst::PadProbeType::BUFFER
                | gst::PadProbeType::EVENT_FLUSH
                | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |pad, info| {
                if let Some(gst::PadProbeData::Event(ev)) = &info.data {
                    match ev.view() {
                        gst::EventView::FlushStop(_) => flushed.store(true, Ordering::SeqCst),
                        // A short file can end before the seek: that end is not the range's.
                        gst::EventView::Eos(_) if !flushed.load(Ordering::SeqCst) => {
                            return gst::PadProbeReturn::Drop;
                        }
                        _ => {}
                    }
                    return gst::PadProbeReturn::Ok;
                }
                if !flushed.load(Ordering::SeqCst) {
                    // Data flows: the demuxer can seek now.
                    let _ = ready_tx.try_send(());
                    return gst::PadProbeReturn::Drop;
                }
                match stream_time(pad, info) {
                    Some(t) if t < self.warmup_from => gst::PadProbeReturn::Drop,
                    Some(t) if self.end.is_some_and(|end| t >= end) => gst::PadProbeReturn::Drop,
                    _ => gst::PadProbeReturn::Ok,
                }
            },
        );
        let count = written.clone();
        let first = OnceLock::new();
        after.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if stream_time(pad, info).is_some_and(|t| t < self.start) {
                return gst::PadProbeReturn::Drop;
            }
            // The first written frame is put at the segment's start (running time 0 after the
            // seek), so the segment's file starts at 0 whatever the warm-up; `join-segments`
            // puts it back at its time.
            if let Some(past) = past_segment_start(pad, info) {
                let shift = *first.get_or_init(|| past);
                if let Some(buffer) = info.buffer_mut() {
                    let buffer = buffer.make_mut();
                    buffer.set_pts(buffer.pts().map(|t| t.saturating_sub(shift)));
                    buffer.set_dts(buffer.dts().map(|t| t.saturating_sub(shift)));
                }
            }
            count.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
        Gate {
            range: self,
            pad: before.clone(),
            ready,
            written,
        }
    }
}

/// The installed probes of a [`Range`].
pub struct Gate {
    range: Range,
    /// Where the seek is sent upstream from (to the demuxer, not through the sinks).
    pad: gst::Pad,
    ready: mpsc::Receiver<()>,
    written: Arc<AtomicU64>,
}

impl Gate {
    /// Waits for the first frame (the pipeline must be going to PAUSED), then seeks the
    /// demuxer to the warm-up's start with the range's end as the stop; errors on the bus end
    /// the wait.
    pub fn seek(&self, pipeline: &gst::Pipeline) -> Result<()> {
        let bus = pipeline.bus().expect("pipelines have a bus");
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while self.ready.recv_timeout(Duration::from_millis(50)).is_err() {
            if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos]) {
                match msg.view() {
                    gst::MessageView::Error(e) => {
                        bail!("{} ({})", e.error(), e.debug().unwrap_or_default())
                    }
                    _ => bail!("the input has no video frames"),
                }
            }
            if std::time::Instant::now() > deadline {
                bail!("timed out waiting for the first video frame");
            }
        }
        let stop = self
            .range
            .end
            .map_or(gst::SeekType::None, |_| gst::SeekType::Set);
        let seek = gst::event::Seek::new(
            1.0,
            gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
            gst::SeekType::Set,
            self.range.warmup_from,
            stop,
            self.range.end.unwrap_or(gst::ClockTime::ZERO),
        );
        if !self.pad.push_event(seek) {
            bail!("the input cannot seek to {}", self.range.warmup_from);
        }
        Ok(())
    }

    /// Frames written so far (at or after the range's start).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

/// Stream time of the buffer a probe sees.
fn stream_time(pad: &gst::Pad, info: &gst::PadProbeInfo) -> Option<gst::ClockTime> {
    let pts = info.buffer()?.pts()?;
    time_segment(pad)?.to_stream_time(pts)
}

/// How far the buffer a probe sees lies after its segment's start.
fn past_segment_start(pad: &gst::Pad, info: &gst::PadProbeInfo) -> Option<gst::ClockTime> {
    let pts = info.buffer()?.pts()?;
    pts.checked_sub(time_segment(pad)?.start()?)
}

/// The pad's current segment, in time.
fn time_segment(pad: &gst::Pad) -> Option<gst::FormattedSegment<gst::ClockTime>> {
    let segment = pad.sticky_event::<gst::event::Segment>(0)?;
    segment
        .segment()
        .downcast_ref::<gst::format::Time>()
        .cloned()
}
