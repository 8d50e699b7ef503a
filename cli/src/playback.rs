// SPDX-License-Identifier: MIT
//! Small pipeline helpers: running a pipeline to its end, a sink for a stream nobody wants, a
//! bus error in one line, and a guard that stops a pipeline whatever happens (a pipeline dropped
//! in PAUSED or PLAYING makes GStreamer print critical warnings).

use anyhow::{Context, Result, anyhow};
use gst::prelude::*;

/// Plays `pipeline` until end of stream, calls `at_eos` with it there (before it stops), and
/// stops it. An error on the bus ends the run with the error, the element that posted it and
/// its debug text.
pub fn play_to_eos(pipeline: &gst::Pipeline, at_eos: impl FnOnce(&gst::Pipeline)) -> Result<()> {
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().expect("pipelines have a bus");
    let result = loop {
        let Some(msg) = bus.timed_pop(gst::ClockTime::NONE) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => {
                at_eos(pipeline);
                break Ok(());
            }
            gst::MessageView::Error(e) => break Err(anyhow!(describe(e))),
            _ => {}
        }
    };
    pipeline.set_state(gst::State::Null)?;
    result
}

/// Links `pad` to a new fakesink in `pipeline`: the stream is parsed and dropped. The sink does
/// not preroll (`async=false`): a sink holding the first buffer of one stream would stall the
/// demuxer before the other streams' sinks got theirs.
pub fn discard(pipeline: &gst::Pipeline, pad: &gst::Pad) -> Result<()> {
    let sink = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .property("async", false)
        .build()?;
    pipeline.add(&sink)?;
    sink.sync_state_with_parent()?;
    pad.link(&sink.static_pad("sink").context("fakesink pad")?)?;
    Ok(())
}

/// A bus error in one line: the element that posted it, its message and the first line of its
/// debug text.
pub fn describe(e: &gst::message::Error) -> String {
    let from = e
        .src()
        .map(|s| s.name().to_string())
        .unwrap_or_else(|| "pipeline".into());
    let debug = e.debug().unwrap_or_default();
    let debug = debug.lines().next().unwrap_or_default().trim();
    if debug.is_empty() {
        format!("{from}: {}", e.error())
    } else {
        format!("{from}: {} ({debug})", e.error())
    }
}

/// The first error waiting on `bus`, in one line: the cause of a state change that failed.
pub fn pending_error(bus: &gst::Bus) -> Option<String> {
    let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(describe(e)),
        _ => None,
    }
}

/// Sets a pipeline to `state`; when that fails, the error says why with the first error the
/// pipeline posted.
pub fn set_state(pipeline: &gst::Pipeline, state: gst::State) -> Result<()> {
    if pipeline.set_state(state).is_err() {
        let bus = pipeline.bus().context("pipelines have a bus")?;
        return Err(anyhow!(pending_error(&bus).unwrap_or_else(|| format!(
            "the pipeline could not go to {state:?}"
        ))));
    }
    Ok(())
}

/// Stops its pipeline (to NULL) when dropped, on every way out of a function.
pub struct StopOnDrop(pub gst::Pipeline);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}
