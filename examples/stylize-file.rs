// SPDX-License-Identifier: MIT
//! Stylises a video file into an MP4 (H.264 + AAC) with a progress bar; audio is kept.
//!
//! ```text
//! cargo run --release --example stylize-file -- input.mpg output.mp4 --style styles/night-cafe.jpg
//! stylize-file --print-options          # the element's options as JSON (the batch driver's)
//! stylize-file --check --style a.jpg:0.7,b.jpg:0.3   # validate, print the flags with absolute paths
//! ```
//!
//! The pipeline it builds is the one a user would write by hand:
//! `filesrc ! decodebin ! videoconvert ! adainstyle ! videoconvert ! videocrop (even size) !
//!  I420 ! x264enc ! mp4mux ! filesink`, with `decodebin`'s audio going through `avenc_aac`.
//!
//! It never writes over one of its inputs, and writes the MP4 under a temporary name renamed
//! into place only when complete: a failed run leaves no file behind. Exit status: 0 done, 1 the
//! stylisation failed, 2 bad usage (a flag, a missing input, an output that cannot be written).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use adainstyle::files::PendingOutput;
use adainstyle_cli::options::{self, ElementOptions};
use adainstyle_cli::playback::{self, StopOnDrop};
use adainstyle_cli::segment::{Gate, Range};
use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use gst::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};

/// Stylise a video file with the adainstyle element.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Input video (anything decodebin plays).
    #[arg(required_unless_present_any = ["print_options", "check"])]
    input: Option<PathBuf>,
    /// Output MP4 (written under a temporary name, renamed when complete).
    #[arg(required_unless_present_any = ["print_options", "check"])]
    output: Option<PathBuf>,
    #[command(flatten)]
    element: ElementOptions,
    /// x264 bitrate in kbit/s.
    #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u32).range(1..))]
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
    /// Print the element's options (name, flag, type, default, range, help) as JSON and exit.
    #[arg(long)]
    print_options: bool,
    /// Check the element options given (values, files) and print them as JSON with absolute
    /// paths, then exit: what the batch driver hands to its workers.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let prepared = match prepare(&args) {
        Ok(Some(prepared)) => prepared,
        Ok(None) => return ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stylize-file: error: {err:#}");
            return ExitCode::from(2);
        }
    };
    match stylize(&args, prepared) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stylize-file: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// What is checked before any work: the input, the options' files and the output.
struct Prepared {
    input: PathBuf,
    output: PendingOutput,
    range: Option<Range>,
}

/// Checks the flags, the input and the files the options name, and prepares the output;
/// `None` when the run was only `--print-options` or `--check`.
fn prepare(args: &Args) -> Result<Option<Prepared>> {
    options::init()?;
    if args.print_options {
        options::print_options();
        return Ok(None);
    }
    args.element.check_files()?;
    if args.check {
        let flags: serde_json::Map<String, serde_json::Value> = args
            .element
            .absolute_flags()
            .into_iter()
            .map(|(flag, value)| (flag, value.into()))
            .collect();
        let files: Vec<String> = args
            .element
            .files()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        println!("{}", serde_json::json!({"flags": flags, "files": files}));
        return Ok(None);
    }
    let (Some(input), Some(output)) = (&args.input, &args.output) else {
        bail!("an input and an output are needed");
    };
    if !input.is_file() {
        bail!("{}: not a file", input.display());
    }
    let range = Range::from_args(args.start, args.end, args.warmup, args.cooldown)?;
    let mut inputs = args.element.files();
    inputs.push(input.clone());
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let output = PendingOutput::create(output, &inputs)?;
    Ok(Some(Prepared {
        input: input.clone(),
        output,
        range,
    }))
}

/// The pipeline and the parts of it the run watches.
struct Built {
    pipeline: gst::Pipeline,
    style: gst::Element,
    gate: Option<Gate>,
}

/// Runs the pipeline to its end and renames the output into place.
fn stylize(args: &Args, prepared: Prepared) -> Result<()> {
    let started = Instant::now();
    let built = build(args, &prepared)?;
    let stop = StopOnDrop(built.pipeline.clone());
    let input = prepared.input.display().to_string();
    play(&built).with_context(|| input.clone())?;
    // The element forgets its device and network when it stops.
    let device = built.style.property::<String>("active-device");
    let model = built.style.property::<String>("active-model");
    let frames: u64 = built.style.property("frames-processed");
    let ms = built.style.property::<f64>("mean-inference-ms");
    drop(stop);
    let written = built.gate.as_ref().map(Gate::written);
    if frames == 0 || written == Some(0) {
        bail!("{input}: no video frames in the range asked for; nothing written");
    }
    if let Some(gate) = &built.gate {
        if !gate.starts_with_keyframe() {
            bail!("{input}: the segment's first frame was not coded as a keyframe");
        }
        println!("{} frames written", gate.written());
    }
    let output = prepared.output.output().display().to_string();
    prepared.output.commit()?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{input} -> {output}: {frames} frames in {secs:.1} s ({:.2} fps, {ms:.1} ms/frame in the \
         network), the {model} network on {device}",
        frames as f64 / secs,
    );
    Ok(())
}

/// Builds `filesrc ! decodebin ! ... ! adainstyle ! ... ! x264enc ! mp4mux ! filesink` into
/// the prepared output, with the range's probes.
fn build(args: &Args, prepared: &Prepared) -> Result<Built> {
    let pipeline = gst::Pipeline::new();
    let make = |factory: &str| {
        gst::ElementFactory::make(factory).build().with_context(|| {
            format!("GStreamer element `{factory}` is missing (run scripts/setup.sh)")
        })
    };
    let path_text = |p: &Path| p.to_str().map(str::to_owned).context("non-UTF-8 path");
    let src = gst::ElementFactory::make("filesrc")
        .property("location", path_text(&prepared.input)?)
        .build()?;
    let decode = make("decodebin")?;
    let style = make("adainstyle")?;
    args.element.apply(&style)?;
    let threads: u32 = args.element.get("threads")?;
    let encoder = gst::ElementFactory::make("x264enc")
        .property("bitrate", args.bitrate)
        .property("threads", threads)
        .property_from_str("speed-preset", "faster")
        .build()?;
    // A segment: no B-frame may refer to a cool-down frame, and every segment of a file is
    // coded alike (see adainstyle_cli::segment).
    if prepared.range.is_some() {
        encoder.set_property("b-adapt", false);
        encoder.set_property("bframes", 0u32);
    }
    let crop = make("videocrop")?;
    let i420 = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("format", "I420")
                .build(),
        )
        .build()?;
    let video = [
        make("queue")?,
        make("videoconvert")?,
        style.clone(),
        make("videoconvert")?,
        crop.clone(),
        i420,
        encoder.clone(),
        make("queue")?,
    ];
    let mux = gst::ElementFactory::make("mp4mux").name("mux").build()?;
    let sink = gst::ElementFactory::make("filesink")
        .property("location", path_text(prepared.output.path())?)
        .build()?;
    pipeline.add_many([&src, &decode, &mux, &sink])?;
    pipeline.add_many(&video)?;
    gst::Element::link_many(&video)?;
    src.link(&decode)?;
    video[video.len() - 1].link(&mux)?;
    mux.link(&sink)?;
    let video_in = video[0].static_pad("sink").context("queue sink pad")?;
    let gate = prepared.range.map(|r| {
        r.install(
            &video_in,
            &style.static_pad("src").expect("src pad"),
            &encoder.static_pad("src").expect("x264enc has a src pad"),
        )
    });
    link_decoded(&pipeline, &decode, video_in, crop, gate.is_none());
    Ok(Built {
        pipeline,
        style,
        gate,
    })
}

/// Links decodebin's video to the stylising chain (cropping an odd row or column for x264)
/// and, when `keep_audio`, its audio to AAC in the muxer.
fn link_decoded(
    pipeline: &gst::Pipeline,
    decode: &gst::Element,
    video_in: gst::Pad,
    crop: gst::Element,
    keep_audio: bool,
) {
    let pipeline_weak = pipeline.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let Some(s) = caps.structure(0) else { return };
        if s.name().starts_with("video/") && !video_in.is_linked() {
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
}

/// Prerolls (seeking to the range), plays to the end with a progress bar, and stops.
fn play(built: &Built) -> Result<()> {
    let pipeline = &built.pipeline;
    let started = Instant::now();
    playback::set_state(pipeline, gst::State::Paused)?;
    let bus = pipeline.bus().context("pipelines have a bus")?;
    if let Some(gate) = &built.gate {
        gate.seek(pipeline)?;
    }
    wait_for_preroll(&bus)?;
    let duration = pipeline.query_duration::<gst::ClockTime>();
    let bar = ProgressBar::new(duration.map_or(0, |t| t.mseconds()));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg} ETA {eta}")
            .expect("valid template"),
    );
    let stylized_until = watch_progress(&built.style);
    playback::set_state(pipeline, gst::State::Playing)?;
    let result = loop {
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(250)) {
            match msg.view() {
                gst::MessageView::Eos(_) => break Ok(()),
                gst::MessageView::Error(e) => break Err(anyhow!(playback::describe(e))),
                gst::MessageView::Warning(w) => bar.println(format!("warning: {}", w.error())),
                _ => {}
            }
        }
        let pos = gst::ClockTime::from_nseconds(stylized_until.load(Ordering::Relaxed));
        bar.set_position(pos.mseconds());
        let frames: u64 = built.style.property("frames-processed");
        let fps = frames as f64 / started.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!("{frames} frames, {fps:.1} fps"));
    };
    bar.finish_and_clear();
    result
}

/// The stream time of the last frame out of the element, updated by a probe: progress is
/// measured there since sinks lag behind by the encoder's lookahead.
fn watch_progress(style: &gst::Element) -> Arc<AtomicU64> {
    let stylized_until = Arc::new(AtomicU64::new(0));
    let until = stylized_until.clone();
    if let Some(pad) = style.static_pad("src") {
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let pts = info.buffer().and_then(|b| b.pts());
            let segment = pad.sticky_event::<gst::event::Segment>(0);
            let stream_time = segment.and_then(|ev| {
                ev.segment()
                    .downcast_ref::<gst::format::Time>()
                    .and_then(|seg| seg.to_stream_time(pts?))
            });
            if let Some(t) = stream_time {
                until.store(t.nseconds(), Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
    }
    stylized_until
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

/// Waits for the pipeline to preroll, so the duration is known; an error on the bus (an input
/// that is not a video, a style that cannot be loaded) ends the wait with its cause.
fn wait_for_preroll(bus: &gst::Bus) -> Result<()> {
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    while Instant::now() < deadline {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Error(e) => bail!(playback::describe(e)),
            gst::MessageView::AsyncDone(_) => return Ok(()),
            _ => {}
        }
    }
    bail!("timed out waiting for the input to preroll")
}
