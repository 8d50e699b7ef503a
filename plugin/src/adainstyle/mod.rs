// SPDX-License-Identifier: MIT
//! The `adainstyle` element: stylises raw RGB video frames with any style image.
//!
//! ```text
//! gst-launch-1.0 videotestsrc ! videoconvert ! adainstyle style=starry.jpg alpha=0.8 \
//!     ! videoconvert ! autovideosink
//! ```

use gst::glib;
use gst::prelude::*;

mod enums;
mod imp;
mod latency;
mod properties;
mod settings;
mod spatial;
mod sync;
mod worker;

pub use enums::{PrecisionMode, PreserveColorMode};
pub use settings::{TextValue, names_files, parse_text};

glib::wrapper! {
    /// The `adainstyle` element (a `GstVideoFilter`).
    pub struct AdainStyle(ObjectSubclass<imp::AdainStyle>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers the element with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "adainstyle",
        gst::Rank::NONE,
        AdainStyle::static_type(),
    )
}
