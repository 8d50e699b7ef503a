// SPDX-License-Identifier: MIT
//! Helpers shared by the element's test binaries: a registered plugin, a seeded random decoder,
//! padded test frames, the library's output for the same bytes, and pipeline runners.
// Each test binary uses its own subset of the helpers.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use adainstyle::frame::{self, FrameLayout, PixelLayout};
use adainstyle::{Model, Precision, StyleBank, StyleSpec, StylizeOptions, Stylizer};
use gst::prelude::*;
use gst_check::Harness;
use gst_video::prelude::*;

/// Initialises GStreamer and registers the plugin, once per test binary.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstadainstyle::plugin_register_static().expect("register plugin");
    });
}

pub use adainstyle_test_support::{Scratch, root};

/// A shipped style image by file name.
pub fn style(name: &str) -> PathBuf {
    root().join("styles").join(name)
}

/// The shipped encoder.
pub fn encoder_path() -> PathBuf {
    root().join("models/vgg19-normalised.safetensors")
}

/// Both networks, for the tests that check a feature on each.
pub const MODELS: [Model; 2] = [Model::Full, Model::Lite];

/// A seeded random decoder, written once per test binary (the element's maths does not depend
/// on the decoder being trained, and tests must not depend on the shipped one).
pub fn decoder_path() -> PathBuf {
    weights_path(Model::Full)
}

/// Seeded random weights of `model` (the full model's decoder, or the whole light network),
/// written once per test binary, with the header the model's files carry, under the build
/// tree's scratch folder (not the system's temp dir, where they would pile up).
pub fn weights_path(model: Model) -> PathBuf {
    static ONCE: [Once; 2] = [Once::new(), Once::new()];
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "adainstyle-element-{model}-{}.safetensors",
        std::process::id()
    ));
    let slot = usize::from(model == Model::Lite);
    ONCE[slot].call_once(|| model.write_seeded_weights(0, &path).unwrap());
    path
}

/// A CPU `adainstyle` with the test decoder, small style statistics and no temporal smoothing,
/// then `props` set on it.
pub fn element(props: &[(&str, &dyn ToValue)]) -> gst::Element {
    element_of(Model::Full, props)
}

/// [`element`] running `model` with its test weights.
pub fn element_of(model: Model, props: &[(&str, &dyn ToValue)]) -> gst::Element {
    init();
    let el = gst::ElementFactory::make("adainstyle")
        .property_from_str("model", &model.to_string())
        .property("decoder", weights_path(model).to_str().unwrap())
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

/// The library's pixel layout of a GStreamer format.
pub fn layout_of(format: gst_video::VideoFormat) -> PixelLayout {
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
pub fn padded_buffer(
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
pub fn frame_pixels(buffer: gst::Buffer, info: &gst_video::VideoInfo) -> Vec<u8> {
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
pub fn library_output(
    data: &[u8],
    layout: &FrameLayout,
    style_path: &Path,
    opts: &StylizeOptions,
) -> Vec<u8> {
    library_output_of(
        Model::Full,
        data,
        layout,
        style_path,
        opts,
        Precision::Auto,
        false,
    )
}

/// [`library_output`] on `model` with its test weights, in `precision`, with the style
/// recoloured to the frame (CORAL) when `coral` is set.
pub fn library_output_of(
    model: Model,
    data: &[u8],
    layout: &FrameLayout,
    style_path: &Path,
    opts: &StylizeOptions,
    precision: Precision,
    coral: bool,
) -> Vec<u8> {
    let stylizer = test_stylizer_of(model, precision);
    let f = frame::upload(data, layout, tch::Device::Cpu, tch::Kind::Float).unwrap();
    let stats = StyleBank::new()
        .stats(
            &stylizer.network,
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
pub fn stylize_frame(
    props: &[(&str, &str)],
    info: &gst_video::VideoInfo,
    seed: u8,
    until_not: Option<&[u8]>,
) -> (Vec<u8>, Vec<u8>) {
    stylize_frame_of(Model::Full, props, info, seed, until_not)
}

/// [`stylize_frame`] through an element running `model` with its test weights.
pub fn stylize_frame_of(
    model: Model,
    props: &[(&str, &str)],
    info: &gst_video::VideoInfo,
    seed: u8,
    until_not: Option<&[u8]>,
) -> (Vec<u8>, Vec<u8>) {
    let el = element_of(model, &[]);
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
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10()
}

/// Largest absolute difference of two byte pictures of equal length.
pub fn max_diff(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

/// Runs a pipeline to EOS or error; returns (error, warnings). Not reaching either within
/// `timeout` fails the test.
pub fn run(pipeline: &gst::Pipeline, timeout: Duration) -> (Option<String>, Vec<String>) {
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

/// A pipeline from a gst-launch description.
pub fn launch(description: &str) -> gst::Pipeline {
    init();
    gst::parse::launch(description).unwrap().downcast().unwrap()
}

/// Three 32x32 RGB test frames through `adainstyle name=s` with `props` into a fakesink.
pub fn test_pipeline(props: &str) -> gst::Pipeline {
    test_pipeline_of(Model::Full, props)
}

/// [`test_pipeline`] running `model` with its test weights.
pub fn test_pipeline_of(model: Model, props: &str) -> gst::Pipeline {
    launch(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGB,width=32,height=32 ! \
         adainstyle name=s device=cpu style-size=64 model={model} decoder={} {props} ! fakesink",
        weights_path(model).display()
    ))
}

/// Collects `what` of every buffer leaving element `name` of `pipeline` (when it has it).
pub fn capture<T: Send + 'static>(
    pipeline: &gst::Pipeline,
    name: &str,
    what: impl Fn(&gst::BufferRef) -> Option<T> + Send + Sync + 'static,
) -> Arc<Mutex<Vec<T>>> {
    let found = Arc::new(Mutex::new(Vec::new()));
    let sink = found.clone();
    pipeline
        .by_name(name)
        .unwrap()
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(value) = info.buffer().and_then(|buffer| what(buffer)) {
                sink.lock().unwrap().push(value);
            }
            gst::PadProbeReturn::Ok
        });
    found
}

/// Collects every buffer leaving element `name` of `pipeline` (as bytes).
pub fn capture_output(pipeline: &gst::Pipeline, name: &str) -> Arc<Mutex<Vec<Vec<u8>>>> {
    capture(pipeline, name, |buffer| {
        Some(buffer.map_readable().ok()?.as_slice().to_vec())
    })
}

/// Collects the PTS of every buffer leaving element `name` of `pipeline`.
pub fn capture_pts(pipeline: &gst::Pipeline, name: &str) -> Arc<Mutex<Vec<gst::ClockTime>>> {
    capture(pipeline, name, gst::BufferRef::pts)
}

/// Video info for a `width` x `height` frame of `format` (GStreamer initialised first).
pub fn video_info(format: gst_video::VideoFormat, width: u32, height: u32) -> gst_video::VideoInfo {
    init();
    gst_video::VideoInfo::builder(format, width, height)
        .build()
        .unwrap()
}

/// The library's CPU stylizer with the shipped encoder and the test decoder.
pub fn test_stylizer(precision: Precision) -> Stylizer {
    test_stylizer_of(Model::Full, precision)
}

/// The library's CPU stylizer of `model` with the test weights.
pub fn test_stylizer_of(model: Model, precision: Precision) -> Stylizer {
    Stylizer::load(
        model,
        &encoder_path(),
        &weights_path(model),
        tch::Device::Cpu,
        precision,
    )
    .unwrap()
}
