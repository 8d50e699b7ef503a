// SPDX-License-Identifier: MIT
//! Bad input to the element: each case is a clear error or warning naming its cause, nothing
//! hangs, and stopping never waits for a style being loaded.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use adainstyle::Model;
use gst::prelude::*;

use common::*;

/// `props` on the three-frame test pipeline of the light network: its error (if any) and its
/// warnings, within 60 s.
fn outcome(props: &str) -> (Option<String>, Vec<String>) {
    run(
        &test_pipeline_of(Model::Lite, props),
        Duration::from_secs(60),
    )
}

fn scratch_file(scratch: &Scratch, name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A JPEG of the shipped night café, cut in half.
fn truncated_jpeg(scratch: &Scratch) -> PathBuf {
    let bytes = std::fs::read(style("night-cafe.jpg")).unwrap();
    scratch_file(scratch, "cut.jpg", &bytes[..bytes.len() / 2])
}

#[test]
fn files_that_cannot_be_used_are_errors_naming_them() {
    let scratch = Scratch::new("element-bad-files");
    let cut = truncated_jpeg(&scratch);
    let (error, _) = outcome(&format!("style={}", cut.display()));
    let error = error.expect("a truncated style is an error");
    assert!(
        error.contains("cut.jpg") && error.contains("truncated"),
        "{error}"
    );

    // A FIFO would block the reader: it is refused at once.
    let fifo = scratch.join("style.png");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let started = Instant::now();
    let (error, _) = outcome(&format!("style={}", fifo.display()));
    let error = error.expect("a FIFO style is an error");
    assert!(error.contains("not a regular file"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(30));

    // Weights holding NaN, or integers, are refused naming the file.
    let tensors = adainstyle::weights::read_tensors(&weights_path(Model::Lite)).unwrap();
    let header = adainstyle::network::Shape::of_weights(&weights_path(Model::Lite))
        .unwrap()
        .metadata();
    for (name, change) in [
        (
            "nan.safetensors",
            &(|t: &tch::Tensor| t.full_like(f64::NAN)) as &dyn Fn(&tch::Tensor) -> tch::Tensor,
        ),
        ("ints.safetensors", &|t: &tch::Tensor| {
            t.to_kind(tch::Kind::Int)
        }),
    ] {
        let path = scratch.join(name);
        let changed: Vec<(String, tch::Tensor)> = tensors
            .iter()
            .map(|(k, v)| (k.clone(), change(v)))
            .collect();
        adainstyle::weights::write_atomic_with(&changed, &header, &path).unwrap();
        let pipeline = launch(&format!(
            "videotestsrc num-buffers=3 ! video/x-raw,format=RGB,width=32,height=32 ! \
             adainstyle device=cpu style-size=64 model=lite decoder={} ! fakesink",
            path.display()
        ));
        let (error, _) = run(&pipeline, Duration::from_secs(60));
        let error = error.unwrap_or_default();
        assert!(error.contains(name), "{name}: {error}");
    }
}

#[test]
fn sizes_the_network_cannot_take_say_why() {
    // processing-size 9 on 32x32 frames: an error with the size, not a bare not-negotiated.
    let (error, _) = outcome("processing-size=9");
    let error = error.expect("an error");
    assert!(error.contains("processing-size 9"), "{error}");
    // A 1x1 style image.
    let scratch = Scratch::new("element-tiny-style");
    let tiny = scratch.join("tiny.png");
    image::RgbImage::new(1, 1).save(&tiny).unwrap();
    let (error, _) = outcome(&format!("style={} style-size=0", tiny.display()));
    let error = error.expect("an error");
    assert!(
        error.contains("tiny.png") && error.contains("too small"),
        "{error}"
    );
}

#[test]
fn settings_that_cannot_do_what_they_say_are_warnings() {
    let (error, warnings) = outcome(&format!("encoder={}", encoder_path().display()));
    assert!(error.is_none(), "{error:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("encoder") && w.contains("not used")),
        "{warnings:?}"
    );
    let (error, warnings) = outcome("threads=1000");
    assert!(error.is_none(), "{error:?}");
    assert!(
        warnings.iter().any(|w| w.contains("threads=1000")),
        "{warnings:?}"
    );
}

#[test]
fn properties_read_at_start_warn_when_set_while_playing() {
    let pipeline = launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,format=RGB,width=32,height=32,framerate=30/1 ! \
         adainstyle name=s device=cpu style-size=64 model=lite decoder={} ! fakesink",
        weights_path(Model::Lite).display()
    ));
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let el = pipeline.by_name("s").unwrap();
    wait_for_frames(&el, 2);
    for (name, value) in [("device", "cpu"), ("threads", "1")] {
        el.set_property_from_str(name, value);
        let warning = next_warning(&bus).expect("a warning");
        assert!(
            warning.contains(name) && warning.contains("starts again"),
            "{name}: {warning}"
        );
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn stopping_does_not_wait_for_a_style_being_loaded() {
    let scratch = Scratch::new("element-slow-style");
    let big = big_png(&scratch);
    let pipeline = launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,format=RGB,width=32,height=32,framerate=30/1 ! \
         adainstyle name=s device=cpu style-size=64 model=lite decoder={} ! fakesink",
        weights_path(Model::Lite).display()
    ));
    pipeline.set_state(gst::State::Playing).unwrap();
    let el = pipeline.by_name("s").unwrap();
    wait_for_frames(&el, 2);
    // Decoding and shrinking the big image takes the style thread seconds.
    el.set_property("style", big.to_str().unwrap());
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    pipeline.set_state(gst::State::Null).unwrap();
    let stopped = started.elapsed();
    let load_alone = time_style_load(&big);
    // Waiting for the load would take most of its time (it began 0.1 s before the stop).
    assert!(
        load_alone > Duration::from_millis(500),
        "the test style loads in {load_alone:?}: too fast to be in flight at the stop"
    );
    assert!(
        stopped < Duration::from_secs(1) && stopped < load_alone / 2,
        "stopping took {stopped:?} (the style alone loads in {load_alone:?})"
    );
}

/// A PNG large enough that loading it takes seconds (decoding 12000 x 12000 pixels and
/// shrinking them), made once per run.
fn big_png(scratch: &Scratch) -> PathBuf {
    let path = scratch.join("big.png");
    let img = image::RgbImage::from_fn(12000, 12000, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x ^ y) % 239) as u8])
    });
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        file,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::NoFilter,
    );
    img.write_with_encoder(encoder).unwrap();
    path
}

/// How long the library takes to load `path` as a style on its own.
fn time_style_load(path: &Path) -> Duration {
    let started = Instant::now();
    let _style = adainstyle::style::load_style_image(path, 64).unwrap();
    started.elapsed()
}

fn wait_for_frames(el: &gst::Element, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while el.property::<u64>("frames-processed") < n {
        assert!(Instant::now() < deadline, "no frames");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn next_warning(bus: &gst::Bus) -> Option<String> {
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(10),
        &[gst::MessageType::Warning],
    )?;
    match msg.view() {
        gst::MessageView::Warning(w) => Some(w.error().to_string()),
        _ => None,
    }
}

/// Exiting the process while a style is being encoded ends cleanly: libtorch is not torn down
/// under the style thread (a `gst-launch-1.0 ... adainstyle preserve-color=coral ...` that ended
/// on EOS while a CORAL restyle ran sometimes died of SIGSEGV in libtorch's exit-time
/// destructors). Each try runs in a child process, which stops its pipeline while the full
/// model encodes a large style and exits at once.
#[test]
fn exiting_while_a_style_is_encoded_is_clean() {
    if std::env::var_os("ADAINSTYLE_EXIT_CHILD").is_some() {
        stop_and_exit_while_encoding();
    }
    for _ in 0..6 {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "exiting_while_a_style_is_encoded_is_clean",
                "--nocapture",
            ])
            .env("ADAINSTYLE_EXIT_CHILD", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{:?}: {stderr}", out.status);
        assert!(
            stderr.contains("encoding when the process exits"),
            "{stderr}"
        );
    }
}

fn stop_and_exit_while_encoding() -> ! {
    // CORAL recolours the style to the first frame: the style thread encodes it again (the
    // full model's VGG-19 at the default style size) while the three frames run out.
    let pipeline = launch(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGB,width=64,height=64 ! \
         adainstyle name=s device=cpu model=full decoder={} preserve-color=coral ! fakesink",
        weights_path(Model::Full).display()
    ));
    let (error, _) = run(&pipeline, Duration::from_secs(60));
    assert!(error.is_none(), "{error:?}");
    eprintln!("encoding when the process exits");
    std::process::exit(0);
}
