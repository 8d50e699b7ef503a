// SPDX-License-Identifier: GPL-2.0-or-later
//! The filter's settings are the element's own properties: their names, kinds, ranges, defaults
//! and help come from its property table (the `ParamSpec`s `gst-inspect-1.0 adainstyle` shows),
//! as the examples' flags do. Only which of them the dialog shows is chosen here.

use std::ffi::{CStr, CString, c_char};

use gst::glib;
use gst::prelude::*;

use crate::ffi;

/// The element's properties the filter's dialog shows, in its order.
pub const SHOWN: [&str; 9] = [
    "style",
    "alpha",
    "model",
    "processing-size",
    "temporal-smoothing",
    "preserve-color",
    "device",
    "mask",
    "mask-invert",
];

/// Properties read when the element starts: a change restarts the element.
pub fn needs_restart(name: &str) -> bool {
    spec(name).is_some_and(|p| !p.flags().contains(gst::PARAM_FLAG_MUTABLE_PLAYING))
}

fn spec(name: &str) -> Option<glib::ParamSpec> {
    crate::init_gstreamer().ok()?;
    let class =
        glib::object::ObjectClass::from_type(gstadainstyle::adainstyle::AdainStyle::static_type())?;
    class.find_property(name)
}

fn c(text: &str) -> CString {
    CString::new(text.replace('\0', " ")).unwrap_or_default()
}

/// Writes every shown property's default into OBS's settings.
///
/// # Safety
/// `settings` is a valid `obs_data_t`.
pub unsafe fn defaults(settings: *mut ffi::obs_data_t) {
    for name in SHOWN {
        let Some(p) = spec(name) else { continue };
        let key = c(name);
        let v = p.default_value();
        // SAFETY: `settings` is valid (the caller's promise); the strings outlive the calls.
        unsafe {
            if let Ok(b) = v.get::<bool>() {
                ffi::obs_data_set_default_bool(settings, key.as_ptr(), b);
            } else if let Ok(n) = v.get::<u32>() {
                ffi::obs_data_set_default_int(settings, key.as_ptr(), i64::from(n));
            } else if let Ok(x) = v.get::<f64>() {
                ffi::obs_data_set_default_double(settings, key.as_ptr(), x);
            } else if let Some(nick) = enum_nick(v) {
                ffi::obs_data_set_default_string(settings, key.as_ptr(), c(&nick).as_ptr());
            } else if let Ok(s) = v.get::<Option<String>>() {
                let text = c(&s.unwrap_or_default());
                ffi::obs_data_set_default_string(settings, key.as_ptr(), text.as_ptr());
            }
        }
    }
}

fn enum_nick(v: &glib::Value) -> Option<String> {
    glib::EnumClass::with_type(v.type_())?;
    Some(v.get::<&glib::EnumValue>().ok()?.nick().to_owned())
}

/// One setting's value, as OBS keeps it.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    Bool(bool),
    UInt(u32),
    Double(f64),
    Text(String),
    /// An enumeration's nick.
    Enum(String),
}

impl Setting {
    /// The element's value for property `name`.
    pub fn to_value(&self, name: &str) -> Option<glib::Value> {
        Some(match self {
            Self::Bool(b) => b.to_value(),
            Self::UInt(n) => n.to_value(),
            Self::Double(x) => x.to_value(),
            Self::Text(t) => t.to_value(),
            Self::Enum(nick) => {
                glib::EnumClass::with_type(spec(name)?.value_type())?.to_value_by_nick(nick)?
            }
        })
    }
}

/// Adds every shown property to `props`, then `status` as a line of text.
///
/// # Safety
/// `props` is a valid `obs_properties_t`.
pub unsafe fn add_all(props: *mut ffi::obs_properties_t, status: &str) {
    for name in SHOWN {
        let Some(p) = spec(name) else { continue };
        let (key, label) = (c(name), c(p.nick()));
        // SAFETY: `props` is valid; the strings outlive the calls (OBS copies them).
        unsafe {
            let added = if p.value_type() == bool::static_type() {
                ffi::obs_properties_add_bool(props, key.as_ptr(), label.as_ptr())
            } else if let Some(u) = p.downcast_ref::<glib::ParamSpecUInt>() {
                let max = u.maximum().min(i32::MAX as u32) as i32;
                ffi::obs_properties_add_int(props, key.as_ptr(), label.as_ptr(), 0, max, 1)
            } else if let Some(d) = p.downcast_ref::<glib::ParamSpecDouble>() {
                ffi::obs_properties_add_float_slider(
                    props,
                    key.as_ptr(),
                    label.as_ptr(),
                    d.minimum(),
                    d.maximum(),
                    0.01,
                )
            } else if let Some(class) = glib::EnumClass::with_type(p.value_type()) {
                let list = ffi::obs_properties_add_list(
                    props,
                    key.as_ptr(),
                    label.as_ptr(),
                    ffi::OBS_COMBO_TYPE_LIST,
                    ffi::OBS_COMBO_FORMAT_STRING,
                );
                for v in class.values() {
                    let nick = c(v.nick());
                    ffi::obs_property_list_add_string(list, nick.as_ptr(), nick.as_ptr());
                }
                list
            } else if gstadainstyle::adainstyle::names_files(name) && name != "mask" {
                let filter = c("Images (*.jpg *.jpeg *.png *.webp *.bmp);;All files (*.*)");
                let styles = c(&adainstyle::data::find("styles").display().to_string());
                ffi::obs_properties_add_path(
                    props,
                    key.as_ptr(),
                    label.as_ptr(),
                    ffi::OBS_PATH_FILE,
                    filter.as_ptr(),
                    styles.as_ptr(),
                )
            } else {
                ffi::obs_properties_add_text(
                    props,
                    key.as_ptr(),
                    label.as_ptr(),
                    ffi::OBS_TEXT_DEFAULT,
                )
            };
            if let Some(blurb) = p.blurb() {
                ffi::obs_property_set_long_description(added, c(blurb).as_ptr());
            }
        }
    }
    let (key, text) = (c("adainstyle-status"), c(status));
    // SAFETY: as above.
    unsafe {
        ffi::obs_properties_add_text(props, key.as_ptr(), text.as_ptr(), ffi::OBS_TEXT_INFO);
    }
}

/// The shown properties' values in OBS's `settings`.
///
/// # Safety
/// `settings` is a valid `obs_data_t`.
pub unsafe fn read(settings: *mut ffi::obs_data_t) -> Vec<(String, Setting)> {
    let mut values = Vec::new();
    for name in SHOWN {
        let Some(p) = spec(name) else { continue };
        let key = c(name);
        // SAFETY: `settings` is valid; OBS's strings live as long as `settings` does.
        let value = unsafe {
            if p.value_type() == bool::static_type() {
                Setting::Bool(ffi::obs_data_get_bool(settings, key.as_ptr()))
            } else if let Some(u) = p.downcast_ref::<glib::ParamSpecUInt>() {
                let n = ffi::obs_data_get_int(settings, key.as_ptr());
                Setting::UInt(n.clamp(i64::from(u.minimum()), i64::from(u.maximum())) as u32)
            } else if let Some(d) = p.downcast_ref::<glib::ParamSpecDouble>() {
                let x = ffi::obs_data_get_double(settings, key.as_ptr());
                Setting::Double(x.clamp(d.minimum(), d.maximum()))
            } else {
                let text = text(ffi::obs_data_get_string(settings, key.as_ptr()));
                if glib::EnumClass::with_type(p.value_type()).is_some() {
                    Setting::Enum(text)
                } else {
                    Setting::Text(text)
                }
            }
        };
        values.push((name.to_owned(), value));
    }
    values
}

/// A C string from OBS as text (empty for null).
///
/// # Safety
/// `s` is null or a valid C string.
pub unsafe fn text(s: *const c_char) -> String {
    if s.is_null() {
        return String::new();
    }
    // SAFETY: not null, and valid (the caller's promise).
    unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
}
