// SPDX-License-Identifier: MIT
//! The decoder: relu4_1 features back to an RGB image, mirroring the encoder.

use tch::{Tensor, nn};

use crate::arch::{self, Layer, Resample};
use crate::error::Result;
use crate::layers::Conv;

/// Mirror of the encoder with nearest-neighbour x2 upsampling instead of pooling, laid out as
/// pytorch-AdaIN's `decoder` Sequential ([`arch::DECODER`]: convs at 1, 5, 8, 11, 14, 18, 21,
/// 25, 28).
///
/// Output: RGB, nominally in [0, 1] (not clamped: the training loss sees the raw values).
#[derive(Debug)]
pub struct Decoder {
    convs: Vec<(Layer, Conv)>,
}

fn upsample(x: &Tensor) -> Result<Tensor> {
    let (h, w) = (x.size()[2], x.size()[3]);
    Ok(x.f_upsample_nearest2d([h * 2, w * 2], 2.0, 2.0)?)
}

impl Decoder {
    /// Declares the decoder's variables under `vs` with pytorch-AdaIN's indices.
    pub fn new(vs: &nn::Path) -> Self {
        Self {
            convs: arch::DECODER
                .iter()
                .map(|l| (*l, Conv::new(vs, l.index, l.c_in, l.c_out, l.kernel)))
                .collect(),
        }
    }

    /// Decodes relu4_1-shaped features (N, 512, h, w) into an image (N, 3, 8h, 8w).
    pub fn forward(&self, features: &Tensor) -> Result<Tensor> {
        let mut x = features.shallow_clone();
        for (layer, conv) in &self.convs {
            x = conv.forward(&x)?;
            if layer.relu {
                x = x.f_relu()?;
            }
            if layer.resample == Resample::UpsampleAfter {
                x = upsample(&x)?;
            }
        }
        Ok(x)
    }
}
