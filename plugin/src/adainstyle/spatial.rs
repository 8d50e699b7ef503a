// SPDX-License-Identifier: MIT
//! The element's spatial control: which mask applies to a frame. A mask file is decoded when the
//! property is set while the element runs (or at start), outside every lock, and handed to the
//! streaming thread whole; it is fitted to the frame size once per size. An alpha mask is read
//! from each frame.

use adainstyle::frame::PixelLayout;
use adainstyle::{MaskSource, mask};
use tch::{Device, Tensor};

/// The `mask` property's text as a source: empty = no mask.
pub fn parse(text: &str) -> Option<MaskSource> {
    text.parse().ok()
}

/// Where a frame's mask comes from, with a decoded file.
#[derive(Debug, Default)]
enum Source {
    /// No spatial control.
    #[default]
    None,
    /// The frame's alpha channel.
    Alpha,
    /// A decoded mask file at its own size, on the CPU, and its path as the property gave it.
    File { path: String, decoded: Tensor },
}

/// The mask in use: its source, its copy fitted to the frame, and whether the lack of an alpha
/// channel has been reported.
#[derive(Debug, Default)]
pub struct Mask {
    source: Source,
    /// The file fitted to a frame: (width, height, invert, device) and the mask.
    fitted: Option<((i64, i64, bool, Device), Tensor)>,
    warned_no_alpha: bool,
}

impl Clone for Mask {
    /// A mask's tensors are never changed in place, so copies share them.
    fn clone(&self) -> Self {
        let source = match &self.source {
            Source::None => Source::None,
            Source::Alpha => Source::Alpha,
            Source::File { path, decoded } => Source::File {
                path: path.clone(),
                decoded: decoded.shallow_clone(),
            },
        };
        Self {
            source,
            fitted: self
                .fitted
                .as_ref()
                .map(|(key, t)| (*key, t.shallow_clone())),
            warned_no_alpha: self.warned_no_alpha,
        }
    }
}

impl Mask {
    /// The mask of `source`, a file decoded now (errors name it).
    pub fn load(source: Option<&MaskSource>) -> adainstyle::Result<Self> {
        let source = match source {
            None => Source::None,
            Some(MaskSource::Alpha) => Source::Alpha,
            Some(MaskSource::File(path)) => Source::File {
                path: path.to_string_lossy().into_owned(),
                decoded: mask::load(path)?,
            },
        };
        Ok(Self {
            source,
            ..Self::default()
        })
    }

    /// The mask (1, 1, H, W) for one frame of `width` x `height` on `device`, or `None` for no
    /// spatial control. `alpha` is the frame's fourth byte per pixel as uploaded. What the mask
    /// could not be is pushed to `notices`: a stretched file once per frame size, a missing
    /// alpha channel once.
    pub fn for_frame(
        &mut self,
        frame: (i64, i64, PixelLayout),
        alpha: Option<&Tensor>,
        invert: bool,
        device: Device,
        notices: &mut Vec<Notice>,
    ) -> adainstyle::Result<Option<Tensor>> {
        let (width, height, pixels) = frame;
        let base = match &self.source {
            Source::None => return Ok(None),
            Source::Alpha => match alpha {
                Some(alpha) if pixels.has_alpha() => mask::from_alpha(alpha)?,
                _ => {
                    if !std::mem::replace(&mut self.warned_no_alpha, true) {
                        notices.push(Notice::NoAlpha(pixels));
                    }
                    return Ok(None);
                }
            },
            Source::File { path, decoded } => {
                let key = (width, height, invert, device);
                if let Some((k, fitted)) = &self.fitted
                    && *k == key
                {
                    return Ok(Some(fitted.shallow_clone()));
                }
                let (fitted, stretched) = mask::fit(decoded, height, width, device)?;
                if stretched {
                    notices.push(Notice::Stretched(path.clone()));
                }
                let fitted = if invert {
                    mask::invert(&fitted)?
                } else {
                    fitted
                };
                self.fitted = Some((key, fitted.shallow_clone()));
                return Ok(Some(fitted));
            }
        };
        Ok(Some(if invert { mask::invert(&base)? } else { base }))
    }
}

/// What a frame's mask could not be, for the element to report.
#[derive(Debug, PartialEq)]
pub enum Notice {
    /// The mask file's aspect ratio differs from the frame's: it is stretched.
    Stretched(String),
    /// `mask=alpha` with a pixel layout that has no alpha channel.
    NoAlpha(PixelLayout),
}
