// SPDX-License-Identifier: MIT
//! The light network (`model=lite`): its own small encoder, AdaIN at two levels (a 1/4-size skip
//! and the 1/8-size bottleneck) and a decoder that joins them, made for real time on a CPU. The
//! VGG-19 encoder stays the loss network and the yardstick in training; at run time it is not
//! needed at all. Its layers are one of [`arch::LITE_ARCHS`], named in its weights' header.

use tch::{Kind, Tensor, nn};

use crate::arch::{self, LiteArch, LiteOutput};
use crate::error::{Error, Result};
use crate::layers::Stack;

/// The light network's encoder and decoder, weights under `encoder.<i>` and `decoder.<i>`.
#[derive(Debug)]
pub struct Lite {
    arch: LiteArch,
    encoder: Stack,
    decoder: Stack,
}

impl Lite {
    /// Declares the variables of the light network `arch` under `vs`.
    pub fn new(vs: &nn::Path, arch: LiteArch) -> Self {
        Self {
            arch,
            encoder: Stack::new(&(vs / "encoder"), arch.encoder),
            decoder: Stack::new(&(vs / "decoder"), arch.decoder),
        }
    }

    /// Runs the decoder's full-size ending at half size from now on
    /// ([`crate::polyphase::PhaseTail`]): for inference weights that no longer change.
    pub fn fuse_phase_tail(&mut self) -> Result<()> {
        self.decoder.fuse_phase_tail()
    }

    /// Which light network this is.
    pub fn arch(&self) -> LiteArch {
        self.arch
    }

    /// The features AdaIN normalises of an image (N, 3, H, W) in [0, 1] (H and W multiples of
    /// 8), shallow to deep: (N, 64, H/4, W/4) and (N, 128, H/8, W/8).
    pub fn levels(&self, rgb: &Tensor) -> Result<Vec<Tensor>> {
        self.encoder.levels(rgb)
    }

    /// Decodes the (AdaIN-normalised) levels of `image` (the network's input, whose picture a
    /// guided decoder transforms) into an image (N, 3, H, W), not clamped.
    pub fn decode(&self, levels: &[Tensor], image: &Tensor) -> Result<Tensor> {
        let (deepest, skips) = levels
            .split_last()
            .ok_or_else(|| Error::Torch("the light decoder needs its levels".into()))?;
        let out = self.decoder.forward(deepest, skips, |_, _| {})?;
        match self.arch.output {
            LiteOutput::Rgb => Ok(out),
            LiteOutput::GuidedAffine => guided_affine(&out, image),
        }
    }
}

/// Applies the per-pixel affine colour transforms and residual of `coefficients` (N, 15, H, W:
/// three rows of [r, g, b, 1], then the residual) to `image` (N, 3, H, W), in the
/// coefficients' precision.
fn guided_affine(coefficients: &Tensor, image: &Tensor) -> Result<Tensor> {
    let size = coefficients.size();
    let (n, h, w) = (size[0], size[2], size[3]);
    if size[1] != arch::GUIDED_CHANNELS || image.size() != [n, 3, h, w] {
        return Err(Error::Torch(format!(
            "guided output of shape {size:?} for an image of shape {:?}",
            image.size()
        )));
    }
    let image = image.f_to_kind(coefficients.kind())?;
    let affine = coefficients.f_narrow(1, 0, 12)?.f_view([n, 3, 4, h, w])?;
    let residual = coefficients.f_narrow(1, 12, 3)?;
    let ones = Tensor::f_ones([n, 1, h, w], (image.kind(), image.device()))?;
    let homogeneous = Tensor::f_cat(&[&image, &ones], 1)?.f_unsqueeze(1)?;
    Ok(affine
        .f_mul(&homogeneous)?
        .f_sum_dim_intlist([2i64].as_slice(), false, None::<Kind>)?
        .f_add(&residual)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// The light decoders that end in upsamplings by 2 and 3x3 convolutions give the same
    /// picture, borders included, with their ending at the sizes it is upsampled from.
    #[test]
    fn the_ending_at_half_size_draws_the_same_picture() {
        for arch in [arch::LITE_DETAIL, arch::LITE_SMOOTH, arch::LITE_BILINEAR] {
            let image = crate::weights::seeded_uniform(&[1, 3, 40, 56], 9);
            // The same seeded weights in `kind`, with the ending at half size or not.
            let picture = |kind: Kind, fused: bool| {
                let mut vs = nn::VarStore::new(Device::Cpu);
                let mut net = Lite::new(&vs.root(), arch);
                crate::weights::fill_seeded(&vs, 5).unwrap();
                vs.set_kind(kind);
                if fused {
                    net.fuse_phase_tail().unwrap();
                    // From the 1/4-size layer on: its bilinear x2 and everything after.
                    assert_eq!(net.decoder.phase_tail_start(), Some(4), "{arch}");
                }
                let _guard = tch::no_grad_guard();
                let x = crate::to_channels_last(&image.to_kind(kind)).unwrap();
                let levels = net.levels(&x).unwrap();
                net.decode(&levels, &x).unwrap().to_kind(Kind::Float)
            };
            let plain = picture(Kind::Float, false);
            let fused = picture(Kind::Float, true);
            assert_eq!(fused.size(), [1, 3, 40, 56]);
            let scale = plain.abs().max().double_value(&[]);
            assert!(scale > 1e-3, "{arch}: an empty picture proves nothing");
            let err = (&fused - &plain).abs().max().double_value(&[]) / scale;
            assert!(err < 1e-5, "{arch} fp32: {err}");
            // In bf16 within bf16's own rounding of the same picture.
            let rounding = (picture(Kind::BFloat16, false) - &plain)
                .abs()
                .max()
                .double_value(&[])
                / scale;
            let err = (picture(Kind::BFloat16, true) - &plain)
                .abs()
                .max()
                .double_value(&[])
                / scale;
            assert!(
                err < 2.0 * rounding + 1e-3,
                "{arch} bf16: {err} (rounding {rounding})"
            );
            // And its error has no more of a 4-pixel period than bf16's own: a fused kernel's
            // phases rounded one by one would draw a faint lattice.
            let periodic = |t: Tensor| {
                let tile = (t - &plain).view([1, 3, 10, 4, 14, 4]).mean_dim(
                    [2i64, 4].as_slice(),
                    false,
                    None,
                );
                (&tile - tile.mean_dim([2i64, 3].as_slice(), true, None))
                    .square()
                    .sum(Kind::Float)
                    .double_value(&[])
            };
            let (own, fused) = (
                periodic(picture(Kind::BFloat16, false)),
                periodic(picture(Kind::BFloat16, true)),
            );
            assert!(
                fused < 2.0 * own + 1e-9,
                "{arch}: periodic error {fused} against {own}"
            );
        }
    }
}
