// SPDX-License-Identifier: MIT
//! The element's options as command-line flags, made from the `adainstyle` element's own
//! properties: their names, types, ranges, defaults and blurbs are the one declaration
//! (`plugin/src/adainstyle/properties.rs`), and every example, the benchmark and (through
//! `stylize-file --print-options`) the batch driver take the same flags from it. A value is
//! parsed as the element parses it (enum nicks, ranges, the style grammar of
//! [`gstadainstyle::adainstyle::parse_text`]) and a bad one is a clap error naming the flag,
//! never a panic.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Once;

use adainstyle::{DeviceSpec, Model, PersonMask, Precision, Stylizer, data};
use anyhow::{Context, Result, bail};
use clap::builder::{TypedValueParser, ValueParser};
use clap::{Arg, ArgAction, ArgMatches, Command};
use gst::glib;
use gst::prelude::*;

/// GStreamer, with the element registered (once per process).
pub fn init() -> Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = gst::init()
            .map_err(anyhow::Error::from)
            .and_then(|()| Ok(gstadainstyle::plugin_register_static()?));
    });
    result
}

/// The element's writable properties of its own (not GStreamer's `name`, `parent` or `qos`).
pub fn properties() -> Vec<glib::ParamSpec> {
    if let Err(err) = init() {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
    let element = gstadainstyle::adainstyle::AdainStyle::static_type();
    glib::object::ObjectClass::from_type(element)
        .map(|class| class.list_properties().to_vec())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.owner_type() == element
                && p.flags().contains(glib::ParamFlags::WRITABLE)
                && !p.flags().contains(glib::ParamFlags::CONSTRUCT_ONLY)
        })
        .collect()
}

/// A flag's parsed value.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// A boolean property.
    Bool(bool),
    /// An unsigned integer property.
    UInt(u32),
    /// A floating-point property.
    Double(f64),
    /// An enum property, by its nick.
    Enum(String),
    /// A text property, as given.
    Text(String),
}

impl OptionValue {
    /// The value as the property takes it.
    fn to_value(&self, pspec: &glib::ParamSpec) -> Result<glib::Value> {
        Ok(match self {
            Self::Bool(v) => v.to_value(),
            Self::UInt(v) => v.to_value(),
            Self::Double(v) => v.to_value(),
            Self::Text(v) => v.to_value(),
            Self::Enum(nick) => {
                let class = glib::EnumClass::with_type(pspec.value_type())
                    .context("an enum property has an enum class")?;
                class
                    .to_value_by_nick(nick)
                    .with_context(|| format!("--{} {nick}", pspec.name()))?
            }
        })
    }

    /// The value as a flag's text.
    pub fn text(&self) -> String {
        match self {
            Self::Bool(v) => v.to_string(),
            Self::UInt(v) => v.to_string(),
            Self::Double(v) => v.to_string(),
            Self::Enum(v) | Self::Text(v) => v.clone(),
        }
    }
}

/// Parses one property's flag value, as the element would take it.
#[derive(Clone)]
struct PropertyParser(glib::ParamSpec);

impl PropertyParser {
    fn parse(&self, text: &str) -> Result<OptionValue, String> {
        let p = &self.0;
        let name = p.name();
        if let Some(p) = p.downcast_ref::<glib::ParamSpecBoolean>() {
            let _ = p;
            return match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "on" => Ok(OptionValue::Bool(true)),
                "false" | "no" | "0" | "off" => Ok(OptionValue::Bool(false)),
                _ => Err(format!("`{text}` is not true or false")),
            };
        }
        if let Some(p) = p.downcast_ref::<glib::ParamSpecUInt>() {
            let v: u32 = text
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a whole number"))?;
            if !(p.minimum()..=p.maximum()).contains(&v) {
                return Err(format!(
                    "{v} is out of range ({}..={})",
                    p.minimum(),
                    p.maximum()
                ));
            }
            return Ok(OptionValue::UInt(v));
        }
        if let Some(p) = p.downcast_ref::<glib::ParamSpecDouble>() {
            let v: f64 = text
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a number"))?;
            if !v.is_finite() || v < p.minimum() || v > p.maximum() {
                return Err(format!(
                    "{v} is out of range ({}..={})",
                    p.minimum(),
                    p.maximum()
                ));
            }
            return Ok(OptionValue::Double(v));
        }
        if p.is::<glib::ParamSpecEnum>() {
            let choices = enum_nicks(p);
            let wanted = text.trim().to_ascii_lowercase();
            return choices
                .iter()
                .find(|nick| **nick == wanted)
                .map(|nick| OptionValue::Enum(nick.clone()))
                .ok_or_else(|| format!("`{text}` is not one of {}", choices.join(", ")));
        }
        if p.is::<glib::ParamSpecString>() {
            gstadainstyle::adainstyle::parse_text(name, text)?;
            return Ok(OptionValue::Text(text.to_owned()));
        }
        Err(format!(
            "property `{name}` has a type the examples cannot set"
        ))
    }
}

impl TypedValueParser for PropertyParser {
    type Value = OptionValue;

    fn parse_ref(
        &self,
        cmd: &Command,
        arg: Option<&Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<OptionValue, clap::Error> {
        let text = value.to_str().ok_or_else(|| {
            clap::Error::raw(clap::error::ErrorKind::InvalidUtf8, "not UTF-8\n").with_cmd(cmd)
        })?;
        self.parse(text).map_err(|reason| {
            let flag = arg.map_or_else(|| self.0.name().to_owned(), |a| a.to_string());
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for {flag}: {reason}\n"),
            )
            .with_cmd(cmd)
        })
    }
}

/// The nicks of an enum property's values.
fn enum_nicks(p: &glib::ParamSpec) -> Vec<String> {
    glib::EnumClass::with_type(p.value_type())
        .map(|c| c.values().iter().map(|v| v.nick().to_owned()).collect())
        .unwrap_or_default()
}

/// A property's default, as a flag's text.
fn default_text(p: &glib::ParamSpec) -> String {
    let v = p.default_value();
    if let Ok(b) = v.get::<bool>() {
        return b.to_string();
    }
    if let Ok(n) = v.get::<u32>() {
        return n.to_string();
    }
    if let Ok(x) = v.get::<f64>() {
        return x.to_string();
    }
    if let Ok(Some(s)) = v.get::<Option<String>>() {
        return s;
    }
    if let Some(e) = p.downcast_ref::<glib::ParamSpecEnum>()
        && let Some(class) = glib::EnumClass::with_type(p.value_type())
        && let Some(v) = class.value(e.default_value_as_i32())
    {
        return v.nick().to_owned();
    }
    String::new()
}

/// The element's options given on a command line.
#[derive(Debug, Clone, Default)]
pub struct ElementOptions {
    given: BTreeMap<String, OptionValue>,
}

impl clap::Args for ElementOptions {
    fn augment_args(cmd: Command) -> Command {
        let mut cmd =
            cmd.next_help_heading("Element options (the adainstyle element's properties)");
        for p in properties() {
            let name = p.name().to_owned();
            let default = default_text(&p);
            let mut help = p.blurb().unwrap_or_default().to_owned();
            help.push_str(&if default.is_empty() {
                " [default: empty]".to_owned()
            } else {
                format!(" [default: {default}]")
            });
            let mut arg = Arg::new(name.clone())
                .long(name)
                .help(help)
                .action(ArgAction::Set)
                .value_parser(ValueParser::new(PropertyParser(p.clone())));
            if p.is::<glib::ParamSpecBoolean>() {
                arg = arg.num_args(0..=1).default_missing_value("true");
            }
            cmd = cmd.arg(arg);
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for ElementOptions {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut options = Self::default();
        options.update_from_arg_matches(matches)?;
        Ok(options)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for p in properties() {
            if let Ok(Some(v)) = matches.try_get_one::<OptionValue>(p.name()) {
                self.given.insert(p.name().to_owned(), v.clone());
            }
        }
        Ok(())
    }
}

impl ElementOptions {
    /// Sets every given option on `element`.
    pub fn apply(&self, element: &gst::Element) -> Result<()> {
        for (name, value) in &self.given {
            let pspec = element
                .find_property(name)
                .with_context(|| format!("adainstyle has no property `{name}`"))?;
            element.set_property_from_value(name, &value.to_value(&pspec)?);
        }
        Ok(())
    }

    /// Sets option `name` (a property of the element) to `value` unless it was given.
    pub fn set_default(&mut self, name: &str, value: OptionValue) {
        self.given.entry(name.to_owned()).or_insert(value);
    }

    /// Whether option `name` was given.
    pub fn is_given(&self, name: &str) -> bool {
        self.given.contains_key(name)
    }

    /// Option `name` as given, or the property's default, as flag text.
    pub fn text(&self, name: &str) -> String {
        match self.given.get(name) {
            Some(v) => v.text(),
            None => properties()
                .iter()
                .find(|p| p.name() == name)
                .map(default_text)
                .unwrap_or_default(),
        }
    }

    /// Option `name` parsed into `T` (a library type with the same spelling, or a number).
    pub fn get<T: std::str::FromStr>(&self, name: &str) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.text(name);
        text.parse()
            .map_err(|err| anyhow::anyhow!("--{name} {text}: {err}"))
    }

    /// Text option `name` when it was given and is not empty.
    pub fn given_text(&self, name: &str) -> Option<String> {
        match self.given.get(name) {
            Some(OptionValue::Text(t)) if !t.trim().is_empty() => Some(t.clone()),
            _ => None,
        }
    }

    /// The files the given options name (absolute paths): inputs a program must not write over.
    pub fn files(&self) -> Vec<PathBuf> {
        self.named_files().into_iter().map(|(_, f)| f).collect()
    }

    /// Each file the given options name, with the option.
    fn named_files(&self) -> Vec<(&str, PathBuf)> {
        self.given
            .iter()
            .filter_map(|(name, value)| match value {
                OptionValue::Text(text) => Some((name.as_str(), text)),
                _ => None,
            })
            .flat_map(|(name, text)| {
                let parsed = gstadainstyle::adainstyle::parse_text(name, text).ok();
                parsed
                    .map(|p| p.files)
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |f| (name, f))
            })
            .collect()
    }

    /// Checks that every file the options name is a readable regular file, before any work: the
    /// first that is not is an error naming the flag and the file.
    pub fn check_files(&self) -> Result<()> {
        for (name, file) in self.named_files() {
            let meta = std::fs::metadata(&file)
                .with_context(|| format!("--{name}: {}", file.display()))?;
            if !meta.is_file() {
                bail!("--{name}: {} is not a regular file", file.display());
            }
        }
        Ok(())
    }

    /// The given options as flags (`--name value`), file paths made absolute.
    pub fn absolute_flags(&self) -> Vec<(String, String)> {
        self.given
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    OptionValue::Text(t) => gstadainstyle::adainstyle::parse_text(name, t)
                        .map(|p| p.absolute)
                        .unwrap_or_else(|_| t.clone()),
                    other => other.text(),
                };
                (format!("--{name}"), text)
            })
            .collect()
    }

    /// The network the options ask for, loaded through the library as the element would load
    /// it (`model`, `device`, `precision`, `encoder`, `decoder`).
    pub fn load_network(&self) -> Result<Stylizer> {
        let (model, device) = self.model()?;
        let encoder = self
            .given_text("encoder")
            .map_or_else(|| data::find(data::ENCODER), PathBuf::from);
        Ok(Stylizer::load(
            model,
            &encoder,
            &self.weights(model),
            device,
            self.get::<Precision>("precision")?,
        )?)
    }

    /// The person segmenter of `--mask person`, loaded as the element loads it: `--segmenter`
    /// or the shipped one, on `stylizer`'s device and in its precision.
    pub fn load_person_mask(&self, stylizer: &Stylizer) -> Result<PersonMask> {
        let weights = self
            .given_text("segmenter")
            .map_or_else(|| data::find(data::SEGMENTER), PathBuf::from);
        let kind = stylizer.precision().kind();
        Ok(PersonMask::load(&weights, stylizer.device(), kind)?)
    }

    /// The trained weights `model` runs with: `--decoder`, or the shipped ones.
    pub fn weights(&self, model: Model) -> PathBuf {
        self.given_text("decoder")
            .map_or_else(|| data::find(model.shipped_weights()), PathBuf::from)
    }

    /// The network `--model` means (resolved for the device and the files given) and the device.
    pub fn model(&self) -> Result<(Model, tch::Device)> {
        let device = self.get::<DeviceSpec>("device")?.resolve()?;
        let encoder = self.given_text("encoder").map(PathBuf::from);
        let decoder = self.given_text("decoder").map(PathBuf::from);
        let model = self.get::<Model>("model")?.resolve_given(
            device,
            encoder.as_deref(),
            decoder.as_deref(),
        )?;
        Ok((model, device))
    }
}

/// Every element option as JSON (`--print-options`): name, flag, type, default, range or
/// choices, whether it names files, and its help.
pub fn print_options() {
    let rows: Vec<serde_json::Value> = properties()
        .iter()
        .map(|p| {
            let mut row = serde_json::json!({
                "name": p.name(),
                "flag": format!("--{}", p.name()),
                "default": default_text(p),
                "help": p.blurb().unwrap_or_default(),
                "files": gstadainstyle::adainstyle::names_files(p.name()),
            });
            let kind = if p.is::<glib::ParamSpecBoolean>() {
                "bool"
            } else if let Some(u) = p.downcast_ref::<glib::ParamSpecUInt>() {
                row["min"] = u.minimum().into();
                row["max"] = u.maximum().into();
                "uint"
            } else if let Some(d) = p.downcast_ref::<glib::ParamSpecDouble>() {
                row["min"] = d.minimum().into();
                row["max"] = d.maximum().into();
                "double"
            } else if p.is::<glib::ParamSpecEnum>() {
                row["choices"] = enum_nicks(p).into();
                "enum"
            } else {
                "string"
            };
            row["type"] = kind.into();
            row
        })
        .collect();
    println!("{}", serde_json::Value::from(rows));
}
