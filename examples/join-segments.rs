// SPDX-License-Identifier: MIT
//! Joins the MP4 segments `stylize-file --start/--end` wrote into one MP4 without re-encoding
//! the video, with the audio of the original file (encoded to AAC, as `stylize-file` does).
//! The batch driver (`batch/`) decides what to join; this does the GStreamer part.
//!
//! ```text
//! cargo run --release --example join-segments -- out.mp4 seg-0.mp4 seg-1.mp4 \
//!     --starts 0,10.01 --audio-from input.mp4
//! ```
//!
//! Each segment starts at 0 in its own file; `--starts` gives the time of its first frame in
//! the original (stream time in seconds), and its frames are put back there, so the output has
//! the original's timestamps whatever its frame rate. The pipeline:
//! `filesrc ! qtdemux` per segment into `concat` (one pad per segment, requested in order,
//! each with its segment's start as the pad offset) `! h264parse ! mp4mux ! filesink`, and
//! `filesrc ! parsebin` of the original, whose audio goes through `decodebin ! audioconvert !
//! audioresample ! avenc_aac` into the same muxer (its video is not decoded).

use std::path::{Path, PathBuf};

use adainstyle_cli::playback;

use anyhow::{Context, Result, bail};
use clap::Parser;
use gst::prelude::*;

/// Join stylised segments into one MP4, with the original's audio.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Output MP4.
    output: PathBuf,
    /// The segments, in order (MP4 files with one H.264 video stream).
    #[arg(required = true)]
    segments: Vec<PathBuf>,
    /// Stream time in seconds of each segment's first frame in the original, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    starts: Vec<f64>,
    /// The original file: its first audio stream is encoded into the output.
    #[arg(long)]
    audio_from: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    gst::init()?;
    if args.starts.len() != args.segments.len() {
        bail!(
            "{} segments but {} --starts",
            args.segments.len(),
            args.starts.len()
        );
    }
    for path in args.segments.iter().chain(&args.audio_from) {
        if !path.is_file() {
            bail!("{}: no such file", path.display());
        }
    }
    let pipeline = gst::Pipeline::new();
    let concat = gst::ElementFactory::make("concat")
        .property("adjust-base", false)
        .build()?;
    let parse = gst::ElementFactory::make("h264parse").build()?;
    let mux = gst::ElementFactory::make("mp4mux").name("mux").build()?;
    let sink = gst::ElementFactory::make("filesink")
        .property("location", path_str(&args.output)?)
        .build()?;
    pipeline.add_many([&concat, &parse, &mux, &sink])?;
    gst::Element::link_many([&concat, &parse, &mux, &sink])?;

    for (path, start) in args.segments.iter().zip(&args.starts) {
        if !(start.is_finite() && *start >= 0.0) {
            bail!("--starts: {start} is not a time in seconds >= 0");
        }
        // Requested now, in order: concat plays its pads in the order they were requested.
        let pad = concat.request_pad_simple("sink_%u").context("concat pad")?;
        pad.set_offset((start * 1e9).round() as i64);
        let src = gst::ElementFactory::make("filesrc")
            .property("location", path_str(path)?)
            .build()?;
        let demux = gst::ElementFactory::make("qtdemux").build()?;
        pipeline.add_many([&src, &demux])?;
        src.link(&demux)?;
        let name = path.display().to_string();
        demux.connect_pad_added(move |_, video| {
            let caps = video
                .current_caps()
                .unwrap_or_else(|| video.query_caps(None));
            let is_video = caps
                .structure(0)
                .is_some_and(|s| s.name().starts_with("video/"));
            if is_video
                && !pad.is_linked()
                && let Err(err) = video.link(&pad)
            {
                eprintln!("{name}: cannot join its video: {err}");
            }
        });
    }
    if let Some(original) = &args.audio_from {
        add_audio(&pipeline, original)?;
    }

    let result = playback::play_to_eos(&pipeline, |_| {});
    result.with_context(|| format!("cannot join into {}", args.output.display()))
}

/// The original's first audio stream, decoded and encoded to AAC, into the muxer; its other
/// streams go to fakesinks still parsed (the video is not decoded). The encoder is linked to the
/// muxer before the pipeline starts (mp4mux takes no new pads once it is running); an original
/// without an audio stream ends it with an EOS.
fn add_audio(pipeline: &gst::Pipeline, original: &Path) -> Result<()> {
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path_str(original)?)
        .build()?;
    let parse = gst::ElementFactory::make("parsebin").build()?;
    let queue = gst::ElementFactory::make("queue").build()?;
    let decode = gst::ElementFactory::make("decodebin").build()?;
    let encode = [
        gst::ElementFactory::make("audioconvert").build()?,
        gst::ElementFactory::make("audioresample").build()?,
        gst::ElementFactory::make("avenc_aac").build()?,
        gst::ElementFactory::make("queue").build()?,
    ];
    pipeline.add_many([&src, &parse, &queue, &decode])?;
    pipeline.add_many(&encode)?;
    src.link(&parse)?;
    queue.link(&decode)?;
    gst::Element::link_many(&encode)?;
    let mux = pipeline.by_name("mux").context("muxer")?;
    encode[encode.len() - 1].link(&mux)?;

    let convert = encode[0].static_pad("sink").context("audioconvert pad")?;
    decode.connect_pad_added(move |_, decoded| {
        if !convert.is_linked()
            && let Err(err) = decoded.link(&convert)
        {
            eprintln!("audio dropped: {err}");
        }
    });
    let audio_in = queue.static_pad("sink").context("queue pad")?;
    let pipeline_weak = pipeline.downgrade();
    let name = original.display().to_string();
    let wanted = audio_in.clone();
    parse.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let audio = caps
            .structure(0)
            .is_some_and(|s| s.name().starts_with("audio/"));
        let linked = if audio && !wanted.is_linked() {
            pad.link(&wanted).map(|_| ()).map_err(anyhow::Error::from)
        } else {
            playback::discard(&pipeline, pad)
        };
        if let Err(err) = linked {
            eprintln!("{name}: cannot follow stream {}: {err}", pad.name());
        }
    });
    let encoder_in = encode[0].clone();
    parse.connect_no_more_pads(move |_| {
        if !audio_in.is_linked() {
            encoder_in.send_event(gst::event::Eos::new());
        }
    });
    Ok(())
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{}: non-UTF-8 path", path.display()))
}
