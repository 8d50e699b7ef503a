// SPDX-License-Identifier: MIT
//! The `adainstyle` element in whole pipelines: start errors, refused caps, styles changed while
//! playing (also from another thread), and an encode through decodebin, x264 and mp4mux.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use adainstyle::frame::{FrameLayout, PixelLayout};
use adainstyle::{Model, Precision, StylizeOptions, weights};
use gst::prelude::*;
use gst_check::Harness;

use common::*;

#[test]
fn start_errors_name_the_file_and_the_cause() {
    let scratch = Scratch::new("element-errors");
    let dir = scratch.path();
    let corrupt = dir.join("corrupt-style.jpg");
    std::fs::write(&corrupt, b"\xFF\xD8\xFF\xE0 truncated").unwrap();
    let garbled = dir.join("garbled-style.jpg");
    std::fs::write(&garbled, b"\xFF\xD8\xFF\xE0 not a JPEG at all \xFF\xD9").unwrap();
    let wrong = dir.join("wrong-shapes.safetensors");
    weights::write_atomic(
        &[
            (
                "1.bias".into(),
                tch::Tensor::zeros([256], (tch::Kind::Float, tch::Device::Cpu)),
            ),
            (
                "1.weight".into(),
                tch::Tensor::zeros([3, 3], (tch::Kind::Float, tch::Device::Cpu)),
            ),
        ],
        &wrong,
    )
    .unwrap();
    let cases = [
        (
            format!("style={}", dir.join("no-such-style.jpg").display()),
            vec!["no-such-style.jpg", "No such file"],
        ),
        (
            format!("style={}", corrupt.display()),
            vec!["corrupt-style.jpg", "truncated"],
        ),
        (
            format!("style={}", garbled.display()),
            vec!["garbled-style.jpg", "decode"],
        ),
        (
            format!("decoder={}", dir.join("absent.safetensors").display()),
            vec!["absent.safetensors"],
        ),
        (
            format!("decoder={}", wrong.display()),
            vec!["wrong-shapes.safetensors", "1.weight", "shape"],
        ),
        (
            format!("encoder={}", decoder_path().display()),
            vec!["missing key"],
        ),
        ("device=cuda:0".to_string(), vec!["CUDA device 0 requested"]),
        ("device=tpu".to_string(), vec!["invalid device `tpu`"]),
    ];
    for (props, needles) in cases {
        let (error, _) = run(&test_pipeline(&props), Duration::from_secs(60));
        let error = error.unwrap_or_else(|| panic!("{props}: no error"));
        for needle in needles {
            assert!(
                error.contains(needle),
                "{props}: `{needle}` not in: {error}"
            );
        }
    }
}

#[test]
fn unsupported_caps_are_refused() {
    init();
    let description = format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=I420,width=32,height=32 ! adainstyle device=cpu decoder={} ! fakesink",
        decoder_path().display()
    );
    let err = gst::parse::launch(&description).expect_err("I420 must not link");
    assert!(err.to_string().contains("can't handle caps"), "{err}");
    // Too small a frame is refused as well.
    let description = description.replace(
        "format=I420,width=32,height=32",
        "format=RGB,width=8,height=8",
    );
    let err = gst::parse::launch(&description).expect_err("8x8 must not link");
    assert!(err.to_string().contains("can't handle caps"), "{err}");
}

#[test]
fn bad_style_while_playing_warns_and_keeps_the_old_style() {
    // A still test pattern (smpte is not: its corner changes every frame): with the style
    // unchanged, every output frame is the same.
    let pipeline = launch(&format!(
        "videotestsrc num-buffers=40 is-live=false pattern=colors ! video/x-raw,format=RGB,width=32,height=32,framerate=25/1 ! \
         adainstyle name=s device=cpu style-size=64 decoder={} ! fakesink sync=false",
        decoder_path().display()
    ));
    let el = pipeline.by_name("s").unwrap();
    let outputs = capture_output(&pipeline, "s");
    let missing = std::env::temp_dir().join("adainstyle-definitely-missing.png");
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = el.clone();
    let missing2 = missing.clone();
    el.static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let n: u64 = handle.property("frames-processed");
            if n == 5 {
                handle.set_property("style", missing2.to_str().unwrap());
                let _ = tx.send(());
            }
            gst::PadProbeReturn::Ok
        });
    let (error, warnings) = run(&pipeline, Duration::from_secs(120));
    assert!(error.is_none(), "{error:?}");
    rx.try_recv().expect("style was changed while playing");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("adainstyle-definitely-missing.png")),
        "warnings: {warnings:?}"
    );
    let frames: u64 = el.property("frames-processed");
    assert_eq!(frames, 40);
    let outputs = outputs.lock().unwrap();
    assert_eq!(outputs.len(), 40);
    // A style change moves pixels by tens of levels; 1 is libtorch's threading noise.
    let worst = outputs.iter().map(|o| max_diff(o, &outputs[0])).max();
    assert!(
        worst <= Some(1),
        "the output changed by {worst:?} after the bad style"
    );
}

/// Hundreds of style and alpha changes from another thread while frames flow: none is lost
/// between the threads (the frames change with them), and once they stop the output is the
/// library's for the last style.
#[test]
fn hundreds_of_style_swaps_from_another_thread_while_streaming() {
    init();
    let info = video_info(gst_video::VideoFormat::Rgb, 32, 32);
    let el = element(&[]);
    let mut h = Harness::with_element(&el, Some("sink"), Some("src"));
    h.set_src_caps(info.to_caps().unwrap());
    let styles = [
        style("cafe-terrace-at-night.jpg"),
        style("night-cafe.jpg"),
        style("langlois-bridge.jpg"),
        style("painter-on-the-road.jpg"),
    ];
    // A fixed number of changes from another thread, and frames that wait for them to move on:
    // however fast or busy the machine, the frames flow while the properties change.
    const SWAPS: usize = 200;
    let swaps = Arc::new(AtomicUsize::new(0));
    let swapper = {
        let (el, swaps) = (el.clone(), swaps.clone());
        std::thread::spawn(move || {
            for n in 0..SWAPS {
                let a = &styles[n % 4];
                let b = &styles[(n + 1) % 4];
                let spec = if n.is_multiple_of(3) {
                    format!("{}:0.5,{}:0.5", a.display(), b.display())
                } else {
                    a.display().to_string()
                };
                el.set_property("style", spec);
                el.set_property("alpha", (n % 10) as f64 / 10.0);
                swaps.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_micros(500));
            }
        })
    };
    // The same input frame every time: the output changes only with the style and alpha.
    let (_, data, _) = padded_buffer(&info, 0, 7, gst::ClockTime::ZERO);
    let mut push = |i: u64| {
        let mut buffer = gst::Buffer::from_slice(data.clone());
        buffer
            .get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(33 * i));
        h.push(buffer).unwrap();
        frame_pixels(h.pull().unwrap(), &info)
    };
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut frames = 0u64;
    for f in 0..40 {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while swaps.load(Ordering::SeqCst) < (f * SWAPS) / 40 {
            assert!(std::time::Instant::now() < deadline, "the swaps stalled");
            std::thread::sleep(Duration::from_millis(1));
        }
        let out = push(frames);
        if !seen.contains(&out) {
            seen.push(out);
        }
        frames += 1;
    }
    swapper.join().unwrap();
    // The changes reached the frames while they flowed (the first frames see the first
    // settings, the last ones the last).
    assert!(
        seen.len() >= 2,
        "{} different outputs over {frames} frames and {SWAPS} changes",
        seen.len()
    );
    // The last change wins: the output becomes the library's for it.
    let night = style("night-cafe.jpg");
    el.set_property("style", night.to_str().unwrap());
    el.set_property("alpha", 1.0f64);
    let layout = FrameLayout::packed(32, 32, PixelLayout::Rgb);
    let expected = library_output(&data, &layout, &night, &StylizeOptions::default());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = push(frames);
        frames += 1;
        if max_diff(&out, &expected) <= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the output never became the last style's (off by {})",
            max_diff(&out, &expected)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(el.property::<u64>("frames-processed"), frames);
}

#[test]
fn a_new_style_takes_effect_while_playing() {
    init();
    for model in MODELS {
        new_style_takes_effect(model);
    }
}

fn new_style_takes_effect(model: Model) {
    let info = video_info(gst_video::VideoFormat::Rgb, 40, 24);
    let el = element_of(model, &[]);
    let mut h = Harness::with_element(&el, Some("sink"), Some("src"));
    h.set_src_caps(info.to_caps().unwrap());
    let (buffer, data, _) = padded_buffer(&info, 0, 4, gst::ClockTime::ZERO);
    h.push(buffer).unwrap();
    let before = frame_pixels(h.pull().unwrap(), &info);
    let night = style("night-cafe.jpg");
    el.set_property("style", night.to_str().unwrap());
    // The worker computes the new statistics off the streaming thread: frames keep the old
    // style until they are ready, then switch.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let after = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the new style never arrived"
        );
        let (buffer, _, _) = padded_buffer(&info, 0, 4, gst::ClockTime::from_mseconds(40));
        h.push(buffer).unwrap();
        let out = frame_pixels(h.pull().unwrap(), &info);
        if out != before {
            break out;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let layout = FrameLayout::packed(40, 24, PixelLayout::Rgb);
    let opts = StylizeOptions::default();
    let expected = library_output_of(model, &data, &layout, &night, &opts, Precision::Auto, false);
    assert!(max_diff(&after, &expected) <= 1, "{model}");
}

#[test]
fn three_hundred_frames_through_decodebin_x264_mp4mux() {
    let scratch = Scratch::new("element-mp4");
    let dir = scratch.path();
    let input = dir.join("in.mp4");
    let output = dir.join("out.mp4");
    let (error, _) = run(
        &launch(&format!(
            "videotestsrc num-buffers=300 pattern=smpte ! video/x-raw,width=64,height=48,framerate=30/1 ! \
             x264enc speed-preset=ultrafast ! mp4mux ! filesink location={}",
            input.display()
        )),
        Duration::from_secs(120),
    );
    assert!(error.is_none(), "{error:?}");
    let (error, _) = run(
        &launch(&format!(
            "filesrc location={} ! decodebin ! videoconvert ! adainstyle device=cpu style-size=64 decoder={} ! \
             videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=ultrafast ! mp4mux ! filesink location={}",
            input.display(),
            decoder_path().display(),
            output.display()
        )),
        Duration::from_secs(600),
    );
    assert!(error.is_none(), "{error:?}");
    let counter = launch(&format!(
        "filesrc location={} ! decodebin ! identity name=count ! fakesink",
        output.display()
    ));
    let frames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let f = frames.clone();
    counter
        .by_name("count")
        .unwrap()
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            f.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    let (error, _) = run(&counter, Duration::from_secs(120));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(frames.load(std::sync::atomic::Ordering::Relaxed), 300);
}

#[test]
fn style_size_changes_the_style_statistics() {
    init();
    let info = video_info(gst_video::VideoFormat::Rgb, 40, 24);
    // element() encodes styles at 128 px; 24 px keeps only the painting's coarse colours.
    let (at_128, _) = stylize_frame(&[], &info, 8, None);
    let (at_24, _) = stylize_frame(&[("style-size", "24")], &info, 8, None);
    assert!(max_diff(&at_128, &at_24) > 10, "style-size had no effect");
}
