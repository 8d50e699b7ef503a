// SPDX-License-Identifier: MIT
//! GStreamer plugin `adainstyle`: arbitrary neural style transfer (AdaIN) for raw video, on
//! libtorch. See the element's documentation in [`adainstyle`] and `gst-inspect-1.0 adainstyle`.

use gst::glib;

pub mod adainstyle;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    adainstyle::register(plugin)
}

gst::plugin_define!(
    adainstyle,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
