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
    /// A bilinear upsampling by this factor (half-pixel centres) after the convolution and its
    /// ReLU: the size grows without a learnt tile per block.
    BilinearAfter(i64),
    /// A x2 upsampling after the convolution and its ReLU that blurs before it interpolates:
    /// the activations, their edges repeated outwards, filtered by 1 2 1 per axis and upsampled
    /// bilinearly (half-pixel centres), in one pass. The rectified activations hold a component
    /// at their own Nyquist frequency, phase-locked to the pixel grid, which a plain bilinear
    /// upsampling carries into the picture as stripes of period 4 (from 1/2 size); the blur
    /// removes it.
    BlurBilinear2After,
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

use Resample::{
    BilinearAfter, BlurBilinear2After, Keep, PoolBefore, ShuffleAfter, Stride2, UnshuffleBefore,
    UpsampleAfter,
};

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

/// The light network's decoder as first shipped: from the bottleneck back to 1/4 by a
/// pixel-shuffle, joined there by the skip level (both after AdaIN), and to full size by a
/// pixel-shuffle by 4 of the last convolution (48 = 3 x 4 x 4 channels, no activation): every
/// 4 x 4 block of the picture is one learnt tile of one feature vector, which shows as a
/// periodic motif in flat areas. Weights under `decoder.<index>`.
pub const LITE_DECODER: [Layer; 5] = [
    conv(0, 128, 128, Keep, false),
    conv(1, 128, 256, ShuffleAfter(2), false),
    conv(2, 128, 64, Keep, false).join(),
    conv(3, 64, 64, Keep, false),
    conv(4, 64, 48, ShuffleAfter(4), false).linear(),
];

/// A light decoder that returns to full size without tiles: the same body to 1/4 size, then
/// bilinear x2 to a 16-channel convolution at 1/2 size, bilinear x2 and a last convolution at
/// full size (16 -> 3), so that every output pixel is computed at its own position.
pub const LITE_BILINEAR_DECODER: [Layer; 7] = [
    conv(0, 128, 128, Keep, false),
    conv(1, 128, 256, ShuffleAfter(2), false),
    conv(2, 128, 64, Keep, false).join(),
    conv(3, 64, 64, Keep, false),
    conv(4, 64, 32, BilinearAfter(2), false),
    conv(5, 32, 16, BilinearAfter(2), false),
    conv(6, 16, 3, Keep, false).linear(),
];

/// A light decoder with no pixel-shuffle anywhere and no stripes: [`LITE_BILINEAR_DECODER`]'s
/// layers, the bottleneck brought to 1/4 size by a 64-channel convolution and a bilinear x2
/// instead of a pixel-shuffle by 2 (which draws each 2 x 2 block at 1/4 size, an 8-pixel tile
/// in the picture, from one bottleneck vector), and the last upsampling, from 1/2 to full size,
/// [`Resample::BlurBilinear2After`] (a plain bilinear one there left a 4-pixel stripe pattern;
/// blurring the two upsamplings before it too cost much more style: trainer/README.md, round
/// L5).
pub const LITE_SMOOTH_DECODER: [Layer; 7] = [
    conv(0, 128, 128, Keep, false),
    conv(1, 128, 64, BilinearAfter(2), false),
    conv(2, 128, 64, Keep, false).join(),
    conv(3, 64, 64, Keep, false),
    conv(4, 64, 32, BilinearAfter(2), false),
    conv(5, 32, 16, BlurBilinear2After, false),
    conv(6, 16, 3, Keep, false).linear(),
];

/// [`LITE_SMOOTH_DECODER`] with a nonlinear last step at full size: 8 channels at 1/2 size
/// (blurred and upsampled as there), then 8 -> 8 with a ReLU and 8 -> 3 at full size. A linear
/// last convolution over blurred, interpolated maps cannot draw detail finer than they carry
/// (`lite-smooth`'s pictures are soft, its style ratio behind the first light network's); a
/// ReLU at full size can, without a tile of any period. As fast as `lite-smooth`
/// (`bench/lite_candidates.py`, `v2-smooth-c8`; BENCHMARKS.md).
pub const LITE_DETAIL_DECODER: [Layer; 8] = [
    conv(0, 128, 128, Keep, false),
    conv(1, 128, 64, BilinearAfter(2), false),
    conv(2, 128, 64, Keep, false).join(),
    conv(3, 64, 64, Keep, false),
    conv(4, 64, 32, BilinearAfter(2), false),
    conv(5, 32, 8, BlurBilinear2After, false),
    conv(6, 8, 8, Keep, false),
    conv(7, 8, 3, Keep, false).linear(),
];

/// A light decoder that returns to full size through the picture itself: the same body to 1/4
/// size, then 15 channels (no activation) upsampled bilinearly by 4: a 3 x 4 affine colour
/// transform per pixel applied to the network's input, plus an RGB residual
/// ([`LiteOutput::GuidedAffine`]); the fine structure is the photo's own.
pub const LITE_GUIDED_DECODER: [Layer; 5] = [
    conv(0, 128, 128, Keep, false),
    conv(1, 128, 256, ShuffleAfter(2), false),
    conv(2, 128, 64, Keep, false).join(),
    conv(3, 64, 64, Keep, false),
    conv(4, 64, GUIDED_CHANNELS, BilinearAfter(4), false).linear(),
];

/// Channels of a [`LiteOutput::GuidedAffine`] decoder's output: 12 affine coefficients (three
/// rows of [r, g, b, 1]) and 3 residual channels.
pub const GUIDED_CHANNELS: i64 = 15;

/// How a light decoder's last layer becomes the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteOutput {
    /// Its three channels are the picture.
    Rgb,
    /// Its [`GUIDED_CHANNELS`] channels are a per-pixel affine transform of the input picture
    /// plus a residual: `out_i = Σ_j a_ij · rgb_j + a_i3 + r_i`.
    GuidedAffine,
}

/// One light network: its layer tables, how its output becomes the picture, and the name its
/// weights files carry in their header ([`crate::weights::ARCH_KEY`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiteArch {
    /// The header value (`lite` for the first light network).
    pub tag: &'static str,
    /// Encoder table (weights under `encoder.<index>`).
    pub encoder: &'static [Layer],
    /// Decoder table (weights under `decoder.<index>`).
    pub decoder: &'static [Layer],
    /// What the decoder's output is.
    pub output: LiteOutput,
}

/// The light network as first shipped (pixel-shuffle to full size).
pub const LITE: LiteArch = LiteArch {
    tag: "lite",
    encoder: &LITE_ENCODER,
    decoder: &LITE_DECODER,
    output: LiteOutput::Rgb,
};

/// The light network with a bilinear, full-resolution ending ([`LITE_BILINEAR_DECODER`]).
pub const LITE_BILINEAR: LiteArch = LiteArch {
    tag: "lite-bilinear",
    encoder: &LITE_ENCODER,
    decoder: &LITE_BILINEAR_DECODER,
    output: LiteOutput::Rgb,
};

/// The light network with bilinear upsampling throughout its decoder ([`LITE_SMOOTH_DECODER`]).
pub const LITE_SMOOTH: LiteArch = LiteArch {
    tag: "lite-smooth",
    encoder: &LITE_ENCODER,
    decoder: &LITE_SMOOTH_DECODER,
    output: LiteOutput::Rgb,
};

/// `lite-smooth` with a nonlinear step at full size ([`LITE_DETAIL_DECODER`]).
pub const LITE_DETAIL: LiteArch = LiteArch {
    tag: "lite-detail",
    encoder: &LITE_ENCODER,
    decoder: &LITE_DETAIL_DECODER,
    output: LiteOutput::Rgb,
};

/// The light network with a content-guided ending ([`LITE_GUIDED_DECODER`]).
pub const LITE_GUIDED: LiteArch = LiteArch {
    tag: "lite-guided",
    encoder: &LITE_ENCODER,
    decoder: &LITE_GUIDED_DECODER,
    output: LiteOutput::GuidedAffine,
};

/// Every light network the library can load.
pub const LITE_ARCHS: [LiteArch; 5] = [LITE, LITE_BILINEAR, LITE_SMOOTH, LITE_DETAIL, LITE_GUIDED];

impl LiteArch {
    /// The light network whose weights carry `tag` in their header.
    pub fn from_tag(tag: &str) -> Option<Self> {
        LITE_ARCHS.into_iter().find(|a| a.tag == tag)
    }

    /// Convolution FLOPs of one frame of `h` x `w` (already padded to a multiple of 8).
    pub fn flops(&self, h: f64, w: f64) -> f64 {
        let (enc, (h, w)) = conv_flops(self.encoder, h, w);
        enc + conv_flops(self.decoder, h, w).0
    }
}

impl std::str::FromStr for LiteArch {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        Self::from_tag(s.trim()).ok_or_else(|| {
            crate::Error::InvalidModel(format!(
                "{s} (light networks: {})",
                LITE_ARCHS.map(|a| a.tag).join(", ")
            ))
        })
    }
}

impl std::fmt::Display for LiteArch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag)
    }
}

impl serde::Serialize for LiteArch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.tag)
    }
}

impl<'de> serde::Deserialize<'de> for LiteArch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let tag = String::deserialize(d)?;
        Self::from_tag(&tag)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown light network `{tag}`")))
    }
}

/// The activation after a layer of the person segmenter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// max(x, 0).
    Relu,
    /// x · relu6(x + 3) / 6 (MobileNetV3's).
    HardSwish,
}

/// One inverted residual block of the person segmenter's encoder (MobileNetV3's): a 1×1
/// expansion, a depthwise `kernel`×`kernel` convolution of `stride`, an optional
/// squeeze-and-excitation (mean over the picture, 1×1 to `squeeze` channels with ReLU, 1×1 back
/// with a sigmoid, multiplied in) and a linear 1×1 projection; the input is added back when the
/// stride is 1 and the channels match. Convolutions are padded as TensorFlow's `SAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvertedResidual {
    /// Input channels.
    pub c_in: i64,
    /// Channels after the expansion.
    pub expand: i64,
    /// Output channels.
    pub c_out: i64,
    /// Side of the depthwise kernel.
    pub kernel: i64,
    /// Stride of the depthwise convolution.
    pub stride: i64,
    /// Activation after the expansion and the depthwise convolution.
    pub act: Activation,
    /// Channels of the squeeze-and-excitation, if it has one.
    pub squeeze: Option<i64>,
}

const fn ir(
    c_in: i64,
    expand: i64,
    c_out: i64,
    kernel: i64,
    stride: i64,
    act: Activation,
    squeeze: Option<i64>,
) -> InvertedResidual {
    InvertedResidual {
        c_in,
        expand,
        c_out,
        kernel,
        stride,
        act,
        squeeze,
    }
}

/// One of the person segmenter's two networks (MediaPipe's selfie segmentation; the same
/// layers, trained for different inputs): its key prefix in the weights and its input, RGB in
/// [0, 1] at (height, width), the frame stretched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmenterModel {
    /// The prefix of its keys (`<name>.<k>.weight`).
    pub name: &'static str,
    /// Its input's height and width.
    pub input: (i64, i64),
}

/// The network for wide frames (16:9 video): 144 × 256.
pub const SEGMENTER_LANDSCAPE: SegmenterModel = SegmenterModel {
    name: "landscape",
    input: (144, 256),
};

/// The network for every other frame (4:3, square, portrait): 256 × 256.
pub const SEGMENTER_SQUARE: SegmenterModel = SegmenterModel {
    name: "square",
    input: (256, 256),
};

/// Frames at least this many times wider than tall go to [`SEGMENTER_LANDSCAPE`], the others to
/// [`SEGMENTER_SQUARE`] (3:2: between 16:9 and 4:3, where each network's stretch is the smaller).
pub const SEGMENTER_LANDSCAPE_FROM: f64 = 1.5;

/// Channels of the segmenter's stem (3×3, stride 2, hard swish): the skip at 1/2 size.
pub const SEGMENTER_STEM: i64 = 16;

/// The segmenter's encoder after the stem, down to 1/16 size.
pub const SEGMENTER_BLOCKS: [InvertedResidual; 8] = {
    use Activation::{HardSwish, Relu};
    [
        ir(16, 16, 16, 3, 2, Relu, Some(8)),
        ir(16, 72, 24, 3, 2, Relu, None),
        ir(24, 88, 24, 3, 1, Relu, None),
        ir(24, 96, 32, 5, 2, HardSwish, Some(24)),
        ir(32, 128, 32, 5, 1, HardSwish, Some(32)),
        ir(32, 128, 32, 5, 1, HardSwish, Some(32)),
        ir(32, 96, 32, 5, 1, HardSwish, Some(24)),
        ir(32, 96, 32, 5, 1, HardSwish, Some(24)),
    ]
};

/// Channels of the segmenter's pooled-attention head on the encoder's output (a 1×1 with ReLU,
/// times a sigmoid gate computed from the picture's mean).
pub const SEGMENTER_HEAD: i64 = 128;

/// One step of the segmenter's decoder: the input upsampled ×2 (bilinear) and projected 1×1 to
/// the skip's channels; the skip, weighted by an attention gate computed from the sum of both,
/// added to it; then a 1×1 with ReLU and a depthwise 3×3 with ReLU added back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fuse {
    /// Channels coming from below.
    pub c_in: i64,
    /// Channels of the skip (and of the output).
    pub c_skip: i64,
    /// Which encoder output is the skip: 0 the stem, `i` the output of block `i - 1`.
    pub skip: usize,
}

/// The segmenter's decoder, from 1/16 back to 1/2 size; a transposed 2×2 convolution of stride 2
/// then gives the person's probability at full size (after a sigmoid).
pub const SEGMENTER_FUSES: [Fuse; 3] = [
    Fuse {
        c_in: SEGMENTER_HEAD,
        c_skip: 24,
        skip: 3,
    },
    Fuse {
        c_in: 24,
        c_skip: 16,
        skip: 1,
    },
    Fuse {
        c_in: 16,
        c_skip: 16,
        skip: 0,
    },
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
            ShuffleAfter(r) | BilinearAfter(r) => (h, w) = (h * r as f64, w * r as f64),
            BlurBilinear2After => (h, w) = (h * 2.0, w * 2.0),
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
        for arch in LITE_ARCHS {
            let out = match arch.output {
                LiteOutput::Rgb => 3,
                LiteOutput::GuidedAffine => GUIDED_CHANNELS,
            };
            assert_eq!(decoder_output_channels(arch.decoder, &[64, 128]), out);
            assert_eq!(arch.tag.parse::<LiteArch>().unwrap(), arch);
        }
    }

    #[test]
    fn both_networks_return_to_the_input_size() {
        let lite = LITE_ARCHS.map(|a| (a.encoder, a.decoder));
        for (enc, dec) in [(&ENCODER[..], &DECODER[..])].into_iter().chain(lite) {
            let (_, (h, w)) = conv_flops(enc, 360.0, 640.0);
            assert_eq!((h, w), (45.0, 80.0));
            let (_, size) = conv_flops(dec, h, w);
            assert_eq!(size, (360.0, 640.0));
        }
    }
}
