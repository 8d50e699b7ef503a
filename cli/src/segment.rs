// SPDX-License-Identifier: MIT
//! One time range of a file for `stylize-file --start/--end/--warmup/--cooldown` (what the batch
//! driver in `batch/` runs per segment): frames before the warm-up are dropped before the element,
//! the warm-up frames are stylised (so temporal smoothing has settled) and encoded (so the
//! encoder's rate control has settled too) but not written: the encoder is told to start a
//! keyframe at `start`, and the encoded frames before it are dropped, so the output starts with
//! that keyframe. The cool-down frames after `end` are stylised and encoded but not written
//! either, so the encoder codes the last written frames as it would in the middle of a stream
//! rather than as the end of one (x264 gives a stream's last frames fewer bits). A written frame
//! must not refer to a cool-down frame, so `stylize-file` encodes a range without B-frames (and
//! every range alike, since the segments of a file are joined into one stream with one encoder
//! configuration). (A keyframe requested at the end as well would do instead,
//! but GStreamer 1.22's encoder base class refuses a second request while the first keyframe is
//! still in x264's lookahead, or compares its running time with the 1000-hour offset x264enc
//! gives its timestamps.)
//!
//! The probes drop a buffer or event by returning `Handled` (the binding has already released
//! it): GStreamer 1.22 unrefs the item again after a `Drop`, with a critical warning.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use gst::prelude::*;

/// A time range of the input, in stream time.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    /// First stylised frame (start minus the warm-up).
    pub warmup_from: gst::ClockTime,
    /// First written frame.
    pub start: gst::ClockTime,
    /// Frames at or after this are not written.
    pub end: Option<gst::ClockTime>,
    /// Frames at or after this are not stylised (the end plus the cool-down).
    pub stop: Option<gst::ClockTime>,
}

impl Range {
    /// The range `--start`, `--end`, `--warmup`, `--cooldown` ask for (seconds), or None for the
    /// whole file.
    pub fn from_args(
        start: Option<f64>,
        end: Option<f64>,
        warmup: f64,
        cooldown: f64,
    ) -> Result<Option<Self>> {
        if start.is_none() && end.is_none() {
            if warmup != 0.0 {
                bail!("--warmup needs --start");
            }
            if cooldown != 0.0 {
                bail!("--cooldown needs --end");
            }
            return Ok(None);
        }
        if end.is_none() && cooldown != 0.0 {
            bail!("--cooldown needs --end");
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
        let cooldown = time(cooldown, "cooldown")?;
        if end.is_some_and(|e| e <= start) {
            bail!("--end must come after --start");
        }
        Ok(Some(Self {
            warmup_from: start.saturating_sub(warmup),
            start,
            end,
            stop: end.map(|e| e + cooldown),
        }))
    }

    /// Installs the probes: `before` is the pad frames enter the stylising chain through,
    /// `after` the element's source pad (upstream of the encoder), `encoded` the encoder's
    /// source pad. Until a seek lands (see [`Gate::seek`]) every frame is dropped before the
    /// element, so nothing ahead of the warm-up reaches the encoder.
    pub fn install(self, before: &gst::Pad, after: &gst::Pad, encoded: &gst::Pad) -> Gate {
        let phase = Arc::new(AtomicU8::new(WAITING));
        let target = Arc::new(AtomicU64::new(self.warmup_from.nseconds()));
        let written = Arc::new(AtomicU64::new(0));
        let (tx, outcomes) = mpsc::sync_channel(8);
        self.gate_frames(before, phase.clone(), target.clone(), tx);
        self.ask_for_a_keyframe(after);
        let keyframe_first = self.keep_the_range(encoded, written.clone());
        Gate {
            range: self,
            pad: before.clone(),
            phase,
            target,
            outcomes,
            written,
            keyframe_first,
        }
    }

    /// The probe before the element: drops frames until a seek lands, reports what the seek
    /// did to [`Gate::seek`], drops the frames before the warm-up and ends the stream after the
    /// cool-down.
    fn gate_frames(
        self,
        before: &gst::Pad,
        probe_phase: Arc<AtomicU8>,
        probe_target: Arc<AtomicU64>,
        tx: mpsc::SyncSender<Outcome>,
    ) {
        before.add_probe(
            gst::PadProbeType::BUFFER
                | gst::PadProbeType::EVENT_FLUSH
                | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |pad, info| {
                let phase = &probe_phase;
                let now = phase.load(Ordering::SeqCst);
                if let Some(gst::PadProbeData::Event(ev)) = &info.data {
                    match ev.view() {
                        gst::EventView::FlushStop(_) => phase.store(LANDING, Ordering::SeqCst),
                        // A short file can end before the seek, or after one that landed too
                        // late: that end is not the range's.
                        gst::EventView::Eos(_) if matches!(now, WAITING | READY | MISSED) => {
                            return gst::PadProbeReturn::Handled;
                        }
                        gst::EventView::Eos(_) if matches!(now, SEEKING | LANDING) => {
                            let _ = tx.try_send(Outcome::NoFrames);
                            return gst::PadProbeReturn::Handled;
                        }
                        _ => {}
                    }
                    return gst::PadProbeReturn::Ok;
                }
                let t = stream_time(pad, info);
                match now {
                    WAITING => {
                        // Data flows: the demuxer can seek now.
                        if phase
                            .compare_exchange(WAITING, READY, Ordering::SeqCst, Ordering::SeqCst)
                            .is_ok()
                        {
                            let _ = tx.try_send(Outcome::Ready);
                        }
                        return gst::PadProbeReturn::Handled;
                    }
                    READY | SEEKING | MISSED => return gst::PadProbeReturn::Handled,
                    LANDING => {
                        // A frame after the warm-up's start by a whole frame or more means the
                        // demuxer skipped frames that belong to the range (MPEG program streams
                        // land a GOP late): seek again, earlier.
                        let duration = info.buffer().and_then(|b| b.duration());
                        let late = t.is_some_and(|t| {
                            t >= self.warmup_from + duration.unwrap_or(gst::ClockTime::MSECOND)
                        });
                        if late && probe_target.load(Ordering::SeqCst) > 0 {
                            phase.store(MISSED, Ordering::SeqCst);
                            let _ = tx.try_send(Outcome::Late(t.unwrap_or_default()));
                            return gst::PadProbeReturn::Handled;
                        }
                        phase.store(PASSING, Ordering::SeqCst);
                        let _ = tx.try_send(Outcome::Landed);
                    }
                    _ => {}
                }
                match t {
                    Some(t) if t < self.warmup_from => gst::PadProbeReturn::Handled,
                    Some(t) if self.stop.is_some_and(|stop| t >= stop) => {
                        // The range and its cool-down are over: the stream ends here (and the demuxer stops at
                        // the next frame, refused with EOS).
                        if phase.swap(ENDED, Ordering::SeqCst) != ENDED {
                            pad.send_event(gst::event::Eos::new());
                        }
                        gst::PadProbeReturn::Handled
                    }
                    _ => gst::PadProbeReturn::Ok,
                }
            },
        );
    }

    /// The first frame at or after the start begins a keyframe: the event travels in order
    /// with the frames to the encoder, which codes that frame as an IDR frame. Without a
    /// running time the request is for the next frame to reach the encoder: this one.
    fn ask_for_a_keyframe(self, after: &gst::Pad) {
        let keyframe_asked = AtomicBool::new(false);
        after.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if stream_time(pad, info).is_some_and(|t| t >= self.start)
                && !keyframe_asked.swap(true, Ordering::SeqCst)
            {
                let event = gst_video::DownstreamForceKeyUnitEvent::builder()
                    .all_headers(true)
                    .build();
                if !pad.push_event(event) {
                    eprintln!("warning: the encoder did not take the keyframe request");
                }
            }
            gst::PadProbeReturn::Ok
        });
    }

    /// The probe after the encoder: keeps the range's frames, shifted to start at 0, and counts
    /// them; the returned flag says whether the first is a keyframe.
    fn keep_the_range(self, encoded: &gst::Pad, count: Arc<AtomicU64>) -> Arc<AtomicBool> {
        let first = OnceLock::new();
        let starts_with_keyframe = Arc::new(AtomicBool::new(false));
        let keyframe_first = starts_with_keyframe.clone();
        encoded.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if stream_time(pad, info)
                .is_some_and(|t| t < self.start || self.end.is_some_and(|end| t >= end))
            {
                return gst::PadProbeReturn::Handled;
            }
            // The first written frame is put at the segment's start (running time 0 after the
            // seek), so the segment's file starts at 0 whatever the warm-up; `join-segments`
            // puts it back at its time.
            if let Some(past) = past_segment_start(pad, info) {
                let shift = *first.get_or_init(|| {
                    let delta = info
                        .buffer()
                        .is_some_and(|b| b.flags().contains(gst::BufferFlags::DELTA_UNIT));
                    starts_with_keyframe.store(!delta, Ordering::SeqCst);
                    past
                });
                if let Some(buffer) = info.buffer_mut() {
                    let buffer = buffer.make_mut();
                    buffer.set_pts(buffer.pts().map(|t| t.saturating_sub(shift)));
                    buffer.set_dts(buffer.dts().map(|t| t.saturating_sub(shift)));
                }
            }
            count.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
        keyframe_first
    }
}

// Phases of the probe before the element.
/// No frame yet.
const WAITING: u8 = 0;
/// Frames flow and are dropped until the seek.
const READY: u8 = 1;
/// A seek is on its way to the demuxer.
const SEEKING: u8 = 2;
/// A seek flushed the pipeline; its first frame says whether it landed early enough (a seek
/// to 0 always does).
const LANDING: u8 = 3;
/// The seek landed too late; frames are dropped until the next one.
const MISSED: u8 = 4;
/// The range's frames pass.
const PASSING: u8 = 5;
/// The range's end went by: the stream was ended.
const ENDED: u8 = 6;

/// What the probe before the element reports to [`Gate::seek`].
enum Outcome {
    /// The first frame arrived: the demuxer can seek.
    Ready,
    /// A seek landed at or before the warm-up's start (or at the file's start).
    Landed,
    /// A seek landed at this stream time, after frames of the range.
    Late(gst::ClockTime),
    /// Nothing after the seek.
    NoFrames,
}

/// The installed probes of a [`Range`].
pub struct Gate {
    range: Range,
    /// Where seeks are sent upstream from (to the demuxer, not through the sinks).
    pad: gst::Pad,
    phase: Arc<AtomicU8>,
    /// Where the latest seek went, in nanoseconds.
    target: Arc<AtomicU64>,
    outcomes: mpsc::Receiver<Outcome>,
    written: Arc<AtomicU64>,
    keyframe_first: Arc<AtomicBool>,
}

impl Gate {
    /// Waits for the first frame (the pipeline must be going to PAUSED), then seeks the
    /// demuxer to the warm-up's start with the range's end as the stop, and again earlier
    /// while it lands after frames of the range; errors on the bus end the wait.
    pub fn seek(&self, pipeline: &gst::Pipeline) -> Result<()> {
        let bus = pipeline.bus().expect("pipelines have a bus");
        let wait = || -> Result<Outcome> {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                if let Ok(outcome) = self.outcomes.recv_timeout(Duration::from_millis(50)) {
                    return Ok(outcome);
                }
                if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
                    && let gst::MessageView::Error(e) = msg.view()
                {
                    bail!("{} ({})", e.error(), e.debug().unwrap_or_default());
                }
                if Instant::now() > deadline {
                    bail!("timed out waiting for video frames");
                }
            }
        };
        if !matches!(wait()?, Outcome::Ready) {
            bail!("the input has no video frames");
        }
        let mut target = self.range.warmup_from;
        let mut step = gst::ClockTime::SECOND;
        loop {
            let seek = gst::event::Seek::new(
                1.0,
                gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
                gst::SeekType::Set,
                target,
                // No stop: a demuxer that lands late would land past it, and decoders fail a
                // segment without frames. The probe ends the stream at the range's end.
                gst::SeekType::None,
                gst::ClockTime::NONE,
            );
            self.target.store(target.nseconds(), Ordering::SeqCst);
            self.phase.store(SEEKING, Ordering::SeqCst);
            if !self.pad.push_event(seek) {
                bail!("the input cannot seek to {target}");
            }
            // A seek that lands late, or past the range's end (an end of stream), goes again
            // earlier: twice as far back as it missed by, and at least twice as far as before.
            let back = match wait()? {
                Outcome::Landed => return Ok(()),
                _ if target == gst::ClockTime::ZERO => {
                    bail!("no video frames from {} on", self.range.warmup_from)
                }
                Outcome::Late(at) => (at.saturating_sub(target) * 2).max(step),
                Outcome::NoFrames | Outcome::Ready => step,
            };
            target = target.saturating_sub(back);
            step *= 2;
        }
    }

    /// Frames written so far (at or after the range's start).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Whether the first written frame is a keyframe (what a segment must begin with to be
    /// joined to the one before it); false before it is written.
    pub fn starts_with_keyframe(&self) -> bool {
        self.keyframe_first.load(Ordering::SeqCst)
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
