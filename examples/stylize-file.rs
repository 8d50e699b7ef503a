// SPDX-License-Identifier: MIT
//! Stylises a video file into an MP4 (H.264 + AAC) with a progress bar; audio is kept.
//!
//! ```text
//! cargo run --release --example stylize-file -- input.mpg output.mp4 --style styles/night-cafe.jpg
//! ```
//!
//! The pipeline it builds is the one a user would write by hand:
//! `filesrc ! decodebin ! videoconvert ! adainstyle ! videoconvert ! videocrop (even size) !
//!  I420 ! x264enc ! mp4mux ! filesink`, with `decodebin`'s audio going through `avenc_aac`.

mod common;

use common::segment::Range;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use gst::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};

/// Stylise a video file with the adainstyle element.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Input video (anything decodebin plays).
    input: PathBuf,
    /// Output MP4.
    output: PathBuf,
    /// Style image, or several blended as PATH:WEIGHT,PATH:WEIGHT (default: the shipped style).
    #[arg(long)]
    style: Option<String>,
    /// Style strength, 0..1.
    #[arg(long, default_value_t = 1.0)]
    alpha: f64,
    /// Longest edge the network runs at (0 = the video's own size); the output keeps the input size.
    #[arg(long, default_value_t = 0)]
    processing_size: u32,
    /// Steadiness over time: 0 = every frame on its own, higher = less flicker (the element's
    /// `temporal-smoothing`).
    #[arg(long, default_value_t = 0.5)]
    temporal_smoothing: f64,
    /// none, coral or luminance.
    #[arg(long, default_value = "none")]
    preserve_color: String,
    /// Where the style goes: a grey image (white = styled), or `alpha` (the element's `mask`).
    #[arg(long)]
    mask: Option<String>,
    /// Style outside the mask, same syntax as --style (default: the content is kept there).
    #[arg(long)]
    style_outside: Option<String>,
    /// CPU threads for libtorch and x264 (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: u32,
    #[command(flatten)]
    network: common::NetworkArgs,
    /// x264 bitrate in kbit/s.
    #[arg(long, default_value_t = 4000)]
    bitrate: u32,
    /// Write only the frames from this stream time on (seconds), without audio; with --end,
    /// one segment of the file (the batch driver's unit of work).
    #[arg(long)]
    start: Option<f64>,
    /// Stop before the frame at this stream time (seconds).
    #[arg(long)]
    end: Option<f64>,
    /// Seconds before --start to stylise and encode without writing, so temporal smoothing and
    /// x264's rate control have settled by the first written frame (a keyframe).
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Seconds after --end to stylise and encode without writing, so x264 codes the last written
    /// frames as in the middle of a stream (its lookahead sees the frames after them).
    #[arg(long, default_value_t = 0.0)]
    cooldown: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    gst::init()?;
    gstadainstyle::plugin_register_static()?;
    if !args.input.is_file() {
        bail!("{}: no such file", args.input.display());
    }
    let range = Range::from_args(args.start, args.end, args.warmup, args.cooldown)?;

    let pipeline = gst::Pipeline::new();
    let make = |factory: &str| {
        gst::ElementFactory::make(factory).build().with_context(|| {
            format!("GStreamer element `{factory}` is missing (run scripts/setup.sh)")
        })
    };
    let src = gst::ElementFactory::make("filesrc")
        .property(
            "location",
            args.input.to_str().context("non-UTF-8 input path")?,
        )
        .build()?;
    let decode = make("decodebin")?;
    let style = gst::ElementFactory::make("adainstyle")
        .property("alpha", args.alpha)
        .property("processing-size", args.processing_size)
        .property("temporal-smoothing", args.temporal_smoothing)
        .property_from_str("preserve-color", &args.preserve_color)
        .property("threads", args.threads)
        .build()?;
    args.network.apply(&style)?;
    for (name, value) in [
        ("style", &args.style),
        ("mask", &args.mask),
        ("style-outside", &args.style_outside),
    ] {
        if let Some(value) = value {
            style.set_property(name, value);
        }
    }
    let encoder = gst::ElementFactory::make("x264enc")
        .property("bitrate", args.bitrate)
        .property("threads", args.threads)
        .property_from_str("speed-preset", "faster")
        .build()?;
    // A segment: no B-frame may refer to a cool-down frame, and every segment of a file is
    // coded alike (see common::segment).
    if range.is_some() {
        encoder.set_property("b-adapt", false);
        encoder.set_property("bframes", 0u32);
    }
    let video_chain = [
        make("queue")?,
        make("videoconvert")?,
        style.clone(),
        make("videoconvert")?,
        gst::ElementFactory::make("videocrop")
            .name("crop")
            .build()?,
        gst::ElementFactory::make("capsfilter")
            .property(
                "caps",
                gst::Caps::builder("video/x-raw")
                    .field("format", "I420")
                    .build(),
            )
            .build()?,
        encoder.clone(),
        make("queue")?,
    ];
    let mux = gst::ElementFactory::make("mp4mux").name("mux").build()?;
    let sink = gst::ElementFactory::make("filesink")
        .property(
            "location",
            args.output.to_str().context("non-UTF-8 output path")?,
        )
        .build()?;
    pipeline.add_many([&src, &decode, &mux, &sink])?;
    pipeline.add_many(&video_chain)?;
    gst::Element::link_many(&video_chain)?;
    src.link(&decode)?;
    video_chain[video_chain.len() - 1].link(&mux)?;
    mux.link(&sink)?;

    let video_in = video_chain[0]
        .static_pad("sink")
        .expect("queue has a sink pad");
    let crop = video_chain[4].clone();
    let gate = range.map(|r| {
        r.install(
            &video_in,
            &style.static_pad("src").expect("src pad"),
            &encoder.static_pad("src").expect("x264enc has a src pad"),
        )
    });
    let keep_audio = gate.is_none();
    let pipeline_weak = pipeline.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let Some(s) = caps.structure(0) else { return };
        if s.name().starts_with("video/") && !video_in.is_linked() {
            // x264 needs even dimensions: crop the odd row/column rather than rescale.
            if let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height")) {
                crop.set_property("right", w % 2);
                crop.set_property("bottom", h % 2);
            }
            if let Err(err) = pad.link(&video_in) {
                eprintln!("cannot link video: {err}");
            }
        } else if s.name().starts_with("audio/")
            && keep_audio
            && let Err(err) = link_audio(&pipeline, pad)
        {
            eprintln!("audio dropped: {err}");
        }
    });

    let started = Instant::now();
    pipeline.set_state(gst::State::Paused)?;
    let bus = pipeline.bus().expect("pipelines have a bus");
    if let Some(gate) = &gate
        && let Err(err) = gate.seek(&pipeline)
    {
        pipeline.set_state(gst::State::Null)?;
        return Err(err.context(format!("{}", args.input.display())));
    }
    // Wait for preroll so the duration is known.
    wait_for(&bus, gst::MessageType::AsyncDone)?;
    let duration = pipeline.query_duration::<gst::ClockTime>();
    let bar = ProgressBar::new(duration.map_or(0, |t| t.mseconds()));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg} ETA {eta}")
            .expect("valid template"),
    );
    // Progress is measured where frames leave the element: sinks lag behind by the encoder's
    // lookahead.
    let stylized_until = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let until = stylized_until.clone();
    style.static_pad("src").expect("src pad").add_probe(
        gst::PadProbeType::BUFFER,
        move |pad, info| {
            let pts = info.buffer().and_then(|b| b.pts());
            let segment = pad.sticky_event::<gst::event::Segment>(0);
            let stream_time = segment.and_then(|ev| {
                ev.segment()
                    .downcast_ref::<gst::format::Time>()
                    .and_then(|seg| seg.to_stream_time(pts?))
            });
            if let Some(t) = stream_time {
                until.store(t.nseconds(), std::sync::atomic::Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        },
    );
    pipeline.set_state(gst::State::Playing)?;
    let result = loop {
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(250)) {
            match msg.view() {
                gst::MessageView::Eos(_) => break Ok(()),
                gst::MessageView::Error(e) => {
                    break Err(anyhow!("{} ({})", e.error(), e.debug().unwrap_or_default()));
                }
                gst::MessageView::Warning(w) => bar.println(format!("warning: {}", w.error())),
                _ => {}
            }
        }
        {
            let pos = gst::ClockTime::from_nseconds(
                stylized_until.load(std::sync::atomic::Ordering::Relaxed),
            );
            bar.set_position(pos.mseconds());
            let frames: u64 = style.property("frames-processed");
            let fps = frames as f64 / started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{frames} frames, {fps:.1} fps"));
        }
    };
    // The element forgets its device and network when it stops.
    let device = style.property::<String>("active-device");
    let model = style.property::<String>("active-model");
    pipeline.set_state(gst::State::Null)?;
    bar.finish_and_clear();
    result?;
    let frames: u64 = style.property("frames-processed");
    let secs = started.elapsed().as_secs_f64();
    if let Some(gate) = &gate {
        if gate.written() > 0 && !gate.starts_with_keyframe() {
            bail!(
                "{}: the segment's first frame was not coded as a keyframe",
                args.output.display()
            );
        }
        println!("{} frames written", gate.written());
    }
    println!(
        "{} -> {}: {frames} frames in {secs:.1} s ({:.2} fps, {:.1} ms/frame in the network), the {} network on {}",
        args.input.display(),
        args.output.display(),
        frames as f64 / secs,
        style.property::<f64>("mean-inference-ms"),
        model,
        device,
    );
    Ok(())
}

/// decodebin's audio -> AAC into the muxer; best effort (a missing encoder drops the audio).
fn link_audio(pipeline: &gst::Pipeline, pad: &gst::Pad) -> Result<()> {
    let chain = [
        gst::ElementFactory::make("queue").build()?,
        gst::ElementFactory::make("audioconvert").build()?,
        gst::ElementFactory::make("audioresample").build()?,
        gst::ElementFactory::make("avenc_aac").build()?,
        gst::ElementFactory::make("queue").build()?,
    ];
    pipeline.add_many(&chain)?;
    gst::Element::link_many(&chain)?;
    let mux = pipeline.by_name("mux").context("muxer")?;
    chain[chain.len() - 1].link(&mux)?;
    for el in &chain {
        el.sync_state_with_parent()?;
    }
    pad.link(&chain[0].static_pad("sink").context("queue sink")?)?;
    Ok(())
}

fn wait_for(bus: &gst::Bus, kind: gst::MessageType) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Error(e) => {
                bail!("{} ({})", e.error(), e.debug().unwrap_or_default())
            }
            _ if msg.type_() == kind => return Ok(()),
            _ => {}
        }
    }
    bail!("timed out waiting for {kind:?}")
}
