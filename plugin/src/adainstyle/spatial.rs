// SPDX-License-Identifier: MIT
//! The element's spatial control: which mask applies to a frame. A mask file is decoded when the
//! property is set while the element runs (or at start), outside every lock, and handed to the
//! streaming thread whole; it is fitted to the frame size once per size. An alpha mask is read
//! from each frame. A mask that selects every pixel is no mask: the frame takes the unmasked
//! path (and its bits), decided once per fitted file and on the host bytes for alpha, so no
//! device is waited for. The person mask's segmenter is loaded on the streaming thread's device
//! and precision ([`Mask::prepare`]: at start, or at the first frame after the property
//! changed) and runs on every frame.

use std::path::Path;

use adainstyle::frame::{FrameLayout, PixelLayout};
use adainstyle::{MaskSource, PersonMask, mask};
use tch::{Device, Kind, Tensor};

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
    /// The person segmenter, once [`Mask::prepare`] has loaded it.
    Person(Option<Box<PersonMask>>),
}

/// What a file mask was fitted for: the frame's width and height, the inversion, the device
/// and the feather.
type FitKey = (i64, i64, bool, Device, i64);

/// A frame's mask as the stylizer takes it ([`adainstyle::Region`]).
#[derive(Debug)]
pub struct FrameMask {
    /// (1, 1, H, W) at the frame's size, 1 = styled.
    pub mask: Tensor,
    /// The feather still to apply to `mask` where styled output meets the content.
    pub feather: i64,
    /// `mask` feathered by `feather` already: a file mask's, kept from frame to frame (at
    /// 640×360 feathering took over a millisecond a frame).
    pub feathered: Option<Tensor>,
}

impl FrameMask {
    /// A copy sharing the tensors (never changed in place).
    fn share(&self) -> Self {
        Self {
            mask: self.mask.shallow_clone(),
            feather: self.feather,
            feathered: self.feathered.as_ref().map(Tensor::shallow_clone),
        }
    }
}

/// The mask in use: its source, its copy fitted to the frame, and whether the lack of an alpha
/// channel has been reported.
#[derive(Debug, Default)]
pub struct Mask {
    source: Source,
    /// The file fitted to a frame: (width, height, invert, device, feather) and the mask with
    /// its feathered copy, `None` when it selects every pixel.
    fitted: Option<(FitKey, Option<FrameMask>)>,
    warned_no_alpha: bool,
}

impl Clone for Mask {
    /// A mask's tensors are never changed in place, so copies share them. A person mask's copy
    /// has its segmenter loaded again by [`Mask::prepare`].
    fn clone(&self) -> Self {
        let source = match &self.source {
            Source::None => Source::None,
            Source::Alpha => Source::Alpha,
            Source::Person(_) => Source::Person(None),
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
                .map(|(key, m)| (*key, m.as_ref().map(FrameMask::share))),
            warned_no_alpha: self.warned_no_alpha,
        }
    }
}

impl Mask {
    /// The mask of `source`, a file decoded now (errors name it). A person mask's segmenter is
    /// loaded by [`Mask::prepare`].
    pub fn load(source: Option<&MaskSource>) -> adainstyle::Result<Self> {
        let source = match source {
            None => Source::None,
            Some(MaskSource::Alpha) => Source::Alpha,
            Some(MaskSource::Person) => Source::Person(None),
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

    /// Loads the person segmenter from `weights` to run on `device` in `kind`, when this is a
    /// person mask whose segmenter is not loaded yet (errors name the file).
    pub fn prepare(
        &mut self,
        weights: &Path,
        device: Device,
        kind: Kind,
    ) -> adainstyle::Result<()> {
        if let Source::Person(net @ None) = &mut self.source {
            *net = Some(Box::new(PersonMask::load(weights, device, kind)?));
        }
        Ok(())
    }

    /// Forgets what came before (a flush, new caps): a person mask starts afresh.
    pub fn reset(&mut self) {
        if let Source::Person(Some(net)) = &mut self.source {
            net.reset();
        }
    }

    /// The mask (1, 1, H, W) for one frame on `device` and the feather still to apply to it,
    /// or `None` for no spatial control (or a mask that selects every pixel). `input` is the
    /// frame in host memory, `uploaded` its RGB on the device and its fourth byte per pixel; a
    /// person mask is steadied over frames by `smoothing` and comes feathered already. What the
    /// mask could not be is pushed to `notices`: a stretched file once per frame size, a
    /// missing alpha channel once.
    pub fn for_frame(
        &mut self,
        input: (&[u8], &FrameLayout),
        uploaded: (&Tensor, Option<&Tensor>),
        look: &Look,
        device: Device,
        notices: &mut Vec<Notice>,
    ) -> adainstyle::Result<Option<FrameMask>> {
        let (data, layout) = input;
        let (rgb, alpha) = uploaded;
        let (width, height, pixels) = (layout.width as i64, layout.height as i64, layout.pixels);
        let invert = look.invert;
        let base = match &mut self.source {
            Source::None => return Ok(None),
            Source::Person(net) => {
                let net = net.as_mut().ok_or_else(|| {
                    adainstyle::Error::InvalidMask("the person segmenter is not loaded".into())
                })?;
                let size = (height, width);
                let styled = net.for_frame(rgb, look.smoothing, look.feather, size, invert)?;
                return Ok(Some(FrameMask {
                    mask: styled,
                    feather: 0,
                    feathered: None,
                }));
            }
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
                let key = (width, height, invert, device, look.feather);
                if let Some((k, fitted)) = &self.fitted
                    && *k == key
                {
                    return Ok(fitted.as_ref().map(FrameMask::share));
                }
                let (fitted, stretched) =
                    mask::fit_inverted(decoded, height, width, invert, device)?;
                if stretched {
                    notices.push(Notice::Stretched(path.clone()));
                }
                let fitted = match fitted {
                    Some(m) => Some(FrameMask {
                        feathered: Some(mask::feather(&m, look.feather)?),
                        mask: m,
                        feather: look.feather,
                    }),
                    None => None,
                };
                self.fitted = Some((key, fitted.as_ref().map(FrameMask::share)));
                return Ok(fitted);
            }
        };
        let base = if invert { mask::invert(&base)? } else { base };
        Ok(Some(FrameMask {
            mask: base,
            feather: look.feather,
            feathered: None,
        }))
    }
}

/// How a frame's mask is drawn: `mask-invert`, `mask-feather`, and the `temporal-smoothing`
/// a person mask is steadied by.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    pub invert: bool,
    pub feather: i64,
    pub smoothing: f64,
}

/// What a frame's mask could not be, for the element to report.
#[derive(Debug, PartialEq)]
pub enum Notice {
    /// The mask file's aspect ratio differs from the frame's: it is stretched.
    Stretched(String),
    /// `mask=alpha` with a pixel layout that has no alpha channel.
    NoAlpha(PixelLayout),
}
