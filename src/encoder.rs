//! The normalised VGG-19 encoder up to relu4_1, laid out as pytorch-AdaIN's `vgg` Sequential.

use tch::{Tensor, nn};

use crate::error::Result;
use crate::layers::Conv;

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

/// VGG-19 (normalised) from the input up to relu4_1.
///
/// Input: RGB in [0, 1], NCHW. The 1x1 convolution at index 0 turns it into Caffe's BGR minus mean.
#[derive(Debug)]
pub struct Encoder {
    rgb_to_bgr: Conv,
    block1: [Conv; 2],
    block2: [Conv; 2],
    block3: [Conv; 4],
    conv4_1: Conv,
}

fn max_pool(x: &Tensor) -> Result<Tensor> {
    Ok(x.f_max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], true)?)
}

impl Encoder {
    /// Declares the encoder's variables under `vs` with pytorch-AdaIN's indices.
    pub fn new(vs: &nn::Path) -> Self {
        Self {
            rgb_to_bgr: Conv::new(vs, 0, 3, 3, 1),
            block1: [Conv::new(vs, 2, 3, 64, 3), Conv::new(vs, 5, 64, 64, 3)],
            block2: [Conv::new(vs, 9, 64, 128, 3), Conv::new(vs, 12, 128, 128, 3)],
            block3: [
                Conv::new(vs, 16, 128, 256, 3),
                Conv::new(vs, 19, 256, 256, 3),
                Conv::new(vs, 22, 256, 256, 3),
                Conv::new(vs, 25, 256, 256, 3),
            ],
            conv4_1: Conv::new(vs, 29, 256, 512, 3),
        }
    }

    /// Runs the whole encoder and returns relu1_1..relu4_1 (what the style loss needs).
    pub fn features(&self, rgb: &Tensor) -> Result<Features> {
        let x = self.rgb_to_bgr.forward(rgb)?;
        let relu1_1 = self.block1[0].forward_relu(&x)?;
        let x = self.block1[1].forward_relu(&relu1_1)?;
        let relu2_1 = self.block2[0].forward_relu(&max_pool(&x)?)?;
        let x = self.block2[1].forward_relu(&relu2_1)?;
        let relu3_1 = self.block3[0].forward_relu(&max_pool(&x)?)?;
        let mut x = self.block3[1].forward_relu(&relu3_1)?;
        for conv in &self.block3[2..] {
            x = conv.forward_relu(&x)?;
        }
        let relu4_1 = self.conv4_1.forward_relu(&max_pool(&x)?)?;
        Ok(Features {
            relu1_1,
            relu2_1,
            relu3_1,
            relu4_1,
        })
    }

    /// Runs the encoder to relu4_1 only (what inference needs).
    pub fn relu4_1(&self, rgb: &Tensor) -> Result<Tensor> {
        let mut x = self.rgb_to_bgr.forward(rgb)?;
        for conv in &self.block1 {
            x = conv.forward_relu(&x)?;
        }
        x = max_pool(&x)?;
        for conv in &self.block2 {
            x = conv.forward_relu(&x)?;
        }
        x = max_pool(&x)?;
        for conv in &self.block3 {
            x = conv.forward_relu(&x)?;
        }
        self.conv4_1.forward_relu(&max_pool(&x)?)
    }
}
