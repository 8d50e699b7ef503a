// SPDX-License-Identifier: MIT
//! Fine-detail figures of a stylised image, which the held-out style ratio and content keep
//! (statistics, and relu4_1 at an eighth of the resolution) do not see:
//!
//! - [`luma_ssim`]: the structural similarity (Wang et al. 2004) of the output's luma with the
//!   photo's, 11 x 11 Gaussian window of σ 1.5, at the photo's size, on 8-bit values as the
//!   element writes them; what is left of edges and texture of the scene.
//! - [`grid_ratio`]: how much stronger the luma steps are across the borders of 8 x 8 blocks than
//!   inside them, the signature of a decoder that upsamples by 8 from relu4_1.

use anyhow::{Result, bail};
use tch::{Kind, Tensor};

/// Side of the Gaussian window of [`luma_ssim`].
pub const SSIM_WINDOW: i64 = 11;
/// Standard deviation of that window, in pixels.
pub const SSIM_SIGMA: f64 = 1.5;
/// Period of the block grid [`grid_ratio`] looks for.
pub const GRID: i64 = 8;

/// Luma (BT.601 weights) of (1, 3, H, W) in [0, 1], clamped and rounded to 8 bits, as
/// (1, 1, H, W) in [0, 1].
fn luma_8bit(rgb: &Tensor) -> Result<Tensor> {
    let q = rgb
        .f_to_kind(Kind::Float)?
        .f_clamp(0.0, 1.0)?
        .f_mul_scalar(255.0)?
        .f_round()?
        .f_div_scalar(255.0)?;
    let w = Tensor::f_from_slice(&[0.299f32, 0.587, 0.114])?
        .f_to_device(q.device())?
        .f_view([1, 3, 1, 1])?;
    Ok(q.f_mul(&w)?
        .f_sum_dim_intlist([1i64].as_slice(), true, None)?)
}

/// The normalised Gaussian window as a separable pair of kernels, (1, 1, n, 1) and (1, 1, 1, n).
fn gaussian(device: tch::Device) -> Result<(Tensor, Tensor)> {
    let half = (SSIM_WINDOW / 2) as f64;
    let values: Vec<f32> = (0..SSIM_WINDOW)
        .map(|i| (-((i as f64 - half).powi(2)) / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp() as f32)
        .collect();
    let sum: f32 = values.iter().sum();
    let g = Tensor::f_from_slice(&values)?
        .f_div_scalar(f64::from(sum))?
        .f_to_device(device)?;
    Ok((
        g.f_view([1, 1, SSIM_WINDOW, 1])?,
        g.f_view([1, 1, 1, SSIM_WINDOW])?,
    ))
}

/// Mean SSIM of the luma of `output` against that of `content` (both (1, 3, H, W) in [0, 1],
/// same size), over every valid 11 x 11 window (no padding), with the usual constants
/// (K1 = 0.01, K2 = 0.03, dynamic range 1).
pub fn luma_ssim(output: &Tensor, content: &Tensor) -> Result<f64> {
    if output.size() != content.size() {
        bail!(
            "SSIM of images of different sizes: {:?} and {:?}",
            output.size(),
            content.size()
        );
    }
    let size = content.size();
    if size[2] < SSIM_WINDOW || size[3] < SSIM_WINDOW {
        bail!("SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels");
    }
    let (x, y) = (luma_8bit(output)?, luma_8bit(content)?);
    let (gv, gh) = gaussian(x.device())?;
    let blur = |t: &Tensor| -> Result<Tensor> {
        Ok(t.f_conv2d(&gv, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1)?
            .f_conv2d(&gh, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1)?)
    };
    let (mx, my) = (blur(&x)?, blur(&y)?);
    let sxx = blur(&x.f_mul(&x)?)?.f_sub(&mx.f_mul(&mx)?)?;
    let syy = blur(&y.f_mul(&y)?)?.f_sub(&my.f_mul(&my)?)?;
    let sxy = blur(&x.f_mul(&y)?)?.f_sub(&mx.f_mul(&my)?)?;
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let num = mx
        .f_mul(&my)?
        .f_mul_scalar(2.0)?
        .f_add_scalar(c1)?
        .f_mul(&sxy.f_mul_scalar(2.0)?.f_add_scalar(c2)?)?;
    let den = mx
        .f_square()?
        .f_add(&my.f_square()?)?
        .f_add_scalar(c1)?
        .f_mul(&sxx.f_add(&syy)?.f_add_scalar(c2)?)?;
    Ok(num.f_div(&den)?.f_mean(Kind::Float)?.f_double_value(&[])?)
}

/// Mean absolute luma step between neighbouring pixels across the borders of the 8 x 8 block
/// grid (between columns 8k−1 and 8k, and rows likewise) divided by the mean step everywhere
/// else. About 1 for a photo; a decoder that paints in 8-pixel blocks scores above 1.
pub fn grid_ratio(image: &Tensor) -> Result<f64> {
    let y = luma_8bit(image)?;
    let size = y.size();
    let (h, w) = (size[2], size[3]);
    if h <= GRID || w <= GRID {
        bail!("the grid ratio needs images larger than {GRID} x {GRID} pixels");
    }
    let (mut on, mut n_on, mut off, mut n_off) = (0.0, 0.0, 0.0, 0.0);
    for (dim, len) in [(3, w), (2, h)] {
        // step[i] = |y[i + 1] - y[i]|, i in 0..len-1; it crosses a border where (i + 1) % 8 == 0.
        let step = y
            .f_narrow(dim, 1, len - 1)?
            .f_sub(&y.f_narrow(dim, 0, len - 1)?)?
            .f_abs()?;
        let per_index: Vec<f64> = Vec::<f64>::try_from(
            &step
                .f_mean_dim(
                    Some([if dim == 3 { 2i64 } else { 3 }].as_slice()),
                    false,
                    Kind::Double,
                )?
                .f_flatten(0, -1)?,
        )?;
        for (i, v) in per_index.iter().enumerate() {
            if (i as i64 + 1) % GRID == 0 {
                on += v;
                n_on += 1.0;
            } else {
                off += v;
                n_off += 1.0;
            }
        }
    }
    let (on, off) = (on / n_on, off / n_off);
    Ok(on / off.max(1e-6))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn noise(seed: u64) -> Tensor {
        crate::test_support::uniform(&[1, 3, 48, 64], seed)
    }

    #[test]
    fn ssim_is_one_for_the_same_image_and_falls_with_blur() {
        let img = noise(3);
        assert!((luma_ssim(&img, &img).unwrap() - 1.0).abs() < 1e-6);
        let blurred = img
            .avg_pool2d([5, 5], [1, 1], [2, 2], false, false, None::<i64>)
            .clamp(0.0, 1.0);
        let s = luma_ssim(&blurred, &img).unwrap();
        assert!(s < 0.6, "{s}");
        // A constant shift of brightness keeps most of the structure.
        let shifted = (&img * 0.8 + 0.1).clamp(0.0, 1.0);
        assert!(luma_ssim(&shifted, &img).unwrap() > s);
        assert!(luma_ssim(&img, &noise(4)).unwrap() < 0.1);
    }

    #[test]
    fn grid_ratio_sees_8_pixel_blocks() {
        let img = noise(5);
        let plain = grid_ratio(&img).unwrap();
        assert!((plain - 1.0).abs() < 0.1, "{plain}");
        // Every 8 x 8 block one random flat colour: steps only across block borders.
        let blocks =
            crate::test_support::uniform(&[1, 3, 6, 8], 6).upsample_nearest2d([48, 64], 8.0, 8.0);
        assert!(grid_ratio(&blocks).unwrap() > 100.0);
        // Blocks faintly over a smooth photo-like ramp with a little noise: in between.
        let ramp = Tensor::linspace(0.2, 0.8, 64, (Kind::Float, Device::Cpu)).view([1, 1, 1, 64]);
        let photo = (ramp.expand([1, 3, 48, 64], false) + (noise(7) - 0.5) * 0.02).clamp(0.0, 1.0);
        let mix = &photo * 0.9 + &blocks * 0.1;
        let r = grid_ratio(&mix).unwrap();
        assert!(r > 1.5 && r < 100.0, "{r}");
        assert!(grid_ratio(&photo).unwrap() < 1.2);
    }
}
