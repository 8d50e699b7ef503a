// SPDX-License-Identifier: MIT
//! The element's settings: every property's value, its text properties parsed once when they
//! are set, and what a change asks of the element once the settings lock is released.
//!
//! Setting a property goes through three steps, and only the middle one holds the lock:
//! [`Update::read`] parses the value (and decodes a mask file while the element runs),
//! [`Settings::apply`] stores it and says what follows from it ([`Change`]), and the element
//! carries that out (asks the style worker for statistics) with no lock held.
//!
//! The file defaults are empty and mean "the shipped file", found when it is used: the defaults
//! the element advertises do not depend on the filesystem of the process that registered it.

use std::path::PathBuf;

use adainstyle::{MaskSource, Model, StyleSpec, StylizeOptions, data};
use gst::glib;
use gst::prelude::*;

use super::enums::{ModelMode, PrecisionMode, PreserveColorMode};
use super::spatial::{self, Mask};
use super::worker::Slot;

pub const DEFAULT_ALPHA: f64 = 1.0;
pub const DEFAULT_STYLE_SIZE: u32 = 512;
pub const DEFAULT_PROCESSING_SIZE: u32 = 0;
pub const DEFAULT_DEVICE: &str = "auto";
pub const DEFAULT_PRECISION: PrecisionMode = PrecisionMode::Auto;
pub const DEFAULT_MODEL: ModelMode = ModelMode::Auto;
pub const DEFAULT_PRESERVE_COLOR: PreserveColorMode = PreserveColorMode::None;
pub const DEFAULT_THREADS: u32 = 0;
pub const DEFAULT_MASK_FEATHER: u32 = 8;
pub const DEFAULT_TEMPORAL_SMOOTHING: f64 = 0.5;
/// With CORAL colour preservation, the style is recoloured to the content every this many frames.
pub const CORAL_EVERY_FRAMES: u64 = 30;

/// A text property as given, and what it parses to. A value that does not parse is kept, with
/// its error, only while the element is stopped: `start()` reports it.
#[derive(Debug, Clone)]
pub struct Parsed<T> {
    /// The text as set (what the property reads back).
    pub text: String,
    /// What it means, or why it means nothing.
    pub value: Result<T, String>,
}

impl<T> Parsed<T> {
    /// `text` parsed by `parse`; empty text (after trimming) is `None` without calling it.
    fn optional<E: std::fmt::Display>(
        text: String,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Parsed<Option<T>> {
        let value = if text.trim().is_empty() {
            Ok(None)
        } else {
            parse(&text).map(Some).map_err(|err| err.to_string())
        };
        Parsed { text, value }
    }
}

impl<T> Parsed<Option<T>> {
    /// An empty property.
    fn empty() -> Self {
        Self {
            text: String::new(),
            value: Ok(None),
        }
    }
}

/// Every property's value.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `None`: the shipped style.
    pub style: Parsed<Option<StyleSpec>>,
    /// `None`: the content is kept outside the mask.
    pub style_outside: Parsed<Option<StyleSpec>>,
    /// `None`: no mask.
    pub mask: Parsed<Option<MaskSource>>,
    pub mask_invert: bool,
    pub mask_feather: u32,
    pub temporal_smoothing: f64,
    pub style_size: u32,
    pub alpha: f64,
    pub preserve_color: PreserveColorMode,
    pub processing_size: u32,
    pub device: String,
    pub precision: PrecisionMode,
    pub model: ModelMode,
    /// Empty: the shipped encoder.
    pub encoder: String,
    /// Empty: the shipped weights of the model in use.
    pub decoder: String,
    /// Empty: the shipped person segmenter.
    pub segmenter: String,
    pub threads: u32,
    /// The mask decoded by a change of `mask` while the element runs, until the next frame takes
    /// it (so that the frame's mask and the property change together).
    pub new_mask: Option<Mask>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            style: Parsed::empty(),
            style_outside: Parsed::empty(),
            mask: Parsed::empty(),
            mask_invert: false,
            mask_feather: DEFAULT_MASK_FEATHER,
            temporal_smoothing: DEFAULT_TEMPORAL_SMOOTHING,
            style_size: DEFAULT_STYLE_SIZE,
            alpha: DEFAULT_ALPHA,
            preserve_color: DEFAULT_PRESERVE_COLOR,
            processing_size: DEFAULT_PROCESSING_SIZE,
            device: DEFAULT_DEVICE.into(),
            precision: DEFAULT_PRECISION,
            model: DEFAULT_MODEL,
            encoder: String::new(),
            segmenter: String::new(),
            decoder: String::new(),
            threads: DEFAULT_THREADS,
            new_mask: None,
        }
    }
}

/// Why a value was refused while the element runs (the previous value stays), for the warning.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    /// What the warning says.
    pub message: String,
    /// Whether a file could not be read (else the text is malformed).
    pub unreadable: bool,
}

/// A property's new value, parsed.
#[derive(Debug)]
pub enum Update {
    Style(Parsed<Option<StyleSpec>>),
    StyleOutside(Parsed<Option<StyleSpec>>),
    /// The mask, and when the element runs, the mask decoded for the streaming thread.
    Mask(Parsed<Option<MaskSource>>, Option<Mask>),
    MaskInvert(bool),
    MaskFeather(u32),
    TemporalSmoothing(f64),
    StyleSize(u32),
    Alpha(f64),
    PreserveColor(PreserveColorMode),
    ProcessingSize(u32),
    Device(String),
    Precision(PrecisionMode),
    Model(ModelMode),
    Encoder(String),
    Decoder(String),
    Segmenter(String),
    Threads(u32),
}

impl Update {
    /// Reads property `name`'s new `value` (GObject has checked its type and range): text is
    /// parsed, and with the element `started` a mask file is decoded (no lock is held here).
    /// While the element runs, a value it cannot use is refused, naming the value and the
    /// cause; while it is stopped, it is kept for `start()` to report as an error.
    pub fn read(name: &str, value: &glib::Value, started: bool) -> Result<Update, Refused> {
        let text = || -> String {
            value
                .get::<Option<String>>()
                .expect("type checked upstream")
                .unwrap_or_default()
        };
        let refuse_malformed = |what: &str, parsed: &Parsed<Option<StyleSpec>>| match &parsed.value
        {
            Err(err) if started => Err(Refused {
                message: format!("{what} `{}`: {err}; keeping the previous one", parsed.text),
                unreadable: false,
            }),
            _ => Ok(()),
        };
        Ok(match name {
            "style" => {
                let parsed = Parsed::optional(text(), str::parse::<StyleSpec>);
                refuse_malformed("Style", &parsed)?;
                Update::Style(parsed)
            }
            "style-outside" => {
                let parsed = Parsed::optional(text(), str::parse::<StyleSpec>);
                refuse_malformed("Style-outside", &parsed)?;
                Update::StyleOutside(parsed)
            }
            "mask" => {
                let text = text();
                let parsed = Parsed {
                    value: Ok(spatial::parse(&text)),
                    text,
                };
                let decoded = if started {
                    let source = parsed.value.as_ref().ok().and_then(Option::as_ref);
                    Some(Mask::load(source).map_err(|err| Refused {
                        message: format!(
                            "Cannot use mask `{}`: {err}; keeping the previous mask",
                            parsed.text
                        ),
                        unreadable: true,
                    })?)
                } else {
                    None
                };
                Update::Mask(parsed, decoded)
            }
            "mask-invert" => Update::MaskInvert(value.get().expect("type checked upstream")),
            "mask-feather" => Update::MaskFeather(value.get().expect("type checked upstream")),
            "temporal-smoothing" => {
                Update::TemporalSmoothing(value.get().expect("type checked upstream"))
            }
            "style-size" => Update::StyleSize(value.get().expect("type checked upstream")),
            "alpha" => Update::Alpha(value.get().expect("type checked upstream")),
            "preserve-color" => Update::PreserveColor(value.get().expect("type checked upstream")),
            "processing-size" => {
                Update::ProcessingSize(value.get().expect("type checked upstream"))
            }
            "device" => {
                let device = text();
                Update::Device(if device.trim().is_empty() {
                    DEFAULT_DEVICE.into()
                } else {
                    device
                })
            }
            "precision" => Update::Precision(value.get().expect("type checked upstream")),
            "model" => Update::Model(value.get().expect("type checked upstream")),
            "encoder" => Update::Encoder(text()),
            "decoder" => Update::Decoder(text()),
            "segmenter" => Update::Segmenter(text()),
            "threads" => Update::Threads(value.get().expect("type checked upstream")),
            other => unreachable!("unknown property {other}"),
        })
    }
}

/// What a stored update asks of the element once the settings lock is released.
#[derive(Debug)]
pub enum Effect {
    /// Nothing beyond the new value.
    None,
    /// New statistics for these styles, encoded at `size` (by the style worker, when the
    /// element runs; `start()` loads them otherwise).
    Styles {
        styles: Vec<(Slot, StyleSpec)>,
        size: i64,
    },
}

/// A stored update: what to log, and what follows from it.
#[derive(Debug)]
pub struct Change {
    /// "Changing X from A to B".
    pub message: String,
    /// Whether the property may change on every frame (a controller drives it): log it quietly.
    pub per_frame: bool,
    /// What the element does next.
    pub effect: Effect,
}

/// A frame's copy of the settings, taken in one short lock.
pub struct FrameSettings {
    pub opts: StylizeOptions,
    pub mask_invert: bool,
    pub mask_feather: i64,
    /// Whether `style-outside` is set (its statistics may still be on their way).
    pub outside: bool,
    pub temporal_smoothing: f64,
    /// On a frame where CORAL recolours the styles: the styles and their size.
    pub coral: Option<(Vec<(Slot, StyleSpec)>, i64)>,
    /// A mask set since the previous frame.
    pub new_mask: Option<Mask>,
}

impl Settings {
    /// Stores `update` and says what follows from it.
    pub fn apply(&mut self, update: Update) -> Change {
        let mut per_frame = false;
        let mut effect = Effect::None;
        let message = match update {
            Update::Style(style) => {
                let message = format!(
                    "Changing style from `{}` to `{}`",
                    self.style.text, style.text
                );
                self.style = style;
                effect = self.restyle(&[Slot::Inside]);
                message
            }
            Update::StyleOutside(style) => {
                let message = format!(
                    "Changing style-outside from `{}` to `{}`",
                    self.style_outside.text, style.text
                );
                self.style_outside = style;
                effect = self.restyle(&[Slot::Outside]);
                message
            }
            Update::Mask(mask, decoded) => {
                let message = format!("Changing mask from `{}` to `{}`", self.mask.text, mask.text);
                self.mask = mask;
                if decoded.is_some() {
                    self.new_mask = decoded;
                }
                message
            }
            Update::MaskInvert(v) => changed("mask-invert", &mut self.mask_invert, v),
            Update::MaskFeather(v) => changed("mask-feather", &mut self.mask_feather, v),
            Update::TemporalSmoothing(v) => {
                per_frame = true;
                changed("temporal-smoothing", &mut self.temporal_smoothing, v)
            }
            Update::StyleSize(v) => {
                let message = changed("style-size", &mut self.style_size, v);
                effect = self.restyle(&[Slot::Inside, Slot::Outside]);
                message
            }
            Update::Alpha(v) => {
                per_frame = true;
                changed("alpha", &mut self.alpha, v)
            }
            Update::PreserveColor(mode) => {
                let was_coral = self.preserve_color == PreserveColorMode::Coral;
                let message = format!(
                    "Changing preserve-color from {:?} to {mode:?}",
                    self.preserve_color
                );
                self.preserve_color = mode;
                // Leaving CORAL: back to the styles' own colours.
                if was_coral && mode != PreserveColorMode::Coral {
                    effect = self.restyle(&[Slot::Inside, Slot::Outside]);
                }
                message
            }
            Update::ProcessingSize(v) => changed("processing-size", &mut self.processing_size, v),
            Update::Device(v) => changed("device", &mut self.device, v),
            Update::Precision(v) => {
                let message = format!("Changing precision from {:?} to {v:?}", self.precision);
                self.precision = v;
                message
            }
            Update::Model(v) => {
                let message = format!("Changing model from {:?} to {v:?}", self.model);
                self.model = v;
                message
            }
            Update::Encoder(v) => changed("encoder", &mut self.encoder, v),
            Update::Segmenter(v) => changed("segmenter", &mut self.segmenter, v),
            Update::Decoder(v) => changed("decoder", &mut self.decoder, v),
            Update::Threads(v) => changed("threads", &mut self.threads, v),
        };
        Change {
            message,
            per_frame,
            effect,
        }
    }

    /// The value property `name` reads back, or `None` when `name` is not a setting.
    pub fn get(&self, name: &str) -> Option<glib::Value> {
        Some(match name {
            "style" => self.style.text.to_value(),
            "style-outside" => self.style_outside.text.to_value(),
            "mask" => self.mask.text.to_value(),
            "mask-invert" => self.mask_invert.to_value(),
            "mask-feather" => self.mask_feather.to_value(),
            "temporal-smoothing" => self.temporal_smoothing.to_value(),
            "style-size" => self.style_size.to_value(),
            "alpha" => self.alpha.to_value(),
            "preserve-color" => self.preserve_color.to_value(),
            "processing-size" => self.processing_size.to_value(),
            "device" => self.device.to_value(),
            "precision" => self.precision.to_value(),
            "model" => self.model.to_value(),
            "encoder" => self.encoder.to_value(),
            "segmenter" => self.segmenter.to_value(),
            "decoder" => self.decoder.to_value(),
            "threads" => self.threads.to_value(),
            _ => return None,
        })
    }

    /// Whether `mask` is `alpha`.
    pub fn wants_alpha(&self) -> bool {
        matches!(self.mask.value, Ok(Some(MaskSource::Alpha)))
    }

    /// The request of new statistics for the styles of `slots` that are set.
    fn restyle(&self, slots: &[Slot]) -> Effect {
        let styles: Vec<_> = self
            .styles()
            .into_iter()
            .filter(|(slot, _)| slots.contains(slot))
            .collect();
        if styles.is_empty() {
            return Effect::None;
        }
        Effect::Styles {
            styles,
            size: self.style_size as i64,
        }
    }

    /// The styles that are set and valid: `style` (the shipped one when empty) and
    /// `style-outside` when it is set.
    pub fn styles(&self) -> Vec<(Slot, StyleSpec)> {
        let inside = self.style_spec().ok().map(|spec| (Slot::Inside, spec));
        let outside = self
            .style_outside
            .value
            .clone()
            .ok()
            .flatten()
            .map(|spec| (Slot::Outside, spec));
        inside.into_iter().chain(outside).collect()
    }

    /// The `style` in use: the property's, or the shipped style when it is empty.
    pub fn style_spec(&self) -> Result<StyleSpec, String> {
        match &self.style.value {
            Ok(Some(spec)) => Ok(spec.clone()),
            Ok(None) => Ok(StyleSpec::single(data::find(data::DEFAULT_STYLE))),
            Err(err) => Err(err.clone()),
        }
    }

    /// The encoder file: the property's, or the shipped one when it is empty.
    pub fn encoder_path(&self) -> PathBuf {
        file_or_shipped(&self.encoder, data::ENCODER)
    }

    /// The person segmenter's file: the property's, or the shipped one when it is empty.
    pub fn segmenter_path(&self) -> PathBuf {
        file_or_shipped(&self.segmenter, data::SEGMENTER)
    }

    /// The `encoder` property's file, when one is set.
    pub fn encoder_given(&self) -> Option<PathBuf> {
        given_file(&self.encoder)
    }

    /// The `decoder` property's file, when one is set.
    pub fn decoder_given(&self) -> Option<PathBuf> {
        given_file(&self.decoder)
    }

    /// The weights file of `model` (resolved): the property's, or the model's shipped weights.
    pub fn weights_path(&self, model: Model) -> PathBuf {
        file_or_shipped(&self.decoder, model.shipped_weights())
    }

    /// What frame `frame_no` needs, taking a newly set mask with it.
    pub fn for_frame(&mut self, frame_no: u64) -> FrameSettings {
        let coral = (self.preserve_color == PreserveColorMode::Coral
            && frame_no.is_multiple_of(CORAL_EVERY_FRAMES))
        .then(|| (self.styles(), self.style_size as i64));
        FrameSettings {
            opts: StylizeOptions {
                alpha: self.alpha,
                processing_size: self.processing_size as i64,
                preserve_color: self.preserve_color.into(),
            },
            mask_invert: self.mask_invert,
            mask_feather: self.mask_feather as i64,
            outside: matches!(self.style_outside.value, Ok(Some(_))),
            temporal_smoothing: self.temporal_smoothing,
            coral,
            new_mask: self.new_mask.take(),
        }
    }
}

/// What the text of one of the element's text properties means for files: the files it names
/// and the same value with those paths made absolute (for a program that passes it on to
/// another working directory).
#[derive(Debug, Clone, PartialEq)]
pub struct TextValue {
    /// The files the value names (none for an empty value, which means the shipped file).
    pub files: Vec<PathBuf>,
    /// The value with every path it names absolute.
    pub absolute: String,
}

/// Parses `text` as the element parses its text property `name` (the same grammar, the same
/// errors): `style`, `style-outside` (a style blend), `mask` (`alpha`, `person` or a file),
/// `device`, `encoder`, `decoder` and `segmenter` (a file); other properties are not text. Files
/// are not opened.
pub fn parse_text(name: &str, text: &str) -> Result<TextValue, String> {
    let absolute = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let none = || TextValue {
        files: Vec::new(),
        absolute: String::new(),
    };
    if text.trim().is_empty() {
        return Ok(none());
    }
    match name {
        "style" | "style-outside" => {
            let spec: StyleSpec = text.parse().map_err(|e: adainstyle::Error| e.to_string())?;
            let spec = StyleSpec {
                entries: spec
                    .entries
                    .iter()
                    .map(|(p, w)| (absolute(p), *w))
                    .collect(),
            };
            Ok(TextValue {
                files: spec.entries.iter().map(|(p, _)| p.clone()).collect(),
                absolute: spec.to_string(),
            })
        }
        "mask" => match spatial::parse(text) {
            Some(MaskSource::File(path)) => {
                let path = absolute(&path);
                Ok(TextValue {
                    absolute: path.display().to_string(),
                    files: vec![path],
                })
            }
            Some(source) => Ok(TextValue {
                files: Vec::new(),
                absolute: source.to_string(),
            }),
            None => Ok(none()),
        },
        "device" => text
            .parse::<adainstyle::DeviceSpec>()
            .map(|d| TextValue {
                files: Vec::new(),
                absolute: d.to_string(),
            })
            .map_err(|e| e.to_string()),
        "encoder" | "decoder" | "segmenter" => {
            let path = absolute(&PathBuf::from(text.trim()));
            Ok(TextValue {
                absolute: path.display().to_string(),
                files: vec![path],
            })
        }
        other => Err(format!("`{other}` is not a text property of adainstyle")),
    }
}

/// Whether text property `name` names files: its grammar reads a path given to it as a file
/// (`style`, `style-outside`, `mask`, the weights), as opposed to `device`.
pub fn names_files(name: &str) -> bool {
    parse_text(name, "file").is_ok_and(|value| !value.files.is_empty())
}

/// Stores `new` in `field` and describes the change.
fn changed<T: std::fmt::Debug>(name: &str, field: &mut T, new: T) -> String {
    let message = format!("Changing {name} from {field:?} to {new:?}");
    *field = new;
    message
}

/// `text` as a path, or the shipped file `relative` (found now) when it is empty.
fn file_or_shipped(text: &str, relative: &str) -> PathBuf {
    given_file(text).unwrap_or_else(|| data::find(relative))
}

/// A file property's path; `None` when empty (the shipped file).
fn given_file(text: &str) -> Option<PathBuf> {
    (!text.trim().is_empty()).then(|| PathBuf::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, value: impl ToValue, started: bool) -> Result<Update, Refused> {
        Update::read(name, &value.to_value(), started)
    }

    #[test]
    fn defaults_do_not_look_at_the_filesystem_and_mean_the_shipped_files() {
        let s = Settings::default();
        assert_eq!(s.style.text, "");
        assert_eq!(s.encoder, "");
        assert_eq!(s.decoder, "");
        // Resolved when used.
        assert!(
            s.style_spec().unwrap().entries[0]
                .0
                .ends_with(data::DEFAULT_STYLE)
        );
        assert!(s.encoder_path().ends_with(data::ENCODER));
        assert!(s.weights_path(Model::Lite).ends_with(data::LITE));
        assert!(s.weights_path(Model::Full).ends_with(data::DECODER));
    }

    #[test]
    fn styles_are_parsed_once_and_malformed_ones_refused_only_while_running() {
        let mut s = Settings::default();
        // Running: a malformed list is refused with the text and the cause.
        let refused = read("style", "a.jpg:-1", true).unwrap_err();
        assert!(refused.message.contains("a.jpg:-1"), "{refused:?}");
        assert!(refused.message.contains(">= 0"), "{refused:?}");
        assert!(!refused.unreadable);
        // Stopped: kept, for start() to report.
        let change = s.apply(read("style", "a.jpg:-1", false).unwrap());
        assert!(change.message.contains("a.jpg:-1"));
        assert!(s.style_spec().unwrap_err().contains(">= 0"));
        // A valid blend is parsed into the settings and asks for new statistics.
        let change = s.apply(read("style", "a.jpg:0.7,b.jpg:0.3", true).unwrap());
        let Effect::Styles { styles, size } = change.effect else {
            panic!("no style request")
        };
        assert_eq!(size, DEFAULT_STYLE_SIZE as i64);
        assert_eq!(styles.len(), 1);
        assert_eq!(styles[0].0, Slot::Inside);
        assert_eq!(styles[0].1.entries.len(), 2);
        // Empty is the shipped style, not an error.
        s.apply(read("style", None::<String>, true).unwrap());
        assert!(s.style_spec().is_ok());
    }

    #[test]
    fn style_size_and_leaving_coral_ask_for_both_styles_once() {
        let mut s = Settings::default();
        s.apply(read("style-outside", "b.jpg", true).unwrap());
        let change = s.apply(read("style-size", 64u32, true).unwrap());
        let Effect::Styles { styles, size } = change.effect else {
            panic!("no style request")
        };
        assert_eq!(size, 64);
        let slots: Vec<Slot> = styles.iter().map(|(slot, _)| *slot).collect();
        assert_eq!(slots, [Slot::Inside, Slot::Outside]);
        // Entering CORAL asks for nothing (frames do it); leaving it restores both styles.
        let change = s.apply(read("preserve-color", PreserveColorMode::Coral, true).unwrap());
        assert!(matches!(change.effect, Effect::None));
        let change = s.apply(read("preserve-color", PreserveColorMode::None, true).unwrap());
        assert!(matches!(change.effect, Effect::Styles { ref styles, .. } if styles.len() == 2));
        // Emptying style-outside asks for nothing.
        let change = s.apply(read("style-outside", "", true).unwrap());
        assert!(matches!(change.effect, Effect::None));
        assert!(!s.for_frame(1).outside);
    }

    #[test]
    fn a_mask_file_is_decoded_when_set_while_running_and_taken_by_one_frame() {
        let mut s = Settings::default();
        // Stopped: nothing is decoded (start() does it).
        let Update::Mask(_, decoded) = read("mask", "/no/such/mask.png", false).unwrap() else {
            panic!()
        };
        assert!(decoded.is_none());
        // Running: a file that cannot be read is refused, naming it.
        let refused = read("mask", "/no/such/mask.png", true).unwrap_err();
        assert!(refused.unreadable);
        assert!(refused.message.contains("/no/such/mask.png"), "{refused:?}");
        // `alpha` needs no decoding, and the next frame (only) takes it.
        s.apply(read("mask", "alpha", true).unwrap());
        assert_eq!(s.mask.value, Ok(Some(MaskSource::Alpha)));
        assert!(s.for_frame(1).new_mask.is_some());
        assert!(s.for_frame(2).new_mask.is_none());
    }

    #[test]
    fn coral_frames_carry_the_styles() {
        let mut s = Settings::default();
        s.apply(read("preserve-color", PreserveColorMode::Coral, true).unwrap());
        assert!(s.for_frame(0).coral.is_some());
        assert!(s.for_frame(1).coral.is_none());
        assert!(s.for_frame(CORAL_EVERY_FRAMES).coral.is_some());
        assert_eq!(s.for_frame(0).coral.unwrap().0.len(), 1);
    }
}
