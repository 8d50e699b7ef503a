// SPDX-License-Identifier: MIT
//! Colour preservation: keep the content's colours while taking the style's texture.

use tch::{Kind, Tensor};

use crate::error::Result;

/// How the content's colours are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum PreserveColor {
    /// The output takes the style's colours.
    #[default]
    None,
    /// The style image is recoloured to the content's colour mean and covariance (CORAL) before
    /// it is encoded.
    Coral,
    /// The network output provides only luminance; chrominance comes from the content.
    Luminance,
}

impl std::str::FromStr for PreserveColor {
    type Err = crate::Error;

    /// `none`, `coral` or `luminance` (the element's `preserve-color` nicks).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "coral" => Ok(Self::Coral),
            "luminance" => Ok(Self::Luminance),
            _ => Err(crate::Error::InvalidPreserveColor(s.to_owned())),
        }
    }
}

/// Mean (3,) and covariance (3, 3) of the pixels of a (1, 3, H, W) image.
fn color_moments(img: &Tensor) -> Result<(Tensor, Tensor)> {
    let pixels = img
        .f_to_kind(Kind::Float)?
        .f_flatten(2, -1)?
        .f_squeeze_dim(0)?; // (3, P)
    let mean = pixels.f_mean_dim(Some([1i64].as_slice()), true, None)?;
    let centered = pixels.f_sub(&mean)?;
    let n = centered.size()[1].max(2) as f64;
    let cov = centered.f_mm(&centered.f_tr()?)?.f_div_scalar(n - 1.0)?;
    let eye = Tensor::f_eye(3, (Kind::Float, img.device()))?.f_mul_scalar(1e-5)?;
    Ok((mean, cov.f_add(&eye)?))
}

/// Symmetric matrix power `m^p` through an eigendecomposition.
fn sym_pow(m: &Tensor, p: f64) -> Result<Tensor> {
    let (vals, vecs) = m.f_linalg_eigh("L")?;
    let vals = vals.f_clamp_min(1e-8)?.f_pow_tensor_scalar(p)?;
    Ok(vecs.f_mul(&vals.f_unsqueeze(0)?)?.f_mm(&vecs.f_tr()?)?)
}

/// Recolours `style` (1, 3, H, W) so that its pixel mean and covariance match `content`'s
/// (CORAL, as used for colour preservation by Huang & Belongie and Gatys et al.).
pub fn coral(style: &Tensor, content: &Tensor) -> Result<Tensor> {
    let (ms, cs) = color_moments(style)?;
    let (mc, cc) = color_moments(content)?;
    let transform = sym_pow(&cc, 0.5)?.f_mm(&sym_pow(&cs, -0.5)?)?;
    let size = style.size();
    let pixels = style
        .f_to_kind(Kind::Float)?
        .f_flatten(2, -1)?
        .f_squeeze_dim(0)?;
    let out = transform.f_mm(&pixels.f_sub(&ms)?)?.f_add(&mc)?;
    Ok(out
        .f_view(size.as_slice())?
        .f_clamp(0.0, 1.0)?
        .f_to_kind(style.kind())?)
}

const RGB_TO_YIQ: [[f64; 3]; 3] = [
    [0.299, 0.587, 0.114],
    [0.595_716, -0.274_453, -0.321_263],
    [0.211_456, -0.522_591, 0.311_135],
];

fn apply_3x3(m: &Tensor, img: &Tensor) -> Result<Tensor> {
    Ok(Tensor::f_einsum(
        "ij,njhw->nihw",
        &[m, img],
        None::<&[i64]>,
    )?)
}

/// Keeps the luminance of `stylized` and the chrominance (YIQ's I and Q) of `content`; both are
/// (N, 3, H, W) RGB of the same size.
pub fn transfer_luminance(stylized: &Tensor, content: &Tensor) -> Result<Tensor> {
    let flat: Vec<f32> = RGB_TO_YIQ.iter().flatten().map(|&v| v as f32).collect();
    let to_yiq = Tensor::f_from_slice(&flat)?.f_view([3, 3])?.f_to_device_(
        stylized.device(),
        stylized.kind(),
        false,
        false,
    )?;
    let to_rgb = to_yiq
        .f_to_kind(Kind::Float)?
        .f_inverse()?
        .f_to_kind(stylized.kind())?;
    let y = apply_3x3(&to_yiq.f_narrow(0, 0, 1)?, stylized)?;
    let iq = apply_3x3(&to_yiq.f_narrow(0, 1, 2)?, content)?;
    apply_3x3(&to_rgb, &Tensor::f_cat(&[y, iq], 1)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn coral_matches_content_moments() {
        let style = crate::weights::seeded_uniform(&[1, 3, 20, 30], 13) * 0.3 + 0.1;
        let content = crate::weights::seeded_uniform(&[1, 3, 16, 16], 14) * 0.4 + 0.5;
        let (mc, cc) = color_moments(&content).unwrap();
        let recoloured = coral(&style, &content).unwrap();
        let (mr, cr) = color_moments(&recoloured).unwrap();
        assert!((mr - mc).abs().max().double_value(&[]) < 1e-3);
        assert!((cr - cc).abs().max().double_value(&[]) < 1e-3);
    }

    #[test]
    fn luminance_transfer_keeps_content_chroma() {
        let content = crate::weights::seeded_uniform(&[1, 3, 8, 8], 15);
        let grey = Tensor::ones([1, 3, 8, 8], (Kind::Float, Device::Cpu)) * 0.5;
        let out = transfer_luminance(&grey, &content).unwrap();
        // Luminance of the output is that of the stylised image (0.5 everywhere)...
        let m = Tensor::from_slice(&[0.299f32, 0.587, 0.114]).view([1, 3]);
        let y = apply_3x3(&m, &out).unwrap();
        assert!((y - 0.5).abs().max().double_value(&[]) < 1e-5);
        // ... and transferring the content's own luminance gives the content back.
        let same = transfer_luminance(&content, &content).unwrap();
        assert!((same - &content).abs().max().double_value(&[]) < 1e-5);
    }
}
