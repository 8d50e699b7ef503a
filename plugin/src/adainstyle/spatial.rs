// SPDX-License-Identifier: MIT
//! The element's spatial control: which mask applies to a frame. A mask file is decoded when the
//! property is set while the element runs (or at start), outside every lock, and handed to the
//! streaming thread whole; it is fitted to the frame size once per size. An alpha mask is read
//! from each frame. A mask that selects every pixel is no mask: the frame takes the unmasked
//! path (and its bits), decided once per fitted file and on the host bytes for alpha, so no
//! device is waited for.

use adainstyle::frame::{FrameLayout, PixelLayout};
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

/// What a file mask was fitted for: the frame's width and height, the inversion, the device.
type FitKey = (i64, i64, bool, Device);

/// The mask in use: its source, its copy fitted to the frame, and whether the lack of an alpha
/// channel has been reported.
#[derive(Debug, Default)]
pub struct Mask {
    source: Source,
    /// The file fitted to a frame: (width, height, invert, device) and the mask, `None` when it
    /// selects every pixel.
    fitted: Option<(FitKey, Option<Tensor>)>,
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
                .map(|(key, t)| (*key, t.as_ref().map(Tensor::shallow_clone))),
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

    /// The mask (1, 1, H, W) for one frame on `device`, or `None` for no spatial control (or a
    /// mask that selects every pixel). `input` is the frame in host memory, `alpha` its fourth
    /// byte per pixel as uploaded. What the mask could not be is pushed to `notices`: a
    /// stretched file once per frame size, a missing alpha channel once.
    pub fn for_frame(
        &mut self,
        input: (&[u8], &FrameLayout),
        alpha: Option<&Tensor>,
        invert: bool,
        device: Device,
        notices: &mut Vec<Notice>,
    ) -> adainstyle::Result<Option<Tensor>> {
        let (data, layout) = input;
        let (width, height, pixels) = (layout.width as i64, layout.height as i64, layout.pixels);
        let base = match &self.source {
            Source::None => return Ok(None),
            Source::Alpha => match alpha {
                Some(_) if mask::alpha_selects_all(data, layout, invert) => return Ok(None),
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
                    return Ok(fitted.as_ref().map(Tensor::shallow_clone));
                }
                let (fitted, stretched) =
                    mask::fit_inverted(decoded, height, width, invert, device)?;
                if stretched {
                    notices.push(Notice::Stretched(path.clone()));
                }
                self.fitted = Some((key, fitted.as_ref().map(Tensor::shallow_clone)));
                return Ok(fitted);
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
