// SPDX-License-Identifier: MIT
//! Small pipeline helpers for the examples that only read files: running a pipeline to its end,
//! and a sink for a stream nobody wants.

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
            gst::MessageView::Error(e) => {
                let from = e.src().map(|s| s.path_string()).unwrap_or_default();
                break Err(anyhow!(
                    "{} ({from}: {})",
                    e.error(),
                    e.debug().unwrap_or_default()
                ));
            }
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
