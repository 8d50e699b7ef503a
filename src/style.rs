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

impl FromStr for StyleSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let mut entries = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (path, weight) = match part.rsplit_once(':') {
                Some((path, w)) if !path.is_empty() => match w.trim().parse::<f64>() {
                    Ok(w) => (path, w),
                    Err(_) => (part, 1.0),
                },
                _ => (part, 1.0),
            };
            if !weight.is_finite() || weight < 0.0 {
                return Err(Error::StyleWeights(format!(
                    "`{part}`: weight must be >= 0"
                )));
            }
            entries.push((PathBuf::from(path), weight));
        }
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
            return write!(f, "{}", path.display());
        }
        let parts: Vec<String> = self
            .entries
            .iter()
            .map(|(p, w)| format!("{}:{w}", p.display()))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Loads a style image as (1, 3, H, W) in [0, 1] on the CPU, its longest edge resized to
/// `style_size` (0 = as is).
pub fn load_style_image(path: &Path, style_size: i64) -> Result<Tensor> {
    let img = image_io::to_tensor(&image_io::load_rgb(path)?, Device::Cpu, Kind::Float)?;
    if style_size <= 0 {
        return Ok(img);
    }
    let size = img.size();
    let (h, w) = frame::fit_longest(size[2], size[3], style_size);
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
    }
}
