// SPDX-License-Identifier: MIT
//! The one table of every network's layers: the full model's encoder and decoder in
//! pytorch-AdaIN's `nn.Sequential` order, and the light network's. The networks, the weight keys
//! and the FLOP count are all built from these tables.

/// What happens to the resolution around a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resample {
    /// Nothing.
    Keep,
    /// A 2x2 max-pool (stride 2, ceil mode) before the convolution.
    PoolBefore,
    /// A nearest-neighbour x2 upsampling after the convolution (and its ReLU).
    UpsampleAfter,
    /// The convolution itself has stride 2 (halving the size).
    Stride2,
    /// A pixel-unshuffle by this factor before the convolution (space to channels).
    UnshuffleBefore(i64),
    /// A pixel-shuffle by this factor after the convolution and its ReLU (channels to space).
    ShuffleAfter(i64),
}

/// How a decoder's `UpsampleAfter` doubles the size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Upsample {
    /// Nearest neighbour, as pytorch-AdaIN's decoder (and every decoder without a header entry).
    #[default]
    Nearest,
    /// Bilinear (half-pixel centres, PyTorch's `align_corners=False`).
    Bilinear,
}

impl Upsample {
    /// The value of the [`crate::weights::UPSAMPLE_KEY`] header entry (none for `Nearest`).
    pub fn tag(self) -> Option<&'static str> {
        match self {
            Self::Nearest => None,
            Self::Bilinear => Some("bilinear"),
        }
    }

    /// The mode a header entry names (no entry: nearest).
    pub fn from_tag(tag: Option<&str>) -> Option<Self> {
        match tag {
            None | Some("nearest") => Some(Self::Nearest),
            Some("bilinear") => Some(Self::Bilinear),
            Some(_) => None,
        }
    }

    /// The header entries of a decoder file upsampling this way (none for nearest).
    pub fn metadata(self) -> std::collections::HashMap<String, String> {
        self.tag()
            .map(|tag| (crate::weights::UPSAMPLE_KEY.to_owned(), tag.to_owned()))
            .into_iter()
            .collect()
    }
}

impl std::str::FromStr for Upsample {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nearest" => Ok(Self::Nearest),
            "bilinear" => Ok(Self::Bilinear),
            _ => Err(crate::Error::InvalidUpsample(s.to_owned())),
        }
    }
}

impl std::fmt::Display for Upsample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag().unwrap_or("nearest"))
    }
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
    /// Whether its output is one of the features AdaIN normalises (a "level"): relu4_1 in the
    /// full encoder; a skip and the bottleneck in the light one. The deepest level is the
    /// decoder's input.
    pub level: bool,
    /// Decoders only: the next shallower AdaIN level is concatenated to the input (after its
    /// channels) before this convolution.
    pub join: bool,
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
        level: false,
        join: false,
    }
}

impl Layer {
    /// The same layer with its output marked as an AdaIN level.
    const fn level(mut self) -> Self {
        self.level = true;
        self
    }

    /// The same layer taking a skip level concatenated to its input.
    const fn join(mut self) -> Self {
        self.join = true;
        self
    }

    /// The same layer without its ReLU.
    const fn linear(mut self) -> Self {
        self.relu = false;
        self
    }
}

use Resample::{Keep, PoolBefore, ShuffleAfter, Stride2, UnshuffleBefore, UpsampleAfter};

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
        level: false,
        join: false,
    },
    conv(2, 3, 64, Keep, true),
    conv(5, 64, 64, Keep, false),
    conv(9, 64, 128, PoolBefore, true),
    conv(12, 128, 128, Keep, false),
    conv(16, 128, 256, PoolBefore, true),
    conv(19, 256, 256, Keep, false),
    conv(22, 256, 256, Keep, false),
    conv(25, 256, 256, Keep, false),
    conv(29, 256, 512, PoolBefore, true).level(),
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
    conv(28, 64, 3, Keep, false).linear(),
];

/// The light network's encoder, shaped for two CPU cores (dense 3x3 convolutions of 32-128
/// channels, little work at full size; `bench/lite_candidates.py` measured the candidates):
/// RGB in [0, 1], a pixel-unshuffle by 2, then down to 1/4 (a 64-channel skip level) and 1/8 (the
/// 128-channel bottleneck level). Weights under `encoder.<index>`.
pub const LITE_ENCODER: [Layer; 5] = [
    conv(0, 12, 32, UnshuffleBefore(2), false),
    conv(1, 32, 64, Stride2, false),
    conv(2, 64, 64, Keep, false).level(),
    conv(3, 64, 128, Stride2, false),
    conv(4, 128, 128, Keep, false).level(),
];

/// The light network's decoder: from the bottleneck back to 1/4 by a pixel-shuffle, joined there
/// by the skip level (both after AdaIN), and to full size by a pixel-shuffle by 4 of the last
/// convolution (48 = 3 x 4 x 4 channels, no activation). Weights under `decoder.<index>`.
pub const LITE_DECODER: [Layer; 5] = [
    conv(0, 128, 128, Keep, false),
    conv(1, 128, 256, ShuffleAfter(2), false),
    conv(2, 128, 64, Keep, false).join(),
    conv(3, 64, 64, Keep, false),
    conv(4, 64, 48, ShuffleAfter(4), false).linear(),
];

/// Convolution FLOPs (2 per multiply-add) of `layers` on an input of `h` x `w` pixels
/// (already a multiple of the downsampling). Returns the FLOPs and the output's size.
pub fn conv_flops(layers: &[Layer], h: f64, w: f64) -> (f64, (f64, f64)) {
    let (mut h, mut w) = (h, w);
    let mut flops = 0.0;
    for l in layers {
        match l.resample {
            PoolBefore | Stride2 => (h, w) = ((h / 2.0).ceil(), (w / 2.0).ceil()),
            UnshuffleBefore(r) => (h, w) = (h / r as f64, w / r as f64),
            _ => {}
        }
        flops += 2.0 * (l.c_in * l.c_out * l.kernel * l.kernel) as f64 * h * w;
        match l.resample {
            UpsampleAfter => (h, w) = (h * 2.0, w * 2.0),
            ShuffleAfter(r) => (h, w) = (h * r as f64, w * r as f64),
            _ => {}
        }
    }
    (flops, (h, w))
}

/// Channels of each AdaIN level of an encoder table, shallow to deep.
pub fn level_channels(layers: &[Layer]) -> Vec<i64> {
    layers.iter().filter(|l| l.level).map(|l| l.c_out).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Follows the channels through a decoder fed with `levels` (shallow to deep).
    fn decoder_output_channels(decoder: &[Layer], levels: &[i64]) -> i64 {
        let mut skips = levels[..levels.len() - 1].iter().rev();
        let mut c = levels[levels.len() - 1];
        for l in decoder {
            if l.join {
                c += skips.next().expect("a skip level for every join");
            }
            assert_eq!(c, l.c_in, "decoder layer {}", l.index);
            c = match l.resample {
                ShuffleAfter(r) => l.c_out / (r * r),
                _ => l.c_out,
            };
        }
        assert!(skips.next().is_none(), "every skip level is joined");
        c
    }

    #[test]
    fn tables_chain_their_channels() {
        for encoder in [&ENCODER[..], &LITE_ENCODER[..]] {
            let mut c = 3;
            for l in encoder {
                if let UnshuffleBefore(r) = l.resample {
                    c *= r * r;
                }
                assert_eq!(c, l.c_in, "encoder layer {}", l.index);
                c = l.c_out;
            }
        }
        assert_eq!(level_channels(&ENCODER), vec![512]);
        assert_eq!(level_channels(&LITE_ENCODER), vec![64, 128]);
        assert_eq!(decoder_output_channels(&DECODER, &[512]), 3);
        assert_eq!(decoder_output_channels(&LITE_DECODER, &[64, 128]), 3);
    }

    #[test]
    fn both_networks_return_to_the_input_size() {
        for (enc, dec) in [
            (&ENCODER[..], &DECODER[..]),
            (&LITE_ENCODER[..], &LITE_DECODER[..]),
        ] {
            let (_, (h, w)) = conv_flops(enc, 360.0, 640.0);
            assert_eq!((h, w), (45.0, 80.0));
            let (_, size) = conv_flops(dec, h, w);
            assert_eq!(size, (360.0, 640.0));
        }
    }
}
