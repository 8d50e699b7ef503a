// SPDX-License-Identifier: MIT
//! Implementation of the `adainstyle` element.
//!
//! Locks: the element never holds two of its locks at once. A property change parses (and
//! decodes a mask file) with no lock held, stores the value under `settings` alone, then asks
//! the style worker for statistics under `worker` alone; a frame copies its settings, then takes
//! the worker's finished statistics, then stylises under `state`, and asks the worker for
//! recoloured styles after releasing it. (The worker's own lock is taken inside its methods and
//! takes no other.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use adainstyle::frame::{self, FrameLayout, PixelLayout};
use adainstyle::profile::{self, Stage};
use adainstyle::{
    DeviceSpec, Model, Network, Precision, Region, Stats, StyleBank, StyleSpec, StylizeOptions,
    Stylizer, Temporal,
};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use super::latency::Latency;
use super::properties;
use super::settings::{Effect, FrameSettings, Settings, Update};
use super::spatial::{Look, Mask, Notice};
use super::sync::lock;
use super::worker::{Slot, StyleRequest, StyleWorker};

/// Longest edge of the content thumbnail used for CORAL.
const CORAL_THUMBNAIL: i64 = 128;

/// What `start()` builds: the networks on their device, and the style in use.
struct State {
    stylizer: Stylizer,
    style: Stats,
    /// The statistics of `style-outside`, once it has been set and loaded.
    outside: Option<Stats>,
    /// The mask in use (a file decoded at start, or when the property was set).
    mask: Mask,
    /// The person segmenter's weights, for a person mask set while the element runs.
    segmenter: std::path::PathBuf,
    /// Smoothing over time: reset by caps changes, flushes and scene cuts.
    temporal: Temporal,
    /// Width, height and pixel layout of the negotiated caps (row strides come with each frame).
    format: Option<(usize, usize, PixelLayout)>,
    /// The `threads` property: libtorch's CPU threads for the streaming thread (0 = as is).
    threads: usize,
}

impl State {
    /// Gives the calling (streaming) thread the `threads` property's libtorch thread count: a
    /// count of this element's thread alone, whatever other elements of the process ask for.
    fn use_threads_here(&self) {
        if self.threads > 0 && tch::get_num_threads() as usize != self.threads {
            adainstyle::threads::set_here(self.threads);
        }
    }
}

/// Figures readable as properties while streaming, kept outside the state lock.
#[derive(Default)]
struct Figures {
    frames: AtomicU64,
    last_ns: AtomicU64,
    total_ns: AtomicU64,
}

/// The element. See the module's documentation for how its locks are taken.
#[derive(Default)]
pub struct AdainStyle {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    worker: Mutex<Option<StyleWorker>>,
    figures: Figures,
    latency: Latency,
    active: Mutex<Active>,
}

/// What the element runs on while started (empty when stopped): its read-only `active-device`
/// and `active-model`.
#[derive(Debug, Default)]
struct Active {
    device: String,
    model: String,
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
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(properties::specs);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let started = lock(&self.worker).is_some();
        let update = match Update::read(pspec.name(), value, started) {
            Ok(update) => update,
            Err(refused) if refused.unreadable => {
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::OpenRead,
                    ("{}", refused.message)
                );
                return;
            }
            Err(refused) => {
                gst::element_imp_warning!(
                    self,
                    gst::LibraryError::Settings,
                    ("{}", refused.message)
                );
                return;
            }
        };
        let change = lock(&self.settings).apply(update);
        if started && pspec.flags().contains(gst::PARAM_FLAG_MUTABLE_READY) {
            gst::element_imp_warning!(
                self,
                gst::LibraryError::Settings,
                (
                    "{} was set while the element runs: it takes effect when the element starts \
                     again (READY to PAUSED); the running network is unchanged",
                    pspec.name()
                )
            );
        }
        if change.per_frame {
            gst::debug!(CAT, imp = self, "{}", change.message);
        } else {
            gst::info!(CAT, imp = self, "{}", change.message);
        }
        if let Effect::Styles { styles, size } = change.effect {
            self.request_styles(styles, size, None);
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let name = pspec.name();
        if let Some(value) = lock(&self.settings).get(name) {
            return value;
        }
        let frames = self.figures.frames.load(Ordering::Relaxed);
        let ms = |ns: u64| ns as f64 / 1e6;
        match name {
            "active-device" => lock(&self.active).device.to_value(),
            "active-model" => lock(&self.active).model.to_value(),
            "last-inference-ms" => ms(self.figures.last_ns.load(Ordering::Relaxed)).to_value(),
            "mean-inference-ms" => {
                let total = self.figures.total_ns.load(Ordering::Relaxed);
                (ms(total) / frames.max(1) as f64).to_value()
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
        // Loading runs libtorch operators: on a thread of its own, so that the application's
        // thread keeps no OpenMP workers that would slow the streaming thread's down.
        adainstyle::threads::on_a_lone_thread(|| self.load())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // The worker is let go, not waited for: a style load in flight (a slow file) finishes
        // on its own thread, which then ends (StyleWorker's Drop).
        let worker = lock(&self.worker).take();
        drop(worker);
        let state = lock(&self.state).take();
        drop(state);
        lock(&self.settings).new_mask = None;
        *lock(&self.active) = Active::default();
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
            state.mask.reset();
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
        let (wants_alpha, processing_size) = {
            let settings = lock(&self.settings);
            (settings.wants_alpha(), settings.processing_size as i64)
        };
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
        state.mask.reset();
        state.use_threads_here();
        // One frame at the negotiated size: the latency to report before real frames arrive
        // (and libtorch's first-run costs paid before the stream starts). A size the network
        // cannot take (processing-size too small) is an error with its cause, not a bare
        // not-negotiated.
        let started = Instant::now();
        let warm = tch::Tensor::f_zeros(
            [1, 3, in_info.height() as i64, in_info.width() as i64],
            (tch::Kind::Float, state.stylizer.device()),
        )
        .map_err(adainstyle::Error::from)
        .and_then(|blank| {
            let opts = StylizeOptions {
                processing_size,
                ..Default::default()
            };
            state.stylizer.stylize(&blank, &state.style, &opts)
        });
        if let Err(err) = warm {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                (
                    "Cannot stylise {}x{} frames: {err}",
                    in_info.width(),
                    in_info.height()
                )
            );
            return Err(gst::loggable_error!(CAT, "warm-up frame: {err}"));
        }
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
        let frame_no = self.figures.frames.load(Ordering::Relaxed);
        let mut frame = lock(&self.settings).for_frame(frame_no);
        // The worker's finished statistics, and whether it is free to recolour the styles.
        let (inside, outside, coral) = match lock(&self.worker).as_ref() {
            Some(worker) => (
                worker.take_ready(Slot::Inside),
                worker.take_ready(Slot::Outside),
                frame.coral.take().filter(|_| !worker.is_busy()),
            ),
            None => (None, None, None),
        };
        let mut guard = lock(&self.state);
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        if let Some((spec, stats)) = inside {
            gst::info!(CAT, imp = self, "Now using style {spec}");
            state.style = stats;
        }
        if let Some((spec, stats)) = outside {
            gst::info!(CAT, imp = self, "Now using style-outside {spec}");
            state.outside = Some(stats);
        }
        if let Some(mask) = frame.new_mask.take() {
            state.mask = mask;
        }
        let (device, kind) = (state.stylizer.device(), state.stylizer.precision().kind());
        if let Err(err) = state.mask.prepare(&state.segmenter, device, kind) {
            gst::element_imp_error!(
                self,
                gst::ResourceError::OpenRead,
                ("Cannot load the person segmenter: {err}")
            );
            return Err(gst::FlowError::Error);
        }
        let format = state.format.ok_or(gst::FlowError::NotNegotiated)?;
        state.use_threads_here();
        let started = Instant::now();
        let span = profile::span(Stage::Frame, state.stylizer.device());
        let mut notices = Vec::new();
        let result = stylize(
            state,
            format,
            &frame,
            coral.is_some(),
            (inframe, outframe),
            &mut notices,
        );
        drop(span);
        drop(guard);
        self.report(notices);
        let thumbnail = match result {
            Ok(thumbnail) => thumbnail,
            Err(err) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ("Style transfer failed: {err}")
                );
                return Err(gst::FlowError::Error);
            }
        };
        if let (Some((styles, size)), Some(thumbnail)) = (coral, thumbnail) {
            self.request_styles(styles, size, Some(thumbnail));
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

/// The input and output frames of one `transform_frame`.
type Frames<'a, 'i, 'o> = (
    &'a gst_video::VideoFrameRef<&'i gst::BufferRef>,
    &'a mut gst_video::VideoFrameRef<&'o mut gst::BufferRef>,
);

/// Stylises one frame of `format` (width, height, pixels) into the output frame; with
/// `thumbnail`, also returns a small CPU copy of the content for CORAL colour preservation.
fn stylize(
    state: &mut State,
    format: (usize, usize, PixelLayout),
    frame: &FrameSettings,
    thumbnail: bool,
    (inframe, outframe): Frames<'_, '_, '_>,
    notices: &mut Vec<Notice>,
) -> adainstyle::Result<Option<tch::Tensor>> {
    let (width, height, pixels) = format;
    state.temporal.set_strength(frame.temporal_smoothing);
    let layout_with = |stride: i32| FrameLayout {
        width,
        height,
        stride: stride as usize,
        pixels,
    };
    let in_layout = layout_with(inframe.plane_stride()[0]);
    let out_layout = layout_with(outframe.plane_stride()[0]);
    let input = inframe
        .plane_data(0)
        .map_err(|err| adainstyle::Error::Frame(err.to_string()))?;
    let device = state.stylizer.device();
    let span = profile::span(Stage::Upload, device);
    let uploaded = frame::upload(input, &in_layout, device, tch::Kind::Float)?;
    drop(span);
    let span = profile::span(Stage::Mask, device);
    let look = Look {
        invert: frame.mask_invert,
        feather: frame.mask_feather,
        smoothing: frame.temporal_smoothing,
    };
    let mask = state.mask.for_frame(
        (input, &in_layout),
        (&uploaded.rgb, uploaded.extra.as_ref()),
        &look,
        device,
        notices,
    )?;
    drop(span);
    let region = mask.as_ref().map(|m| Region {
        mask: &m.mask,
        outside: state.outside.as_ref().filter(|_| frame.outside),
        feather: m.feather,
        feathered: m.feathered.as_ref(),
    });
    let stylized = state.stylizer.stylize_frame(
        &uploaded.rgb,
        &state.style,
        region.as_ref(),
        &frame.opts,
        &mut state.temporal,
    )?;
    let output = outframe
        .plane_data_mut(0)
        .map_err(|err| adainstyle::Error::Frame(err.to_string()))?;
    let span = profile::span(Stage::Download, device);
    frame::download(&stylized, uploaded.extra.as_ref(), output, &out_layout)?;
    drop(span);
    if !thumbnail {
        return Ok(None);
    }
    let dims = uploaded.rgb.size();
    let longest = CORAL_THUMBNAIL.min(dims[2].max(dims[3]));
    let (h, w) = frame::fit_longest(dims[2], dims[3], longest);
    let small = frame::resize(&uploaded.rgb, h, w)?;
    Ok(Some(small.f_to_device_(
        tch::Device::Cpu,
        tch::Kind::Float,
        false,
        false,
    )?))
}

impl AdainStyle {
    /// Loads the networks and the style, and starts the style worker: `start()`'s work.
    fn load(&self) -> Result<(), gst::ErrorMessage> {
        let settings = {
            let mut settings = lock(&self.settings);
            // A mask decoded for a previous run: this run decodes the property's own.
            settings.new_mask = None;
            settings.clone()
        };
        let (device, precision, model) = self.resolve(&settings)?;
        let (encoder, weights) = (settings.encoder_path(), settings.weights_path(model));
        let stylizer = Stylizer::load(model, &encoder, &weights, device, precision)
            .map_err(|err| load_error("model", err))?;
        // The style worker has its own encoder so that it never waits for a frame in flight.
        let style_encoder =
            Network::load_style_encoder(model, &encoder, &weights, device, precision.kind())
                .map_err(|err| load_error("encoder", err))?;
        let mut bank = StyleBank::new();
        let (spec, style, outside) = load_styles(&settings, style_encoder.as_ref(), &mut bank)?;
        let mask_source = settings.mask.value.as_ref().ok().and_then(Option::as_ref);
        let mut mask = Mask::load(mask_source).map_err(|err| load_error("mask", err))?;
        let segmenter = settings.segmenter_path();
        mask.prepare(&segmenter, device, precision.kind())
            .map_err(|err| load_error("person segmenter", err))?;
        let worker = self.start_worker(style_encoder, bank)?;
        *lock(&self.active) = Active {
            device: format!("{device:?}"),
            model: model.to_string(),
        };
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
        *lock(&self.state) = Some(State {
            stylizer,
            style,
            outside,
            mask,
            segmenter,
            temporal: Temporal::new(settings.temporal_smoothing),
            format: None,
            threads: settings.threads as usize,
        });
        *lock(&self.worker) = Some(worker);
        self.catch_up(&settings);
        Ok(())
    }

    /// The device, precision and network the settings ask for, resolved once (and logged when
    /// `auto` chose), with warnings for settings that cannot do what they say.
    fn resolve(
        &self,
        settings: &Settings,
    ) -> Result<(tch::Device, Precision, Model), gst::ErrorMessage> {
        let settings_error = |err: String| gst::error_msg!(gst::LibraryError::Settings, ("{err}"));
        let device_spec: DeviceSpec = settings
            .device
            .parse()
            .map_err(|err: adainstyle::Error| settings_error(err.to_string()))?;
        let device = device_spec.resolve().map_err(|err| {
            gst::error_msg!(
                gst::ResourceError::NotFound,
                ("Device `{}`: {err}", settings.device)
            )
        })?;
        let precision = Precision::from(settings.precision)
            .resolve(device)
            .map_err(|err| settings_error(err.to_string()))?;
        let model = Model::from(settings.model)
            .resolve_given(
                device,
                settings.encoder_given().as_deref(),
                settings.decoder_given().as_deref(),
            )
            .map_err(|err| load_error("model", err))?;
        gst::info!(
            CAT,
            imp = self,
            "device={}, precision={:?}, model={:?}: the {model} network on {device:?} in \
             {precision}",
            settings.device,
            settings.precision,
            settings.model
        );
        if let (Model::Lite, Some(encoder)) = (model, settings.encoder_given()) {
            gst::element_imp_warning!(
                self,
                gst::LibraryError::Settings,
                (
                    "encoder={} is not used: the light network has an encoder of its own (the \
                     encoder property is the full model's)",
                    encoder.display()
                )
            );
        }
        let cores = adainstyle::threads::available_cores();
        if settings.threads as usize > cores {
            gst::element_imp_warning!(
                self,
                gst::LibraryError::Settings,
                (
                    "threads={} is more than the {cores} CPU cores this process may use: \
                     libtorch will be slower, not faster",
                    settings.threads
                )
            );
        }
        Ok((device, precision, model))
    }

    /// Starts the style worker with its encoder and bank; its load errors become warnings.
    fn start_worker(
        &self,
        encoder: Box<dyn adainstyle::StyleEncode + Send>,
        bank: StyleBank,
    ) -> Result<StyleWorker, gst::ErrorMessage> {
        let weak = self.obj().downgrade();
        StyleWorker::spawn(
            encoder,
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
        })
    }

    /// Asks the style worker for new statistics of `styles` encoded at `size` (recoloured to
    /// `coral_to` when given); before `start()` there is no worker and `start()` loads them.
    fn request_styles(
        &self,
        styles: Vec<(Slot, StyleSpec)>,
        size: i64,
        coral_to: Option<tch::Tensor>,
    ) {
        if let Some(worker) = lock(&self.worker).as_ref() {
            for (slot, spec) in styles {
                worker.request(StyleRequest {
                    slot,
                    spec,
                    style_size: size,
                    coral_to: coral_to.as_ref().map(tch::Tensor::shallow_clone),
                });
            }
        }
    }

    /// Applies what was set while `start()` ran, after it copied `loaded` and before the worker
    /// existed (such changes reached neither the worker nor the state).
    fn catch_up(&self, loaded: &Settings) {
        let (styles, size, mask) = {
            let settings = lock(&self.settings);
            let mask = (settings.mask.text != loaded.mask.text).then(|| settings.mask.clone());
            (settings.styles(), settings.style_size, mask)
        };
        if styles != loaded.styles() || size != loaded.style_size {
            self.request_styles(styles, size as i64, None);
        }
        let Some(mask) = mask else { return };
        match Mask::load(mask.value.as_ref().ok().and_then(Option::as_ref)) {
            Ok(decoded) => {
                let mut settings = lock(&self.settings);
                // Unless it changed again (and that change decoded its own).
                if settings.mask.text == mask.text {
                    settings.new_mask = Some(decoded);
                }
            }
            Err(err) => gst::element_imp_warning!(
                self,
                gst::ResourceError::OpenRead,
                ("Cannot use mask `{}`: {err}", mask.text)
            ),
        }
    }

    /// Posts what a frame's mask could not be (the mask reports each cause once).
    fn report(&self, notices: Vec<Notice>) {
        for notice in notices {
            match notice {
                Notice::Stretched(path) => gst::element_imp_warning!(
                    self,
                    gst::StreamError::Format,
                    ("Mask `{path}` has another aspect ratio than the frame; it is stretched \
                         to the frame")
                ),
                Notice::NoAlpha(pixels) => gst::element_imp_warning!(
                    self,
                    gst::CoreError::Negotiation,
                    ("mask=alpha needs video with an alpha channel, the caps are {pixels:?}: \
                         stylising the whole frame")
                ),
            }
        }
    }
}

/// An error message for a file that cannot be loaded (`what`: the model, a style image, ...).
fn load_error(what: &str, err: adainstyle::Error) -> gst::ErrorMessage {
    gst::error_msg!(
        gst::ResourceError::OpenRead,
        ("Cannot load the {what}: {err}")
    )
}

/// The statistics of `style` (and of `style-outside` when set), encoded at `style-size`.
fn load_styles(
    settings: &Settings,
    encoder: &dyn adainstyle::StyleEncode,
    bank: &mut StyleBank,
) -> Result<(StyleSpec, Stats, Option<Stats>), gst::ErrorMessage> {
    let settings_error = |err: String| gst::error_msg!(gst::LibraryError::Settings, ("{err}"));
    let spec = settings
        .style_spec()
        .map_err(|err| settings_error(format!("Style `{}`: {err}", settings.style.text)))?;
    let size = settings.style_size as i64;
    let style = bank
        .stats(encoder, &spec, size, None)
        .map_err(|err| load_error("style image", err))?;
    let outside = match &settings.style_outside.value {
        Ok(None) => None,
        Ok(Some(spec)) => Some(
            bank.stats(encoder, spec, size, None)
                .map_err(|err| load_error("style-outside image", err))?,
        ),
        Err(err) => {
            let text = &settings.style_outside.text;
            return Err(settings_error(format!("Style-outside `{text}`: {err}")));
        }
    };
    Ok((spec, style, outside))
}

fn pixel_layout(format: gst_video::VideoFormat) -> Option<PixelLayout> {
    SUPPORTED_FORMATS
        .iter()
        .find(|(f, _)| *f == format)
        .map(|(_, p)| *p)
}
