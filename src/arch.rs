// SPDX-License-Identifier: MIT
//! The one table of both networks' layers, in pytorch-AdaIN's `nn.Sequential` order. The encoder,
//! the decoder and the FLOP count are all built from it.

/// What happens to the resolution around a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resample {
    /// Nothing.
    Keep,
    /// A 2x2 max-pool (stride 2, ceil mode) before the convolution.
    PoolBefore,
    /// A nearest-neighbour x2 upsampling after the convolution (and its ReLU).
    UpsampleAfter,
}

/// One convolution of a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layer {
    /// Index in pytorch-AdaIN's `nn.Sequential`: the weights are `<index>.weight` / `.bias`.
    pub index: usize,
    /// Input channels.
    pub c_in: i64,
    /// Output channels.
    pub c_out: i64,
    /// Kernel side (3x3 convolutions are preceded by a 1-pixel reflection pad).
    pub kernel: i64,
    /// Pooling or upsampling around it.
    pub resample: Resample,
    /// Whether a ReLU follows.
    pub relu: bool,
    /// Whether its ReLU output is one of the style loss's taps (relu1_1 .. relu4_1).
    pub tap: bool,
}

const fn conv(index: usize, c_in: i64, c_out: i64, resample: Resample, tap: bool) -> Layer {
    Layer {
        index,
        c_in,
        c_out,
        kernel: 3,
        resample,
        relu: true,
        tap,
    }
}

use Resample::{Keep, PoolBefore, UpsampleAfter};

/// The normalised VGG-19 up to relu4_1. Index 0 is the 1x1 convolution that turns RGB in [0, 1]
/// into Caffe's BGR minus mean (no ReLU); the taps are relu1_1 (3), relu2_1 (10), relu3_1 (17) and
/// relu4_1 (30).
pub const ENCODER: [Layer; 10] = [
    Layer {
        index: 0,
        c_in: 3,
        c_out: 3,
        kernel: 1,
        resample: Keep,
        relu: false,
        tap: false,
    },
    conv(2, 3, 64, Keep, true),
    conv(5, 64, 64, Keep, false),
    conv(9, 64, 128, PoolBefore, true),
    conv(12, 128, 128, Keep, false),
    conv(16, 128, 256, PoolBefore, true),
    conv(19, 256, 256, Keep, false),
    conv(22, 256, 256, Keep, false),
    conv(25, 256, 256, Keep, false),
    conv(29, 256, 512, PoolBefore, true),
];

/// The decoder, mirroring the encoder; the last convolution has no activation.
pub const DECODER: [Layer; 9] = [
    conv(1, 512, 256, UpsampleAfter, false),
    conv(5, 256, 256, Keep, false),
    conv(8, 256, 256, Keep, false),
    conv(11, 256, 256, Keep, false),
    conv(14, 256, 128, UpsampleAfter, false),
    conv(18, 128, 128, Keep, false),
    conv(21, 128, 64, UpsampleAfter, false),
    conv(25, 64, 64, Keep, false),
    Layer {
        index: 28,
        c_in: 64,
        c_out: 3,
        kernel: 3,
        resample: Keep,
        relu: false,
        tap: false,
    },
];

/// Convolution FLOPs (2 per multiply-add) of `layers` on an input of `h` x `w` pixels
/// (already a multiple of the downsampling).
pub fn conv_flops(layers: &[Layer], h: f64, w: f64) -> f64 {
    let (mut h, mut w) = (h, w);
    let mut flops = 0.0;
    for l in layers {
        if l.resample == PoolBefore {
            (h, w) = ((h / 2.0).ceil(), (w / 2.0).ceil());
        }
        flops += 2.0 * (l.c_in * l.c_out * l.kernel * l.kernel) as f64 * h * w;
        if l.resample == UpsampleAfter {
            (h, w) = (h * 2.0, w * 2.0);
        }
    }
    flops
}
