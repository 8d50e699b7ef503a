// SPDX-License-Identifier: MIT
//! The light network (`model=lite`): its own small encoder, AdaIN at two levels (a 1/4-size skip
//! and the 1/8-size bottleneck) and a decoder that joins them, made for real time on a CPU. The
//! VGG-19 encoder stays the loss network and the yardstick in training; at run time it is not
//! needed at all. Layers: [`arch::LITE_ENCODER`], [`arch::LITE_DECODER`].

use tch::{Tensor, nn};

use crate::arch;
use crate::error::{Error, Result};
use crate::layers::Stack;

/// The light network's encoder and decoder, weights under `encoder.<i>` and `decoder.<i>`.
#[derive(Debug)]
pub struct Lite {
    encoder: Stack,
    decoder: Stack,
}

impl Lite {
    /// Declares the network's variables under `vs`.
    pub fn new(vs: &nn::Path) -> Self {
        Self {
            encoder: Stack::new(&(vs / "encoder"), &arch::LITE_ENCODER),
            decoder: Stack::new(&(vs / "decoder"), &arch::LITE_DECODER),
        }
    }

    /// The features AdaIN normalises of an image (N, 3, H, W) in [0, 1] (H and W multiples of
    /// 8), shallow to deep: (N, 64, H/4, W/4) and (N, 128, H/8, W/8).
    pub fn levels(&self, rgb: &Tensor) -> Result<Vec<Tensor>> {
        self.encoder.levels(rgb)
    }

    /// Decodes the (AdaIN-normalised) levels into an image (N, 3, H, W), not clamped.
    pub fn decode(&self, levels: &[Tensor]) -> Result<Tensor> {
        let (deepest, skips) = levels
            .split_last()
            .ok_or_else(|| Error::Torch("the light decoder needs its levels".into()))?;
        self.decoder.forward(deepest, skips, |_, _| {})
    }
}
