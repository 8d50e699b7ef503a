// SPDX-License-Identifier: MIT
//! Adaptive instance normalisation and the channel statistics it works with.

use tch::Tensor;

use crate::error::{Error, Result};

/// Added to the variance before the square root, as in pytorch-AdaIN.
pub const EPS: f64 = 1e-5;

/// Per-channel mean and standard deviation of a feature map, shaped (N, C, 1, 1).
#[derive(Debug)]
pub struct Stats {
    /// Channel means.
    pub mean: Tensor,
    /// Channel standard deviations, `sqrt(var + EPS)` with the unbiased variance (divided by
    /// H·W − 1), as pytorch-AdaIN computes it: its checkpoints are a supported input.
    pub std: Tensor,
}

impl Stats {
    /// A copy on another device and in another float kind.
    pub fn to(&self, device: tch::Device, kind: tch::Kind) -> Result<Self> {
        Ok(Self {
            mean: self.mean.f_to_device_(device, kind, false, false)?,
            std: self.std.f_to_device_(device, kind, false, false)?,
        })
    }

    /// A deep copy (tensors are reference-counted, this detaches from the original storage).
    pub fn deep_clone(&self) -> Self {
        Self {
            mean: self.mean.copy(),
            std: self.std.copy(),
        }
    }

    /// Blends several statistics with weights (normalised to sum to 1).
    ///
    /// AdaIN's target `std * n + mean` is linear in both, so this equals blending the AdaIN
    /// targets of the individual styles with the same weights.
    pub fn blend(parts: &[(&Stats, f64)]) -> Result<Self> {
        let total: f64 = parts.iter().map(|(_, w)| *w).sum();
        if parts.is_empty() {
            return Err(Error::StyleWeights("no styles given".into()));
        }
        if parts.iter().any(|(_, w)| !w.is_finite() || *w < 0.0) || total <= 0.0 {
            return Err(Error::StyleWeights(format!(
                "weights must be non-negative and sum to more than 0, got {:?}",
                parts.iter().map(|(_, w)| *w).collect::<Vec<_>>()
            )));
        }
        let (first, w0) = parts[0];
        let mut mean = first.mean.f_mul_scalar(w0 / total)?;
        let mut std = first.std.f_mul_scalar(w0 / total)?;
        for (stats, w) in &parts[1..] {
            mean = mean.f_add(&stats.mean.f_mul_scalar(w / total)?)?;
            std = std.f_add(&stats.std.f_mul_scalar(w / total)?)?;
        }
        Ok(Self { mean, std })
    }
}

/// Channel mean and std of `feat` (N, C, H, W) over H and W (unbiased variance, as
/// pytorch-AdaIN; a 1x1 map, which has no unbiased variance, counts as variance 0).
pub fn mean_std(feat: &Tensor) -> Result<Stats> {
    let size = feat.size();
    let correction = i64::from(size[2] * size[3] > 1);
    let (var, mean) = feat.f_var_mean_correction(Some([2i64, 3].as_slice()), correction, true)?;
    Ok(Stats {
        mean,
        std: var.f_add_scalar(EPS)?.f_sqrt()?,
    })
}

/// `std_s * (c - mean_c) / std_c + mean_s`: the content features with the style's statistics.
pub fn adain(content: &Tensor, style: &Stats) -> Result<Tensor> {
    let c = mean_std(content)?;
    Ok(content
        .f_sub(&c.mean)?
        .f_div(&c.std)?
        .f_mul(&style.std)?
        .f_add(&style.mean)?)
}

/// `alpha * adain(content, style) + (1 - alpha) * content`: the decoder's input.
pub fn adain_mix(content: &Tensor, style: &Stats, alpha: f64) -> Result<Tensor> {
    let target = adain(content, style)?;
    if alpha >= 1.0 {
        return Ok(target);
    }
    Ok(target
        .f_mul_scalar(alpha)?
        .f_add(&content.f_mul_scalar(1.0 - alpha)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    #[test]
    fn adain_gives_content_the_style_statistics() {
        tch::manual_seed(1);
        let content = Tensor::rand([2, 16, 9, 7], (Kind::Float, Device::Cpu)) * 3.0 + 1.0;
        let style_feat = Tensor::randn([2, 16, 5, 6], (Kind::Float, Device::Cpu)) * 0.5 - 2.0;
        let s = mean_std(&style_feat).unwrap();
        let out = mean_std(&adain(&content, &s).unwrap()).unwrap();
        assert!(max_abs(&out.mean, &s.mean) < 1e-4);
        assert!(max_abs(&out.std, &s.std) < 1e-4);
    }

    #[test]
    fn alpha_zero_returns_content() {
        let content = Tensor::rand([1, 8, 4, 4], (Kind::Float, Device::Cpu));
        let style = mean_std(&Tensor::rand([1, 8, 4, 4], (Kind::Float, Device::Cpu))).unwrap();
        let out = adain_mix(&content, &style, 0.0).unwrap();
        assert!(max_abs(&out, &content) < 1e-6);
        let half = adain_mix(&content, &style, 0.5).unwrap();
        assert!(max_abs(&half, &content) > 1e-3);
    }

    #[test]
    fn blend_weights() {
        let a = mean_std(&Tensor::rand([1, 8, 4, 4], (Kind::Float, Device::Cpu))).unwrap();
        let b = mean_std(&(Tensor::rand([1, 8, 4, 4], (Kind::Float, Device::Cpu)) * 5.0)).unwrap();
        let only_a = Stats::blend(&[(&a, 1.0), (&b, 0.0)]).unwrap();
        assert!(max_abs(&only_a.mean, &a.mean) < 1e-7);
        assert!(max_abs(&only_a.std, &a.std) < 1e-7);
        let mid = Stats::blend(&[(&a, 2.0), (&b, 2.0)]).unwrap();
        assert!(max_abs(&mid.mean, &((&a.mean + &b.mean) * 0.5)) < 1e-6);
        // Blending statistics equals blending the AdaIN targets.
        let c = Tensor::rand([1, 8, 4, 4], (Kind::Float, Device::Cpu));
        let lhs = adain(&c, &Stats::blend(&[(&a, 0.3), (&b, 0.7)]).unwrap()).unwrap();
        let rhs = adain(&c, &a).unwrap() * 0.3 + adain(&c, &b).unwrap() * 0.7;
        assert!(max_abs(&lhs, &rhs) < 1e-5);
        assert!(Stats::blend(&[(&a, 0.0), (&b, 0.0)]).is_err());
        assert!(Stats::blend(&[(&a, -1.0), (&b, 2.0)]).is_err());
        assert!(Stats::blend(&[]).is_err());
    }
}
