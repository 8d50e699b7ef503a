// SPDX-License-Identifier: GPL-2.0-or-later
//! The network's side of the filter: `appsrc ! adainstyle ! appsink`, the element itself, on
//! threads of its own. OBS's render thread hands it the newest frame and never waits: the
//! source keeps one frame and drops the older ones while the network is busy, and the sink keeps
//! the newest stylised frame for the render thread to pick up.

use std::sync::{Arc, Mutex};

use gst::glib;
use gst::prelude::*;

use crate::options::Setting;

/// Where the element's errors (`true`) and warnings go, as text.
pub type Report = Arc<dyn Fn(&str, bool) + Send + Sync>;

/// A packed BGRA picture: the element's output buffer itself, mapped (no copy).
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub data: gst::MappedBuffer<gst::buffer::Readable>,
}

/// What the user is told: the last error or warning of the element (shown in the filter's
/// properties; every one is also in OBS's log).
#[derive(Default)]
pub struct Status {
    pub message: Option<String>,
}

/// One running `appsrc ! adainstyle ! appsink` for frames of one size.
pub struct Stylist {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    /// Buffers of one frame for the frames read back from OBS: they come back when the element
    /// has taken them, so no frame-sized allocation is made per frame.
    pool: gst::BufferPool,
    element: gst::Element,
    newest: Arc<Mutex<Option<Frame>>>,
    width: u32,
    height: u32,
}

impl Stylist {
    /// Builds and starts the pipeline for `width` x `height` frames with the element's
    /// properties set to `values` (so the network is loaded now, on the calling thread). The
    /// element's errors and warnings go to `report`; a failure to start is the error's text.
    pub fn start(
        values: &[(String, Setting)],
        width: u32,
        height: u32,
        report: Report,
    ) -> Result<Self, String> {
        crate::init_gstreamer()?;
        let caps = gst::Caps::builder("video/x-raw")
            .field("format", "BGRA")
            .field("width", width as i32)
            .field("height", height as i32)
            .field("framerate", gst::Fraction::new(0, 1))
            .build();
        let pool = gst::BufferPool::new();
        let mut config = pool.config();
        config.set_params(Some(&caps), width * height * 4, 2, 0);
        pool.set_config(config).map_err(|e| e.to_string())?;
        pool.set_active(true).map_err(|e| e.to_string())?;
        let src = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .is_live(true)
            .do_timestamp(true)
            .max_buffers(1)
            .leaky_type(gst_app::AppLeakyType::Downstream)
            .block(false)
            .build();
        let element = gst::ElementFactory::make("adainstyle")
            .build()
            .map_err(|e| e.to_string())?;
        for (name, setting) in values {
            if let Some(value) = setting.to_value(name) {
                element.set_property_from_value(name, &value);
            }
        }
        let newest = Arc::new(Mutex::new(None));
        let sink_newest = newest.clone();
        let sink = gst_app::AppSink::builder()
            .caps(&caps)
            .max_buffers(1)
            .drop(true)
            .sync(false)
            .callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |sink| {
                        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        let buffer = sample.buffer_owned().ok_or(gst::FlowError::Error)?;
                        let data = buffer
                            .into_mapped_buffer_readable()
                            .map_err(|_| gst::FlowError::Error)?;
                        let frame = Frame {
                            width,
                            height,
                            data,
                        };
                        *sink_newest.lock().unwrap_or_else(|e| e.into_inner()) = Some(frame);
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            )
            .build();
        let pipeline = gst::Pipeline::new();
        pipeline
            .add_many([src.upcast_ref(), &element, sink.upcast_ref()])
            .map_err(|e| e.to_string())?;
        gst::Element::link_many([src.upcast_ref(), &element, sink.upcast_ref()])
            .map_err(|e| e.to_string())?;
        let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let seen = first_error.clone();
        pipeline
            .bus()
            .ok_or("the pipeline has no bus")?
            .set_sync_handler(move |_, msg| {
                match msg.view() {
                    gst::MessageView::Error(e) => {
                        let text = describe(e.error().message(), e.debug());
                        report(&text, true);
                        seen.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(text);
                    }
                    gst::MessageView::Warning(w) => {
                        report(&describe(w.error().message(), w.debug()), false);
                    }
                    _ => {}
                }
                gst::BusSyncReply::Drop
            });
        if pipeline.set_state(gst::State::Playing).is_err() {
            let _ = pipeline.set_state(gst::State::Null);
            let error = first_error.lock().unwrap_or_else(|e| e.into_inner()).take();
            return Err(error.unwrap_or_else(|| "the element could not start".into()));
        }
        Ok(Self {
            pipeline,
            src,
            pool,
            element,
            newest,
            width,
            height,
        })
    }

    /// The frame size this pipeline takes.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Whether the network has taken the last frame handed to it (so that a new one is worth
    /// reading back from the GPU).
    pub fn wants_frame(&self) -> bool {
        self.src.current_level_buffers() == 0
    }

    /// Hands a frame of this pipeline's size to the network, written by `fill` into a buffer
    /// of packed BGRA rows (`false`: no frame); never blocks (an older frame still waiting is
    /// dropped).
    pub fn push_with(&self, fill: impl FnOnce(&mut [u8]) -> bool) {
        let Ok(mut buffer) = self.pool.acquire_buffer(None) else {
            return;
        };
        {
            let Some(writable) = buffer.get_mut() else {
                return;
            };
            let Ok(mut map) = writable.map_writable() else {
                return;
            };
            if !fill(map.as_mut_slice()) {
                return;
            }
        }
        let _ = self.src.push_buffer(buffer);
    }

    /// The newest stylised frame, once.
    pub fn take(&self) -> Option<Frame> {
        self.newest.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Sets a property of the running element (one it takes while playing).
    pub fn set(&self, name: &str, setting: &Setting) {
        if let Some(value) = setting.to_value(name) {
            self.element.set_property_from_value(name, &value);
        }
    }

    /// The element's milliseconds per frame, as its `last-inference-ms` says.
    pub fn frame_ms(&self) -> f64 {
        self.element.property::<f64>("last-inference-ms")
    }
}

impl Drop for Stylist {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        let _ = self.pool.set_active(false);
    }
}

fn describe(message: &str, debug: Option<glib::GString>) -> String {
    match debug {
        Some(d) if !d.is_empty() => format!("{message} ({d})"),
        _ => message.to_owned(),
    }
}
