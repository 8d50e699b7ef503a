// SPDX-License-Identifier: MIT
//! Implementation of the `adainstyle` element.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Instant;

use adainstyle::frame::{self, FrameLayout, PixelLayout};
use adainstyle::{
    DeviceSpec, MaskSource, Model, Network, Precision, Region, Stats, StyleBank, StyleSpec,
    StylizeOptions, Stylizer, Temporal, data,
};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use super::enums::{ModelMode, PrecisionMode, PreserveColorMode};
use super::latency::Latency;
use super::spatial::{self, MaskFile, Notice};
use super::worker::{Slot, StyleRequest, StyleWorker};

const DEFAULT_ALPHA: f64 = 1.0;
const DEFAULT_STYLE_SIZE: u32 = 512;
const DEFAULT_PROCESSING_SIZE: u32 = 0;
const DEFAULT_DEVICE: &str = "auto";
const DEFAULT_PRECISION: PrecisionMode = PrecisionMode::Auto;
const DEFAULT_MODEL: ModelMode = ModelMode::Auto;
const DEFAULT_PRESERVE_COLOR: PreserveColorMode = PreserveColorMode::None;
const DEFAULT_THREADS: u32 = 0;
const DEFAULT_MASK_FEATHER: u32 = 8;
const DEFAULT_TEMPORAL_SMOOTHING: f64 = 0.5;
/// With CORAL colour preservation, the style is recoloured to the content every this many frames.
const CORAL_EVERY_FRAMES: u64 = 30;
/// Longest edge of the content thumbnail used for CORAL.
const CORAL_THUMBNAIL: i64 = 128;

#[derive(Debug, Clone)]
struct Settings {
    style: String,
    /// Empty: the content is kept outside the mask.
    style_outside: String,
    /// Empty: no mask; `alpha`; or an image path.
    mask: String,
    mask_invert: bool,
    mask_feather: u32,
    temporal_smoothing: f64,
    style_size: u32,
    alpha: f64,
    preserve_color: PreserveColorMode,
    processing_size: u32,
    device: String,
    precision: PrecisionMode,
    model: ModelMode,
    encoder: String,
    /// Empty: the shipped weights of the model in use.
    decoder: String,
    threads: u32,
}

impl Default for Settings {
    fn default() -> Self {
        let shipped = |rel: &str| data::find(rel).to_string_lossy().into_owned();
        Self {
            style: shipped(data::DEFAULT_STYLE),
            style_outside: String::new(),
            mask: String::new(),
            mask_invert: false,
            mask_feather: DEFAULT_MASK_FEATHER,
            temporal_smoothing: DEFAULT_TEMPORAL_SMOOTHING,
            style_size: DEFAULT_STYLE_SIZE,
            alpha: DEFAULT_ALPHA,
            preserve_color: DEFAULT_PRESERVE_COLOR,
            processing_size: DEFAULT_PROCESSING_SIZE,
            device: DEFAULT_DEVICE.into(),
            precision: DEFAULT_PRECISION,
            model: DEFAULT_MODEL,
            encoder: shipped(data::ENCODER),
            decoder: String::new(),
            threads: DEFAULT_THREADS,
        }
    }
}

/// What `start()` builds: the networks on their device, and the style in use.
struct State {
    stylizer: Stylizer,
    style: Stats,
    /// The statistics of `style-outside`, once it has been set and loaded.
    outside: Option<Stats>,
    /// Smoothing over time: reset by caps changes, flushes and scene cuts.
    temporal: Temporal,
    /// Width, height and pixel layout of the negotiated caps (row strides come with each frame).
    format: Option<(usize, usize, PixelLayout)>,
}

/// Figures readable as properties while streaming, kept outside the state lock.
#[derive(Default)]
struct Figures {
    frames: AtomicU64,
    last_ns: AtomicU64,
    total_ns: AtomicU64,
}

/// The element.
///
/// Lock order, where two are held at once: `settings` before `active_device`, and `state` before
/// `worker` and before `mask_file`. No other lock is taken while one of these is held.
#[derive(Default)]
pub struct AdainStyle {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    worker: Mutex<Option<StyleWorker>>,
    /// The decoded `mask` file, loaded when the property is set while started, or at start.
    mask_file: Mutex<MaskFile>,
    figures: Figures,
    latency: Latency,
    active_device: Mutex<String>,
}

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "adainstyle",
        gst::DebugColorFlags::empty(),
        Some("AdaIN arbitrary style transfer"),
    )
});

#[glib::object_subclass]
impl ObjectSubclass for AdainStyle {
    const NAME: &'static str = "GstAdainStyle";
    type Type = super::AdainStyle;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for AdainStyle {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("style")
                    .nick("Style")
                    .blurb(
                        "Style image path, or several blended as PATH:WEIGHT,PATH:WEIGHT; \
                         default: the shipped style. Changing it while PLAYING swaps styles \
                         without stalling frames",
                    )
                    .default_value(Some(Settings::default().style.as_str()))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("style-outside")
                    .nick("Style outside the mask")
                    .blurb(
                        "Style for the region outside the mask (same syntax as style); empty \
                         keeps the original content there",
                    )
                    .default_value(Some(""))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("mask")
                    .nick("Mask")
                    .blurb(
                        "Where the style goes: a grey image (white = styled, black = kept or \
                         style-outside; resized to the frame), `alpha` for the input's alpha \
                         channel (opaque = styled; needs RGBA or BGRA caps), or empty for \
                         everywhere",
                    )
                    .default_value(Some(""))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("mask-invert")
                    .nick("Invert mask")
                    .blurb("Swap the mask's inside and outside")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("mask-feather")
                    .nick("Mask feather")
                    .blurb(
                        "Half-width in pixels of the soft edge where styled output meets kept \
                         content (0 = hard edge)",
                    )
                    .maximum(1024)
                    .default_value(DEFAULT_MASK_FEATHER)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("style-size")
                    .nick("Style size")
                    .blurb("Longest edge the style image is resized to before encoding (0 = as is)")
                    .maximum(8192)
                    .default_value(DEFAULT_STYLE_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("alpha")
                    .nick("Alpha")
                    .blurb("Strength of the style: 1 = full style, 0 = the content reconstructed")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_ALPHA)
                    .mutable_playing()
                    .controllable()
                    .build(),
                glib::ParamSpecDouble::builder("temporal-smoothing")
                    .nick("Temporal smoothing")
                    .blurb(
                        "Steadiness over time, 0 = every frame on its own: averages the content \
                         statistics over frames and blends the previous output in where the \
                         input did not change; a scene cut starts afresh",
                    )
                    .minimum(0.0)
                    .maximum(0.99)
                    .default_value(DEFAULT_TEMPORAL_SMOOTHING)
                    .mutable_playing()
                    .controllable()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("preserve-color", DEFAULT_PRESERVE_COLOR)
                    .nick("Preserve colour")
                    .blurb("Keep the content's colours: none, coral (recolour the style) or luminance")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("processing-size")
                    .nick("Processing size")
                    .blurb(
                        "Longest edge the network runs at (0 = the input's own size); the output \
                         always has the input's size",
                    )
                    .maximum(8192)
                    .default_value(DEFAULT_PROCESSING_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("device")
                    .nick("Device")
                    .blurb("Where the network runs: auto (CUDA if present, else CPU), cpu, cuda or cuda:N")
                    .default_value(Some(DEFAULT_DEVICE))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("precision", DEFAULT_PRECISION)
                    .nick("Precision")
                    .blurb(
                        "Precision of the network: auto (fp16 on CUDA, bf16 on a CPU with \
                         AVX-512 BF16, else fp32), fp32, fp16 or bf16; a precision the device \
                         cannot run is an error. Statistics and AdaIN stay fp32",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("model", DEFAULT_MODEL)
                    .nick("Model")
                    .blurb(
                        "Network that stylises: auto (the full model on CUDA; on a CPU the \
                         CPU default, logged), full (VGG-19, AdaIN and its decoder) or lite (the \
                         light network for real time on a CPU)",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("encoder")
                    .nick("Encoder weights")
                    .blurb(
                        "Normalised VGG-19 safetensors (pytorch-AdaIN keys) of the full model; \
                         default: the shipped one",
                    )
                    .default_value(Some(Settings::default().encoder.as_str()))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("decoder")
                    .nick("Trained weights")
                    .blurb(
                        "Trained weights (safetensors): the full model's decoder (pytorch-AdaIN \
                         keys), or with model=lite the light network's; empty: the shipped \
                         weights of the model in use. Weights of the other model are an error",
                    )
                    .default_value(Some(""))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("CPU threads")
                    .blurb(
                        "Threads libtorch uses on the CPU (0 = libtorch's default, one per core); \
                         libtorch has one thread pool per process, so this also applies to every \
                         other user of libtorch in the process",
                    )
                    .maximum(1024)
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("active-device")
                    .nick("Active device")
                    .blurb("The device the network runs on once started")
                    .read_only()
                    .build(),
                glib::ParamSpecDouble::builder("last-inference-ms")
                    .nick("Last inference time")
                    .blurb("Milliseconds the last frame took, upload to download")
                    .minimum(0.0)
                    .read_only()
                    .build(),
                glib::ParamSpecDouble::builder("mean-inference-ms")
                    .nick("Mean inference time")
                    .blurb("Mean milliseconds per frame since the element started")
                    .minimum(0.0)
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("frames-processed")
                    .nick("Frames processed")
                    .blurb("Frames stylised since the element started")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = lock(&self.settings);
        match pspec.name() {
            "style" => {
                let text: Option<String> = value.get().expect("type checked upstream");
                let text = text.unwrap_or_else(|| Settings::default().style);
                // A malformed list is reported now; a missing or corrupt file is reported when
                // it is loaded (at start, or by the style worker while playing).
                let spec = match text.parse::<StyleSpec>() {
                    Ok(spec) => spec,
                    Err(err) => {
                        drop(settings);
                        gst::element_imp_warning!(
                            self,
                            gst::LibraryError::Settings,
                            ("Style `{text}`: {err}; keeping the previous style")
                        );
                        return;
                    }
                };
                gst::info!(
                    CAT,
                    imp = self,
                    "Changing style from {} to {}",
                    settings.style,
                    text
                );
                settings.style = text;
                let style_size = settings.style_size as i64;
                drop(settings);
                self.request_style(Slot::Inside, spec, style_size, None);
            }
            "style-outside" => {
                let text: Option<String> = value.get().expect("type checked upstream");
                let text = text.unwrap_or_default();
                let spec = if text.trim().is_empty() {
                    None
                } else {
                    match text.parse::<StyleSpec>() {
                        Ok(spec) => Some(spec),
                        Err(err) => {
                            drop(settings);
                            gst::element_imp_warning!(
                                self,
                                gst::LibraryError::Settings,
                                ("Style-outside `{text}`: {err}; keeping the previous one")
                            );
                            return;
                        }
                    }
                };
                gst::info!(CAT, imp = self, "Changing style-outside to `{text}`");
                settings.style_outside = text;
                let style_size = settings.style_size as i64;
                drop(settings);
                if let Some(spec) = spec {
                    self.request_style(Slot::Outside, spec, style_size, None);
                }
            }
            "mask" => {
                let text: Option<String> = value.get().expect("type checked upstream");
                drop(settings);
                self.set_mask(text.unwrap_or_default());
            }
            "mask-invert" => settings.mask_invert = value.get().expect("type checked upstream"),
            "mask-feather" => settings.mask_feather = value.get().expect("type checked upstream"),
            "temporal-smoothing" => {
                settings.temporal_smoothing = value.get().expect("type checked upstream");
            }
            "style-size" => {
                let size = value.get().expect("type checked upstream");
                gst::info!(
                    CAT,
                    imp = self,
                    "Changing style-size from {} to {}",
                    settings.style_size,
                    size
                );
                settings.style_size = size;
                let styles = [
                    (Slot::Inside, settings.style.clone()),
                    (Slot::Outside, settings.style_outside.clone()),
                ];
                drop(settings);
                for (slot, style) in styles {
                    if let Ok(spec) = style.parse() {
                        self.request_style(slot, spec, size as i64, None);
                    }
                }
            }
            "alpha" => {
                let alpha = value.get().expect("type checked upstream");
                gst::debug!(
                    CAT,
                    imp = self,
                    "Changing alpha from {} to {}",
                    settings.alpha,
                    alpha
                );
                settings.alpha = alpha;
            }
            "preserve-color" => {
                let mode = value.get().expect("type checked upstream");
                gst::info!(
                    CAT,
                    imp = self,
                    "Changing preserve-color from {:?} to {:?}",
                    settings.preserve_color,
                    mode
                );
                let was_coral = settings.preserve_color == PreserveColorMode::Coral;
                settings.preserve_color = mode;
                let styles = [
                    (Slot::Inside, settings.style.clone()),
                    (Slot::Outside, settings.style_outside.clone()),
                ];
                let size = settings.style_size as i64;
                drop(settings);
                // Leaving CORAL: go back to the styles' own colours.
                if was_coral && mode != PreserveColorMode::Coral {
                    for (slot, style) in styles {
                        if let Ok(spec) = style.parse() {
                            self.request_style(slot, spec, size, None);
                        }
                    }
                }
            }
            "processing-size" => {
                let size = value.get().expect("type checked upstream");
                gst::info!(
                    CAT,
                    imp = self,
                    "Changing processing-size from {} to {}",
                    settings.processing_size,
                    size
                );
                settings.processing_size = size;
            }
            "device" => {
                let device: Option<String> = value.get().expect("type checked upstream");
                settings.device = device.unwrap_or_else(|| DEFAULT_DEVICE.into());
            }
            "precision" => settings.precision = value.get().expect("type checked upstream"),
            "model" => settings.model = value.get().expect("type checked upstream"),
            "encoder" => {
                let path: Option<String> = value.get().expect("type checked upstream");
                settings.encoder = path.unwrap_or_else(|| Settings::default().encoder);
            }
            "decoder" => {
                let path: Option<String> = value.get().expect("type checked upstream");
                settings.decoder = path.unwrap_or_default();
            }
            "threads" => settings.threads = value.get().expect("type checked upstream"),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = lock(&self.settings);
        let frames = self.figures.frames.load(Ordering::Relaxed);
        match pspec.name() {
            "style" => settings.style.to_value(),
            "style-outside" => settings.style_outside.to_value(),
            "mask" => settings.mask.to_value(),
            "mask-invert" => settings.mask_invert.to_value(),
            "mask-feather" => settings.mask_feather.to_value(),
            "temporal-smoothing" => settings.temporal_smoothing.to_value(),
            "style-size" => settings.style_size.to_value(),
            "alpha" => settings.alpha.to_value(),
            "preserve-color" => settings.preserve_color.to_value(),
            "processing-size" => settings.processing_size.to_value(),
            "device" => settings.device.to_value(),
            "precision" => settings.precision.to_value(),
            "model" => settings.model.to_value(),
            "encoder" => settings.encoder.to_value(),
            "decoder" => settings.decoder.to_value(),
            "threads" => settings.threads.to_value(),
            "active-device" => lock(&self.active_device).to_value(),
            "last-inference-ms" => {
                (self.figures.last_ns.load(Ordering::Relaxed) as f64 / 1e6).to_value()
            }
            "mean-inference-ms" => {
                let total = self.figures.total_ns.load(Ordering::Relaxed) as f64;
                (if frames == 0 {
                    0.0
                } else {
                    total / frames as f64 / 1e6
                })
                .to_value()
            }
            "frames-processed" => frames.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for AdainStyle {}

impl ElementImpl for AdainStyle {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "AdaIN style transfer",
                "Filter/Effect/Video",
                "Restyles video with any style image in real time (AdaIN, Huang & Belongie 2017) on libtorch",
                "adainstyle developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list(SUPPORTED_FORMATS.iter().map(|(f, _)| *f))
                .width_range(16..=i32::MAX)
                .height_range(16..=i32::MAX)
                .build();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("valid pad template"),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("valid pad template"),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }
}

/// The raw video formats the element accepts, and how their bytes are laid out.
const SUPPORTED_FORMATS: [(gst_video::VideoFormat, PixelLayout); 6] = [
    (gst_video::VideoFormat::Rgbx, PixelLayout::Rgbx),
    (gst_video::VideoFormat::Bgrx, PixelLayout::Bgrx),
    (gst_video::VideoFormat::Rgba, PixelLayout::Rgba),
    (gst_video::VideoFormat::Bgra, PixelLayout::Bgra),
    (gst_video::VideoFormat::Rgb, PixelLayout::Rgb),
    (gst_video::VideoFormat::Bgr, PixelLayout::Bgr),
];

impl BaseTransformImpl for AdainStyle {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = lock(&self.settings).clone();
        let device_spec: DeviceSpec = settings
            .device
            .parse()
            .map_err(|err| gst::error_msg!(gst::LibraryError::Settings, ("{err}")))?;
        let device = device_spec.resolve().map_err(|err| {
            gst::error_msg!(
                gst::ResourceError::NotFound,
                ("Device `{}`: {err}", settings.device)
            )
        })?;
        if device_spec == DeviceSpec::Auto && device == tch::Device::Cpu {
            gst::info!(
                CAT,
                imp = self,
                "device=auto: no CUDA device found, running on the CPU"
            );
        }
        let precision = Precision::from(settings.precision)
            .resolve(device)
            .map_err(|err| gst::error_msg!(gst::LibraryError::Settings, ("{err}")))?;
        if settings.precision == PrecisionMode::Auto {
            gst::info!(
                CAT,
                imp = self,
                "precision=auto: running in {precision} on {device:?}"
            );
        }
        if settings.threads > 0 {
            tch::set_num_threads(settings.threads as i32);
        }
        let load_error = |what: &str, err: adainstyle::Error| {
            gst::error_msg!(
                gst::ResourceError::OpenRead,
                ("Cannot load the {what}: {err}")
            )
        };
        let model = Model::from(settings.model).resolve(device);
        if settings.model == ModelMode::Auto {
            gst::info!(
                CAT,
                imp = self,
                "model=auto: the {model} network on {device:?}"
            );
        }
        let weights = if settings.decoder.trim().is_empty() {
            data::find(model.shipped_weights())
        } else {
            settings.decoder.clone().into()
        };
        let stylizer = Stylizer::load(
            model,
            settings.encoder.as_ref(),
            &weights,
            device,
            precision,
        )
        .map_err(|err| load_error("model", err))?;
        let spec: StyleSpec = settings.style.parse().map_err(|err| {
            gst::error_msg!(
                gst::LibraryError::Settings,
                ("Style `{}`: {err}", settings.style)
            )
        })?;
        // The style worker has its own encoder so that it never waits for a frame in flight.
        let style_encoder = Network::load_style_encoder(
            model,
            settings.encoder.as_ref(),
            &weights,
            device,
            precision.kind(),
        )
        .map_err(|err| load_error("encoder", err))?;
        let mut bank = StyleBank::new();
        let style = bank
            .stats(
                style_encoder.as_ref(),
                &spec,
                settings.style_size as i64,
                None,
            )
            .map_err(|err| load_error("style image", err))?;
        let outside = if settings.style_outside.trim().is_empty() {
            None
        } else {
            let spec: StyleSpec = settings.style_outside.parse().map_err(|err| {
                gst::error_msg!(
                    gst::LibraryError::Settings,
                    ("Style-outside `{}`: {err}", settings.style_outside)
                )
            })?;
            Some(
                bank.stats(
                    style_encoder.as_ref(),
                    &spec,
                    settings.style_size as i64,
                    None,
                )
                .map_err(|err| load_error("style-outside image", err))?,
            )
        };
        if let Some(MaskSource::File(path)) = spatial::parse(&settings.mask) {
            lock(&self.mask_file)
                .load(&path.to_string_lossy())
                .map_err(|err| load_error("mask", err))?;
        }
        let weak = self.obj().downgrade();
        let worker = StyleWorker::spawn(
            style_encoder,
            bank,
            Box::new(move |spec, err| {
                if let Some(element) = weak.upgrade() {
                    gst::element_warning!(
                        element,
                        gst::ResourceError::OpenRead,
                        ("Cannot use style `{spec}`: {err}; keeping the previous style")
                    );
                }
            }),
        )
        .map_err(|err| {
            gst::error_msg!(
                gst::CoreError::Thread,
                ("Cannot start the style thread: {err}")
            )
        })?;
        *lock(&self.active_device) = format!("{device:?}");
        gst::info!(
            CAT,
            imp = self,
            "Started the {model} network on {device:?} ({precision}) with style {spec}"
        );
        for counter in [
            &self.figures.frames,
            &self.figures.last_ns,
            &self.figures.total_ns,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        *lock(&self.worker) = Some(worker);
        *lock(&self.state) = Some(State {
            stylizer,
            style,
            outside,
            temporal: Temporal::new(settings.temporal_smoothing),
            format: None,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // Join the worker first (it may still be encoding a style), without holding its lock.
        let worker = lock(&self.worker).take();
        drop(worker);
        lock(&self.state).take();
        lock(&self.mask_file).clear();
        lock(&self.active_device).clear();
        gst::info!(CAT, imp = self, "Stopped");
        Ok(())
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        let is_latency = matches!(query.view(), gst::QueryView::Latency(_));
        if direction != gst::PadDirection::Src || !is_latency {
            return BaseTransformImplExt::parent_query(self, direction, query);
        }
        // Upstream's latency, plus the time a frame spends here.
        if !BaseTransformImplExt::parent_query(self, direction, query) {
            return false;
        }
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            let (live, min, max) = q.result();
            let ours = self.latency.reported();
            gst::debug!(CAT, imp = self, "Adding {ours} of latency to {min}");
            q.set(live, min + ours, max.map(|max| max + ours));
        }
        true
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        // After a seek the next frame has nothing to do with the previous one.
        if let gst::EventView::FlushStop(_) = event.view()
            && let Some(state) = lock(&self.state).as_mut()
        {
            state.temporal.reset();
        }
        self.parent_sink_event(event)
    }

    fn before_transform(&self, inbuf: &gst::BufferRef) {
        // Let a GstController drive `alpha` (and any other controllable property).
        let segment = self.obj().segment();
        let stream_time = segment
            .downcast_ref::<gst::format::Time>()
            .and_then(|seg| seg.to_stream_time(inbuf.pts()?));
        if let Some(time) = stream_time {
            let _ = self.obj().sync_values(time);
        }
    }
}

impl VideoFilterImpl for AdainStyle {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        let pixels = pixel_layout(in_info.format())
            .ok_or_else(|| gst::loggable_error!(CAT, "Unsupported input caps {incaps}"))?;
        if in_info.format() != out_info.format()
            || in_info.width() != out_info.width()
            || in_info.height() != out_info.height()
        {
            return Err(gst::loggable_error!(
                CAT,
                "Output caps {outcaps} differ from input caps {incaps}"
            ));
        }
        let wants_alpha = spatial::parse(&lock(&self.settings).mask) == Some(MaskSource::Alpha);
        if wants_alpha && !pixels.has_alpha() {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                (
                    "mask=alpha needs video with an alpha channel (RGBA or BGRA), got {}; put \
                     `videoconvert` before adainstyle, or an element that writes alpha such as \
                     `alpha method=green`",
                    in_info.format().to_str()
                )
            );
            return Err(gst::loggable_error!(
                CAT,
                "mask=alpha on caps without alpha"
            ));
        }
        let mut state = lock(&self.state);
        let state = state
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "Caps set before the element started"))?;
        state.format = Some((in_info.width() as usize, in_info.height() as usize, pixels));
        state.temporal.reset();
        // One frame at the negotiated size: the latency to report before real frames arrive
        // (and libtorch's first-run costs paid before the stream starts).
        let processing_size = lock(&self.settings).processing_size as i64;
        let blank = tch::Tensor::f_zeros(
            [1, 3, in_info.height() as i64, in_info.width() as i64],
            (tch::Kind::Float, state.stylizer.device()),
        )
        .map_err(|err| gst::loggable_error!(CAT, "warm-up frame: {err}"))?;
        let opts = StylizeOptions {
            processing_size,
            ..Default::default()
        };
        let started = Instant::now();
        let _warm = state
            .stylizer
            .stylize(&blank, &state.style, &opts)
            .map_err(|err| gst::loggable_error!(CAT, "warm-up frame: {err}"))?;
        let warm_up = started.elapsed();
        let fps = in_info.fps();
        let interval = if fps.numer() > 0 && fps.denom() > 0 {
            1_000_000_000 * fps.denom() as u64 / fps.numer() as u64
        } else {
            0
        };
        self.latency.reset(warm_up.as_nanos() as u64, interval);
        gst::debug!(
            CAT,
            imp = self,
            "Configured for {incaps}; warm-up frame {warm_up:?}, reporting latency {}",
            self.latency.reported()
        );
        Ok(())
    }

    fn transform_frame(
        &self,
        inframe: &gst_video::VideoFrameRef<&gst::BufferRef>,
        outframe: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (opts, coral, spatial, smoothing) = {
            let settings = lock(&self.settings);
            let opts = StylizeOptions {
                alpha: settings.alpha,
                processing_size: settings.processing_size as i64,
                preserve_color: settings.preserve_color.into(),
            };
            let coral = (settings.preserve_color == PreserveColorMode::Coral).then(|| {
                (
                    settings.style.clone(),
                    settings.style_outside.clone(),
                    settings.style_size as i64,
                )
            });
            let spatial = FrameSpatial {
                source: spatial::parse(&settings.mask),
                invert: settings.mask_invert,
                feather: settings.mask_feather as i64,
                outside: !settings.style_outside.trim().is_empty(),
            };
            (opts, coral, spatial, settings.temporal_smoothing)
        };
        let mut guard = lock(&self.state);
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        if let Some(worker) = lock(&self.worker).as_ref() {
            if let Some((spec, stats)) = worker.take_ready(Slot::Inside) {
                gst::info!(CAT, imp = self, "Now using style {spec}");
                state.style = stats;
            }
            if let Some((spec, stats)) = worker.take_ready(Slot::Outside) {
                gst::info!(CAT, imp = self, "Now using style-outside {spec}");
                state.outside = Some(stats);
            }
        }
        let (width, height, pixels) = state.format.ok_or(gst::FlowError::NotNegotiated)?;
        state.temporal.set_strength(smoothing);
        let layout_with = |stride: i32| FrameLayout {
            width,
            height,
            stride: stride as usize,
            pixels,
        };
        let in_layout = layout_with(inframe.plane_stride()[0]);
        let out_layout = layout_with(outframe.plane_stride()[0]);
        let frame_no = self.figures.frames.load(Ordering::Relaxed);
        let started = Instant::now();
        let mut notices = Vec::new();
        let result = (|| -> adainstyle::Result<()> {
            let input = inframe
                .plane_data(0)
                .map_err(|err| adainstyle::Error::Frame(err.to_string()))?;
            let device = state.stylizer.device();
            let uploaded = frame::upload(input, &in_layout, device, tch::Kind::Float)?;
            let mask = spatial::frame_mask(
                spatial.source.as_ref(),
                &mut lock(&self.mask_file),
                (width as i64, height as i64, pixels),
                uploaded.extra.as_ref(),
                spatial.invert,
                device,
                &mut notices,
            )?;
            let region = mask.as_ref().map(|mask| Region {
                mask,
                outside: state.outside.as_ref().filter(|_| spatial.outside),
                feather: spatial.feather,
            });
            let stylized = state.stylizer.stylize_frame(
                &uploaded.rgb,
                &state.style,
                region.as_ref(),
                &opts,
                &mut state.temporal,
            )?;
            if let Some((style, outside, size)) = &coral {
                self.maybe_recolour_styles(frame_no, &uploaded.rgb, [style, outside], *size)?;
            }
            let output = outframe
                .plane_data_mut(0)
                .map_err(|err| adainstyle::Error::Frame(err.to_string()))?;
            frame::download(&stylized, uploaded.extra.as_ref(), output, &out_layout)
        })();
        drop(guard);
        self.report(notices);
        if let Err(err) = result {
            gst::element_imp_error!(
                self,
                gst::StreamError::Failed,
                ("Style transfer failed: {err}")
            );
            return Err(gst::FlowError::Error);
        }
        let elapsed = started.elapsed().as_nanos() as u64;
        self.figures.last_ns.store(elapsed, Ordering::Relaxed);
        self.figures.total_ns.fetch_add(elapsed, Ordering::Relaxed);
        self.figures.frames.fetch_add(1, Ordering::Relaxed);
        if self.latency.record(elapsed) {
            gst::debug!(
                CAT,
                imp = self,
                "Frame time moved: reporting latency {}",
                self.latency.reported()
            );
            let _ = self
                .obj()
                .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

/// A frame's view of the spatial-control settings.
struct FrameSpatial {
    source: Option<MaskSource>,
    invert: bool,
    feather: i64,
    /// Whether `style-outside` is set (its statistics may still be on their way).
    outside: bool,
}

impl AdainStyle {
    /// Asks the style worker for new statistics; before `start()` the settings alone are updated
    /// and `start()` loads the style.
    fn request_style(
        &self,
        slot: Slot,
        spec: StyleSpec,
        style_size: i64,
        coral_to: Option<tch::Tensor>,
    ) {
        if let Some(worker) = lock(&self.worker).as_ref() {
            worker.request(StyleRequest {
                slot,
                spec,
                style_size,
                coral_to,
            });
        }
    }

    /// Applies the `mask` property: empty or `alpha` at once; a file is decoded now when the
    /// element is started (a file that cannot be used is a warning naming it, and the previous
    /// mask stays), else by `start()`.
    fn set_mask(&self, text: String) {
        let started = lock(&self.worker).is_some();
        match spatial::parse(&text) {
            Some(MaskSource::File(path)) if started => {
                if let Err(err) = lock(&self.mask_file).load(&path.to_string_lossy()) {
                    gst::element_imp_warning!(
                        self,
                        gst::ResourceError::OpenRead,
                        ("Cannot use mask `{text}`: {err}; keeping the previous mask")
                    );
                    return;
                }
            }
            Some(MaskSource::File(_)) => {}
            _ => lock(&self.mask_file).clear(),
        }
        gst::info!(CAT, imp = self, "Changing mask to `{text}`");
        lock(&self.settings).mask = text;
    }

    /// Posts what a frame's mask could not be, each cause once until it changes.
    fn report(&self, notices: Vec<Notice>) {
        for notice in notices {
            match notice {
                Notice::Stretched(path) => gst::element_imp_warning!(
                    self,
                    gst::StreamError::Format,
                    ("Mask `{path}` has another aspect ratio than the frame; it is stretched \
                         to the frame")
                ),
                Notice::NoAlpha(pixels) => {
                    let mut reported = lock(&self.mask_file);
                    if !reported.note_no_alpha() {
                        continue;
                    }
                    drop(reported);
                    gst::element_imp_warning!(
                        self,
                        gst::CoreError::Negotiation,
                        ("mask=alpha needs video with an alpha channel, the caps are \
                             {pixels:?}: stylising the whole frame")
                    );
                }
            }
        }
    }

    /// With CORAL colour preservation: every few frames, and only while the worker is idle, sends
    /// a thumbnail of the content so the styles are recoloured to the current scene.
    fn maybe_recolour_styles(
        &self,
        frame_no: u64,
        content: &tch::Tensor,
        styles: [&str; 2],
        size: i64,
    ) -> adainstyle::Result<()> {
        if !frame_no.is_multiple_of(CORAL_EVERY_FRAMES)
            || lock(&self.worker).as_ref().is_none_or(StyleWorker::is_busy)
        {
            return Ok(());
        }
        let dims = content.size();
        let (h, w) =
            frame::fit_longest(dims[2], dims[3], CORAL_THUMBNAIL.min(dims[2].max(dims[3])));
        let thumb = frame::resize(content, h, w)?.f_to_device_(
            tch::Device::Cpu,
            tch::Kind::Float,
            false,
            false,
        )?;
        for (slot, style) in [Slot::Inside, Slot::Outside].into_iter().zip(styles) {
            if let Ok(spec) = style.parse::<StyleSpec>() {
                self.request_style(slot, spec, size, Some(thumb.shallow_clone()));
            }
        }
        Ok(())
    }
}

fn pixel_layout(format: gst_video::VideoFormat) -> Option<PixelLayout> {
    SUPPORTED_FORMATS
        .iter()
        .find(|(f, _)| *f == format)
        .map(|(_, p)| *p)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
