// SPDX-License-Identifier: MIT
//! Tests of the `adainstyle` element: Harness push/pull and whole pipelines, on the CPU.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use adainstyle::frame::{self, FrameLayout, PixelLayout};
use adainstyle::{Decoder, Precision, StyleBank, StyleSpec, StylizeOptions, Stylizer, weights};
use gst::prelude::*;
use gst_check::Harness;
use gst_video::prelude::*;

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstadainstyle::plugin_register_static().expect("register plugin");
    });
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn style(name: &str) -> PathBuf {
    root().join("styles").join(name)
}

fn encoder_path() -> PathBuf {
    root().join("models/vgg19-normalised.safetensors")
}

/// A seeded random decoder, written once per test binary (the element's maths does not depend
/// on the decoder being trained, and tests must not depend on the shipped one).
fn decoder_path() -> PathBuf {
    static ONCE: Once = Once::new();
    let path = std::env::temp_dir().join(format!(
        "adainstyle-element-decoder-{}.safetensors",
        std::process::id()
    ));
    ONCE.call_once(|| {
        tch::manual_seed(11);
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let _d = Decoder::new(&vs.root());
        weights::save_atomic(&vs, &path).unwrap();
    });
    path
}

fn element(props: &[(&str, &dyn ToValue)]) -> gst::Element {
    init();
    let el = gst::ElementFactory::make("adainstyle")
        .property("decoder", decoder_path().to_str().unwrap())
        .property("device", "cpu")
        .property("style-size", 128u32)
        // Frames compared with the library's per-frame output; smoothing has its own test.
        .property("temporal-smoothing", 0.0f64)
        .build()
        .unwrap();
    for (name, value) in props {
        el.set_property_from_value(name, &value.to_value());
    }
    el
}

fn layout_of(format: gst_video::VideoFormat) -> PixelLayout {
    match format {
        gst_video::VideoFormat::Rgb => PixelLayout::Rgb,
        gst_video::VideoFormat::Bgr => PixelLayout::Bgr,
        gst_video::VideoFormat::Rgba => PixelLayout::Rgba,
        gst_video::VideoFormat::Bgra => PixelLayout::Bgra,
        gst_video::VideoFormat::Rgbx => PixelLayout::Rgbx,
        gst_video::VideoFormat::Bgrx => PixelLayout::Bgrx,
        other => panic!("unexpected {other:?}"),
    }
}

/// A frame with a deterministic pattern and `pad` extra bytes per row, described by a VideoMeta.
fn padded_buffer(
    info: &gst_video::VideoInfo,
    pad: usize,
    seed: u8,
    pts: gst::ClockTime,
) -> (gst::Buffer, Vec<u8>, usize) {
    let ch = layout_of(info.format()).channels();
    let (w, h) = (info.width() as usize, info.height() as usize);
    let stride = w * ch + pad;
    let data: Vec<u8> = (0..stride * h)
        .map(|i| {
            let (y, x) = (i / stride, i % stride);
            ((x * 7 + y * 13 + seed as usize * 31 + (x * y) % 17) % 256) as u8
        })
        .collect();
    let mut buffer = gst::Buffer::from_slice(data.clone());
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(pts);
        gst_video::VideoMeta::add_full(
            b,
            gst_video::VideoFrameFlags::empty(),
            info.format(),
            info.width(),
            info.height(),
            &[0],
            &[stride as i32],
        )
        .unwrap();
    }
    (buffer, data, stride)
}

/// The output frame's pixels without row padding.
fn frame_pixels(buffer: gst::Buffer, info: &gst_video::VideoInfo) -> Vec<u8> {
    let frame = gst_video::VideoFrame::from_buffer_readable(buffer, info).unwrap();
    let ch = layout_of(info.format()).channels();
    let row = info.width() as usize * ch;
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).unwrap();
    (0..info.height() as usize)
        .flat_map(|y| data[y * stride..y * stride + row].to_vec())
        .collect()
}

/// What the library computes for the same bytes: the element must add nothing and lose nothing.
fn library_output(
    data: &[u8],
    layout: &FrameLayout,
    style_path: &Path,
    opts: &StylizeOptions,
) -> Vec<u8> {
    library_output_with(data, layout, style_path, opts, Precision::Auto, false)
}

/// [`library_output`] in a given precision, with the style recoloured to the frame (CORAL) when
/// `coral` is set.
fn library_output_with(
    data: &[u8],
    layout: &FrameLayout,
    style_path: &Path,
    opts: &StylizeOptions,
    precision: Precision,
    coral: bool,
) -> Vec<u8> {
    let stylizer = Stylizer::load(
        &encoder_path(),
        &decoder_path(),
        tch::Device::Cpu,
        precision,
    )
    .unwrap();
    let f = frame::upload(data, layout, tch::Device::Cpu, tch::Kind::Float).unwrap();
    let stats = StyleBank::new()
        .stats(
            &stylizer.encoder,
            &StyleSpec::single(style_path),
            128,
            coral.then_some(&f.rgb),
        )
        .unwrap();
    let out = stylizer.stylize(&f.rgb, &stats, opts).unwrap();
    let packed = FrameLayout::packed(layout.width, layout.height, layout.pixels);
    let mut bytes = vec![0u8; packed.min_len()];
    frame::download(&out, f.extra.as_ref(), &mut bytes, &packed).unwrap();
    bytes
}

/// Pushes the same frame through a fresh element with `props` until its output differs from
/// `until_not` (or, with `None`, once), and returns that output.
fn stylize_frame(
    props: &[(&str, &str)],
    info: &gst_video::VideoInfo,
    seed: u8,
    until_not: Option<&[u8]>,
) -> (Vec<u8>, Vec<u8>) {
    let el = element(&[]);
    for (name, value) in props {
        el.set_property_from_str(name, value);
    }
    let mut h = Harness::with_element(&el, Some("sink"), Some("src"));
    h.set_src_caps(info.to_caps().unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (buffer, data, _) = padded_buffer(info, 0, seed, gst::ClockTime::ZERO);
        h.push(buffer).unwrap();
        let out = frame_pixels(h.pull().unwrap(), info);
        if until_not.is_none_or(|old| old != out.as_slice()) {
            return (out, data);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the output never changed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Peak signal-to-noise ratio of two 8-bit pictures, in dB.
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10()
}

#[test]
fn preserve_color_luminance_and_coral_match_the_library() {
    init();
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, 40, 24)
        .build()
        .unwrap();
    let layout = FrameLayout::packed(40, 24, PixelLayout::Rgb);
    let cafe = style("cafe-terrace-at-night.jpg");
    let (plain, data) = stylize_frame(&[], &info, 6, None);

    let (luma, _) = stylize_frame(&[("preserve-color", "luminance")], &info, 6, None);
    let opts = StylizeOptions {
        preserve_color: adainstyle::PreserveColor::Luminance,
        ..Default::default()
    };
    assert!(max_diff(&luma, &library_output(&data, &layout, &cafe, &opts)) <= 1);
    assert!(
        max_diff(&luma, &plain) > 10,
        "luminance mode changed nothing"
    );

    // CORAL: the style is recoloured to the scene off the streaming thread (on frame 0 and every
    // 30 frames), so the output switches to it a few frames in.
    let (coral, _) = stylize_frame(&[("preserve-color", "coral")], &info, 6, Some(&plain));
    let expected = library_output_with(
        &data,
        &layout,
        &cafe,
        &StylizeOptions::default(),
        Precision::Auto,
        true,
    );
    assert!(max_diff(&coral, &expected) <= 1);
}

#[test]
fn precision_bf16_stays_close_to_fp32_and_impossible_precisions_fail() {
    init();
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgbx, 64, 48)
        .build()
        .unwrap();
    let (fp32, data) = stylize_frame(&[("precision", "fp32")], &info, 2, None);
    let layout = FrameLayout::packed(64, 48, PixelLayout::Rgbx);
    let cafe = style("cafe-terrace-at-night.jpg");
    let opts = StylizeOptions::default();
    let lib_fp32 = library_output_with(&data, &layout, &cafe, &opts, Precision::Fp32, false);
    assert!(max_diff(&fp32, &lib_fp32) <= 1);
    if adainstyle::precision::cpu_has_native_bf16() {
        let (bf16, _) = stylize_frame(&[("precision", "bf16")], &info, 2, None);
        let p = psnr(&bf16, &fp32);
        // bf16 really ran (not a silent fp32), and every cast is in place (a wrong one costs
        // far more than 30 dB).
        assert!(bf16 != fp32, "bf16 gave the fp32 output bit for bit");
        assert!(p >= 30.0, "bf16 against fp32: {p:.1} dB");
    }
    let (error, _) = run(&test_pipeline("precision=fp16"), Duration::from_secs(60));
    let error = error.expect("fp16 on the CPU must fail");
    assert!(error.contains("fp16") && error.contains("CPU"), "{error}");
}

#[test]
fn threads_figures_and_active_device_are_reported() {
    init();
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, 32, 32)
        .build()
        .unwrap();
    let before = tch::get_num_threads();
    let el = element(&[("threads", &1u32)]);
    assert_eq!(el.property::<String>("active-device"), "");
    let mut h = Harness::with_element(&el, Some("sink"), Some("src"));
    h.set_src_caps(info.to_caps().unwrap());
    for i in 0..3u64 {
        let (buffer, _, _) = padded_buffer(&info, 0, 1, gst::ClockTime::from_mseconds(40 * i));
        h.push(buffer).unwrap();
        let _ = h.pull().unwrap();
    }
    assert_eq!(tch::get_num_threads(), 1, "threads=1 was not applied");
    tch::set_num_threads(before);
    assert_eq!(el.property::<String>("active-device"), "Cpu");
    assert_eq!(el.property::<u64>("frames-processed"), 3);
    let last: f64 = el.property("last-inference-ms");
    let mean: f64 = el.property("mean-inference-ms");
    assert!(last > 0.0 && mean > 0.0, "last {last} ms, mean {mean} ms");
    el.set_state(gst::State::Null).unwrap();
    drop(h);
    assert_eq!(el.property::<String>("active-device"), "");
}

fn max_diff(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn every_format_odd_size_and_row_padding_match_the_library() {
    init();
    let default_style = style("cafe-terrace-at-night.jpg");
    for format in [
        gst_video::VideoFormat::Rgb,
        gst_video::VideoFormat::Bgr,
        gst_video::VideoFormat::Rgba,
        gst_video::VideoFormat::Bgra,
        gst_video::VideoFormat::Rgbx,
        gst_video::VideoFormat::Bgrx,
    ] {
        let info = gst_video::VideoInfo::builder(format, 37, 23)
            .fps(gst::Fraction::new(25, 1))
            .build()
            .unwrap();
        let mut h = Harness::with_element(&element(&[]), Some("sink"), Some("src"));
        h.set_src_caps(info.to_caps().unwrap());
        let (buffer, data, stride) = padded_buffer(&info, 12, 1, gst::ClockTime::ZERO);
        h.push(buffer).unwrap();
        let out = frame_pixels(h.pull().unwrap(), &info);
        let layout = FrameLayout {
            width: 37,
            height: 23,
            stride,
            pixels: layout_of(format),
        };
        let expected = library_output(&data, &layout, &default_style, &StylizeOptions::default());
        let diff = max_diff(&out, &expected);
        assert!(
            diff <= 1,
            "{format:?}: element differs from the library by {diff}"
        );
        // The input is not passed through: the network changed the picture.
        let ch = layout.pixels.channels();
        let input: Vec<u8> = (0..23)
            .flat_map(|y| data[y * stride..y * stride + 37 * ch].to_vec())
            .collect();
        assert!(
            max_diff(&out, &input) > 20,
            "{format:?}: output equals input"
        );
        // Alpha (or padding) bytes pass through untouched.
        if ch == 4 {
            assert!(
                out.iter()
                    .skip(3)
                    .step_by(4)
                    .zip(input.iter().skip(3).step_by(4))
                    .all(|(a, b)| a == b)
            );
        }
    }
}

#[test]
fn output_is_deterministic_and_sizes_down_to_16() {
    init();
    for (w, hgt) in [(16, 16), (17, 31), (65, 18)] {
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, w, hgt)
            .build()
            .unwrap();
        let mut h = Harness::with_element(&element(&[]), Some("sink"), Some("src"));
        h.set_src_caps(info.to_caps().unwrap());
        let (a, _, _) = padded_buffer(&info, 0, 3, gst::ClockTime::ZERO);
        let (b, _, _) = padded_buffer(&info, 0, 3, gst::ClockTime::from_mseconds(40));
        h.push(a).unwrap();
        h.push(b).unwrap();
        let first = frame_pixels(h.pull().unwrap(), &info);
        let second = frame_pixels(h.pull().unwrap(), &info);
        assert_eq!(first, second, "{w}x{hgt}");
    }
}

#[test]
fn processing_size_keeps_the_output_size() {
    init();
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Bgrx, 96, 54)
        .build()
        .unwrap();
    let el = element(&[("processing-size", &32u32)]);
    let mut h = Harness::with_element(&el, Some("sink"), Some("src"));
    h.set_src_caps(info.to_caps().unwrap());
    let (buffer, data, stride) = padded_buffer(&info, 0, 5, gst::ClockTime::ZERO);
    h.push(buffer).unwrap();
    let out = frame_pixels(h.pull().unwrap(), &info);
    let layout = FrameLayout {
        width: 96,
        height: 54,
        stride,
        pixels: PixelLayout::Bgrx,
    };
    let cafe = style("cafe-terrace-at-night.jpg");
    let opts = StylizeOptions {
        processing_size: 32,
        ..Default::default()
    };
    let expected = library_output(&data, &layout, &cafe, &opts);
    assert!(max_diff(&out, &expected) <= 1);
    // The network really ran at 32 px: the native-size result is another picture.
    let native = library_output(&data, &layout, &cafe, &StylizeOptions::default());
    assert!(
        max_diff(&out, &native) > 10,
        "processing-size had no effect"
    );
}

#[test]
fn alpha_changes_the_output_and_follows_a_controller() {
    use gst_controller::prelude::*;
    init();
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgbx, 40, 24)
        .build()
        .unwrap();
    let el = element(&[]);
    let source = gst_controller::InterpolationControlSource::new();
    source.set_mode(gst_controller::InterpolationMode::Linear);
    source.set(gst::ClockTime::ZERO, 0.0);
    source.set(gst::ClockTime::from_seconds(1), 1.0);
    let binding = gst_controller::DirectControlBinding::new_absolute(&el, "alpha", &source);
    el.add_control_binding(&binding).unwrap();

    let mut h = Harness::with_element(&el, Some("sink"), Some("src"));
    h.set_src_caps(info.to_caps().unwrap());
    let mut outputs = Vec::new();
    let mut data = Vec::new();
    for ms in [0u64, 500, 1000] {
        let (buffer, d, _) = padded_buffer(&info, 0, 9, gst::ClockTime::from_mseconds(ms));
        data = d;
        h.push(buffer).unwrap();
        outputs.push(frame_pixels(h.pull().unwrap(), &info));
        let alpha: f64 = el.property("alpha");
        assert!(
            (alpha - ms as f64 / 1000.0).abs() < 1e-6,
            "alpha {alpha} at {ms} ms"
        );
    }
    let layout = FrameLayout::packed(40, 24, PixelLayout::Rgbx);
    let cafe = style("cafe-terrace-at-night.jpg");
    for (i, alpha) in [0.0, 0.5, 1.0].into_iter().enumerate() {
        let expected = library_output(
            &data,
            &layout,
            &cafe,
            &StylizeOptions {
                alpha,
                ..Default::default()
            },
        );
        assert!(max_diff(&outputs[i], &expected) <= 1, "alpha {alpha}");
    }
    assert!(
        max_diff(&outputs[0], &outputs[2]) > 10,
        "alpha made no difference"
    );
}

/// Runs a pipeline to EOS or error; returns (error, warnings). Not reaching either within
/// `timeout` fails the test.
fn run(pipeline: &gst::Pipeline, timeout: Duration) -> (Option<String>, Vec<String>) {
    let bus = pipeline.bus().unwrap();
    let mut warnings = Vec::new();
    // A failure to start posts its error on the bus, where it is collected below.
    let _ = pipeline.set_state(gst::State::Playing);
    let deadline = std::time::Instant::now() + timeout;
    let error = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "pipeline timed out after {timeout:?}");
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break None,
            gst::MessageView::Error(e) => break Some(format!("{} ({:?})", e.error(), e.debug())),
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            _ => {}
        }
    };
    pipeline.set_state(gst::State::Null).unwrap();
    (error, warnings)
}

fn launch(description: &str) -> gst::Pipeline {
    init();
    gst::parse::launch(description).unwrap().downcast().unwrap()
}

fn test_pipeline(props: &str) -> gst::Pipeline {
    launch(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGB,width=32,height=32 ! \
         adainstyle name=s device=cpu style-size=64 decoder={} {props} ! fakesink",
        decoder_path().display()
    ))
}

#[test]
fn start_errors_name_the_file_and_the_cause() {
    let dir =
        std::env::temp_dir().join(format!("adainstyle-element-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let corrupt = dir.join("corrupt-style.jpg");
    std::fs::write(&corrupt, b"\xFF\xD8\xFF\xE0 truncated").unwrap();
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
            vec!["corrupt-style.jpg", "decode"],
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
    std::fs::remove_dir_all(dir).unwrap();
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

/// Collects every buffer leaving element `name` of `pipeline` (as bytes).
fn capture_output(pipeline: &gst::Pipeline, name: &str) -> Arc<Mutex<Vec<Vec<u8>>>> {
    let frames = Arc::new(Mutex::new(Vec::new()));
    let sink = frames.clone();
    pipeline
        .by_name(name)
        .unwrap()
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buffer) = info.buffer() {
                let map = buffer.map_readable().unwrap();
                sink.lock().unwrap().push(map.as_slice().to_vec());
            }
            gst::PadProbeReturn::Ok
        });
    frames
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

#[test]
fn hundreds_of_style_swaps_from_another_thread_while_streaming() {
    let pipeline = launch(&format!(
        "videotestsrc num-buffers=60 pattern=ball ! video/x-raw,format=BGRx,width=32,height=32,framerate=30/1 ! \
         adainstyle name=s device=cpu style-size=32 decoder={} ! fakesink sync=false",
        decoder_path().display()
    ));
    let el = pipeline.by_name("s").unwrap();
    let styles = [
        style("cafe-terrace-at-night.jpg"),
        style("night-cafe.jpg"),
        style("langlois-bridge.jpg"),
        style("painter-on-the-road.jpg"),
    ];
    // Swaps are counted only while frames flow: from the first frame to the last.
    let streaming = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    {
        let (streaming, done) = (streaming.clone(), done.clone());
        let counter = el.clone();
        el.static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let n: u64 = counter.property("frames-processed");
                streaming.store(n < 60, Ordering::SeqCst);
                done.store(n >= 60, Ordering::SeqCst);
                gst::PadProbeReturn::Ok
            });
    }
    let swapper = {
        let el = el.clone();
        let (streaming, done) = (streaming.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut swaps, mut during) = (0usize, 0usize);
            while !done.load(Ordering::SeqCst) {
                let a = &styles[swaps % 4];
                let b = &styles[(swaps + 1) % 4];
                let spec = if swaps.is_multiple_of(3) {
                    format!("{}:0.5,{}:0.5", a.display(), b.display())
                } else {
                    a.display().to_string()
                };
                el.set_property("style", spec);
                el.set_property("alpha", (swaps % 10) as f64 / 10.0);
                swaps += 1;
                if streaming.load(Ordering::SeqCst) {
                    during += 1;
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            during
        })
    };
    let (error, warnings) = run(&pipeline, Duration::from_secs(300));
    done.store(true, Ordering::SeqCst);
    let during = swapper.join().unwrap();
    assert!(error.is_none(), "{error:?}");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(during >= 100, "only {during} swaps while frames flowed");
    let frames: u64 = el.property("frames-processed");
    assert_eq!(frames, 60);
}

#[test]
fn a_new_style_takes_effect_while_playing() {
    init();
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, 40, 24)
        .build()
        .unwrap();
    let el = element(&[]);
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
    let expected = library_output(&data, &layout, &night, &StylizeOptions::default());
    assert!(max_diff(&after, &expected) <= 1);
}

#[test]
fn three_hundred_frames_through_decodebin_x264_mp4mux() {
    let dir = std::env::temp_dir().join(format!("adainstyle-element-mp4-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn style_size_changes_the_style_statistics() {
    init();
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, 40, 24)
        .build()
        .unwrap();
    // element() encodes styles at 128 px; 24 px keeps only the painting's coarse colours.
    let (at_128, _) = stylize_frame(&[], &info, 8, None);
    let (at_24, _) = stylize_frame(&[("style-size", "24")], &info, 8, None);
    assert!(max_diff(&at_128, &at_24) > 10, "style-size had no effect");
}

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
    let dir = std::env::temp_dir().join(format!("adainstyle-element-mask-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (white, black, half) = (
        dir.join("white.png"),
        dir.join("black.png"),
        dir.join("half.png"),
    );
    write_mask(&white, 48, 32, 48);
    write_mask(&black, 48, 32, 0);
    write_mask(&half, 48, 32, 24);
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Bgra, 48, 32)
        .build()
        .unwrap();
    let (plain, data) = stylize_frame(&[], &info, 3, None);
    let (all, _) = stylize_frame(&[("mask", white.to_str().unwrap())], &info, 3, None);
    assert!(max_diff(&all, &plain) <= 1, "all-white mask != no mask");
    let (none, _) = stylize_frame(&[("mask", black.to_str().unwrap())], &info, 3, None);
    assert!(
        max_diff(&none, &data) <= 1,
        "all-black mask changed the input"
    );
    // Inverted: black becomes white.
    let (inv, _) = stylize_frame(
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
    let (two, _) = stylize_frame(
        &[
            ("mask", half.to_str().unwrap()),
            ("style-outside", bridge.to_str().unwrap()),
        ],
        &info,
        3,
        None,
    );
    let stylizer = Stylizer::load(
        &encoder_path(),
        &decoder_path(),
        tch::Device::Cpu,
        Precision::Auto,
    )
    .unwrap();
    let layout = FrameLayout::packed(48, 32, PixelLayout::Bgra);
    let f = frame::upload(&data, &layout, tch::Device::Cpu, tch::Kind::Float).unwrap();
    let stats = |path: &Path| {
        StyleBank::new()
            .stats(&stylizer.encoder, &StyleSpec::single(path), 128, None)
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
    let region = adainstyle::Region {
        mask: &mask,
        outside: Some(&outside),
        feather: 8,
    };
    let out = stylizer
        .stylize_region(&f.rgb, &inside, Some(&region), &StylizeOptions::default())
        .unwrap();
    let mut expected = vec![0u8; layout.min_len()];
    frame::download(&out, f.extra.as_ref(), &mut expected, &layout).unwrap();
    assert!(max_diff(&two, &expected) <= 1);
    assert!(max_diff(&two, &plain) > 10, "style-outside changed nothing");

    // Set while PLAYING: the outside style arrives from the worker, and emptying it keeps the
    // content outside again from the next frame on.
    let el = element(&[]);
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
    std::fs::remove_dir_all(dir).unwrap();
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
    let dir = std::env::temp_dir().join(format!(
        "adainstyle-element-mask-err-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
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
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn temporal_smoothing_matches_the_library_and_steadies_the_output() {
    init();
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, 48, 32)
        .build()
        .unwrap();
    let layout = FrameLayout::packed(48, 32, PixelLayout::Rgb);
    let (_, base, _) = padded_buffer(&info, 0, 9, gst::ClockTime::ZERO);
    // A still scene with a little sensor noise: every byte moves by up to 2 levels per frame.
    let frames: Vec<Vec<u8>> = (0..5u32)
        .map(|k| {
            base.iter()
                .enumerate()
                .map(|(i, &b)| {
                    let noise = ((i as u32)
                        .wrapping_mul(2_654_435_761)
                        .wrapping_add(k * 40_503)
                        >> 13)
                        % 5;
                    b.saturating_add(noise as u8).saturating_sub(2)
                })
                .collect()
        })
        .collect();
    let run_element = |strength: f64| -> Vec<Vec<u8>> {
        let el = element(&[("temporal-smoothing", &strength)]);
        let mut h = Harness::with_element(&el, Some("sink"), Some("src"));
        h.set_src_caps(info.to_caps().unwrap());
        frames
            .iter()
            .map(|f| {
                h.push(gst::Buffer::from_slice(f.clone())).unwrap();
                frame_pixels(h.pull().unwrap(), &info)
            })
            .collect()
    };
    let (steady, plain) = (run_element(0.7), run_element(0.0));
    // The library with the same state gives the same frames.
    let stylizer = Stylizer::load(
        &encoder_path(),
        &decoder_path(),
        tch::Device::Cpu,
        Precision::Auto,
    )
    .unwrap();
    let stats = StyleBank::new()
        .stats(
            &stylizer.encoder,
            &StyleSpec::single(style("cafe-terrace-at-night.jpg")),
            128,
            None,
        )
        .unwrap();
    let mut temporal = adainstyle::Temporal::new(0.7);
    for (f, got) in frames.iter().zip(&steady) {
        let up = frame::upload(f, &layout, tch::Device::Cpu, tch::Kind::Float).unwrap();
        let out = stylizer
            .stylize_frame(
                &up.rgb,
                &stats,
                None,
                &StylizeOptions::default(),
                &mut temporal,
            )
            .unwrap();
        let mut bytes = vec![0u8; layout.min_len()];
        frame::download(&out, None, &mut bytes, &layout).unwrap();
        assert!(max_diff(got, &bytes) <= 1);
    }
    // The first frame is the per-frame result; later ones change less from frame to frame.
    assert!(max_diff(&steady[0], &plain[0]) <= 1);
    let flicker = |outs: &[Vec<u8>]| -> f64 {
        outs.windows(2)
            .map(|w| {
                w[0].iter()
                    .zip(&w[1])
                    .map(|(a, b)| a.abs_diff(*b) as f64)
                    .sum::<f64>()
            })
            .sum::<f64>()
    };
    let (f_steady, f_plain) = (flicker(&steady), flicker(&plain));
    assert!(
        f_plain > 0.0,
        "the noise did not change the per-frame output"
    );
    assert!(
        f_steady < 0.6 * f_plain,
        "smoothed {f_steady} vs per-frame {f_plain}"
    );
}

/// A 30 fps live source and frames that take longer than 33 ms: QoS drops what cannot be
/// stylised in time, the latency query carries the element's frame time, and lateness at the
/// sink stays bounded instead of growing.
#[test]
fn live_source_keeps_up_by_dropping_and_reports_its_latency() {
    let pipeline = launch(&format!(
        "videotestsrc is-live=true pattern=ball ! \
         video/x-raw,format=RGBx,width=320,height=240,framerate=30/1 ! identity name=in ! \
         adainstyle name=s device=cpu style-size=64 decoder={} ! \
         fakesink name=sink sync=true qos=true",
        decoder_path().display()
    ));
    let el = pipeline.by_name("s").unwrap();
    let inputs = Arc::new(Mutex::new(Vec::new()));
    let outputs = Arc::new(Mutex::new(Vec::new()));
    {
        let inputs = inputs.clone();
        pipeline
            .by_name("in")
            .unwrap()
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                    inputs.lock().unwrap().push(pts);
                }
                gst::PadProbeReturn::Ok
            });
        let outputs = outputs.clone();
        let sink = pipeline.by_name("sink").unwrap();
        let weak = sink.downgrade();
        sink.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                let (Some(sink), Some(pts)) = (weak.upgrade(), info.buffer().and_then(|b| b.pts()))
                else {
                    return gst::PadProbeReturn::Ok;
                };
                if let (Some(clock), Some(base)) = (sink.clock(), sink.base_time()) {
                    let now = clock.time() - base;
                    outputs.lock().unwrap().push((pts, now));
                }
                gst::PadProbeReturn::Ok
            });
    }
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    // LIVE_TEST_SECONDS=180 gives the figures of BENCHMARKS.md.
    let run_for = Duration::from_secs(
        std::env::var("LIVE_TEST_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(12),
    );
    let started = std::time::Instant::now();
    while started.elapsed() < run_for {
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100))
            && let gst::MessageView::Error(e) = msg.view()
        {
            panic!("{} ({:?})", e.error(), e.debug());
        }
    }
    let mut query = gst::query::Latency::new();
    assert!(pipeline.query(&mut query));
    let (live, min_latency, _) = query.result();
    let mean_ms: f64 = el.property("mean-inference-ms");
    pipeline.set_state(gst::State::Null).unwrap();

    let (inputs, outputs) = (inputs.lock().unwrap(), outputs.lock().unwrap());
    let secs = run_for.as_secs_f64();
    println!(
        "{} frames in, {} out in {secs} s; {mean_ms:.1} ms per frame; latency {min_latency}",
        inputs.len(),
        outputs.len()
    );
    assert!(live);
    // The premise: the network is slower than the frame interval.
    assert!(
        mean_ms > 34.0,
        "{mean_ms} ms per frame is not slower than 30 fps"
    );
    // Output keeps flowing at about the rate the network allows, and what it cannot stylise is
    // dropped, not queued.
    assert!(
        inputs.len() as f64 > 20.0 * secs,
        "{} frames in",
        inputs.len()
    );
    let expected_out = secs * 1000.0 / mean_ms;
    assert!(
        outputs.len() as f64 > 0.5 * expected_out,
        "{} frames out, {expected_out:.0} possible",
        outputs.len()
    );
    assert!(outputs.len() < inputs.len() / 2);
    // Frames keep their timestamps: every output PTS is an input PTS.
    assert!(outputs.iter().all(|(pts, _)| inputs.contains(pts)));
    // The reported latency covers the frame time.
    assert!(
        min_latency.mseconds() as f64 >= mean_ms,
        "latency {min_latency} < {mean_ms} ms per frame"
    );
    // Lateness at the sink (arrival - (PTS + latency)) stays bounded over the run.
    let lateness: Vec<f64> = outputs
        .iter()
        .map(|(pts, now)| {
            now.nseconds() as f64 / 1e9 - (pts.nseconds() + min_latency.nseconds()) as f64 / 1e9
        })
        .collect();
    let third = lateness.len() / 3;
    let worst = |s: &[f64]| s.iter().cloned().fold(f64::MIN, f64::max);
    let (early, late) = (worst(&lateness[..third]), worst(&lateness[2 * third..]));
    println!("worst lateness: first third {early:.3} s, last third {late:.3} s");
    // Per 30 s of the run (for long runs with LIVE_TEST_SECONDS).
    let start = outputs[0].1;
    for (k, chunk) in outputs
        .iter()
        .zip(&lateness)
        .collect::<Vec<_>>()
        .chunk_by(|a, b| (a.0.1 - start).seconds() / 30 == (b.0.1 - start).seconds() / 30)
        .enumerate()
    {
        let worst_here = chunk.iter().map(|(_, l)| **l).fold(f64::MIN, f64::max);
        println!(
            "  {:>3}-{:>3} s: {} frames out, worst lateness {worst_here:.3} s",
            k * 30,
            k * 30 + 30,
            chunk.len()
        );
    }
    // Without QoS it would grow by a frame time less 33 ms with every frame: seconds by the
    // end. The bounds allow a frame or two of jitter on a busy machine.
    let frame_s = mean_ms / 1000.0;
    assert!(
        late < (2.0 * frame_s).max(0.5),
        "frames arrive {late:.3} s late at the end"
    );
    assert!(
        late < early.max(0.0) + frame_s.max(0.25),
        "lateness grew from {early:.3} to {late:.3} s"
    );
}
