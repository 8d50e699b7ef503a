// SPDX-License-Identifier: GPL-2.0-or-later
//! `adainstyle-obs`: an OBS Studio module with one video filter, "Style transfer (adainstyle)",
//! that runs the `adainstyle` GStreamer element (the same element, with the same properties, as
//! `gst-launch-1.0`, the examples and the batch driver use) on any source's picture.
//!
//! - [`filter`]: OBS's side (render thread: read the source back, draw the newest stylised
//!   frame);
//! - [`stylist`]: the element's side (`appsrc ! adainstyle ! appsink` on its own threads);
//! - [`options`]: the dialog's settings, made from the element's property table;
//! - [`ffi`]: the few libobs declarations used.
//!
//! Licence: GPL-2.0-or-later, since OBS loads it into libobs (GPL-2.0-or-later); see
//! `obs/README.md`.

use std::ffi::c_char;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, Ordering};

pub mod ffi;
pub mod filter;
pub mod options;
pub mod stylist;

static MODULE: AtomicPtr<ffi::obs_module_t> = AtomicPtr::new(std::ptr::null_mut());

/// Initialises GStreamer and registers the `adainstyle` element in this process, once.
pub fn init_gstreamer() -> Result<(), String> {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    RESULT
        .get_or_init(|| {
            gst::init()
                .map_err(|e| e.to_string())
                .and_then(|()| gstadainstyle::plugin_register_static().map_err(|e| e.to_string()))
        })
        .clone()
}

/// OBS tells the module its handle (`OBS_DECLARE_MODULE`).
#[unsafe(no_mangle)]
pub extern "C" fn obs_module_set_pointer(module: *mut ffi::obs_module_t) {
    MODULE.store(module, Ordering::SeqCst);
}

/// The module's handle (`OBS_DECLARE_MODULE`).
#[unsafe(no_mangle)]
pub extern "C" fn obs_current_module() -> *mut ffi::obs_module_t {
    MODULE.load(Ordering::SeqCst)
}

/// The libobs API the module was written against (`OBS_DECLARE_MODULE`).
#[unsafe(no_mangle)]
pub extern "C" fn obs_module_ver() -> u32 {
    ffi::LIBOBS_API_VER
}

/// Registers the filter. GStreamer and the element are set up at the first use.
#[unsafe(no_mangle)]
pub extern "C" fn obs_module_load() -> bool {
    filter::register();
    filter::log(
        ffi::LOG_INFO,
        "loaded: the filter \"Style transfer (adainstyle)\"",
    );
    true
}

/// The module's name in OBS's lists.
#[unsafe(no_mangle)]
pub extern "C" fn obs_module_name() -> *const c_char {
    c"adainstyle".as_ptr()
}

/// The module's description in OBS's lists.
#[unsafe(no_mangle)]
pub extern "C" fn obs_module_description() -> *const c_char {
    c"Arbitrary neural style transfer (AdaIN) as a video filter".as_ptr()
}
