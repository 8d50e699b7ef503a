// SPDX-License-Identifier: MIT
//! A light decoder's ending computed at the size it is upsampled from: the same picture in
//! fewer passes over memory.
//!
//! A map at twice a size is the same as its four phases (the pixels at even/odd rows × even/odd
//! columns) side by side as channels at that size, the layout a pixel-shuffle by 2 undoes. In
//! that layout:
//!
//! - an upsampling by 2 with fixed taps ([`crate::arch::Resample::BilinearAfter`]`(2)`,
//!   [`crate::arch::Resample::BlurBilinear2After`]) followed by a 3 x 3 convolution is one
//!   convolution of the small map, C → 4 C' channels ([`upsample_then_conv`]), 3 x 3 after a
//!   bilinear upsampling, 5 x 5 after the blurred one;
//! - a 3 x 3 convolution at the large size is a 3 x 3 convolution of the phases, 4 C → 4 C'
//!   ([`conv_on_phases`]), and its reflection pad at the large size is exactly a replicate pad
//!   of the phases (the row above row 0 is row 1, the odd phase's row 0; the row below the last,
//!   odd row is the row before it, the even phase's last row);
//! - a ReLU is a ReLU.
//!
//! A decoder whose layers after some upsampling by 2 are all 3 x 3 convolutions, with more such
//! upsamplings between them ([`crate::arch::LITE_DETAIL_DECODER`] from its 1/4-size layer), runs
//! each stretch at the size it is upsampled from and pixel-shuffles its result once: no
//! upsampled map is written, read or padded at full size, and at full size only the 3 output
//! channels. It does about 2.2 times the arithmetic of those layers (1.4 GFLOP against 0.63
//! for `lite-detail` at 640x360: the phases' kernels are partly zero; in bf16 or fp16 the first
//! convolution of each stretch runs twice over, `split_precision`), which oneDNN's convolutions
//! do faster than the memory passes they replace (BENCHMARKS.md, "The light decoders' ending at
//! half size"). The upsampled map's border is its own extension (the layer table's definition,
//! `crate::layers`), so the picture is the same, within rounding, borders included (a unit test
//! compares).

use tch::{Kind, Tensor};

use crate::arch::{Layer, Resample};
use crate::error::Result;
use crate::layers::{BILINEAR2_TAPS, BLUR_BILINEAR2_TAPS, last_pixel_shuffle, to_channels_last};

/// An upsampling by 2 with fixed taps per axis: output row `Y` takes `taps[Y + offset - 2y]`
/// of input row `y` (0 outside the taps), the input's edges repeated.
struct Taps {
    taps: &'static [f32],
    offset: i64,
    /// Input rows each side of the centre that one output phase after a 3 x 3 convolution
    /// reads: the fused kernel's half-width (its replicate pad).
    reach: i64,
}

impl Taps {
    /// The taps of `resample`, if it is an upsampling by 2 with fixed taps.
    fn of(resample: Resample) -> Option<Self> {
        match resample {
            Resample::BilinearAfter(2) => Some(Self {
                taps: &BILINEAR2_TAPS,
                offset: 1,
                reach: 1,
            }),
            Resample::BlurBilinear2After => Some(Self {
                taps: &BLUR_BILINEAR2_TAPS,
                offset: 3,
                reach: 2,
            }),
            _ => None,
        }
    }

    /// Per axis, `m[p][j][s]`: the weight of input row `y + s - reach` in the upsampled row
    /// `2y + p + j - 1`, which the convolution's tap `j` reads for output row `2y + p`.
    fn per_axis(&self) -> Result<Tensor> {
        let span = 2 * self.reach + 1;
        let mut m = vec![0f32; (2 * 3 * span) as usize];
        for p in 0..2 {
            for j in 0..3 {
                for s in 0..span {
                    let t = p + j - 1 + self.offset - 2 * (s - self.reach);
                    if let Some(v) = usize::try_from(t).ok().and_then(|t| self.taps.get(t)) {
                        m[((p * 3 + j) * span + s) as usize] = *v;
                    }
                }
            }
        }
        Ok(Tensor::f_from_slice(&m)?.f_view([2, 3, span])?)
    }
}

/// One convolution in the phases' layout.
#[derive(Debug)]
struct PhaseConv {
    weight: Tensor,
    bias: Option<Tensor>,
    relu: bool,
    /// Replicate padding of its input on each side.
    pad: i64,
    /// Whether the weights are a reduced-precision pair (high part, then the rest) over the
    /// input given twice ([`split_precision`]).
    split: bool,
}

/// The layers of a decoder after an upsampling by 2, in the phases' layout: stretches of
/// convolutions, each run at the size it was upsampled from and pixel-shuffled once.
#[derive(Debug)]
pub struct PhaseTail {
    stretches: Vec<Vec<PhaseConv>>,
}

/// A layer of the table with its convolution's weights and bias.
pub type TableConv<'a> = (&'a Layer, &'a Tensor, Option<&'a Tensor>);

impl PhaseTail {
    /// The ending that starts with the upsampling `first` (after the layer before `convs`) and
    /// goes on with `convs` to the end of the table, in the kind and on the device of their
    /// weights; `None` unless every layer of `convs` is a 3 x 3 convolution without a join, with
    /// nothing after it but an upsampling by 2 with fixed taps (the last one nothing at all).
    pub fn new(first: Resample, convs: &[TableConv<'_>]) -> Result<Option<Self>> {
        let Some(last) = convs.last() else {
            return Ok(None);
        };
        let fits = |l: &Layer| {
            l.kernel == 3
                && !l.join
                && (l.resample == Resample::Keep || Taps::of(l.resample).is_some())
        };
        if Taps::of(first).is_none()
            || last.0.resample != Resample::Keep
            || !convs.iter().all(|(l, _, _)| fits(l))
        {
            return Ok(None);
        }
        let mut stretches: Vec<Vec<PhaseConv>> = Vec::new();
        let mut upsampling = Taps::of(first);
        for (layer, weight, bias) in convs {
            let (kind, device) = (weight.kind(), weight.device());
            let fp32 = weight.f_to_kind(Kind::Float)?;
            let (w, pad, fused) = match upsampling.take() {
                Some(taps) => {
                    stretches.push(Vec::new());
                    (
                        upsample_then_conv(&fp32, &taps.per_axis()?)?,
                        taps.reach,
                        true,
                    )
                }
                None => (conv_on_phases(&fp32)?, 1, false),
            };
            // A fused kernel's phases are different sums of the weights: rounded to bf16 or
            // fp16 each, their errors differ from phase to phase and draw a faint lattice
            // (held-out grid 2.6 in fp32, 14.8 in bf16); its pieces keep more precision.
            let split = fused && matches!(kind, Kind::BFloat16 | Kind::Half);
            let w = if split {
                split_precision(&w, kind)?
            } else {
                w.f_to_kind(kind)?
            };
            let bias = match bias {
                Some(b) => Some(phase_bias(b)?),
                None => None,
            };
            let Some(stretch) = stretches.last_mut() else {
                return Err(crate::Error::Torch(
                    "a phase ending must open with an upsampling".into(),
                ));
            };
            stretch.push(PhaseConv {
                weight: to_channels_last(&w.f_to_device(device)?)?,
                bias,
                relu: layer.relu,
                pad,
                split,
            });
            upsampling = Taps::of(layer.resample);
        }
        Ok(Some(Self { stretches }))
    }

    /// The table's output from the output `x` (N, C, H, W) of the layer before the ending
    /// (after its ReLU, before its upsampling).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut z = x.shallow_clone();
        for (i, stretch) in self.stretches.iter().enumerate() {
            for c in stretch {
                let p = c.pad;
                z = z.f_pad([p, p, p, p], "replicate", None)?;
                if c.split {
                    z = Tensor::f_cat(&[&z, &z], 1)?;
                }
                z = z.f_conv2d(&c.weight, c.bias.as_ref(), [1, 1], [0, 0], [1, 1], 1)?;
                if c.relu {
                    z = z.f_relu_()?;
                }
            }
            z = if i + 1 == self.stretches.len() {
                last_pixel_shuffle(&z, 2)?
            } else {
                z.f_pixel_shuffle(2)?
            };
        }
        Ok(z)
    }
}

/// `w` (O, C, k, k) fp32 in `kind` (bf16 or fp16) as two kernels side by side over the input
/// channels, (O, 2 C, k, k): its rounding, then the rounding of what that left out. Convolved
/// with the input given twice (accumulating in fp32), they apply `w` with about twice the
/// precision of one.
fn split_precision(w: &Tensor, kind: Kind) -> Result<Tensor> {
    let high = w.f_to_kind(kind)?;
    let low = w.f_sub(&high.f_to_kind(Kind::Float)?)?.f_to_kind(kind)?;
    Ok(Tensor::f_cat(&[&high, &low], 1)?)
}

/// Each output channel's bias for its four phases (channel `4 o + phase`, pixel-shuffle order).
fn phase_bias(b: &Tensor) -> Result<Tensor> {
    let n = b.size()[0];
    Ok(b.f_view([n, 1])?
        .f_expand([n, 4], false)?
        .f_reshape([n * 4])?)
}

/// The convolution of the small map (C → 4 C', channel `4 o + 2 p_row + p_col`) equal to an
/// upsampling whose per-axis weights are `m` ([`Taps::per_axis`], (2, 3, S)) followed by `w`
/// (C', C, 3, 3) at the large size: (4 C', C, S, S).
fn upsample_then_conv(w: &Tensor, m: &Tensor) -> Result<Tensor> {
    let size = w.size();
    let (o, c, s) = (size[0], size[1], m.size()[2]);
    Ok(
        Tensor::f_einsum("oijk,pjs,qkt->opqist", &[w, m, m], None::<&[i64]>)?
            .f_reshape([o * 4, c, s, s])?
            .f_contiguous()?,
    )
}

/// Per axis, which phase and small-map offset a 3 x 3 convolution's tap reads: `m[p_out][j]
/// [p_in][d]` is 1 where large row `2y + p_out + j - 1` is phase `p_in` of small row
/// `y + d - 1`.
fn phase_taps() -> Result<Tensor> {
    let mut m = [0f32; 2 * 3 * 2 * 3];
    for p_out in 0..2i64 {
        for j in 0..3i64 {
            let q = p_out + j - 1;
            let (d, p_in) = (q.div_euclid(2) + 1, q.rem_euclid(2));
            m[(((p_out * 3 + j) * 2 + p_in) * 3 + d) as usize] = 1.0;
        }
    }
    Ok(Tensor::f_from_slice(&m)?.f_view([2, 3, 2, 3])?)
}

/// The 3 x 3 convolution of the phases (4 C → 4 C') equal to `w` (C', C, 3, 3) at the large
/// size.
fn conv_on_phases(w: &Tensor) -> Result<Tensor> {
    let size = w.size();
    let (o, c) = (size[0], size[1]);
    let m = phase_taps()?;
    Ok(
        Tensor::f_einsum("ocjk,pjrd,qkse->opqcrsde", &[w, &m, &m], None::<&[i64]>)?
            .f_reshape([o * 4, c * 4, 3, 3])?
            .f_contiguous()?,
    )
}
