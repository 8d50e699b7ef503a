// SPDX-License-Identifier: MIT
//! Live stylisation: a camera or test source into a window or a v4l2loopback virtual camera,
//! cycling through styles while it runs (every few seconds, or when you press Enter).
//!
//! ```text
//! cargo run --release --example live -- --source camera --sink window
//! cargo run --release --example live -- --source camera --sink v4l2:/dev/video10   # for OBS etc.
//! # an H.264 MPEG-TS stream over SRT that OBS, ffplay or VLC can open as srt://127.0.0.1:8888
//! cargo run --release --example live -- --source camera --sink srt://:8888
//! ```

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use adainstyle_cli::options::{self, ElementOptions};
use adainstyle_cli::playback::{self, StopOnDrop};
use anyhow::{Context, Result, bail};
use clap::Parser;
use gst::prelude::*;

/// Live style transfer with style switching.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// `test` (videotestsrc), `camera` (the default v4l2 camera), `v4l2:/dev/videoN` or
    /// `image:PATH` (a still image as a live stream).
    #[arg(long, default_value = "test")]
    source: String,
    /// `window` (autovideosink), `v4l2:/dev/videoN` (e.g. a v4l2loopback device), `srt://:PORT`
    /// (serve H.264 in MPEG-TS over SRT, listening on PORT; `srt://HOST:PORT` to listen on one
    /// address) or `none`.
    #[arg(long, default_value = "window")]
    sink: String,
    /// Styles to cycle through (default: every image in the shipped styles/ folder).
    #[arg(long, num_args = 1..)]
    styles: Vec<PathBuf>,
    /// Switch to the next style every this many seconds (0 = only on Enter).
    #[arg(long, default_value_t = 5.0)]
    switch_every: f64,
    /// Capture and processing size.
    #[arg(long, default_value_t = 640)]
    width: u32,
    /// Capture and processing size.
    #[arg(long, default_value_t = 360)]
    height: u32,
    #[command(flatten)]
    element: ElementOptions,
    /// Stop after this many frames (0 = run until interrupted or the window closes).
    #[arg(long, default_value_t = 0)]
    frames: u64,
    /// Stop after this many seconds (0 = no limit).
    #[arg(long, default_value_t = 0.0)]
    seconds: f64,
    /// Frame rate of the `test` and `image:` sources.
    #[arg(long, default_value_t = 30)]
    fps: u32,
}

fn source(spec: &str, width: u32, height: u32, fps: u32) -> Result<String> {
    let caps = format!("video/x-raw,width={width},height={height}");
    Ok(match spec {
        "test" => format!("videotestsrc is-live=true pattern=ball ! {caps},framerate={fps}/1"),
        "camera" => format!("v4l2src ! videoconvert ! videoscale ! {caps}"),
        s if s.starts_with("v4l2:") => format!(
            "v4l2src device={} ! videoconvert ! videoscale ! {caps}",
            &s[5..]
        ),
        // A still image as an endless live stream (for trying styles on a picture, or serving
        // one).
        s if s.starts_with("image:") => format!(
            "filesrc location=\"{}\" ! decodebin ! imagefreeze is-live=true ! videoconvert ! \
             videoscale ! {caps},framerate={fps}/1",
            &s[6..]
        ),
        other => {
            bail!("unknown source `{other}`: use test, camera, v4l2:/dev/videoN or image:PATH")
        }
    })
}

fn sink(spec: &str) -> Result<String> {
    Ok(match spec {
        "window" => "videoconvert ! autovideosink sync=false".into(),
        "none" => "fakesink sync=false".into(),
        // v4l2loopback consumers (OBS, browsers) expect YUY2 or I420.
        s if s.starts_with("v4l2:") => format!(
            "videoconvert ! video/x-raw,format=YUY2 ! v4l2sink device={} sync=false",
            &s[5..]
        ),
        // Low-latency H.264 with a keyframe (and its SPS/PPS, which x264 repeats) every 15
        // frames, so a client that connects late starts soon; the listener serves whichever
        // client connects.
        s if s.starts_with("srt://") => {
            let (host, port) = s["srt://".len()..]
                .rsplit_once(':')
                .with_context(|| format!("`{s}`: expected srt://:PORT or srt://HOST:PORT"))?;
            let port: u16 = port.parse().with_context(|| format!("`{s}`: bad port"))?;
            // An empty host in the URI makes srtsink a listener; `localaddress` picks the
            // interface.
            let bind = if host.is_empty() {
                String::new()
            } else {
                format!("localaddress={host}")
            };
            format!(
                "videoconvert ! video/x-raw,format=I420 ! \
                 x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 bitrate=2000 ! \
                 mpegtsmux ! \
                 srtsink uri=srt://:{port} {bind} wait-for-connection=false latency=100 sync=false"
            )
        }
        other => bail!("unknown sink `{other}`: use window, none, v4l2:/dev/videoN or srt://:PORT"),
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    options::init()?;
    args.element.check_files()?;
    let styles = styles(&args)?;
    let description = format!(
        "{} ! queue name=live max-size-buffers=1 leaky=downstream ! videoconvert ! \
         adainstyle name=style ! {}",
        source(&args.source, args.width, args.height, args.fps)?,
        sink(&args.sink)?
    );
    println!("pipeline: {description}");
    let pipeline = gst::parse::launch(&description)?
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let element = pipeline.by_name("style").expect("named element");
    if !args.element.is_given("style") {
        element.set_property("style", path_text(&styles[0])?);
    }
    args.element.apply(&element)?;
    let stop = StopOnDrop(pipeline.clone());
    playback::set_state(&pipeline, gst::State::Playing).context("cannot start")?;
    // Frames the source delivered, counted where they enter the leaky queue: the share of
    // them the element stylised is the summary printed at the end.
    let offered = Arc::new(AtomicU64::new(0));
    let counter = offered.clone();
    pipeline
        .by_name("live")
        .and_then(|q| q.static_pad("sink"))
        .context("the live queue's sink pad")?
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    let started = Instant::now();
    let result = run(&args, &pipeline, &element, &styles);
    let (frames, offered) = (
        element.property::<u64>("frames-processed"),
        offered.load(Ordering::Relaxed),
    );
    println!(
        "summary: {frames} of {offered} source frames stylised ({:.1} %) in {:.1} s, {:.1} ms per \
         frame",
        100.0 * frames as f64 / offered.max(1) as f64,
        started.elapsed().as_secs_f64(),
        element.property::<f64>("mean-inference-ms")
    );
    drop(stop);
    result
}

/// The styles to cycle through: `--styles`, or every image of the shipped styles/ folder.
fn styles(args: &Args) -> Result<Vec<PathBuf>> {
    let mut styles = args.styles.clone();
    if styles.is_empty() {
        let dir = adainstyle::data::find("styles");
        styles = std::fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "jpg" || e == "png"))
            .collect();
        styles.sort();
    }
    if styles.is_empty() {
        bail!("no style images given");
    }
    Ok(styles)
}

fn path_text(path: &std::path::Path) -> Result<&str> {
    path.to_str().context("non-UTF-8 path")
}

/// Plays until the end, an error, `--frames` or `--seconds`, switching styles on time or when
/// Enter is pressed.
fn run(
    args: &Args,
    pipeline: &gst::Pipeline,
    element: &gst::Element,
    styles: &[PathBuf],
) -> Result<()> {
    // Enter on stdin asks for the next style.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for _ in std::io::stdin().lock().lines() {
            if tx.send(()).is_err() {
                break;
            }
        }
    });
    let bus = pipeline.bus().expect("pipelines have a bus");
    let started = Instant::now();
    let mut current = 0usize;
    let mut last_switch = Instant::now();
    loop {
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) {
            match msg.view() {
                gst::MessageView::Eos(_) => return Ok(()),
                gst::MessageView::Error(e) => bail!(playback::describe(e)),
                gst::MessageView::Warning(w) => eprintln!("warning: {}", w.error()),
                _ => {}
            }
        }
        let timed = args.switch_every > 0.0
            && last_switch.elapsed() >= Duration::from_secs_f64(args.switch_every);
        if timed || rx.try_recv().is_ok() {
            current = (current + 1) % styles.len();
            element.set_property("style", path_text(&styles[current])?);
            last_switch = Instant::now();
            let frames: u64 = element.property("frames-processed");
            let ms: f64 = element.property("mean-inference-ms");
            println!(
                "style -> {} ({frames} frames so far, {ms:.1} ms/frame)",
                styles[current].display()
            );
        }
        let frames: u64 = element.property("frames-processed");
        if (args.frames > 0 && frames >= args.frames)
            || (args.seconds > 0.0 && started.elapsed().as_secs_f64() >= args.seconds)
        {
            return Ok(());
        }
    }
}
