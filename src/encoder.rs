// SPDX-License-Identifier: MIT
//! The normalised VGG-19 encoder up to relu4_1, laid out as pytorch-AdaIN's `vgg` Sequential.

use tch::{Tensor, nn};

use crate::arch;
use crate::error::Result;
use crate::layers::Stack;

/// Number of channels at relu4_1, the layer AdaIN works on.
pub const FEATURE_CHANNELS: i64 = 512;

/// The encoder downsamples by this factor (three 2x2 max-pools).
pub const DOWNSAMPLING: i64 = 8;

/// The activations the style loss looks at.
#[derive(Debug)]
pub struct Features {
    /// relu1_1 (64 channels, full size).
    pub relu1_1: Tensor,
    /// relu2_1 (128 channels, 1/2 size).
    pub relu2_1: Tensor,
    /// relu3_1 (256 channels, 1/4 size).
    pub relu3_1: Tensor,
    /// relu4_1 (512 channels, 1/8 size).
    pub relu4_1: Tensor,
}

impl Features {
    /// The four taps in order, shallow to deep.
    pub fn taps(&self) -> [&Tensor; 4] {
        [&self.relu1_1, &self.relu2_1, &self.relu3_1, &self.relu4_1]
    }
}

/// VGG-19 (normalised) from the input up to relu4_1, as [`arch::ENCODER`] lays it out.
///
/// Input: RGB in [0, 1], NCHW. The 1x1 convolution at index 0 turns it into Caffe's BGR minus mean.
#[derive(Debug)]
pub struct Encoder {
    stack: Stack,
}

impl Encoder {
    /// Declares the encoder's variables under `vs` with pytorch-AdaIN's indices.
    pub fn new(vs: &nn::Path) -> Self {
        Self {
            stack: Stack::new(vs, &arch::ENCODER),
        }
    }

    /// Runs the whole encoder and returns relu1_1..relu4_1 (what the style loss needs).
    pub fn features(&self, rgb: &Tensor) -> Result<Features> {
        let mut taps = Vec::with_capacity(4);
        // The last output is relu4_1, which is also the last tap.
        let _ = self.stack.forward(rgb, &[], |layer, t| {
            if layer.tap {
                taps.push(t.shallow_clone());
            }
        })?;
        let [relu1_1, relu2_1, relu3_1, relu4_1]: [Tensor; 4] = taps
            .try_into()
            .map_err(|_| crate::Error::Torch("the encoder table must have four taps".into()))?;
        Ok(Features {
            relu1_1,
            relu2_1,
            relu3_1,
            relu4_1,
        })
    }

    /// Runs the encoder to relu4_1 only (what inference needs).
    pub fn relu4_1(&self, rgb: &Tensor) -> Result<Tensor> {
        self.stack.forward(rgb, &[], |_, _| {})
    }
}
