// SPDX-License-Identifier: MIT
//! The decoder: relu4_1 features back to an RGB image, mirroring the encoder.

use tch::{Tensor, nn};

use crate::arch::{self, Upsample};
use crate::error::Result;
use crate::layers::Stack;

/// Mirror of the encoder with nearest-neighbour x2 upsampling instead of pooling, laid out as
/// pytorch-AdaIN's `decoder` Sequential ([`arch::DECODER`]: convs at 1, 5, 8, 11, 14, 18, 21,
/// 25, 28).
///
/// Output: RGB, nominally in [0, 1] (not clamped: the training loss sees the raw values).
#[derive(Debug)]
pub struct Decoder {
    stack: Stack,
}

impl Decoder {
    /// Declares the decoder's variables under `vs` with pytorch-AdaIN's indices (nearest
    /// upsampling, as pytorch-AdaIN).
    pub fn new(vs: &nn::Path) -> Self {
        Self::with_upsample(vs, Upsample::Nearest)
    }

    /// The same weights with another upsampling mode (the keys do not change; the mode is
    /// stored in the weights file's header, [`crate::weights::UPSAMPLE_KEY`]).
    pub fn with_upsample(vs: &nn::Path, upsample: Upsample) -> Self {
        Self {
            stack: Stack::with_upsample(vs, &arch::DECODER, upsample),
        }
    }

    /// Decodes relu4_1-shaped features (N, 512, h, w) into an image (N, 3, 8h, 8w).
    pub fn forward(&self, features: &Tensor) -> Result<Tensor> {
        self.stack.forward(features, &[], |_, _| {})
    }
}
