// SPDX-License-Identifier: MIT
//! Spatial control of the `adainstyle` element: mask files, the alpha channel as the mask, a
//! second style outside it, and the errors and warnings of bad masks.

mod common;

use std::path::Path;
use std::time::Duration;

use adainstyle::frame::{self, FrameLayout, PixelLayout};
use adainstyle::{Model, Precision, Stats, StyleBank, StyleSpec, StylizeOptions};
use gst::prelude::*;
use gst_check::Harness;

use common::*;

/// Writes a `w` x `h` grey mask whose columns left of `white_until` are white.
fn write_mask(path: &Path, w: u32, h: u32, white_until: u32) {
    image::GrayImage::from_fn(w, h, |x, _| {
        image::Luma([if x < white_until { 255 } else { 0 }])
    })
    .save(path)
    .unwrap();
}

#[test]
fn mask_files_match_the_library_and_uniform_masks_are_exact() {
    init();
    for model in MODELS {
        masks_match_the_library(model);
    }
}

fn masks_match_the_library(model: Model) {
    let scratch = Scratch::new("element-mask");
    let dir = scratch.path();
    let (white, black, half) = (
        dir.join("white.png"),
        dir.join("black.png"),
        dir.join("half.png"),
    );
    write_mask(&white, 48, 32, 48);
    write_mask(&black, 48, 32, 0);
    write_mask(&half, 48, 32, 24);
    let info = video_info(gst_video::VideoFormat::Bgra, 48, 32);
    let (plain, data) = stylize_frame_of(model, &[], &info, 3, None);
    let (all, _) = stylize_frame_of(model, &[("mask", white.to_str().unwrap())], &info, 3, None);
    assert!(max_diff(&all, &plain) <= 1, "all-white mask != no mask");
    let (none, _) = stylize_frame_of(model, &[("mask", black.to_str().unwrap())], &info, 3, None);
    assert!(
        max_diff(&none, &data) <= 1,
        "all-black mask changed the input"
    );
    // Inverted: black becomes white.
    let (inv, _) = stylize_frame_of(
        model,
        &[("mask", black.to_str().unwrap()), ("mask-invert", "true")],
        &info,
        3,
        None,
    );
    assert!(
        max_diff(&inv, &plain) <= 1,
        "inverted black mask != no mask"
    );
    assert!(max_diff(&plain, &data) > 10);

    // Half mask with a second style: what the library computes for the same frame.
    let bridge = style("langlois-bridge.jpg");
    let (two, _) = stylize_frame_of(
        model,
        &[
            ("mask", half.to_str().unwrap()),
            ("style-outside", bridge.to_str().unwrap()),
        ],
        &info,
        3,
        None,
    );
    let stylizer = test_stylizer_of(model, Precision::Auto);
    let layout = FrameLayout::packed(48, 32, PixelLayout::Bgra);
    let f = frame::upload(&data, &layout, tch::Device::Cpu, tch::Kind::Float).unwrap();
    let stats = |path: &Path| {
        StyleBank::new()
            .stats(&stylizer.network, &StyleSpec::single(path), 128, None)
            .unwrap()
    };
    let (inside, outside) = (stats(&style("cafe-terrace-at-night.jpg")), stats(&bridge));
    let (mask, _) = adainstyle::mask::fit(
        &adainstyle::mask::load(&half).unwrap(),
        32,
        48,
        tch::Device::Cpu,
    )
    .unwrap();
    // What the library gives for the frame, this mask and the outside.
    let library = |outside: Option<&Stats>, feather: i64| {
        let region = adainstyle::Region {
            mask: &mask,
            outside,
            feather,
            feathered: None,
        };
        let out = stylizer
            .stylize_region(&f.rgb, &inside, Some(&region), &StylizeOptions::default())
            .unwrap();
        let mut expected = vec![0u8; layout.min_len()];
        frame::download(&out, f.extra.as_ref(), &mut expected, &layout).unwrap();
        expected
    };
    let expected = library(Some(&outside), 8);
    assert!(max_diff(&two, &expected) <= 1);
    assert!(max_diff(&two, &plain) > 10, "style-outside changed nothing");

    // Keeping the content outside: the element composites through the file mask feathered once
    // for the frame size (and again when mask-feather changes), as the library feathers it.
    let mut soft_edges = Vec::new();
    for feather in [8, 2] {
        let (kept, _) = stylize_frame_of(
            model,
            &[
                ("mask", half.to_str().unwrap()),
                ("mask-feather", &feather.to_string()),
            ],
            &info,
            3,
            None,
        );
        assert!(
            max_diff(&kept, &library(None, feather)) <= 1,
            "mask-feather {feather}"
        );
        soft_edges.push(kept);
    }
    assert!(
        max_diff(&soft_edges[0], &soft_edges[1]) > 1,
        "mask-feather changed nothing"
    );

    // Set while PLAYING: the outside style arrives from the worker, and emptying it keeps the
    // content outside again from the next frame on.
    let el = element_of(model, &[]);
    el.set_property("mask", half.to_str().unwrap());
    let mut h = Harness::with_element(&el, Some("sink"), Some("src"));
    h.set_src_caps(info.to_caps().unwrap());
    let mut next = || {
        let (buffer, _, _) = padded_buffer(&info, 0, 3, gst::ClockTime::ZERO);
        h.push(buffer).unwrap();
        frame_pixels(h.pull().unwrap(), &info)
    };
    let kept = next();
    el.set_property("style-outside", bridge.to_str().unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let arrived = loop {
        let out = next();
        if out != kept {
            break out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "style-outside never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(max_diff(&arrived, &expected) <= 1);
    el.set_property("style-outside", "");
    assert!(max_diff(&next(), &kept) <= 1);
}

/// An alpha channel opaque everywhere (or clear everywhere, with `mask-invert`) is no mask: the
/// frame takes the unmasked path and gives its bits (the masked path's statistics round
/// differently in bf16). One transparent pixel makes it a mask again.
#[test]
fn uniform_alpha_is_no_mask() {
    let info = video_info(gst_video::VideoFormat::Bgra, 48, 32);
    let (_, pattern, _) = padded_buffer(&info, 0, 3, gst::ClockTime::ZERO);
    let with_alpha = |a: u8| {
        let mut data = pattern.clone();
        data.chunks_exact_mut(4).for_each(|p| p[3] = a);
        data
    };
    for model in MODELS {
        let run = |props: &[(&str, &str)], data: Vec<u8>| {
            let el = element_of(model, &[]);
            for (name, value) in props {
                el.set_property_from_str(name, value);
            }
            let mut h = Harness::with_element(&el, Some("sink"), Some("src"));
            h.set_src_caps(info.to_caps().unwrap());
            let mut buffer = gst::Buffer::from_slice(data);
            buffer.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
            h.push(buffer).unwrap();
            frame_pixels(h.pull().unwrap(), &info)
        };
        let opaque = run(&[], with_alpha(255));
        let masked = run(&[("mask", "alpha")], with_alpha(255));
        assert_eq!(
            max_diff(&masked, &opaque),
            0,
            "{model}: opaque alpha != no mask"
        );
        let clear = run(&[], with_alpha(0));
        let inverted = run(&[("mask", "alpha"), ("mask-invert", "true")], with_alpha(0));
        assert_eq!(
            max_diff(&inverted, &clear),
            0,
            "{model}: clear inverted != no mask"
        );
        let mut dented = with_alpha(255);
        dented[3] = 0;
        let out = run(&[("mask", "alpha"), ("mask-feather", "0")], dented.clone());
        assert!(
            max_diff(&out[..4], &dented[..4]) <= 1,
            "{model}: the clear pixel was styled"
        );
        assert!(
            max_diff(&opaque[..3], &dented[..3]) > 1,
            "{model}: styling kept the pixel"
        );
    }
}

#[test]
fn alpha_mask_through_alpha_method_green() {
    // SMPTE bars through `alpha method=green`: the green bar becomes transparent and is kept,
    // the rest is stylised.
    let pipeline = launch(&format!(
        "videotestsrc num-buffers=2 pattern=smpte ! video/x-raw,width=64,height=48 ! \
         alpha method=green ! videoconvert ! video/x-raw,format=RGBA ! identity name=in ! \
         adainstyle name=s device=cpu style-size=64 mask=alpha mask-feather=0 decoder={} ! \
         fakesink",
        decoder_path().display()
    ));
    let inputs = capture_output(&pipeline, "in");
    let outputs = capture_output(&pipeline, "s");
    let (error, warnings) = run(&pipeline, Duration::from_secs(60));
    assert!(error.is_none(), "{error:?}");
    assert!(warnings.is_empty(), "{warnings:?}");
    let (inputs, outputs) = (inputs.lock().unwrap(), outputs.lock().unwrap());
    assert_eq!(outputs.len(), 2);
    let (input, output) = (&inputs[0], &outputs[0]);
    let (mut kept, mut kept_worst, mut styled, mut styled_sum) = (0usize, 0u8, 0usize, 0u64);
    for (i, o) in input.chunks(4).zip(output.chunks(4)) {
        let diff = (0..3).map(|c| i[c].abs_diff(o[c])).max().unwrap();
        assert_eq!(i[3], o[3], "alpha must pass through");
        match i[3] {
            0 => {
                kept += 1;
                kept_worst = kept_worst.max(diff);
            }
            255 => {
                styled += 1;
                styled_sum += diff as u64;
            }
            _ => {}
        }
    }
    let total = input.len() / 4;
    assert!(
        kept > total / 20 && styled > total / 2,
        "{kept} kept, {styled} styled"
    );
    assert!(
        kept_worst <= 1,
        "transparent pixels changed by {kept_worst}"
    );
    assert!(
        styled_sum / styled as u64 > 10,
        "opaque pixels were not stylised"
    );
}

#[test]
fn mask_errors_and_warnings_name_the_cause() {
    let scratch = Scratch::new("element-mask-err");
    let dir = scratch.path();
    // Missing at start: an error naming the file.
    let missing = dir.join("no-such-mask.png");
    let (error, _) = run(
        &test_pipeline(&format!("mask={}", missing.display())),
        Duration::from_secs(60),
    );
    let error = error.expect("a missing mask must fail");
    assert!(
        error.contains("no-such-mask.png") && error.contains("No such file"),
        "{error}"
    );
    // mask=alpha on caps without alpha: an error at negotiation saying so.
    let (error, _) = run(&test_pipeline("mask=alpha"), Duration::from_secs(60));
    let error = error.expect("mask=alpha on RGB must fail");
    assert!(
        error.contains("alpha channel") && error.contains("RGB"),
        "{error}"
    );
    // A 2:1 mask on a square frame is stretched, with a warning; a missing file while playing
    // is a warning naming it, and the stream goes on.
    let wide = dir.join("wide.png");
    write_mask(&wide, 40, 20, 20);
    let pipeline = test_pipeline(&format!("mask={}", wide.display()));
    let el = pipeline.by_name("s").unwrap();
    let handle = el.clone();
    let gone = missing.to_str().unwrap().to_owned();
    el.static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if handle.property::<u64>("frames-processed") == 1 {
                handle.set_property("mask", &gone);
            }
            gst::PadProbeReturn::Ok
        });
    let (error, warnings) = run(&pipeline, Duration::from_secs(60));
    assert!(error.is_none(), "{error:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("wide.png") && w.contains("stretched")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("no-such-mask.png")),
        "{warnings:?}"
    );
    assert_eq!(el.property::<String>("mask"), wide.to_str().unwrap());
    assert_eq!(el.property::<u64>("frames-processed"), 3);
}
