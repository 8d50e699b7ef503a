// SPDX-License-Identifier: GPL-2.0-or-later
//! The few declarations of libobs (OBS Studio 29, Debian's `libobs-dev`) the module uses, written
//! from its headers. The symbols are resolved by OBS when it loads the module.
//!
//! `obs_source_info` is declared up to the last field the filter sets: `obs_register_source_s`
//! is given that size and OBS zeroes the rest, as it does for modules built against older
//! headers.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void};

/// `MAKE_SEMANTIC_VERSION(29, 0, 2)`: the libobs API this module is written against.
pub const LIBOBS_API_VER: u32 = (29 << 24) | 2;

pub const LOG_ERROR: c_int = 100;
pub const LOG_WARNING: c_int = 200;
pub const LOG_INFO: c_int = 300;

pub const OBS_SOURCE_TYPE_FILTER: c_int = 1;
pub const OBS_SOURCE_VIDEO: u32 = 1 << 0;
pub const OBS_SOURCE_ASYNC: u32 = 1 << 2;
pub const OBS_SOURCE_CUSTOM_DRAW: u32 = 1 << 3;

pub const GS_BGRA: c_int = 5;
pub const GS_ZS_NONE: c_int = 0;
pub const GS_CLEAR_COLOR: u32 = 1;
pub const GS_DYNAMIC: u32 = 1 << 1;
pub const GS_BLEND_ZERO: c_int = 0;
pub const GS_BLEND_ONE: c_int = 1;
pub const OBS_EFFECT_DEFAULT: c_int = 0;

pub const OBS_COMBO_TYPE_LIST: c_int = 2;
pub const OBS_COMBO_FORMAT_STRING: c_int = 3;
pub const OBS_PATH_FILE: c_int = 0;
pub const OBS_TEXT_DEFAULT: c_int = 0;
pub const OBS_TEXT_INFO: c_int = 3;

macro_rules! opaque {
    ($($name:ident),*) => {$(
        #[repr(C)]
        pub struct $name {
            _private: [u8; 0],
        }
    )*};
}
opaque!(
    obs_module_t,
    obs_source_t,
    obs_data_t,
    obs_properties_t,
    obs_property_t,
    gs_effect_t,
    gs_eparam_t,
    gs_texture_t,
    gs_texrender_t,
    gs_stagesurf_t
);

/// `struct vec4` (a 16-byte aligned union in libobs).
#[repr(C, align(16))]
pub struct vec4(pub [f32; 4]);

type Name = Option<unsafe extern "C" fn(*mut c_void) -> *const c_char>;
type Create = Option<unsafe extern "C" fn(*mut obs_data_t, *mut obs_source_t) -> *mut c_void>;
type Destroy = Option<unsafe extern "C" fn(*mut c_void)>;
type Size = Option<unsafe extern "C" fn(*mut c_void) -> u32>;
type Defaults = Option<unsafe extern "C" fn(*mut obs_data_t)>;
type Properties = Option<unsafe extern "C" fn(*mut c_void) -> *mut obs_properties_t>;
type Update = Option<unsafe extern "C" fn(*mut c_void, *mut obs_data_t)>;
type Unit = Option<unsafe extern "C" fn(*mut c_void)>;
type Tick = Option<unsafe extern "C" fn(*mut c_void, f32)>;
type Render = Option<unsafe extern "C" fn(*mut c_void, *mut gs_effect_t)>;
type Any = Option<unsafe extern "C" fn()>;
type FilterRemove = Option<unsafe extern "C" fn(*mut c_void, *mut obs_source_t)>;

/// The head of `struct obs_source_info`, through `filter_remove`.
#[repr(C)]
pub struct obs_source_info {
    pub id: *const c_char,
    pub type_: c_int,
    pub output_flags: u32,
    pub get_name: Name,
    pub create: Create,
    pub destroy: Destroy,
    pub get_width: Size,
    pub get_height: Size,
    pub get_defaults: Defaults,
    pub get_properties: Properties,
    pub update: Update,
    pub activate: Unit,
    pub deactivate: Unit,
    pub show: Unit,
    pub hide: Unit,
    pub video_tick: Tick,
    pub video_render: Render,
    pub filter_video: Any,
    pub filter_audio: Any,
    pub enum_active_sources: Any,
    pub save: Update,
    pub load: Update,
    pub mouse_click: Any,
    pub mouse_move: Any,
    pub mouse_wheel: Any,
    pub focus: Any,
    pub key_click: Any,
    pub filter_remove: FilterRemove,
}

unsafe extern "C" {
    pub fn blog(level: c_int, format: *const c_char, ...);
    pub fn obs_register_source_s(info: *const obs_source_info, size: usize);

    pub fn obs_filter_get_target(filter: *const obs_source_t) -> *mut obs_source_t;
    pub fn obs_filter_get_parent(filter: *const obs_source_t) -> *mut obs_source_t;
    pub fn obs_source_get_base_width(source: *mut obs_source_t) -> u32;
    pub fn obs_source_get_base_height(source: *mut obs_source_t) -> u32;
    pub fn obs_source_video_render(source: *mut obs_source_t);
    pub fn obs_source_default_render(source: *mut obs_source_t);
    pub fn obs_source_get_output_flags(source: *const obs_source_t) -> u32;
    pub fn obs_source_skip_video_filter(filter: *mut obs_source_t);
    pub fn obs_source_get_name(source: *const obs_source_t) -> *const c_char;
    pub fn obs_get_base_effect(effect: c_int) -> *mut gs_effect_t;
    pub fn obs_enter_graphics();
    pub fn obs_leave_graphics();

    pub fn obs_data_get_string(data: *mut obs_data_t, name: *const c_char) -> *const c_char;
    pub fn obs_data_get_int(data: *mut obs_data_t, name: *const c_char) -> i64;
    pub fn obs_data_get_double(data: *mut obs_data_t, name: *const c_char) -> f64;
    pub fn obs_data_get_bool(data: *mut obs_data_t, name: *const c_char) -> bool;
    pub fn obs_data_set_default_string(
        data: *mut obs_data_t,
        name: *const c_char,
        v: *const c_char,
    );
    pub fn obs_data_set_default_int(data: *mut obs_data_t, name: *const c_char, v: i64);
    pub fn obs_data_set_default_double(data: *mut obs_data_t, name: *const c_char, v: f64);
    pub fn obs_data_set_default_bool(data: *mut obs_data_t, name: *const c_char, v: bool);

    pub fn obs_properties_create() -> *mut obs_properties_t;
    pub fn obs_properties_add_bool(
        props: *mut obs_properties_t,
        name: *const c_char,
        description: *const c_char,
    ) -> *mut obs_property_t;
    pub fn obs_properties_add_int(
        props: *mut obs_properties_t,
        name: *const c_char,
        description: *const c_char,
        min: c_int,
        max: c_int,
        step: c_int,
    ) -> *mut obs_property_t;
    pub fn obs_properties_add_float_slider(
        props: *mut obs_properties_t,
        name: *const c_char,
        description: *const c_char,
        min: f64,
        max: f64,
        step: f64,
    ) -> *mut obs_property_t;
    pub fn obs_properties_add_text(
        props: *mut obs_properties_t,
        name: *const c_char,
        description: *const c_char,
        kind: c_int,
    ) -> *mut obs_property_t;
    pub fn obs_properties_add_path(
        props: *mut obs_properties_t,
        name: *const c_char,
        description: *const c_char,
        kind: c_int,
        filter: *const c_char,
        default_path: *const c_char,
    ) -> *mut obs_property_t;
    pub fn obs_properties_add_list(
        props: *mut obs_properties_t,
        name: *const c_char,
        description: *const c_char,
        kind: c_int,
        format: c_int,
    ) -> *mut obs_property_t;
    pub fn obs_property_list_add_string(
        p: *mut obs_property_t,
        name: *const c_char,
        value: *const c_char,
    ) -> usize;
    pub fn obs_property_set_long_description(p: *mut obs_property_t, text: *const c_char);

    pub fn gs_texrender_create(format: c_int, zsformat: c_int) -> *mut gs_texrender_t;
    pub fn gs_texrender_destroy(texrender: *mut gs_texrender_t);
    pub fn gs_texrender_reset(texrender: *mut gs_texrender_t);
    pub fn gs_texrender_begin(texrender: *mut gs_texrender_t, cx: u32, cy: u32) -> bool;
    pub fn gs_texrender_end(texrender: *mut gs_texrender_t);
    pub fn gs_texrender_get_texture(texrender: *const gs_texrender_t) -> *mut gs_texture_t;
    pub fn gs_stagesurface_create(width: u32, height: u32, format: c_int) -> *mut gs_stagesurf_t;
    pub fn gs_stagesurface_destroy(surface: *mut gs_stagesurf_t);
    pub fn gs_stage_texture(dst: *mut gs_stagesurf_t, src: *mut gs_texture_t);
    pub fn gs_stagesurface_map(
        surface: *mut gs_stagesurf_t,
        data: *mut *mut u8,
        linesize: *mut u32,
    ) -> bool;
    pub fn gs_stagesurface_unmap(surface: *mut gs_stagesurf_t);
    pub fn gs_texture_create(
        width: u32,
        height: u32,
        format: c_int,
        levels: u32,
        data: *const *const u8,
        flags: u32,
    ) -> *mut gs_texture_t;
    pub fn gs_texture_destroy(texture: *mut gs_texture_t);
    pub fn gs_texture_set_image(
        tex: *mut gs_texture_t,
        data: *const u8,
        linesize: u32,
        invert: bool,
    );
    pub fn gs_effect_get_param_by_name(
        effect: *const gs_effect_t,
        name: *const c_char,
    ) -> *mut gs_eparam_t;
    pub fn gs_effect_set_texture(param: *mut gs_eparam_t, texture: *mut gs_texture_t);
    pub fn gs_effect_loop(effect: *mut gs_effect_t, technique: *const c_char) -> bool;
    pub fn gs_draw_sprite(tex: *mut gs_texture_t, flip: u32, width: u32, height: u32);
    pub fn gs_ortho(left: f32, right: f32, top: f32, bottom: f32, znear: f32, zfar: f32);
    pub fn gs_clear(flags: u32, color: *const vec4, depth: f32, stencil: u8);
    pub fn gs_blend_state_push();
    pub fn gs_blend_state_pop();
    pub fn gs_blend_function(src: c_int, dest: c_int);
}
