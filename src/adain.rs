// SPDX-License-Identifier: MIT
//! Adaptive instance normalisation and the channel statistics it works with.

use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// Added to the variance before the square root, as in pytorch-AdaIN.
pub const EPS: f64 = 1e-5;

/// Per-channel mean and standard deviation of a feature map, shaped (N, C, 1, 1).
///
/// A network that applies AdaIN at several levels (the light one) keeps the statistics of all its
/// levels in one `Stats`, their channels one after the other ([`Stats::cat`], [`Stats::split`]),
/// so that blending, caching and smoothing treat every level alike.
#[derive(Debug)]
pub struct Stats {
    /// Channel means.
    pub mean: Tensor,
    /// Channel standard deviations, `sqrt(var + EPS)` with the unbiased variance (divided by
    /// H·W − 1), as pytorch-AdaIN computes it: its checkpoints are a supported input.
    pub std: Tensor,
}

impl Stats {
    /// A deep copy (tensors are reference-counted, this detaches from the original storage).
    pub fn deep_clone(&self) -> Self {
        Self {
            mean: self.mean.copy(),
            std: self.std.copy(),
        }
    }

    /// The statistics of several levels as one, channels one after the other.
    pub fn cat(parts: &[Stats]) -> Result<Self> {
        let means: Vec<&Tensor> = parts.iter().map(|p| &p.mean).collect();
        let stds: Vec<&Tensor> = parts.iter().map(|p| &p.std).collect();
        Ok(Self {
            mean: Tensor::f_cat(&means, 1)?,
            std: Tensor::f_cat(&stds, 1)?,
        })
    }

    /// Number of channels (of all levels together).
    pub fn channels(&self) -> i64 {
        self.mean.size().get(1).copied().unwrap_or(0)
    }

    /// The per-level statistics of [`Stats::cat`]: `channels` gives each level's count, and
    /// must add up to [`Stats::channels`].
    pub fn split(&self, channels: &[i64]) -> Result<Vec<Stats>> {
        if channels.iter().sum::<i64>() != self.channels() {
            return Err(Error::Torch(format!(
                "statistics of {} channels do not fit levels of {channels:?} channels (weights \
                 of another network?)",
                self.channels()
            )));
        }
        let mut start = 0;
        channels
            .iter()
            .map(|&c| {
                let part = Stats {
                    mean: self.mean.f_narrow(1, start, c)?,
                    std: self.std.f_narrow(1, start, c)?,
                };
                start += c;
                Ok(part)
            })
            .collect()
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
///
/// Two passes (the mean, then the squared deviations from it): as stable as a one-pass Welford
/// reduction and, on a CPU, several times faster than libtorch's `var_mean` over two dimensions.
/// The statistics are fp32 whatever the features' kind. A channels-last map in host memory that
/// needs no gradient (every frame the stylizer sees on a CPU) is reduced in plain loops
/// ([`host_moments`]); anything else by libtorch, in fp32.
pub fn mean_std(feat: &Tensor) -> Result<Stats> {
    if let Some(stats) = host_moments(feat, None)? {
        return Ok(stats);
    }
    // In fp32 (libtorch returns an fp32 map itself, no copy).
    let feat = &feat.f_to_kind(Kind::Float)?;
    let size = feat.size();
    let n = size[2] * size[3];
    let correction = i64::from(n > 1);
    let dims = Some([2i64, 3].as_slice());
    let mean = feat.f_mean_dim(dims, true, None::<tch::Kind>)?;
    let var = feat
        .f_sub(&mean)?
        .f_square()?
        .f_sum_dim_intlist(dims, true, None::<tch::Kind>)?
        .f_div_scalar((n - correction).max(1) as f64)?;
    Ok(Stats {
        mean,
        std: var.f_add_scalar(EPS)?.f_sqrt()?,
    })
}

/// Pixels per block of the host reduction ([`channel_sums`]).
const HOST_BLOCK: usize = 256;

/// [`mean_std`], or with `weight` [`masked_mean_std`], of a channels-last fp32 or bf16 map in
/// host memory that needs no gradient, as two passes of plain loops over the pixels (each
/// pixel's channels are contiguous); `None` for any other map. libtorch reduces a channels-last
/// map over its spatial dimensions with strided loops: for the light network's two levels at
/// 640×360 in bf16 (1.4 million values) its passes, with the copy to fp32 they need, took
/// several times as long (BENCHMARKS.md, "AdaIN's statistics").
fn host_moments(feat: &Tensor, weight: Option<&Tensor>) -> Result<Option<Stats>> {
    let size = feat.size();
    let [n, c, h, w] = size[..] else {
        return Ok(None);
    };
    let channels_last = feat.stride() == [h * w * c, 1, w * c, c];
    let on_host = |t: &Tensor| t.device() == Device::Cpu && !t.requires_grad();
    if !on_host(feat)
        || !channels_last
        || n * c * h * w == 0
        || weight.is_some_and(|m| !on_host(m) || m.size() != [n, 1, h, w])
    {
        return Ok(None);
    }
    let (channels, pixels) = (c as usize, (h * w) as usize);
    let numel = n as usize * channels * pixels;
    let weights = match weight {
        Some(m) => Some(crate::frame::host_values(m)?),
        None => None,
    };
    let weights = weights.as_deref();
    let (mean, var) = match feat.kind() {
        Kind::Float => {
            // The channels-last map's memory in order, as a contiguous (N, H, W, C) view.
            let values = crate::frame::host_values(&feat.f_permute([0, 2, 3, 1])?)?;
            moments(&values, channels, pixels, |v| v, weights)
        }
        Kind::BFloat16 => {
            // bf16 is the upper half of an f32: read the bits, widen them in the loops.
            let mut bits = vec![0i16; numel];
            feat.f_permute([0, 2, 3, 1])?
                .f_view_dtype(Kind::Int16)?
                .f_copy_data(&mut bits, numel)?;
            let widen = |b: i16| f32::from_bits(u32::from(b as u16) << 16);
            moments(&bits, channels, pixels, widen, weights)
        }
        _ => return Ok(None),
    };
    let std: Vec<f32> = var.iter().map(|v| ((v + EPS).sqrt()) as f32).collect();
    let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let stats =
        |v: &[f32]| -> Result<Tensor> { Ok(Tensor::f_from_slice(v)?.f_view([n, c, 1, 1])?) };
    Ok(Some(Stats {
        mean: stats(&mean)?,
        std: stats(&std)?,
    }))
}

/// The per-channel means and variances of `values`, maps of `pixels` pixels of `channels`
/// values each, one after the other (`widen` turns a stored value into an f32), each pixel
/// counted with its weight in `weights` (one per pixel of every map) or 1: the variance is
/// divided by the total weight − 1 (at least 1), so with every weight 1 it is the unbiased one
/// (a single pixel has variance 0). Returns them map after map, channel after channel.
fn moments<T: Copy>(
    values: &[T],
    channels: usize,
    pixels: usize,
    widen: impl Fn(T) -> f32 + Copy,
    weights: Option<&[f32]>,
) -> (Vec<f64>, Vec<f64>) {
    let (mut means, mut vars) = (Vec::new(), Vec::new());
    for (i, image) in values.chunks_exact(channels * pixels).enumerate() {
        let (mean, var) = match weights {
            None => image_moments(image, channels, widen, |_| 1.0),
            Some(w) => {
                let w = &w[i * pixels..(i + 1) * pixels];
                image_moments(image, channels, widen, |p| w[p])
            }
        };
        means.extend(mean);
        vars.extend(var);
    }
    (means, vars)
}

/// [`moments`] of one map whose pixel `p` weighs `weight(p)` (a constant 1 costs nothing).
fn image_moments<T: Copy>(
    image: &[T],
    channels: usize,
    widen: impl Fn(T) -> f32 + Copy,
    weight: impl Fn(usize) -> f32 + Copy,
) -> (Vec<f64>, Vec<f64>) {
    let pixels = image.len() / channels;
    let total: f64 = (0..pixels).map(|p| f64::from(weight(p))).sum();
    let mean: Vec<f64> = channel_sums(image, channels, |acc, pixel, p| {
        let w = weight(p);
        for (a, &v) in acc.iter_mut().zip(pixel) {
            *a += w * widen(v);
        }
    })
    .into_iter()
    .map(|s| s / total.max(EPS))
    .collect();
    let centre: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let squares = channel_sums(image, channels, |acc, pixel, p| {
        let w = weight(p);
        for ((a, &v), &m) in acc.iter_mut().zip(pixel).zip(&centre) {
            let d = widen(v) - m;
            *a += w * d * d;
        }
    });
    let divisor = (total - 1.0).max(1.0);
    (mean, squares.into_iter().map(|s| s / divisor).collect())
}

/// Σ over the pixels of `image` (pixels of `channels` values each) of what `add` adds to the
/// per-channel accumulators for one pixel (its values and its index): in fp32 over blocks of
/// [`HOST_BLOCK`] pixels (one accumulator per channel, which vectorises across the channels),
/// the blocks' sums in f64.
fn channel_sums<T>(
    image: &[T],
    channels: usize,
    add: impl Fn(&mut [f32], &[T], usize),
) -> Vec<f64> {
    let mut total = vec![0f64; channels];
    let mut block = vec![0f32; channels];
    for (b, part) in image.chunks(channels * HOST_BLOCK).enumerate() {
        block.fill(0.0);
        for (p, pixel) in part.chunks_exact(channels).enumerate() {
            add(&mut block, pixel, b * HOST_BLOCK + p);
        }
        for (t, b) in total.iter_mut().zip(&block) {
            *t += f64::from(*b);
        }
    }
    total
}

/// Channel mean and std of `feat` (N, C, H, W) over the pixels that `weight` (N, 1, H, W), in
/// [0, 1], selects: each pixel counts with its weight. With every weight 1 this equals
/// [`mean_std`] (the unbiased variance divides by the total weight − 1). A region of total
/// weight below 1 gets finite statistics, meant to be multiplied by its (near-zero) weight.
pub fn masked_mean_std(feat: &Tensor, weight: &Tensor) -> Result<Stats> {
    if let Some(stats) = host_moments(feat, Some(weight))? {
        return Ok(stats);
    }
    // In fp32 (libtorch returns an fp32 map itself, no copy).
    let feat = &feat.f_to_kind(Kind::Float)?;
    let size = feat.size();
    let (n, c) = (size[0], size[1]);
    let dims = Some([2i64, 3].as_slice());
    let total = weight.f_sum_dim_intlist(dims, true, None)?;
    // The weighted sums of x and x² per channel as matrix products over the pixels (one pass
    // each, in the features' own memory order): Σw(x - m)² = Σwx² - m·Σwx for m = Σwx / Σw.
    let w = weight.f_reshape([n, 1, -1])?;
    let weighted_sum = |x: &Tensor| -> Result<Tensor> {
        let sum = if x.is_contiguous() {
            x.f_reshape([n, c, -1])?.f_bmm(&w.f_transpose(1, 2)?)?
        } else {
            // Channels-last: (N, H·W, C) is a view.
            w.f_bmm(&x.f_permute([0, 2, 3, 1])?.f_reshape([n, -1, c])?)?
        };
        Ok(sum.f_reshape([n, c, 1, 1])?)
    };
    let sum = weighted_sum(feat)?;
    let squares = weighted_sum(&feat.f_square()?)?;
    let mean = sum.f_div(&total.f_clamp_min(EPS)?)?;
    let var = squares
        .f_sub(&mean.f_mul(&sum)?)?
        .f_clamp_min(0.0)?
        .f_div(&total.f_sub_scalar(1.0)?.f_clamp_min(1.0)?)?;
    Ok(Stats {
        mean,
        std: var.f_add_scalar(EPS)?.f_sqrt()?,
    })
}

/// `std_s * (c - mean_c) / std_c + mean_s`: the content features with the style's statistics.
pub fn adain(content: &Tensor, style: &Stats) -> Result<Tensor> {
    transfer(content, &mean_std(content)?, style, 1.0)
}

/// `alpha * adain + (1 - alpha) * content` for `content` whose statistics are `own`, computed as
/// the per-channel affine map it is, `content * scale + shift` (two passes over the features,
/// whatever `alpha`): `scale = alpha * std_s / std_c + 1 - alpha`,
/// `shift = alpha * (mean_s - mean_c * std_s / std_c)`.
fn transfer(content: &Tensor, own: &Stats, style: &Stats, alpha: f64) -> Result<Tensor> {
    let ratio = style.std.f_div(&own.std)?;
    let (scale, shift) = if alpha >= 1.0 {
        (
            ratio.shallow_clone(),
            style.mean.f_sub(&own.mean.f_mul(&ratio)?)?,
        )
    } else {
        (
            ratio.f_mul_scalar(alpha)?.f_add_scalar(1.0 - alpha)?,
            style
                .mean
                .f_sub(&own.mean.f_mul(&ratio)?)?
                .f_mul_scalar(alpha)?,
        )
    };
    // One pass in the features' own kind and memory order (libtorch computes a bf16 product
    // in fp32 and rounds it once).
    let kind = content.kind();
    Ok(shift
        .f_to_kind(kind)?
        .f_addcmul(content, &scale.f_to_kind(kind)?)?)
}

/// `alpha * adain(content, style) + (1 - alpha) * content`: the decoder's input.
pub fn adain_mix(content: &Tensor, style: &Stats, alpha: f64) -> Result<Tensor> {
    transfer(content, &mean_std(content)?, style, alpha)
}

/// [`adain_mix`] normalising with given content statistics `own` instead of the content's own
/// (for instance statistics smoothed over time, [`crate::temporal`]).
pub fn adain_mix_with(content: &Tensor, own: &Stats, style: &Stats, alpha: f64) -> Result<Tensor> {
    transfer(content, own, style, alpha)
}

/// AdaIN with spatial control: the region that `mask` (N, 1, H, W) in [0, 1] selects gets
/// `inside`, the rest gets `outside` (or keeps the content features when it is `None`). Each
/// region is normalised with its own content statistics, computed over its own pixels (the
/// masked AdaIN of Huang & Belongie's original implementation); a soft mask blends the two
/// targets. `alpha` applies to both regions. An all-ones mask gives [`adain_mix`] up to
/// rounding (the stylizer does not call this for one).
pub fn adain_masked(
    content: &Tensor,
    mask: &Tensor,
    inside: &Stats,
    outside: Option<&Stats>,
    alpha: f64,
) -> Result<Tensor> {
    let styled = |weight: &Tensor, style: &Stats| -> Result<Tensor> {
        transfer(content, &masked_mean_std(content, weight)?, style, alpha)
    };
    let t_in = styled(mask, inside)?;
    let t_out = match outside {
        Some(style) => styled(&mask.f_neg()?.f_add_scalar(1.0)?, style)?,
        None => content.shallow_clone(),
    };
    // t_in · mask + t_out · (1 - mask), in one pass (in the features' kind).
    Ok(t_out.f_lerp_tensor(&t_in, &mask.f_to_kind(content.kind())?)?)
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
        let content = crate::weights::seeded_uniform(&[2, 16, 9, 7], 1) * 3.0 + 1.0;
        let style_feat =
            ((crate::weights::seeded_uniform(&[2, 16, 5, 6], 2) - 0.5) * 12f64.sqrt()) * 0.5 - 2.0;
        let s = mean_std(&style_feat).unwrap();
        let out = mean_std(&adain(&content, &s).unwrap()).unwrap();
        assert!(max_abs(&out.mean, &s.mean) < 1e-4);
        assert!(max_abs(&out.std, &s.std) < 1e-4);
    }

    #[test]
    fn host_statistics_equal_libtorchs_in_both_kinds_plain_and_masked() {
        // Two images, more pixels than one block of the host loops, an offset mean.
        let feat = crate::weights::seeded_uniform(&[2, 24, 31, 19], 5) * 4.0 + 2.5;
        let last = crate::to_channels_last(&feat).unwrap();
        for kind in [Kind::Float, Kind::BFloat16] {
            let map = last.to_kind(kind);
            let host = host_moments(&map, None)
                .unwrap()
                .expect("a channels-last CPU map");
            // A contiguous (N, C, H, W) map goes through libtorch.
            let torch = mean_std(&map.contiguous()).unwrap();
            assert_eq!(host.mean.kind(), Kind::Float);
            assert!(max_abs(&host.mean, &torch.mean) < 1e-5, "{kind:?} mean");
            assert!(max_abs(&host.std, &torch.std) < 1e-5, "{kind:?} std");
        }
        // Weighted by a soft mask, against libtorch's weighted sums.
        let mask = crate::weights::seeded_uniform(&[2, 1, 31, 19], 6);
        for kind in [Kind::Float, Kind::BFloat16] {
            let map = last.to_kind(kind);
            let host = host_moments(&map, Some(&mask)).unwrap().expect("host");
            let torch = masked_mean_std(&map.contiguous(), &mask).unwrap();
            assert!(
                max_abs(&host.mean, &torch.mean) < 1e-4,
                "{kind:?} masked mean"
            );
            assert!(max_abs(&host.std, &torch.std) < 1e-4, "{kind:?} masked std");
        }
        // A map that needs a gradient (the trainer's) is libtorch's.
        assert!(
            host_moments(&last.set_requires_grad(true), None)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn alpha_zero_returns_content() {
        let content = crate::weights::seeded_uniform(&[1, 8, 4, 4], 3);
        let style = mean_std(&crate::weights::seeded_uniform(&[1, 8, 4, 4], 4)).unwrap();
        let out = adain_mix(&content, &style, 0.0).unwrap();
        assert!(max_abs(&out, &content) < 1e-6);
        let half = adain_mix(&content, &style, 0.5).unwrap();
        assert!(max_abs(&half, &content) > 1e-3);
    }

    #[test]
    fn masked_statistics_and_regions() {
        let feat =
            ((crate::weights::seeded_uniform(&[1, 6, 8, 10], 5) - 0.5) * 12f64.sqrt()) * 2.0 + 0.5;
        let ones = Tensor::ones([1, 1, 8, 10], (Kind::Float, Device::Cpu));
        // All ones: the plain statistics and the plain AdaIN.
        let (a, b) = (
            masked_mean_std(&feat, &ones).unwrap(),
            mean_std(&feat).unwrap(),
        );
        assert!(max_abs(&a.mean, &b.mean) < 1e-5 && max_abs(&a.std, &b.std) < 1e-5);
        let style = mean_std(
            &(((crate::weights::seeded_uniform(&[1, 6, 4, 4], 6) - 0.5) * 12f64.sqrt()) - 3.0),
        )
        .unwrap();
        let other = mean_std(&(crate::weights::seeded_uniform(&[1, 6, 4, 4], 7) * 9.0)).unwrap();
        let full = adain_masked(&feat, &ones, &style, Some(&other), 0.7).unwrap();
        assert!(max_abs(&full, &adain_mix(&feat, &style, 0.7).unwrap()) < 1e-4);
        // All zeros and nothing outside: the content features, untouched.
        let zeros = ones.zeros_like();
        let kept = adain_masked(&feat, &zeros, &style, None, 1.0).unwrap();
        assert!(max_abs(&kept, &feat) < 1e-6);
        // Left half / right half: each half is normalised with its own statistics.
        let left = Tensor::cat(
            &[
                Tensor::ones([1, 1, 8, 5], (Kind::Float, Device::Cpu)),
                Tensor::zeros([1, 1, 8, 5], (Kind::Float, Device::Cpu)),
            ],
            3,
        );
        let out = adain_masked(&feat, &left, &style, Some(&other), 1.0).unwrap();
        let half = |t: &Tensor, start| t.narrow(3, start, 5);
        let want_left = adain(&half(&feat, 0), &style).unwrap();
        let want_right = adain(&half(&feat, 5), &other).unwrap();
        assert!(max_abs(&half(&out, 0), &want_left) < 1e-4);
        assert!(max_abs(&half(&out, 5), &want_right) < 1e-4);
    }

    #[test]
    fn levels_concatenate_and_split_back() {
        let a = mean_std(&crate::weights::seeded_uniform(&[1, 4, 3, 3], 8)).unwrap();
        let b = mean_std(&crate::weights::seeded_uniform(&[1, 6, 3, 3], 9)).unwrap();
        let both = Stats::cat(&[a.deep_clone(), b.deep_clone()]).unwrap();
        assert_eq!(both.channels(), 10);
        let parts = both.split(&[4, 6]).unwrap();
        assert_eq!(parts[0].mean, a.mean);
        assert_eq!(parts[1].std, b.std);
        let err = both.split(&[512]).unwrap_err().to_string();
        assert!(err.contains("10 channels") && err.contains("512"), "{err}");
    }

    #[test]
    fn blend_weights() {
        let a = mean_std(&crate::weights::seeded_uniform(&[1, 8, 4, 4], 10)).unwrap();
        let b = mean_std(&(crate::weights::seeded_uniform(&[1, 8, 4, 4], 11) * 5.0)).unwrap();
        let only_a = Stats::blend(&[(&a, 1.0), (&b, 0.0)]).unwrap();
        assert!(max_abs(&only_a.mean, &a.mean) < 1e-7);
        assert!(max_abs(&only_a.std, &a.std) < 1e-7);
        let mid = Stats::blend(&[(&a, 2.0), (&b, 2.0)]).unwrap();
        assert!(max_abs(&mid.mean, &((&a.mean + &b.mean) * 0.5)) < 1e-6);
        // Blending statistics equals blending the AdaIN targets.
        let c = crate::weights::seeded_uniform(&[1, 8, 4, 4], 12);
        let lhs = adain(&c, &Stats::blend(&[(&a, 0.3), (&b, 0.7)]).unwrap()).unwrap();
        let rhs = adain(&c, &a).unwrap() * 0.3 + adain(&c, &b).unwrap() * 0.7;
        assert!(max_abs(&lhs, &rhs) < 1e-5);
        assert!(Stats::blend(&[(&a, 0.0), (&b, 0.0)]).is_err());
        assert!(Stats::blend(&[(&a, -1.0), (&b, 2.0)]).is_err());
        assert!(Stats::blend(&[]).is_err());
    }
}
