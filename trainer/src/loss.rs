// SPDX-License-Identifier: MIT
//! The training objective of the paper (section 6.1).
//!
//! `t = AdaIN(f(c), f(s))`, `g = decoder(t)`;
//! content loss `‖f(g) − t‖²` at relu4_1 (mean squared error);
//! style loss `Σ_i ‖μ(φ_i(g)) − μ(φ_i(s))‖² + ‖σ(φ_i(g)) − σ(φ_i(s))‖²` over relu1_1..relu4_1.
//! All statistics and losses are computed in fp32, also under mixed precision (see [`Compute`]).

use adainstyle::{Decoder, Encoder, Stats, adain, mean_std};
use anyhow::Result;
use tch::{Kind, Reduction, Tensor};

/// The two loss terms of one batch (scalar tensors, still attached to the graph).
#[derive(Debug)]
pub struct Losses {
    /// Content loss at relu4_1.
    pub content: Tensor,
    /// Style loss summed over the four taps.
    pub style: Tensor,
    /// The decoder's output for the batch.
    pub output: Tensor,
}

impl Losses {
    /// `content_weight * content + style_weight * style`.
    pub fn total(&self, content_weight: f64, style_weight: f64) -> Result<Tensor> {
        Ok(self
            .content
            .f_mul_scalar(content_weight)?
            .f_add(&self.style.f_mul_scalar(style_weight)?)?)
    }
}

fn float(t: &Tensor) -> Result<Tensor> {
    Ok(t.f_to_kind(Kind::Float)?)
}

/// How the networks run in a training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    /// Everything in fp32.
    Fp32,
    /// Convolutions and activations in bf16 (inputs and frozen encoder weights cast, decoder
    /// weights cast from their fp32 masters in every forward); statistics and losses in fp32.
    Bf16,
    /// libtorch's fp16 autocast (CUDA only), with the trainer's dynamic loss scaling.
    Fp16Autocast,
}

impl Compute {
    /// The step for a resolved precision (`Fp16` means autocast; `Auto` is treated as fp32).
    pub fn for_precision(p: adainstyle::Precision) -> Self {
        match p {
            adainstyle::Precision::Bf16 => Self::Bf16,
            adainstyle::Precision::Fp16 => Self::Fp16Autocast,
            _ => Self::Fp32,
        }
    }

    /// The kind the frozen encoder's weights are kept in.
    pub fn encoder_kind(self) -> Kind {
        match self {
            Self::Bf16 => Kind::BFloat16,
            _ => Kind::Float,
        }
    }

    /// Whether gradients can overflow and need loss scaling.
    pub fn needs_loss_scaling(self) -> bool {
        self == Self::Fp16Autocast
    }
}

/// What the loss needs of a batch's inputs: the content's relu4_1 and the style's statistics at
/// every tap, all fp32 and without gradients.
#[derive(Debug)]
pub struct Targets {
    /// relu4_1 of the content crops, (N, 512, h, w).
    pub content: Tensor,
    /// Channel statistics of the style images at relu1_1..relu4_1, each (N, C, 1, 1).
    pub style: Vec<Stats>,
}

/// Runs `f` without gradients, under fp16 autocast when `compute` asks for it.
fn frozen<T>(compute: Compute, f: impl FnOnce() -> Result<T>) -> Result<T> {
    tch::autocast(compute == Compute::Fp16Autocast, || tch::no_grad(f))
}

/// A batch of (N, 3, H, W) images in [0, 1] as the encoder's input: its precision, channels-last.
fn encoder_input(t: &Tensor, compute: Compute) -> Result<Tensor> {
    Ok(adainstyle::to_channels_last(
        &t.f_to_kind(compute.encoder_kind())?,
    )?)
}

/// relu4_1 of content images (N, 3, H, W) in [0, 1], fp32, without gradients.
pub fn content_features(encoder: &Encoder, content: &Tensor, compute: Compute) -> Result<Tensor> {
    frozen(compute, || {
        float(&encoder.relu4_1(&encoder_input(content, compute)?)?)
    })
}

/// Channel statistics at relu1_1..relu4_1 of style images (N, 3, H, W) in [0, 1], fp32,
/// without gradients.
pub fn style_stats(encoder: &Encoder, style: &Tensor, compute: Compute) -> Result<Vec<Stats>> {
    frozen(compute, || {
        encoder
            .features(&encoder_input(style, compute)?)?
            .taps()
            .iter()
            .map(|tap| Ok(mean_std(&float(tap)?)?))
            .collect()
    })
}

/// The encoder's view of a batch of (N, 3, H, W) images in [0, 1].
pub fn targets(
    encoder: &Encoder,
    content: &Tensor,
    style: &Tensor,
    compute: Compute,
) -> Result<Targets> {
    Ok(Targets {
        content: content_features(encoder, content, compute)?,
        style: style_stats(encoder, style, compute)?,
    })
}

/// Computes the losses of decoding AdaIN(content, style) for a batch of (N, 3, H, W) images in
/// [0, 1]: [`targets`] then [`compute_from`].
pub fn compute(
    encoder: &Encoder,
    decoder: &Decoder,
    content: &Tensor,
    style: &Tensor,
    compute: Compute,
) -> Result<Losses> {
    compute_from(
        encoder,
        decoder,
        &targets(encoder, content, style, compute)?,
        compute,
    )
}

/// Computes the losses of decoding AdaIN of `targets`. The encoder is frozen; gradients flow into
/// the decoder only. The convolutions run as `compute` says, in channels-last; the AdaIN target,
/// the statistics and the losses in fp32.
pub fn compute_from(
    encoder: &Encoder,
    decoder: &Decoder,
    targets: &Targets,
    compute: Compute,
) -> Result<Losses> {
    let net_kind = compute.encoder_kind();
    tch::autocast(compute == Compute::Fp16Autocast, || {
        let target = tch::no_grad(|| adain(&targets.content, &targets.style[3]))?;
        let output =
            decoder.forward(&adainstyle::to_channels_last(&target.f_to_kind(net_kind)?)?)?;
        let out_feat = encoder.features(&output)?;
        let content_loss = float(&out_feat.relu4_1)?.f_mse_loss(&target, Reduction::Mean)?;
        let mut style_loss = Tensor::f_zeros([], (Kind::Float, target.device()))?;
        for (tap, s) in out_feat.taps().iter().zip(&targets.style) {
            let g = mean_std(&float(tap)?)?;
            style_loss = style_loss
                .f_add(&g.mean.f_mse_loss(&s.mean, Reduction::Mean)?)?
                .f_add(&g.std.f_mse_loss(&s.std, Reduction::Mean)?)?;
        }
        Ok(Losses {
            content: content_loss,
            style: style_loss,
            output: float(&output)?,
        })
    })
}
