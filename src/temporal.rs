// SPDX-License-Identifier: MIT
//! Temporal smoothing for video: AdaIN stylises every frame on its own, so what changes
//! needlessly between frames (the content statistics AdaIN normalises with, the decoder's
//! texture where the scene is still) shows up as flicker. [`Temporal`] keeps a little state per
//! stream and smooths both:
//!
//! - the relu4_1 content statistics, with an exponential moving average;
//! - the output, per pixel: where the input did not change around the pixel since the previous
//!   frame (noise aside), the previous output is blended in (a recursive filter); where it
//!   changed (motion, new content), the fresh output is used as is, so moving edges do not leave
//!   trails. "Around the pixel" is the mean change over blocks of [`BLOCK`] x [`BLOCK`] pixels,
//!   interpolated bilinearly between block centres: one pass over the frame to average it, and
//!   one to blend.
//!
//! A scene cut (the input's small thumbnail changing by more than [`SCENE_CUT`] on average)
//! resets the state. Strength 0 is the per-frame result, exactly.

use tch::{Kind, Tensor};

use crate::adain::Stats;
use crate::error::Result;
use crate::frame;

/// Mean absolute change of the input thumbnail (RGB in [0, 1]) above which a frame starts a new
/// scene.
pub const SCENE_CUT: f64 = 0.1;
/// Per-pixel input change (largest channel of the local mean change, in [0, 1]) at which the
/// previous output's weight has fallen to 1/e: about 20 levels of 8 bits.
const STILL: f64 = 0.08;
/// Longest edge of the thumbnail compared for scene cuts.
const THUMBNAIL: i64 = 64;
/// Side of the blocks whose mean change decides how much of the previous output is kept.
pub const BLOCK: i64 = 4;

/// Per-stream smoothing state. Create one per stream, call [`Temporal::reset`] on a seek or a
/// caps change; the [`crate::Stylizer`] does the rest through `stylize_frame`. It keeps the last
/// input and output tensors by reference until the next frame: do not modify a frame's tensor in
/// place after passing it.
#[derive(Debug)]
pub struct Temporal {
    strength: f64,
    thumbnail: Option<Tensor>,
    stats: Option<Stats>,
    /// The current frame's block means, from [`Temporal::begin`] until its output is smoothed.
    blocks: Option<Tensor>,
    /// The previous frame's block means and output.
    previous: Option<(Tensor, Tensor)>,
    cuts: u64,
}

impl Temporal {
    /// A new state; `strength` in [0, 1) (clamped): 0 = off, higher = steadier.
    pub fn new(strength: f64) -> Self {
        Self {
            strength: strength.clamp(0.0, 0.99),
            thumbnail: None,
            stats: None,
            blocks: None,
            previous: None,
            cuts: 0,
        }
    }

    /// Changes the strength, keeping the state.
    pub fn set_strength(&mut self, strength: f64) {
        self.strength = strength.clamp(0.0, 0.99);
    }

    /// Scene cuts detected so far (the first frame is not counted).
    pub fn cuts(&self) -> u64 {
        self.cuts
    }

    /// Forgets the previous frames: the next frame is stylised on its own.
    pub fn reset(&mut self) {
        self.thumbnail = None;
        self.stats = None;
        self.previous = None;
    }

    /// Starts a frame (1, 3, H, W) in [0, 1]: averages it over blocks, detects a scene cut or a
    /// size change and resets.
    pub(crate) fn begin(&mut self, content: &Tensor) -> Result<()> {
        let blocks = content.f_to_kind(Kind::Float)?.f_avg_pool2d(
            [BLOCK, BLOCK],
            [BLOCK, BLOCK],
            [0, 0],
            true,
            false,
            None::<i64>,
        )?;
        let size = blocks.size();
        let (h, w) = frame::fit_longest(size[2], size[3], THUMBNAIL.min(size[2].max(size[3])));
        let thumb = frame::resize(&blocks, h, w)?;
        let cut = match &self.thumbnail {
            Some(prev) if prev.size() == thumb.size() => {
                prev.f_sub(&thumb)?
                    .f_abs()?
                    .f_mean(Kind::Float)?
                    .f_double_value(&[])?
                    > SCENE_CUT
            }
            Some(_) => true,
            None => false,
        };
        let resized = self
            .previous
            .as_ref()
            .is_some_and(|(prev, _)| prev.size() != size);
        if cut || resized {
            self.cuts += u64::from(cut);
            self.reset();
        }
        self.thumbnail = Some(thumb);
        self.blocks = Some(blocks);
        Ok(())
    }

    /// The content statistics to normalise with: `current` averaged with the previous frames'.
    pub(crate) fn smooth_stats(&mut self, current: Stats) -> Result<Stats> {
        let smoothed = match &self.stats {
            Some(prev) if self.strength > 0.0 && prev.mean.size() == current.mean.size() => {
                let b = self.strength;
                Stats {
                    mean: prev
                        .mean
                        .f_mul_scalar(b)?
                        .f_add(&current.mean.f_mul_scalar(1.0 - b)?)?,
                    std: prev
                        .std
                        .f_mul_scalar(b)?
                        .f_add(&current.std.f_mul_scalar(1.0 - b)?)?,
                }
            }
            _ => current,
        };
        self.stats = Some(smoothed.deep_clone());
        Ok(smoothed)
    }

    /// The output to emit for the frame given to [`Temporal::begin`], whose per-frame result is
    /// `output` (fp32 (1, 3, H, W)): blended with the previous output where the input did not
    /// change.
    pub(crate) fn smooth_output(&mut self, output: Tensor) -> Result<Tensor> {
        let Some(blocks) = self.blocks.take() else {
            return Err(crate::Error::Torch(
                "temporal smoothing of an output without its input (begin first)".into(),
            ));
        };
        let blended = match &self.previous {
            Some((prev_blocks, prev_out))
                if self.strength > 0.0 && prev_out.size() == output.size() =>
            {
                // The mean change of each block (noise averages out, motion does not), its
                // weight, then the weight of every pixel between the block centres.
                let size = output.size();
                let weight = blocks
                    .f_sub(prev_blocks)?
                    .f_abs()?
                    .f_amax([1].as_slice(), true)?
                    .f_div_scalar(STILL)?
                    .f_square()?
                    .f_neg()?
                    .f_exp()?
                    .f_mul_scalar(self.strength)?
                    .f_upsample_bilinear2d([size[2], size[3]], false, None, None)?;
                frame::lerp_pixels(&output, prev_out, &weight)?
            }
            _ => output,
        };
        // Kept by reference, not copied: the stylizer never writes into either tensor.
        self.previous = Some((blocks, blended.shallow_clone()));
        Ok(blended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn frame(value: f64) -> Tensor {
        Tensor::full([1, 3, 16, 16], value, (Kind::Float, Device::Cpu))
    }

    #[test]
    fn still_input_averages_outputs_and_motion_does_not() {
        let mut t = Temporal::new(0.5);
        let input = frame(0.5);
        t.begin(&input).unwrap();
        let first = t.smooth_output(frame(0.2)).unwrap();
        assert_eq!(first, frame(0.2));
        // Same input, a different output: half of the previous one is kept.
        t.begin(&input).unwrap();
        let second = t.smooth_output(frame(0.6)).unwrap();
        assert!((second.double_value(&[0, 0, 3, 3]) - 0.4).abs() < 1e-6);
        // A changed input pixel takes the fresh output there.
        let moved = input.copy();
        let _ = moved.narrow(3, 0, 4).fill_(0.7);
        t.begin(&moved).unwrap();
        let third = t.smooth_output(frame(0.9)).unwrap();
        assert!((third.double_value(&[0, 0, 3, 1]) - 0.9).abs() < 1e-3);
        assert!((third.double_value(&[0, 0, 3, 10]) - 0.65).abs() < 1e-6);
    }

    #[test]
    fn zero_strength_and_scene_cuts_give_the_per_frame_result() {
        let mut off = Temporal::new(0.0);
        for v in [0.1, 0.2] {
            off.begin(&frame(0.5)).unwrap();
            assert_eq!(off.smooth_output(frame(v)).unwrap(), frame(v));
        }
        let mut t = Temporal::new(0.9);
        t.begin(&frame(0.1)).unwrap();
        let _first = t.smooth_output(frame(0.3)).unwrap();
        let stats = |v: f64| Stats {
            mean: Tensor::full([1, 4, 1, 1], v, (Kind::Float, Device::Cpu)),
            std: Tensor::full([1, 4, 1, 1], v, (Kind::Float, Device::Cpu)),
        };
        t.smooth_stats(stats(1.0)).unwrap();
        // A cut: the whole picture changes by 0.8.
        t.begin(&frame(0.9)).unwrap();
        assert_eq!(t.cuts(), 1);
        assert_eq!(t.smooth_output(frame(0.7)).unwrap(), frame(0.7));
        let fresh = t.smooth_stats(stats(3.0)).unwrap();
        assert_eq!(fresh.mean, stats(3.0).mean);
        // Without a cut the statistics are averaged.
        t.begin(&frame(0.9)).unwrap();
        let avg = t.smooth_stats(stats(1.0)).unwrap();
        assert!((avg.mean.double_value(&[0, 0, 0, 0]) - 2.8).abs() < 1e-5);
    }
}
