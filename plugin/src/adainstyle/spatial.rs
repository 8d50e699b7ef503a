// SPDX-License-Identifier: MIT
//! The element's spatial control: which mask applies to a frame. A mask file is decoded when the
//! property is set (or at start) and fitted to the frame size once per size; an alpha mask is
//! read from each frame.

use adainstyle::frame::PixelLayout;
use adainstyle::{MaskSource, mask};
use tch::{Device, Tensor};

/// The `mask` property's text as a source: empty = no mask.
pub fn parse(text: &str) -> Option<MaskSource> {
    text.parse().ok()
}

/// A decoded mask file and its fitted copy.
#[derive(Default)]
pub struct MaskFile {
    /// The file's path as the property gave it, and its mask at its own size on the CPU.
    loaded: Option<(String, Tensor)>,
    /// `loaded` fitted to a frame: (width, height, invert, device) and the mask.
    fitted: Option<((i64, i64, bool, Device), Tensor)>,
    /// Whether the lack of an alpha channel has been reported for the current setting.
    warned_no_alpha: bool,
}

impl MaskFile {
    /// Decodes `path`; on error the previous mask stays.
    pub fn load(&mut self, path: &str) -> adainstyle::Result<()> {
        let decoded = mask::load(path.as_ref())?;
        self.loaded = Some((path.to_owned(), decoded));
        self.fitted = None;
        Ok(())
    }

    /// Forgets the file (the property no longer names one).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// True the first time it is called after the mask setting changed: report a missing alpha
    /// channel once, not on every frame.
    pub fn note_no_alpha(&mut self) -> bool {
        !std::mem::replace(&mut self.warned_no_alpha, true)
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

/// The mask (1, 1, H, W) for one frame of `width` x `height` on `device`, or `None` for no
/// spatial control. `alpha` is the frame's fourth byte per pixel as uploaded.
pub fn frame_mask(
    source: Option<&MaskSource>,
    file: &mut MaskFile,
    frame: (i64, i64, PixelLayout),
    alpha: Option<&Tensor>,
    invert: bool,
    device: Device,
    notices: &mut Vec<Notice>,
) -> adainstyle::Result<Option<Tensor>> {
    let (width, height, pixels) = frame;
    let base = match source {
        None => return Ok(None),
        Some(MaskSource::Alpha) => match alpha {
            Some(alpha) if pixels.has_alpha() => mask::from_alpha(alpha)?,
            _ => {
                notices.push(Notice::NoAlpha(pixels));
                return Ok(None);
            }
        },
        Some(MaskSource::File(_)) => {
            let Some((path, loaded)) = &file.loaded else {
                return Ok(None);
            };
            let key = (width, height, invert, device);
            if let Some((k, fitted)) = &file.fitted
                && *k == key
            {
                return Ok(Some(fitted.shallow_clone()));
            }
            let (fitted, stretched) = mask::fit(loaded, height, width, device)?;
            if stretched {
                notices.push(Notice::Stretched(path.clone()));
            }
            let fitted = if invert {
                mask::invert(&fitted)?
            } else {
                fitted
            };
            file.fitted = Some((key, fitted.shallow_clone()));
            return Ok(Some(fitted));
        }
    };
    Ok(Some(if invert { mask::invert(&base)? } else { base }))
}
