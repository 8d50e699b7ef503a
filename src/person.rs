// SPDX-License-Identifier: MIT
//! `mask=person`: everything but the people in each frame is styled, the people are kept (or,
//! inverted, the reverse). The person's region comes from the segmenter ([`crate::segmenter`]);
//! the mask ([`crate::mask`]) is its complement (1 = styled = not a person).
//!
//! The segmenter runs once per frame at its own small size (that of the network for the frame's
//! shape, [`Segmenter::for_size`]), whatever the frame's; its probabilities are steadied over
//! time there, then stretched to the frame. The steadying is motion-aware: each pixel keeps
//! `smoothing` of its previous value where the new one is close to it (the jitter that makes an
//! edge crawl on a still person) and follows the new value where it moved a lot (the person
//! moved), so the mask does not lag behind a moving person.
//!
//! The person is kept from a probability of [`KEEP_FROM`] and kept whole from [`KEEP_FULLY`]:
//! keeping the person matters more than styling every pixel of the room next to them, and the
//! segmenter is least sure at a person's limbs and dark clothes (BENCHMARKS.md, "The person
//! mask", has the figures these were chosen by).

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::error::Result;
use crate::network::Pretrained;
use crate::segmenter::Segmenter;

/// The person's probability below which a pixel is styled fully.
pub const KEEP_FROM: f64 = 0.1;

/// The person's probability from which a pixel is kept fully (between the two, the style fades).
pub const KEEP_FULLY: f64 = 0.5;

/// The person segmenter with the mask it drew for the previous frame.
#[derive(Debug)]
pub struct PersonMask {
    net: Pretrained<Segmenter>,
    kind: Kind,
    /// The previous frame's probabilities at the segmenter's size, steadied, row after row.
    previous: Option<Vec<f32>>,
}

impl PersonMask {
    /// Loads the segmenter weights at `path` to run on `device` in `kind` (errors name the file).
    /// On the CPU the segmenter runs in fp32 whatever `kind`, by its host kernels (faster there
    /// than libtorch in any precision: BENCHMARKS.md, "The person mask").
    pub fn load(path: &Path, device: Device, kind: Kind) -> Result<Self> {
        let kind = if device == Device::Cpu {
            Kind::Float
        } else {
            kind
        };
        Ok(Self {
            net: Pretrained::segmenter(path, device, kind)?,
            kind,
            previous: None,
        })
    }

    /// Forgets the previous frame (a new stream, a seek): the next mask is the network's alone.
    pub fn reset(&mut self) {
        self.previous = None;
    }

    /// The mask (1, 1, `height`, `width`) fp32 in [0, 1] of the frame `rgb` (1, 3, H, W) in
    /// [0, 1] on the segmenter's device: 1 where there is no person (styled), 0 on the people
    /// (kept); with `invert`, the reverse. The person's probability is steadied over the
    /// previous frames by `smoothing` in [0, 1) (0 = this frame alone). The mask comes
    /// feathered ([`crate::mask::feather`]) by about `feather` pixels of the frame: the
    /// feathering runs at the segmenter's size, where it costs a fraction of what it would at
    /// the frame's, so give the mask to the stylizer with no feather of its own.
    pub fn for_frame(
        &mut self,
        rgb: &Tensor,
        smoothing: f64,
        feather: i64,
        (height, width): (i64, i64),
        invert: bool,
    ) -> Result<Tensor> {
        let (mut p, (h, w)) = tch::no_grad(|| self.net.net.person_map(rgb, self.kind))?;
        // The rest runs on the map in host memory: a few passes over 37 thousand values, which
        // as libtorch operations cost more in set-up than in arithmetic.
        let len = p.len();
        if let Some(previous) = self.previous.take()
            && smoothing > 0.0
            && previous.len() == len
        {
            steady(&previous, &mut p, smoothing);
        }
        // Kept from KEEP_FROM, fully from KEEP_FULLY: styled = (KEEP_FULLY - p) / (KEEP_FULLY -
        // KEEP_FROM), clamped to [0, 1] (and 1 minus that, inverted).
        let slope = 1.0 / (KEEP_FULLY - KEEP_FROM);
        let (scale, offset) = if invert {
            (slope, -KEEP_FROM * slope)
        } else {
            (-slope, KEEP_FULLY * slope)
        };
        let (scale, offset) = (scale as f32, offset as f32);
        let mut styled: Vec<f32> = p
            .iter()
            .map(|v| (v * scale + offset).clamp(0.0, 1.0))
            .collect();
        self.previous = Some(p);
        // The feather's radius in the segmenter's pixels (the mean of the two axes' scales).
        let scale = (h as f64 / height as f64 + w as f64 / width as f64) / 2.0;
        let radius = match feather {
            0 => 0,
            f => ((f as f64 * scale).round() as i64).max(1),
        };
        // Feathered at the segmenter's size: the only pass at the frame's size is the resize
        // (bilinear, so the mask stays in [0, 1]).
        crate::mask::feather_values(&mut styled, h as usize, w as usize, radius);
        let styled = Tensor::f_from_slice(&styled)?
            .f_view([1, 1, h, w])?
            .f_to_device(rgb.device())?;
        crate::frame::resize(&styled, height, width)
    }
}

/// One step of the motion-aware steadying of the person's probabilities `now` over the
/// `previous` frame's: per pixel, the previous value is kept with weight
/// `smoothing · (1 - |now - previous|)`. (Squared, the jitter on a still camera was damped
/// less, 35 % against 45 %; a constant weight damps it more but trails a person who moves:
/// tests/person.rs.)
fn steady(previous: &[f32], now: &mut [f32], smoothing: f64) {
    let smoothing = smoothing.clamp(0.0, 0.99) as f32;
    for (n, p) in now.iter_mut().zip(previous) {
        let change = *n - p;
        *n -= change * (1.0 - change.abs()) * smoothing;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steadying_damps_jitter_and_follows_motion() {
        let previous = [0.50f32, 0.0, 1.0];
        let now = [0.56f32, 1.0, 1.0];
        let mut got = now;
        steady(&previous, &mut got, 0.8);
        // A small change is mostly held back; a full flip goes through at once; no change is
        // no change.
        assert!(got[0] > 0.50 && got[0] < 0.52, "{got:?}");
        assert_eq!(got[1], 1.0);
        assert_eq!(got[2], 1.0);
        let mut none = now;
        steady(&previous, &mut none, 0.0);
        assert_eq!(none, now);
    }
}
