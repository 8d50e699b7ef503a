// SPDX-License-Identifier: MIT
//! Style images: parsing a (possibly blended) style list, loading, and caching statistics.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

use tch::{Device, Kind, Tensor};

use crate::adain::Stats;
use crate::color;
use crate::error::{Error, Result};
use crate::frame;
use crate::image_io;
use crate::network::StyleEncode;

/// One or more style images with blend weights, written `PATH` or `PATH:W,PATH:W,...`.
///
/// The grammar, the one every program of the project reads: entries are separated by commas;
/// an entry's weight follows its last colon. A backslash makes the next character part of the
/// path (`a\,b.jpg` is the file `a,b.jpg`, `a\:b.jpg` the file `a:b.jpg`). Text after the last
/// colon that contains a `/` is part of the path (`dir:x/a.jpg`); otherwise it must be a
/// number, unless the whole entry names an existing file.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleSpec {
    /// Each image and its weight (weights need not sum to 1: they are normalised).
    pub entries: Vec<(PathBuf, f64)>,
}

impl StyleSpec {
    /// A single style image.
    pub fn single(path: impl Into<PathBuf>) -> Self {
        Self {
            entries: vec![(path.into(), 1.0)],
        }
    }
}

/// `s` split at the characters `at` that no backslash escapes, each piece still escaped.
fn split_unescaped(s: &str, at: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == at => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// `s` with its backslash escapes resolved.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// `path` as the grammar writes it: backslashes, commas and colons escaped.
fn escape(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | ',' | ':') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One entry `PATH` or `PATH:WEIGHT` of a style list.
fn parse_entry(part: &str) -> Result<(PathBuf, f64)> {
    let pieces = split_unescaped(part, ':');
    let (path, weight) = match pieces.split_last() {
        Some((last, rest)) if !rest.is_empty() && !last.contains('/') => {
            let path = unescape(&rest.join(":"));
            match last.trim().parse::<f64>() {
                Ok(w) => (path, w),
                Err(_) if Path::new(&unescape(part)).is_file() => (unescape(part), 1.0),
                Err(_) => {
                    return Err(Error::StyleWeights(format!(
                        "`{part}`: bad weight `{}` (a weight is a number; write `\\:` for a \
                         colon that is part of a file name)",
                        last.trim()
                    )));
                }
            }
        }
        _ => (unescape(part), 1.0),
    };
    if path.trim().is_empty() {
        return Err(Error::StyleWeights(format!(
            "`{part}`: no file before the weight"
        )));
    }
    if !weight.is_finite() || weight < 0.0 {
        return Err(Error::StyleWeights(format!(
            "`{part}`: weight must be >= 0"
        )));
    }
    Ok((PathBuf::from(path.trim()), weight))
}

impl FromStr for StyleSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let entries = split_unescaped(s, ',')
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(parse_entry)
            .collect::<Result<Vec<_>>>()?;
        if entries.is_empty() {
            return Err(Error::StyleWeights("no style image given".into()));
        }
        if entries.iter().map(|e| e.1).sum::<f64>() <= 0.0 {
            return Err(Error::StyleWeights(format!("`{s}`: weights sum to 0")));
        }
        Ok(Self { entries })
    }
}

impl fmt::Display for StyleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [(path, _)] = self.entries.as_slice() {
            return f.write_str(&escape(path));
        }
        let parts: Vec<String> = self
            .entries
            .iter()
            .map(|(p, w)| format!("{}:{w}", escape(p)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Least side, in pixels, of a style image (the full model's encoder pools it three times).
pub const MIN_STYLE_SIDE: u32 = 16;

/// Loads a style image as (1, 3, H, W) in [0, 1] on the CPU, its longest edge resized to
/// `style_size` (0 = as is). A much larger image is first shrunk on its 8-bit pixels to twice
/// that, so memory stays bounded whatever the file; an image under [`MIN_STYLE_SIDE`] pixels on
/// a side is an error naming it.
pub fn load_style_image(path: &Path, style_size: i64) -> Result<Tensor> {
    let decoded = image_io::decode_at_most(path, (style_size.max(0) as u32).saturating_mul(2))?;
    let (mut h, mut w) = (i64::from(decoded.height()), i64::from(decoded.width()));
    let img = image_io::to_tensor(&image_io::flatten(decoded), Device::Cpu, Kind::Float)?;
    let stored_too_small = h.min(w) < i64::from(MIN_STYLE_SIDE);
    if style_size > 0 {
        (h, w) = frame::fit_longest(h, w, style_size);
    }
    if stored_too_small || h.min(w) < i64::from(MIN_STYLE_SIDE) {
        return Err(Error::TooSmall {
            path: path.to_owned(),
            width: w as u32,
            height: h as u32,
            min: MIN_STYLE_SIDE,
        });
    }
    frame::resize(&img, h, w)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    path: PathBuf,
    modified: Option<SystemTime>,
    style_size: i64,
}

/// Computes and caches style statistics, so that a style image is decoded and encoded once per
/// (file version, size), not per frame or per switch back to it. The statistics belong to the
/// network that computed them: use one bank per network.
#[derive(Debug, Default)]
pub struct StyleBank {
    cache: HashMap<CacheKey, Stats>,
}

impl StyleBank {
    /// An empty bank.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of cached styles.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether the bank is empty.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The blended statistics of `spec`. With a `coral_to` content image (colour preservation by
    /// CORAL, [`crate::PreserveColor::Coral`]) the styles are first recoloured to the content's colours (these results are not cached, as
    /// they depend on the content).
    pub fn stats(
        &mut self,
        encoder: &dyn StyleEncode,
        spec: &StyleSpec,
        style_size: i64,
        coral_to: Option<&Tensor>,
    ) -> Result<Stats> {
        let mut parts = Vec::with_capacity(spec.entries.len());
        for (path, weight) in &spec.entries {
            let stats = match coral_to {
                Some(content) => {
                    let img = load_style_image(path, style_size)?;
                    let content = content.f_to_device_(Device::Cpu, Kind::Float, false, false)?;
                    encoder.style_stats(&color::coral(&img, &content)?)?
                }
                None => self.cached(encoder, path, style_size)?,
            };
            parts.push((stats, *weight));
        }
        let refs: Vec<(&Stats, f64)> = parts.iter().map(|(s, w)| (s, *w)).collect();
        Stats::blend(&refs)
    }

    fn cached(&mut self, encoder: &dyn StyleEncode, path: &Path, style_size: i64) -> Result<Stats> {
        let meta = std::fs::metadata(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let key = CacheKey {
            path: path.to_owned(),
            modified: meta.modified().ok(),
            style_size,
        };
        if let Some(stats) = self.cache.get(&key) {
            return Ok(stats.deep_clone());
        }
        let stats = encoder.style_stats(&load_style_image(path, style_size)?)?;
        self.cache.insert(key, stats.deep_clone());
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_blended_specs() {
        let s: StyleSpec = "styles/a.jpg".parse().unwrap();
        assert_eq!(s, StyleSpec::single("styles/a.jpg"));
        let s: StyleSpec = "a.jpg:0.7, b.png:0.3".parse().unwrap();
        assert_eq!(
            s.entries,
            vec![(PathBuf::from("a.jpg"), 0.7), (PathBuf::from("b.png"), 0.3)]
        );
        assert_eq!(s.to_string(), "a.jpg:0.7,b.png:0.3");
        // A colon that is not followed by a number is part of the path.
        let s: StyleSpec = "dir:x/a.jpg".parse().unwrap();
        assert_eq!(s.entries, vec![(PathBuf::from("dir:x/a.jpg"), 1.0)]);
        assert!("".parse::<StyleSpec>().is_err());
        assert!("a.jpg:-1".parse::<StyleSpec>().is_err());
        assert!("a.jpg:0,b.jpg:0".parse::<StyleSpec>().is_err());
        // A weight that is not a number is a bad weight, not a file name.
        let err = "a.jpg:abc".parse::<StyleSpec>().unwrap_err().to_string();
        assert!(err.contains("bad weight `abc`"), "{err}");
        // Commas and colons in file names, escaped; written back the same way.
        let s: StyleSpec = r"a\,b.jpg:0.5,c\:d.jpg".parse().unwrap();
        assert_eq!(
            s.entries,
            vec![
                (PathBuf::from("a,b.jpg"), 0.5),
                (PathBuf::from("c:d.jpg"), 1.0)
            ]
        );
        assert_eq!(s.to_string(), r"a\,b.jpg:0.5,c\:d.jpg:1");
        assert_eq!(s.to_string().parse::<StyleSpec>().unwrap(), s);
        // An existing file whose name ends in a colon and a word needs no escape.
        let dir = std::env::temp_dir().join(format!("adainstyle-spec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let odd = dir.join("odd:name.jpg");
        std::fs::write(&odd, b"x").unwrap();
        let s: StyleSpec = odd.to_str().unwrap().parse().unwrap();
        assert_eq!(s.entries, vec![(odd.clone(), 1.0)]);
        std::fs::remove_dir_all(&dir).ok();
    }
}
