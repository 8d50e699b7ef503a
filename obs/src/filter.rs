// SPDX-License-Identifier: GPL-2.0-or-later
//! The video filter "Style transfer (adainstyle)": OBS's side. On OBS's render thread it draws
//! the filtered source into a texture, reads it back and hands it to the element
//! ([`crate::stylist`], which never blocks), and draws the newest stylised frame, or the source
//! itself until there is one (or while the element cannot run). Works the same for every kind of
//! source, since OBS renders them all, async ones included, as textures.

use std::ffi::{CStr, c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::ffi::{self, gs_stagesurf_t, gs_texrender_t, gs_texture_t, obs_source_t};
use crate::options::{self, Setting};
use crate::stylist::{Report, Status, Stylist};

/// The filter's id in OBS (scene files and the websocket API name it).
pub const ID: &CStr = c"adainstyle_filter";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the render thread and OBS's other threads share.
struct Shared {
    /// The source's name, for the log.
    name: String,
    /// The element's property values the settings ask for.
    values: Mutex<Vec<(String, Setting)>>,
    /// The running element, once started for the current size and settings.
    stylist: Mutex<Option<Arc<Stylist>>>,
    /// A start is under way on a thread of its own.
    starting: AtomicBool,
    /// Bumped by every change that needs a new element; a start that failed is not retried
    /// until it moves.
    generation: AtomicU64,
    failed: AtomicU64,
    status: Mutex<Status>,
}

impl Shared {
    fn report(self: &Arc<Self>) -> Report {
        let shared = Arc::downgrade(self);
        let name = self.name.clone();
        Arc::new(move |text: &str, error: bool| {
            log(
                if error {
                    ffi::LOG_ERROR
                } else {
                    ffi::LOG_WARNING
                },
                &format!("{name}: {text}"),
            );
            if let Some(shared) = shared.upgrade() {
                lock(&shared.status).message = Some(text.to_owned());
            }
        })
    }

    /// Starts the element for `width` x `height` frames on a thread of its own, unless one is
    /// starting or the last start with these settings failed.
    fn start(self: &Arc<Self>, width: u32, height: u32) {
        let generation = self.generation.load(Ordering::SeqCst);
        if self.failed.load(Ordering::SeqCst) == generation
            || self.starting.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let shared = self.clone();
        let values = lock(&self.values).clone();
        let spawned = std::thread::Builder::new()
            .name("adainstyle-obs-start".into())
            .spawn(move || {
                match Stylist::start(&values, width, height, shared.report()) {
                    Ok(stylist) if shared.generation.load(Ordering::SeqCst) == generation => {
                        lock(&shared.status).message = None;
                        log(
                            ffi::LOG_INFO,
                            &format!("{}: stylising {width}x{height} frames", shared.name),
                        );
                        *lock(&shared.stylist) = Some(Arc::new(stylist));
                    }
                    Ok(_) => {} // the settings moved on while it started: dropped
                    Err(err) => {
                        log(
                            ffi::LOG_ERROR,
                            &format!(
                                "{}: cannot stylise, frames pass through: {err}",
                                shared.name
                            ),
                        );
                        lock(&shared.status).message = Some(err);
                        shared.failed.store(generation, Ordering::SeqCst);
                    }
                }
                shared.starting.store(false, Ordering::SeqCst);
            });
        if spawned.is_err() {
            self.starting.store(false, Ordering::SeqCst);
        }
    }

    /// Drops the running element (stopping it on a thread of its own: OBS's threads never
    /// wait for it) and lets a new one start.
    fn restart(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(old) = lock(&self.stylist).take() {
            let _ = std::thread::Builder::new()
                .name("adainstyle-obs-stop".into())
                .spawn(move || drop(old));
        }
    }
}

/// The GPU objects of one filter, used on OBS's render thread only.
struct Gpu {
    texrender: *mut gs_texrender_t,
    stage: *mut gs_stagesurf_t,
    stage_size: (u32, u32),
    output: *mut gs_texture_t,
    output_size: (u32, u32),
}

/// One instance of the filter.
pub struct Filter {
    source: *mut obs_source_t,
    gpu: Gpu,
    shared: Arc<Shared>,
}

/// Writes `text` to OBS's log, prefixed with the module's name.
pub fn log(level: i32, text: &str) {
    let line = std::ffi::CString::new(format!("[adainstyle] {text}").replace('\0', " "))
        .unwrap_or_default();
    // SAFETY: a constant format taking one C string, and that string.
    unsafe { ffi::blog(level, c"%s".as_ptr(), line.as_ptr()) };
}

unsafe extern "C" fn get_name(_: *mut c_void) -> *const c_char {
    c"Style transfer (adainstyle)".as_ptr()
}

unsafe extern "C" fn create(
    settings: *mut ffi::obs_data_t,
    source: *mut obs_source_t,
) -> *mut c_void {
    // SAFETY: OBS passes the filter's own source and settings.
    let name = unsafe { options::text(ffi::obs_source_get_name(source)) };
    let shared = Arc::new(Shared {
        name,
        values: Mutex::new(unsafe { options::read(settings) }),
        stylist: Mutex::new(None),
        starting: AtomicBool::new(false),
        generation: AtomicU64::new(1),
        failed: AtomicU64::new(0),
        status: Mutex::new(Status::default()),
    });
    let filter = Box::new(Filter {
        source,
        gpu: Gpu {
            texrender: ptr::null_mut(),
            stage: ptr::null_mut(),
            stage_size: (0, 0),
            output: ptr::null_mut(),
            output_size: (0, 0),
        },
        shared,
    });
    Box::into_raw(filter).cast()
}

unsafe extern "C" fn destroy(data: *mut c_void) {
    // SAFETY: `data` is the box `create` made; OBS calls this once.
    let filter = unsafe { Box::from_raw(data.cast::<Filter>()) };
    // Stopped here, not on a thread of its own: OBS destroys sources off its render and UI
    // threads, and a frame still in the network must end before OBS (and libtorch) may exit.
    filter.shared.generation.fetch_add(1, Ordering::SeqCst);
    drop(lock(&filter.shared.stylist).take());
    let gpu = &filter.gpu;
    // SAFETY: the GPU objects were made on OBS's graphics context; they are freed in it.
    unsafe {
        ffi::obs_enter_graphics();
        if !gpu.texrender.is_null() {
            ffi::gs_texrender_destroy(gpu.texrender);
        }
        if !gpu.stage.is_null() {
            ffi::gs_stagesurface_destroy(gpu.stage);
        }
        if !gpu.output.is_null() {
            ffi::gs_texture_destroy(gpu.output);
        }
        ffi::obs_leave_graphics();
    }
}

unsafe extern "C" fn get_defaults(settings: *mut ffi::obs_data_t) {
    // SAFETY: OBS passes valid settings.
    unsafe { options::defaults(settings) };
}

unsafe extern "C" fn get_properties(data: *mut c_void) -> *mut ffi::obs_properties_t {
    // SAFETY: `data` is null (OBS asks without an instance) or the filter.
    let filter = unsafe { data.cast::<Filter>().as_ref() };
    let status = filter.map_or_else(String::new, |f| status_line(&f.shared));
    // SAFETY: a fresh properties object.
    unsafe {
        let props = ffi::obs_properties_create();
        options::add_all(props, &status);
        props
    }
}

/// What the dialog says about the filter's state: the element's last complaint, or how far
/// behind the source the stylised frames are.
fn status_line(shared: &Shared) -> String {
    if let Some(message) = &lock(&shared.status).message {
        return format!("Style transfer: {message}");
    }
    match lock(&shared.stylist).as_ref() {
        Some(s) => format!(
            "Shows the newest stylised frame: about {:.0} ms behind the source (the network's \
             time per frame here); frames that arrive while it works are skipped",
            s.frame_ms()
        ),
        None => "Starting the network: frames pass through until it runs".to_owned(),
    }
}

unsafe extern "C" fn update(data: *mut c_void, settings: *mut ffi::obs_data_t) {
    // SAFETY: `data` is the filter, `settings` its settings.
    let (filter, new) = unsafe { (&*data.cast::<Filter>(), options::read(settings)) };
    let shared = &filter.shared;
    let old = std::mem::replace(&mut *lock(&shared.values), new.clone());
    let changed: Vec<&(String, Setting)> = new
        .iter()
        .filter(|(name, value)| !old.iter().any(|(n, v)| n == name && v == value))
        .collect();
    if changed.is_empty() {
        return;
    }
    let running = lock(&shared.stylist).clone();
    match running {
        Some(stylist) if !changed.iter().any(|(n, _)| options::needs_restart(n)) => {
            lock(&shared.status).message = None;
            for (name, value) in changed {
                stylist.set(name, value);
            }
        }
        _ => {
            lock(&shared.status).message = None;
            shared.restart();
        }
    }
}

/// Draws `texture` (`width` x `height`) with OBS's default effect.
///
/// # Safety
/// On OBS's render thread, inside its graphics context.
unsafe fn draw(texture: *mut gs_texture_t, width: u32, height: u32) {
    // SAFETY: the caller's promise; the effect and its parameter are OBS's own.
    unsafe {
        let effect = ffi::obs_get_base_effect(ffi::OBS_EFFECT_DEFAULT);
        let image = ffi::gs_effect_get_param_by_name(effect, c"image".as_ptr());
        ffi::gs_effect_set_texture(image, texture);
        while ffi::gs_effect_loop(effect, c"Draw".as_ptr()) {
            ffi::gs_draw_sprite(texture, 0, width, height);
        }
    }
}

unsafe extern "C" fn video_render(data: *mut c_void, _effect: *mut ffi::gs_effect_t) {
    // SAFETY: `data` is the filter; OBS calls this on its render thread only.
    let filter = unsafe { &mut *data.cast::<Filter>() };
    // SAFETY: all calls below are libobs graphics calls on the render thread, with objects this
    // filter made there.
    unsafe {
        let target = ffi::obs_filter_get_target(filter.source);
        let parent = ffi::obs_filter_get_parent(filter.source);
        let (w, h) = if target.is_null() {
            (0, 0)
        } else {
            (
                ffi::obs_source_get_base_width(target),
                ffi::obs_source_get_base_height(target),
            )
        };
        if parent.is_null() || w == 0 || h == 0 {
            ffi::obs_source_skip_video_filter(filter.source);
            return;
        }
        let gpu = &mut filter.gpu;
        if gpu.texrender.is_null() {
            gpu.texrender = ffi::gs_texrender_create(ffi::GS_BGRA, ffi::GS_ZS_NONE);
        }
        ffi::gs_texrender_reset(gpu.texrender);
        if !ffi::gs_texrender_begin(gpu.texrender, w, h) {
            ffi::obs_source_skip_video_filter(filter.source);
            return;
        }
        let clear = ffi::vec4([0.0; 4]);
        ffi::gs_clear(ffi::GS_CLEAR_COLOR, &clear, 0.0, 0);
        ffi::gs_ortho(0.0, w as f32, 0.0, h as f32, -100.0, 100.0);
        ffi::gs_blend_state_push();
        ffi::gs_blend_function(ffi::GS_BLEND_ONE, ffi::GS_BLEND_ZERO);
        // A plain source (not async, drawing nothing itself) is drawn with the default effect by
        // whoever renders it, as OBS does; the others draw themselves.
        let flags = ffi::obs_source_get_output_flags(target);
        let draws_itself = flags & (ffi::OBS_SOURCE_CUSTOM_DRAW | ffi::OBS_SOURCE_ASYNC) != 0;
        if target == parent && !draws_itself {
            ffi::obs_source_default_render(target);
        } else {
            ffi::obs_source_video_render(target);
        }
        ffi::gs_blend_state_pop();
        ffi::gs_texrender_end(gpu.texrender);
        let source = ffi::gs_texrender_get_texture(gpu.texrender);

        let stylist = lock(&filter.shared.stylist).clone();
        match &stylist {
            // Read back only what the network will take: while it works, frames pass by.
            Some(s) if s.size() == (w, h) => {
                if s.wants_frame() {
                    s.push_with(|pixels| read_back(gpu, source, w, h, pixels));
                }
            }
            Some(_) => filter.shared.restart(), // the source's size changed
            None => filter.shared.start(w, h),
        }
        if let Some(frame) = stylist.as_ref().and_then(|s| s.take())
            && (frame.width, frame.height) == (w, h)
        {
            if gpu.output.is_null() || gpu.output_size != (w, h) {
                if !gpu.output.is_null() {
                    ffi::gs_texture_destroy(gpu.output);
                }
                let planes = [frame.data.as_ptr()];
                gpu.output =
                    ffi::gs_texture_create(w, h, ffi::GS_BGRA, 1, planes.as_ptr(), ffi::GS_DYNAMIC);
                gpu.output_size = (w, h);
            } else {
                ffi::gs_texture_set_image(gpu.output, frame.data.as_ptr(), w * 4, false);
            }
        }
        let stylised = stylist.is_some() && !gpu.output.is_null() && gpu.output_size == (w, h);
        draw(if stylised { gpu.output } else { source }, w, h);
    }
}

/// Copies the texture's pixels into `pixels` as packed BGRA rows; `false` when it could not be
/// read (or `pixels` is not one frame).
///
/// # Safety
/// On the render thread, inside the graphics context; `texture` is `w` x `h` BGRA.
unsafe fn read_back(
    gpu: &mut Gpu,
    texture: *mut gs_texture_t,
    w: u32,
    h: u32,
    pixels: &mut [u8],
) -> bool {
    // SAFETY: the caller's promise; the stage surface is this filter's.
    unsafe {
        if gpu.stage.is_null() || gpu.stage_size != (w, h) {
            if !gpu.stage.is_null() {
                ffi::gs_stagesurface_destroy(gpu.stage);
            }
            gpu.stage = ffi::gs_stagesurface_create(w, h, ffi::GS_BGRA);
            gpu.stage_size = (w, h);
        }
        ffi::gs_stage_texture(gpu.stage, texture);
        let (mut data, mut linesize) = (ptr::null_mut(), 0u32);
        let row = (w * 4) as usize;
        if pixels.len() != row * h as usize
            || !ffi::gs_stagesurface_map(gpu.stage, &mut data, &mut linesize)
        {
            return false;
        }
        for (y, out) in pixels.chunks_exact_mut(row).enumerate() {
            out.copy_from_slice(std::slice::from_raw_parts(
                data.add(y * linesize as usize),
                row,
            ));
        }
        ffi::gs_stagesurface_unmap(gpu.stage);
        true
    }
}

/// Registers the filter with OBS.
pub fn register() {
    let info = ffi::obs_source_info {
        id: ID.as_ptr(),
        type_: ffi::OBS_SOURCE_TYPE_FILTER,
        output_flags: ffi::OBS_SOURCE_VIDEO,
        get_name: Some(get_name),
        create: Some(create),
        destroy: Some(destroy),
        get_width: None,
        get_height: None,
        get_defaults: Some(get_defaults),
        get_properties: Some(get_properties),
        update: Some(update),
        activate: None,
        deactivate: None,
        show: None,
        hide: None,
        video_tick: None,
        video_render: Some(video_render),
        filter_video: None,
        filter_audio: None,
        enum_active_sources: None,
        save: None,
        load: None,
        mouse_click: None,
        mouse_move: None,
        mouse_wheel: None,
        focus: None,
        key_click: None,
        filter_remove: None,
    };
    // SAFETY: OBS copies the structure (of the size given) and keeps only the static strings
    // and functions it points to.
    unsafe { ffi::obs_register_source_s(&info, std::mem::size_of::<ffi::obs_source_info>()) };
}
