// SPDX-License-Identifier: MIT
//! Lists a video's frames without decoding them, as one JSON object on stdout: the size and
//! frame rate, the container's duration, every frame's presentation time and which frames are
//! keyframes (all as stream time in nanoseconds, the times `stylize-file --start/--end` take),
//! and how many audio streams there are. The batch driver (`batch/`) plans its segments from it.
//! A frame that carries only a decoding time is given the previous frame's reordering delay.
//!
//! ```text
//! cargo run --release --example video-index -- input.mp4
//! ```
//!
//! The pipeline is `filesrc ! parsebin`, each elementary stream into a `fakesink`: the container
//! is demuxed and the video parsed, so a keyframe is a buffer without the DELTA_UNIT flag.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use adainstyle_cli::playback;

use anyhow::{Context, Result, bail};
use clap::Parser;
use gst::prelude::*;

/// Index a video file's frames and keyframes (JSON on stdout).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Input video (anything parsebin demuxes).
    input: PathBuf,
}

/// What the probes collect while the file streams through.
#[derive(Default)]
struct Index {
    /// Stream time of each video frame, in arrival (decoding) order.
    pts: Vec<u64>,
    /// Stream time of the keyframes.
    keyframes: Vec<u64>,
    /// Video frames that carried no presentation time nor decoding time.
    untimed: u64,
    /// The last frame's presentation time minus its decoding time: a frame that comes with a
    /// decoding time only (MPEG program streams have a few) is given this much more.
    reorder: Option<i128>,
    /// The container's duration.
    duration: Option<u64>,
    width: Option<i32>,
    height: Option<i32>,
    framerate: Option<gst::Fraction>,
    codec: Option<String>,
    video_streams: u32,
    audio_streams: u32,
}

fn main() -> Result<()> {
    let args = Args::parse();
    gst::init()?;
    if !args.input.is_file() {
        bail!("{}: no such file", args.input.display());
    }
    let name = args.input.display().to_string();
    let mut index = run(&args.input).with_context(|| format!("{name}: cannot index the video"))?;
    if index.video_streams == 0 || index.pts.is_empty() {
        bail!("{name}: no video frames found");
    }
    if index.untimed > 0 {
        bail!(
            "{name}: {} of {} video frames carry no timestamp",
            index.untimed,
            index.untimed + index.pts.len() as u64
        );
    }
    index.pts.sort_unstable();
    index.keyframes.sort_unstable();
    let fps = index.framerate.map(|f| [f.numer(), f.denom()]);
    let json = serde_json::json!({
        "path": name,
        "codec": index.codec,
        "width": index.width,
        "height": index.height,
        "framerate": fps,
        "frames": index.pts.len(),
        "pts_ns": index.pts,
        "keyframes_ns": index.keyframes,
        "duration_ns": index.duration,
        "video_streams": index.video_streams,
        "audio_streams": index.audio_streams,
    });
    println!("{json}");
    Ok(())
}

/// Streams the file through `parsebin` as fast as it can be read, collecting the index.
fn run(input: &std::path::Path) -> Result<Index> {
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", input.to_str().context("non-UTF-8 input path")?)
        .build()?;
    let parse = gst::ElementFactory::make("parsebin")
        .build()
        .context("GStreamer element `parsebin` is missing (run scripts/setup.sh)")?;
    pipeline.add_many([&src, &parse])?;
    src.link(&parse)?;
    let index = Arc::new(Mutex::new(Index::default()));
    let collected = index.clone();
    let pipeline_weak = pipeline.downgrade();
    parse.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        if let Err(err) = attach(&pipeline, pad, &collected) {
            eprintln!("cannot follow stream {}: {err}", pad.name());
        }
    });
    playback::play_to_eos(&pipeline, |pipeline| {
        let duration = pipeline.query_duration::<gst::ClockTime>();
        index.lock().expect("probe panicked").duration = duration.map(|d| d.nseconds());
    })?;
    let index = std::mem::take(&mut *index.lock().expect("probe panicked"));
    Ok(index)
}

/// Sends one elementary stream into a fakesink; video streams get the probe that records frames.
fn attach(pipeline: &gst::Pipeline, pad: &gst::Pad, index: &Arc<Mutex<Index>>) -> Result<()> {
    let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
    let s = caps.structure(0).context("stream without caps")?;
    playback::discard(pipeline, pad)?;
    let mut ix = index.lock().expect("probe panicked");
    if s.name().starts_with("audio/") {
        ix.audio_streams += 1;
        return Ok(());
    }
    if !s.name().starts_with("video/") {
        return Ok(());
    }
    ix.video_streams += 1;
    if ix.video_streams > 1 {
        return Ok(()); // Only the first video stream is indexed (the one decodebin plays).
    }
    ix.codec = Some(s.name().to_string());
    ix.width = s.get::<i32>("width").ok();
    ix.height = s.get::<i32>("height").ok();
    ix.framerate = s.get::<gst::Fraction>("framerate").ok();
    drop(ix);
    let index = index.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        let mut ix = index.lock().expect("probe panicked");
        let pts = match (buffer.pts(), buffer.dts()) {
            (Some(pts), dts) => {
                ix.reorder = dts.map(|dts| pts.nseconds() as i128 - dts.nseconds() as i128);
                Some(pts)
            }
            (None, Some(dts)) => {
                let t = dts.nseconds() as i128 + ix.reorder.unwrap_or(0);
                u64::try_from(t).ok().map(gst::ClockTime::from_nseconds)
            }
            (None, None) => None,
        };
        let Some(pts) = pts else {
            ix.untimed += 1;
            return gst::PadProbeReturn::Ok;
        };
        let Some(segment) = pad.sticky_event::<gst::event::Segment>(0) else {
            ix.untimed += 1;
            return gst::PadProbeReturn::Ok;
        };
        let Some(segment) = segment
            .segment()
            .downcast_ref::<gst::format::Time>()
            .cloned()
        else {
            ix.untimed += 1;
            return gst::PadProbeReturn::Ok;
        };
        // A decoder drops the frames outside the segment (an edit list's, or the container's
        // duration): they are not frames of the video.
        let end = buffer.duration().map_or(pts, |d| pts + d);
        if segment.clip(pts, end).is_none() {
            return gst::PadProbeReturn::Ok;
        }
        match segment.to_stream_time(pts) {
            Some(t) => {
                ix.pts.push(t.nseconds());
                if !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                    ix.keyframes.push(t.nseconds());
                }
            }
            None => ix.untimed += 1,
        }
        gst::PadProbeReturn::Ok
    });
    Ok(())
}
