//! The training objective of the paper (section 6.1).
//!
//! `t = AdaIN(f(c), f(s))`, `g = decoder(t)`;
//! content loss `‖f(g) − t‖²` at relu4_1 (mean squared error);
//! style loss `Σ_i ‖μ(φ_i(g)) − μ(φ_i(s))‖² + ‖σ(φ_i(g)) − σ(φ_i(s))‖²` over relu1_1..relu4_1.
//! All statistics and losses are computed in fp32, also under mixed precision.

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

/// Computes the losses of decoding AdaIN(content, style) for a batch of (N, 3, H, W) images in
/// [0, 1]. The encoder is frozen; gradients flow into the decoder only. With `amp` the networks
/// run under fp16 autocast (CUDA only; elsewhere it has no effect).
pub fn compute(
    encoder: &Encoder,
    decoder: &Decoder,
    content: &Tensor,
    style: &Tensor,
    amp: bool,
) -> Result<Losses> {
    tch::autocast(amp, || {
        let (target, style_stats) = tch::no_grad(|| -> Result<(Tensor, Vec<Stats>)> {
            let content_feat = float(&encoder.relu4_1(content)?)?;
            let style_feat = encoder.features(style)?;
            let stats = style_feat
                .taps()
                .iter()
                .map(|tap| Ok(mean_std(&float(tap)?)?))
                .collect::<Result<Vec<_>>>()?;
            let target = adain(&content_feat, &stats[3])?;
            Ok((target, stats))
        })?;
        let output = decoder.forward(&target)?;
        let out_feat = encoder.features(&output)?;
        let content_loss = float(&out_feat.relu4_1)?.f_mse_loss(&target, Reduction::Mean)?;
        let mut style_loss = Tensor::f_zeros([], (Kind::Float, content.device()))?;
        for (tap, s) in out_feat.taps().iter().zip(&style_stats) {
            let g = mean_std(&float(tap)?)?;
            style_loss = style_loss
                .f_add(&g.mean.f_mse_loss(&s.mean, Reduction::Mean)?)?
                .f_add(&g.std.f_mse_loss(&s.std, Reduction::Mean)?)?;
        }
        Ok(Losses {
            content: content_loss,
            style: style_loss,
            output,
        })
    })
}
