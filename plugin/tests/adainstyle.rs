//! Tests of the `adainstyle` element: Harness push/pull and whole pipelines, on the CPU.

use std::path::{Path, PathBuf};
use std::sync::Once;
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
    let stylizer = Stylizer::load(
        &encoder_path(),
        &decoder_path(),
        tch::Device::Cpu,
        Precision::Auto,
    )
    .unwrap();
    let stats = StyleBank::new()
        .stats(&stylizer.encoder, &StyleSpec::single(style_path), 128, None)
        .unwrap();
    let f = frame::upload(data, layout, tch::Device::Cpu, tch::Kind::Float).unwrap();
    let out = stylizer.stylize(&f.rgb, &stats, opts).unwrap();
    let packed = FrameLayout::packed(layout.width, layout.height, layout.pixels);
    let mut bytes = vec![0u8; packed.min_len()];
    frame::download(&out, f.extra.as_ref(), &mut bytes, &packed).unwrap();
    bytes
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
    assert_eq!(out.len(), 96 * 54 * 4);
    let layout = FrameLayout {
        width: 96,
        height: 54,
        stride,
        pixels: PixelLayout::Bgrx,
    };
    let opts = StylizeOptions {
        processing_size: 32,
        ..Default::default()
    };
    let expected = library_output(&data, &layout, &style("cafe-terrace-at-night.jpg"), &opts);
    assert!(max_diff(&out, &expected) <= 1);
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

/// Runs a pipeline to EOS or error; returns (error, warnings).
fn run(pipeline: &gst::Pipeline, timeout: Duration) -> (Option<String>, Vec<String>) {
    let bus = pipeline.bus().unwrap();
    let mut warnings = Vec::new();
    if pipeline.set_state(gst::State::Playing).is_err() {
        // The error message is on the bus.
    }
    let mut error = None;
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                error = Some(format!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            _ => {}
        }
    }
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

#[test]
fn bad_style_while_playing_warns_and_keeps_the_old_style() {
    let pipeline = launch(&format!(
        "videotestsrc num-buffers=40 is-live=false ! video/x-raw,format=RGB,width=32,height=32,framerate=25/1 ! \
         adainstyle name=s device=cpu style-size=64 decoder={} ! fakesink sync=false",
        decoder_path().display()
    ));
    let el = pipeline.by_name("s").unwrap();
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
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let el = el.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut swaps = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || swaps < 300 {
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
                std::thread::sleep(Duration::from_micros(500));
            }
            swaps
        })
    };
    let (error, warnings) = run(&pipeline, Duration::from_secs(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(error.is_none(), "{error:?}");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(swaps >= 300, "{swaps}");
    let frames: u64 = el.property("frames-processed");
    assert_eq!(frames, 60);
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
