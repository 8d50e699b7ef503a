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
