//! The decoder: relu4_1 features back to an RGB image, mirroring the encoder.

use tch::{Tensor, nn};

use crate::error::Result;
use crate::layers::Conv;

/// Mirror of the encoder with nearest-neighbour x2 upsampling instead of pooling, laid out as
/// pytorch-AdaIN's `decoder` Sequential (convs at 1, 5, 8, 11, 14, 18, 21, 25, 28).
///
/// Output: RGB, nominally in [0, 1] (not clamped: the training loss sees the raw values).
#[derive(Debug)]
pub struct Decoder {
    block4: Conv,
    block3: [Conv; 4],
    block2: [Conv; 2],
    block1: Conv,
    to_rgb: Conv,
}

fn upsample(x: &Tensor) -> Result<Tensor> {
    let (h, w) = (x.size()[2], x.size()[3]);
    Ok(x.f_upsample_nearest2d([h * 2, w * 2], 2.0, 2.0)?)
}

impl Decoder {
    /// Declares the decoder's variables under `vs` with pytorch-AdaIN's indices.
    pub fn new(vs: &nn::Path) -> Self {
        Self {
            block4: Conv::new(vs, 1, 512, 256, 3),
            block3: [
                Conv::new(vs, 5, 256, 256, 3),
                Conv::new(vs, 8, 256, 256, 3),
                Conv::new(vs, 11, 256, 256, 3),
                Conv::new(vs, 14, 256, 128, 3),
            ],
            block2: [
                Conv::new(vs, 18, 128, 128, 3),
                Conv::new(vs, 21, 128, 64, 3),
            ],
            block1: Conv::new(vs, 25, 64, 64, 3),
            to_rgb: Conv::new(vs, 28, 64, 3, 3),
        }
    }

    /// Decodes relu4_1-shaped features (N, 512, h, w) into an image (N, 3, 8h, 8w).
    pub fn forward(&self, features: &Tensor) -> Result<Tensor> {
        let mut x = upsample(&self.block4.forward_relu(features)?)?;
        for conv in &self.block3 {
            x = conv.forward_relu(&x)?;
        }
        x = upsample(&x)?;
        for conv in &self.block2 {
            x = conv.forward_relu(&x)?;
        }
        x = upsample(&x)?;
        x = self.block1.forward_relu(&x)?;
        self.to_rgb.forward(&x)
    }
}
