// SPDX-License-Identifier: MIT
//! The element's enum properties, as GObject enums over the library's own types.

use adainstyle::{Model, Precision, PreserveColor};
use gst::glib;

/// How the content's colours are kept (property `preserve-color`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAdainStylePreserveColor")]
pub enum PreserveColorMode {
    /// The output takes the style's colours.
    #[default]
    #[enum_value(name = "None: take the style's colours", nick = "none")]
    None = 0,
    /// The style image is recoloured to the content's colour statistics (CORAL).
    #[enum_value(name = "CORAL: recolour the style to the content", nick = "coral")]
    Coral = 1,
    /// Only luminance is stylised; the content's chrominance is kept.
    #[enum_value(name = "Luminance: keep the content's chrominance", nick = "luminance")]
    Luminance = 2,
}

impl From<PreserveColorMode> for PreserveColor {
    fn from(mode: PreserveColorMode) -> Self {
        match mode {
            PreserveColorMode::None => PreserveColor::None,
            PreserveColorMode::Coral => PreserveColor::Coral,
            PreserveColorMode::Luminance => PreserveColor::Luminance,
        }
    }
}

/// The precision the network runs in (property `precision`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAdainStylePrecision")]
pub enum PrecisionMode {
    /// fp16 on CUDA, bf16 on a CPU with native bf16 instructions, fp32 otherwise.
    #[default]
    #[enum_value(
        name = "Auto: fp16 on CUDA, bf16 on a CPU with AVX-512 BF16, else fp32",
        nick = "auto"
    )]
    Auto = 0,
    /// Single precision.
    #[enum_value(name = "fp32: single precision", nick = "fp32")]
    Fp32 = 1,
    /// Half precision (CUDA only).
    #[enum_value(name = "fp16: half precision (CUDA only)", nick = "fp16")]
    Fp16 = 2,
    /// bfloat16 (CUDA, or a CPU with native bf16 instructions).
    #[enum_value(
        name = "bf16: bfloat16 (CUDA, or a CPU with AVX-512 BF16)",
        nick = "bf16"
    )]
    Bf16 = 3,
}

impl From<PrecisionMode> for Precision {
    fn from(mode: PrecisionMode) -> Self {
        match mode {
            PrecisionMode::Auto => Precision::Auto,
            PrecisionMode::Fp32 => Precision::Fp32,
            PrecisionMode::Fp16 => Precision::Fp16,
            PrecisionMode::Bf16 => Precision::Bf16,
        }
    }
}

/// The network that stylises (property `model`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAdainStyleModel")]
pub enum ModelMode {
    /// The full model on CUDA; on a CPU the library's CPU default (the light network).
    #[default]
    #[enum_value(
        name = "Auto: the full model on CUDA, the light network on a CPU",
        nick = "auto"
    )]
    Auto = 0,
    /// VGG-19 encoder, AdaIN and the mirrored decoder.
    #[enum_value(name = "Full: VGG-19, AdaIN and its decoder", nick = "full")]
    Full = 1,
    /// The light network, shaped for real time on a CPU.
    #[enum_value(name = "Lite: the light network for real time on a CPU", nick = "lite")]
    Lite = 2,
}

impl From<ModelMode> for Model {
    fn from(mode: ModelMode) -> Self {
        match mode {
            ModelMode::Auto => Model::Auto,
            ModelMode::Full => Model::Full,
            ModelMode::Lite => Model::Lite,
        }
    }
}
