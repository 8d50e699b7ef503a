// SPDX-License-Identifier: MIT
//! Bad property values and caps, chosen by a seeded generator (`FUZZ_SEED` replays a run): the
//! element never panics or stops streaming, and each value it cannot use is a warning or an
//! error that names it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adainstyle::Model;
use gst::glib;
use gst::prelude::*;
use gst_check::Harness;

use common::*;

/// xorshift64*: a small generator whose runs a seed reproduces.
struct Rng(u64);

impl Rng {
    /// The generator of `FUZZ_SEED`, or of a fixed seed; the seed is printed.
    fn from_env(test: &str) -> Self {
        let seed = std::env::var("FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_ada1);
        println!("{test}: FUZZ_SEED={seed}");
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Up to 24 characters, weighted towards the ones the element's syntax gives meaning to.
    fn text(&mut self) -> String {
        const CHARS: &[char] = &[
            'a', 'q', 'Z', '0', '7', '.', '.', ',', ',', ':', ':', '-', '/', '/', ' ', '\t', 'é',
            '✓', '~', '*', '\\', '"', '\'', '%', '=', 'e', '+',
        ];
        let len = self.below(25);
        (0..len).map(|_| *self.pick(CHARS)).collect()
    }
}

/// Warnings and errors the element posts, as text.
#[derive(Default)]
struct Posted {
    warnings: Vec<String>,
    errors: Vec<String>,
}

fn drain(bus: &gst::Bus, posted: &mut Posted) {
    while let Some(msg) = bus.pop() {
        match msg.view() {
            gst::MessageView::Warning(w) => posted.warnings.push(w.error().to_string()),
            gst::MessageView::Error(e) => posted.errors.push(e.error().to_string()),
            _ => {}
        }
    }
}

/// What a warning about a `style` or `style-outside` of `text` must contain: its first image's
/// path as the style grammar reads it (or, when the text does not parse, the text); `None` when
/// the text is empty (which is valid).
fn style_needle(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        return None;
    }
    Some(match text.parse::<adainstyle::StyleSpec>() {
        Ok(spec) => spec.entries[0].0.display().to_string(),
        Err(_) => text.to_owned(),
    })
}

#[test]
fn random_text_while_playing_is_a_warning_naming_it_and_frames_keep_flowing() {
    let mut rng = Rng::from_env("text while playing");
    let el = element_of(Model::Lite, &[("style-size", &64u32)]);
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    let info = video_info(gst_video::VideoFormat::Rgba, 32, 24);
    let mut h = Harness::with_element(&el, Some("sink"), Some("src"));
    h.set_src_caps(info.to_caps().unwrap());
    let mut frame = 0u64;
    let mut push = |h: &mut Harness| {
        let pts = gst::ClockTime::from_mseconds(40 * frame);
        let (buffer, _, _) = padded_buffer(&info, 0, frame as u8, pts);
        frame += 1;
        h.push(buffer).expect("a frame after a bad value");
        let out = h.pull().expect("an output frame");
        assert_eq!(out.size(), info.size());
    };
    let mut posted = Posted::default();
    let mut warned = 0;
    for round in 0..45 {
        let property = *rng.pick(&["style", "style-outside", "mask"]);
        let text = rng.text();
        el.set_property(property, &text);
        let needle = match property {
            "mask" => Some(text.clone()).filter(|t| !t.trim().is_empty() && t.trim() != "alpha"),
            _ => style_needle(&text),
        };
        let case = format!("round {round}: {property}={text:?}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            push(&mut h);
            drain(&bus, &mut posted);
            assert!(posted.errors.is_empty(), "{case}: {:?}", posted.errors);
            if let Some(other) = posted
                .warnings
                .iter()
                .find(|w| needle.as_ref().is_none_or(|n| !w.contains(n.as_str())))
            {
                panic!("{case}: a warning that does not name the value: {other}");
            }
            if needle.is_none() {
                // A valid value: a few frames, and nothing posted.
                if Instant::now() + Duration::from_secs(29) > deadline {
                    break;
                }
            } else if !posted.warnings.is_empty() {
                warned += 1;
                break;
            }
            assert!(Instant::now() < deadline, "{case}: no warning");
            std::thread::sleep(Duration::from_millis(10));
        }
        posted.warnings.clear();
    }
    println!("text while playing: {warned} of 45 values refused with a warning naming them");
    assert!(
        warned >= 30,
        "the generator made too few bad values: {warned}"
    );
    // Still usable: a real style and no mask.
    el.set_property("mask", "");
    el.set_property("style-outside", "");
    el.set_property("style", style("night-cafe.jpg").to_str().unwrap());
    push(&mut h);
    drain(&bus, &mut posted);
    assert!(posted.warnings.is_empty() && posted.errors.is_empty());
}

#[test]
fn random_text_at_start_is_an_error_naming_it() {
    let mut rng = Rng::from_env("text at start");
    let mut failed = 0;
    for round in 0..16 {
        let property = *rng.pick(&["style", "style-outside", "mask", "device", "decoder"]);
        let mut text = rng.text();
        // An empty decoder means the shipped weights, which a checkout need not have.
        while property == "decoder" && text.trim().is_empty() {
            text = rng.text();
        }
        let needle = match property {
            "style" | "style-outside" => style_needle(&text),
            "mask" => Some(text.trim().to_owned()).filter(|t| !t.is_empty() && t != "alpha"),
            _ => Some(text.trim().to_owned()).filter(|t| !t.is_empty()),
        };
        let pipeline = launch(&format!(
            "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=32,height=24 ! \
             adainstyle name=s device=cpu model=lite style-size=64 decoder={} ! fakesink",
            weights_path(Model::Lite).display()
        ));
        pipeline.by_name("s").unwrap().set_property(property, &text);
        let case = format!("round {round}: {property}={text:?}");
        let (error, warnings) = run(&pipeline, Duration::from_secs(60));
        assert!(warnings.is_empty(), "{case}: {warnings:?}");
        match (needle, error) {
            (None, None) => {}
            (None, Some(error)) => panic!("{case}: a valid value failed: {error}"),
            (Some(needle), None) => panic!("{case}: no error (expected one naming {needle:?})"),
            (Some(needle), Some(error)) => {
                assert!(
                    error.contains(&needle),
                    "{case}: {needle:?} not in: {error}"
                );
                failed += 1;
            }
        }
    }
    println!("text at start: {failed} of 16 values failed the start, naming them");
    assert!(
        failed >= 10,
        "the generator made too few bad values: {failed}"
    );
}

#[test]
fn out_of_range_numbers_are_refused_by_their_ranges_and_change_nothing() {
    let mut rng = Rng::from_env("numbers");
    let el = element_of(Model::Lite, &[]);
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = {
        let refused = refused.clone();
        glib::log_set_handler(
            Some("GLib-GObject"),
            glib::LogLevels::LEVEL_WARNING | glib::LogLevels::LEVEL_CRITICAL,
            false,
            false,
            move |_, _, message| refused.lock().unwrap().push(message.to_owned()),
        )
    };
    let info = video_info(gst_video::VideoFormat::Rgb, 32, 24);
    let mut h = Harness::with_element(&el, Some("sink"), Some("src"));
    h.set_src_caps(info.to_caps().unwrap());
    for round in 0..40u64 {
        let (name, value): (&str, glib::Value) = match rng.below(5) {
            0 => ("alpha", (1.0 + rng.below(1000) as f64 / 7.0).to_value()),
            1 => ("alpha", (-((1 + rng.below(1000)) as f64) / 7.0).to_value()),
            2 => (
                "temporal-smoothing",
                (0.995 + rng.below(100) as f64).to_value(),
            ),
            3 => (
                "mask-feather",
                (1025 + rng.below(u32::MAX as u64 - 1025) as u32).to_value(),
            ),
            _ => ("style-size", (8193 + rng.below(1 << 20) as u32).to_value()),
        };
        let before = el.property_value(name);
        // GLib's own setter, as C code or gst-launch would call it (glib-rs asserts instead).
        unsafe {
            use glib::translate::ToGlibPtr;
            glib::gobject_ffi::g_object_set_property(
                el.as_ptr() as *mut glib::gobject_ffi::GObject,
                name.to_glib_none().0,
                value.to_glib_none().0,
            );
        }
        let case = format!("round {round}: {name}={value:?}");
        let messages = std::mem::take(&mut *refused.lock().unwrap());
        assert!(
            messages
                .iter()
                .any(|m| m.contains("out of range") && m.contains(name)),
            "{case}: GLib did not refuse it: {messages:?}"
        );
        assert_eq!(
            format!("{:?}", el.property_value(name)),
            format!("{before:?}"),
            "{case}: the value changed"
        );
        let (buffer, _, _) = padded_buffer(&info, 0, round as u8, gst::ClockTime::ZERO);
        h.push(buffer).expect("a frame after a refused value");
        h.pull().expect("an output frame");
    }
    glib::log_remove_handler(Some("GLib-GObject"), log);
}

#[test]
fn caps_changes_mid_stream_renegotiate_or_are_refused() {
    use gst_video::VideoFormat as F;
    let mut rng = Rng::from_env("caps");
    let el = element_of(Model::Lite, &[]);
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    let mut h = Harness::with_element(&el, Some("sink"), Some("src"));
    let formats = [
        F::Rgb,
        F::Bgr,
        F::Rgba,
        F::Bgra,
        F::Rgbx,
        F::Bgrx,
        F::I420,
        F::Gray8,
    ];
    let mut posted = Posted::default();
    let mut refused = 0;
    for round in 0..30u64 {
        let format = *rng.pick(&formats);
        // Sizes below the 16-pixel minimum are refused too.
        let (w, hgt) = (8 + rng.below(57) as u32, 8 + rng.below(41) as u32);
        let info = gst_video::VideoInfo::builder(format, w, hgt)
            .build()
            .unwrap();
        h.set_src_caps(info.to_caps().unwrap());
        let buffer = if matches!(format, F::I420 | F::Gray8) {
            gst::Buffer::from_slice(vec![128u8; info.size()])
        } else {
            padded_buffer(
                &info,
                0,
                round as u8,
                gst::ClockTime::from_mseconds(40 * round),
            )
            .0
        };
        let case = format!("round {round}: {format:?} {w}x{hgt}");
        let supported = !matches!(format, F::I420 | F::Gray8) && w >= 16 && hgt >= 16;
        let pushed = h.push(buffer);
        if supported {
            pushed.unwrap_or_else(|err| panic!("{case}: {err:?}"));
            let out = h.pull().expect("an output frame");
            assert_eq!(out.size(), info.size(), "{case}");
        } else {
            assert_eq!(pushed, Err(gst::FlowError::NotNegotiated), "{case}");
            refused += 1;
        }
        drain(&bus, &mut posted);
        assert!(posted.errors.is_empty(), "{case}: {:?}", posted.errors);
        assert!(posted.warnings.is_empty(), "{case}: {:?}", posted.warnings);
    }
    println!("caps: {refused} of 30 caps refused, the others stylised");
    assert!((5..=25).contains(&refused), "{refused} of 30 caps refused");
}
