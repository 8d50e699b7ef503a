// SPDX-License-Identifier: MIT
//! Spatial control: where the style goes.
//!
//! A mask is a (1, 1, H, W) fp32 tensor in [0, 1], 1 = styled. It comes from a grey image file
//! (white = styled), from the frame's own alpha channel (opaque = styled) or from the person
//! segmenter ([`crate::person`]; everything but the people is styled), and can be inverted.
//! [`crate::Stylizer::stylize_region`] applies it twice: in feature space, where each region is
//! normalised with its own content statistics ([`crate::adain::adain_masked`]), and in pixel
//! space, where the output is composited over the content through a feathered copy of the mask
//! (when the outside keeps the content), so that no seam shows at the boundary.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use tch::{Device, Kind, Tensor};

use crate::adain::Stats;
use crate::error::{Error, Result};
use crate::frame::{self, FrameLayout};
use crate::image_io;

/// Where a mask comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskSource {
    /// The input frame's alpha channel (255 = styled).
    Alpha,
    /// A grey image file (white = styled), resized to the frame.
    File(PathBuf),
    /// Everything but the people in each frame (found by the segmenter, [`crate::PersonMask`]):
    /// the room is styled, the people kept.
    Person,
}

impl FromStr for MaskSource {
    type Err = Error;

    /// `alpha`, `person`, or the path of an image. An empty string is an error: "no mask" is the absence
    /// of a `MaskSource`.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "" => Err(Error::InvalidMask(
                "empty: give `alpha`, `person` or an image path".into(),
            )),
            "alpha" => Ok(Self::Alpha),
            "person" => Ok(Self::Person),
            path => Ok(Self::File(PathBuf::from(path))),
        }
    }
}

impl std::fmt::Display for MaskSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Alpha => f.write_str("alpha"),
            Self::Person => f.write_str("person"),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Decodes a mask image as (1, 1, H, W) fp32 in [0, 1] on the CPU: its luminance, with any
/// transparency counting as black. Errors name the file.
pub fn load(path: &Path) -> Result<Tensor> {
    let grey = image_io::decode(path)?.to_luma_alpha8();
    let (w, h) = (grey.width() as i64, grey.height() as i64);
    let values: Vec<f32> = grey
        .pixels()
        .map(|p| f32::from(p[0]) * f32::from(p[1]) / (255.0 * 255.0))
        .collect();
    Ok(Tensor::f_from_slice(&values)?.f_view([1, 1, h, w])?)
}

/// `mask` resized to `height` x `width` on `device`, and whether its aspect ratio differed from
/// the frame's by more than 1 % (the caller's cue to warn: the mask is stretched).
pub fn fit(mask: &Tensor, height: i64, width: i64, device: Device) -> Result<(Tensor, bool)> {
    let size = mask.size();
    let (mh, mw) = (size[2] as f64, size[3] as f64);
    let stretched = ((mw / mh) / (width as f64 / height as f64) - 1.0).abs() > 0.01;
    let on_device = mask.f_to_device_(device, Kind::Float, false, false)?;
    Ok((
        frame::resize(&on_device, height, width)?.f_clamp(0.0, 1.0)?,
        stretched,
    ))
}

/// A decoded mask file made ready for frames of `height` x `width` on `device`: fitted
/// ([`fit`]), inverted when asked, and `None` when it then selects every pixel (no mask, so the
/// unmasked path's bits; see [`selects_all`]). The flag says it was stretched.
pub fn fit_inverted(
    mask: &Tensor,
    height: i64,
    width: i64,
    invert: bool,
    device: Device,
) -> Result<(Option<Tensor>, bool)> {
    let (fitted, stretched) = fit(mask, height, width, device)?;
    let fitted = if invert {
        self::invert(&fitted)?
    } else {
        fitted
    };
    Ok(((!selects_all(&fitted)?).then_some(fitted), stretched))
}

/// The alpha bytes of a frame ((H, W, 1) u8, as [`frame::upload`] keeps them) as a mask.
pub fn from_alpha(alpha: &Tensor) -> Result<Tensor> {
    Ok(alpha
        .f_permute([2, 0, 1])?
        .f_unsqueeze(0)?
        .f_to_kind(Kind::Float)?
        .f_div_scalar(255.0)?)
}

/// Whether `mask` selects every pixel fully (all ones): such a mask is no mask. The stylizer
/// takes whatever region it is given (the masked path, whose statistics round differently in
/// bf16); a caller that wants the unmasked path's bits for such a mask passes no region. This
/// reads one value back to the host: decide it once per mask, not per frame.
pub fn selects_all(mask: &Tensor) -> Result<bool> {
    Ok(mask.f_min()?.double_value(&[]) >= 1.0)
}

/// Whether the alpha bytes of a packed frame in host memory, as a mask, select every pixel
/// fully: all 255, or all 0 when the mask is inverted. Read on the host before the upload, so
/// no device waits for it. Layouts without alpha select nothing this way (false).
pub fn alpha_selects_all(data: &[u8], layout: &FrameLayout, invert: bool) -> bool {
    if !layout.pixels.has_alpha() {
        return false;
    }
    let want = if invert { 0 } else { 255 };
    let row = layout.width * layout.pixels.channels();
    let rows = data.chunks(layout.stride).take(layout.height);
    rows.len() == layout.height
        && rows
            .into_iter()
            .all(|r| r.len() >= row && r[..row].chunks_exact(4).all(|p| p[3] == want))
}

/// `1 - mask`.
pub fn invert(mask: &Tensor) -> Result<Tensor> {
    Ok(mask.f_neg()?.f_add_scalar(1.0)?)
}

/// The mask with a soft edge about `radius` pixels wide on each side of the boundary: two
/// passes of a separable box filter (a tent of support 2·`radius`+1 per axis). Uniform masks
/// come back exactly as they were (the filter averages only pixels inside the image), and a
/// mask in [0, 1] stays in it. The filtering runs in host memory ([`feather_values`]; a mask on
/// a GPU makes the trip there and back): on a CPU, plain loops cost less than the same running
/// sums as a dozen libtorch operations, whose set-up outweighs their arithmetic on small masks.
pub fn feather(mask: &Tensor, radius: i64) -> Result<Tensor> {
    if radius <= 0 {
        return Ok(mask.shallow_clone());
    }
    let size = mask.size();
    let (height, width) = match size[..] {
        [_, _, h, w] => (h, w),
        _ => return Err(Error::InvalidMask(format!("a mask of shape {size:?}"))),
    };
    let mut values = crate::frame::host_values(mask)?;
    let plane = (height * width) as usize;
    for v in values.chunks_mut(plane.max(1)) {
        feather_values(v, height as usize, width as usize, radius);
    }
    Ok(Tensor::f_from_slice(&values)?
        .f_view(&size[..])?
        .f_to_device(mask.device())?)
}

/// [`feather`] of one mask of `height` × `width` values (row after row) in host memory.
pub fn feather_values(values: &mut [f32], height: usize, width: usize, radius: i64) {
    if radius <= 0 || values.is_empty() {
        return;
    }
    // Half the radius per pass: two box passes of half-width r/2 give a tent of half-width r.
    let r = (radius / 2).max(1) as usize;
    let mut other = vec![0f32; values.len()];
    // Down the columns (the sliding sums run over whole rows at once, which vectorises), then
    // down the columns of the transposed mask, and back.
    box_down(values, &mut other, height, width, r);
    box_down(&other, values, height, width, r);
    transpose(values, &mut other, height, width);
    box_down(&other, values, width, height, r);
    box_down(values, &mut other, width, height, r);
    transpose(&other, values, width, height);
    for v in values.iter_mut() {
        *v = v.clamp(0.0, 1.0);
    }
}

/// A box filter of half-width `r` down the columns of `src` (`height` rows of `width`) into
/// `dst`: each value the mean of the window's values inside the image.
fn box_down(src: &[f32], dst: &mut [f32], height: usize, width: usize, r: usize) {
    let r = r.min(height.saturating_sub(1));
    let row = |y: usize| &src[y * width..(y + 1) * width];
    // In f64, so that what is added and later taken away leaves no rounding behind (a window
    // of ones sums to exactly its count).
    let mut sums = vec![0f64; width];
    for y in 0..=r {
        sums.iter_mut()
            .zip(row(y))
            .for_each(|(s, &v)| *s += f64::from(v));
    }
    for y in 0..height {
        let scale = 1.0 / ((y + r).min(height - 1) + 1 - y.saturating_sub(r)) as f64;
        dst[y * width..(y + 1) * width]
            .iter_mut()
            .zip(&sums)
            .for_each(|(d, s)| *d = (s * scale) as f32);
        if y + r + 1 < height {
            sums.iter_mut()
                .zip(row(y + r + 1))
                .for_each(|(s, &v)| *s += f64::from(v));
        }
        if y >= r {
            sums.iter_mut()
                .zip(row(y - r))
                .for_each(|(s, &v)| *s -= f64::from(v));
        }
    }
}

/// `src` (`height` rows of `width`) transposed into `dst` (`width` rows of `height`), in tiles
/// that stay in the cache.
fn transpose(src: &[f32], dst: &mut [f32], height: usize, width: usize) {
    const TILE: usize = 32;
    for y0 in (0..height).step_by(TILE) {
        for x0 in (0..width).step_by(TILE) {
            for y in y0..(y0 + TILE).min(height) {
                for x in x0..(x0 + TILE).min(width) {
                    dst[x * height + y] = src[y * width + x];
                }
            }
        }
    }
}

/// Spatial control of one stylisation ([`crate::Stylizer::stylize_region`]).
#[derive(Debug)]
pub struct Region<'a> {
    /// (1, 1, H, W) fp32 in [0, 1] at the content's size, on the stylizer's device; 1 = styled.
    pub mask: &'a Tensor,
    /// The statistics of the style outside the mask; `None` keeps the content there.
    pub outside: Option<&'a Stats>,
    /// Half-width in pixels of the soft edge where styled output meets kept content (0 = a hard
    /// edge). Two styles need none: they are blended in feature space and decoded together.
    pub feather: i64,
    /// `mask` feathered by `feather` ([`feather`]) already, at the same size, when the caller
    /// keeps one (a fixed mask used for many frames); `None` feathers it for each stylisation.
    pub feathered: Option<&'a Tensor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_alpha_and_paths() {
        assert_eq!("alpha".parse::<MaskSource>().unwrap(), MaskSource::Alpha);
        assert_eq!("person".parse::<MaskSource>().unwrap(), MaskSource::Person);
        assert_eq!(
            " m.png ".parse::<MaskSource>().unwrap(),
            MaskSource::File("m.png".into())
        );
        assert!("".parse::<MaskSource>().is_err());
    }

    #[test]
    fn feather_keeps_uniform_masks_and_softens_edges() {
        let ones = Tensor::ones([1, 1, 20, 30], (Kind::Float, Device::Cpu));
        assert_eq!(feather(&ones, 6).unwrap(), ones);
        let zeros = ones.zeros_like();
        assert_eq!(feather(&zeros, 6).unwrap(), zeros);
        let half = Tensor::cat(&[ones.narrow(3, 0, 15), zeros.narrow(3, 0, 15)], 3);
        let soft = feather(&half, 6).unwrap();
        let row: Vec<f32> = Vec::try_from(soft.get(0).get(0).get(10)).unwrap();
        // Monotone ramp across the boundary, untouched further than the radius away.
        assert!(row.windows(2).all(|w| w[0] >= w[1] - 1e-6));
        assert_eq!(row[0], 1.0);
        assert_eq!(row[29], 0.0);
        assert!(row[14] > 0.5 && row[14] < 1.0 && row[15] < 0.5 && row[15] > 0.0);
        assert_eq!(row[8], 1.0);
        assert_eq!(row[21], 0.0);
        // Columns are feathered as rows are.
        let down = feather(&half.transpose(2, 3), 6).unwrap().transpose(2, 3);
        let err = (&down - &soft).abs().max().double_value(&[]);
        assert!(err < 1e-6, "{err}");
    }

    #[test]
    fn feather_is_two_box_passes_per_axis() {
        // The same filter from libtorch's average pooling (windows averaged over the pixels
        // inside the image), on a random mask.
        let m = Tensor::rand([1, 1, 37, 53], (Kind::Float, Device::Cpu));
        let r = 3;
        let pass = |t: &Tensor, k: [i64; 2], pad: [i64; 2]| {
            t.avg_pool2d(k, [1, 1], pad, false, false, None::<i64>)
        };
        let mut want = m.shallow_clone();
        for _ in 0..2 {
            want = pass(&want, [1, 2 * r + 1], [0, r]);
        }
        for _ in 0..2 {
            want = pass(&want, [2 * r + 1, 1], [r, 0]);
        }
        let got = feather(&m, 2 * r).unwrap();
        let err = (&got - &want).abs().max().double_value(&[]);
        assert!(err < 1e-5, "{err}");
    }

    #[test]
    fn alpha_bytes_become_a_mask() {
        let alpha = Tensor::from_slice(&[0u8, 255, 51, 255]).view([2, 2, 1]);
        let m = from_alpha(&alpha).unwrap();
        assert_eq!(m.size(), [1, 1, 2, 2]);
        let v: Vec<f32> = Vec::try_from(m.flatten(0, -1)).unwrap();
        assert_eq!(v, [0.0, 1.0, 0.2, 1.0]);
        let inv: Vec<f32> = Vec::try_from(invert(&m).unwrap().flatten(0, -1)).unwrap();
        assert!((inv[2] - 0.8).abs() < 1e-6 && inv[0] == 1.0);
    }

    #[test]
    fn opaque_alpha_selects_all_on_the_host() {
        use crate::frame::PixelLayout;
        // 3 x 2 BGRA with 4 bytes of row padding (padding bytes are not pixels).
        let layout = FrameLayout {
            width: 3,
            height: 2,
            stride: 16,
            pixels: PixelLayout::Bgra,
        };
        let mut data = vec![7u8; 32];
        for y in 0..2 {
            for x in 0..3 {
                data[y * 16 + x * 4 + 3] = 255;
            }
        }
        assert!(alpha_selects_all(&data, &layout, false));
        assert!(!alpha_selects_all(&data, &layout, true));
        data[16 + 2 * 4 + 3] = 254;
        assert!(!alpha_selects_all(&data, &layout, false));
        let clear = vec![0u8; 32];
        assert!(alpha_selects_all(&clear, &layout, true));
        // A frame shorter than its layout, and padding bytes instead of alpha.
        assert!(!alpha_selects_all(&clear[..12], &layout, true));
        let bgrx = FrameLayout {
            pixels: PixelLayout::Bgrx,
            ..layout
        };
        assert!(!alpha_selects_all(&clear, &bgrx, true));
    }

    #[test]
    fn a_fitted_mask_that_selects_every_pixel_is_no_mask() {
        let ones = Tensor::ones([1, 1, 4, 6], (Kind::Float, Device::Cpu));
        let fit = |m: &Tensor, invert| fit_inverted(m, 8, 12, invert, Device::Cpu).unwrap();
        assert!(fit(&ones, false).0.is_none());
        assert!(fit(&ones.zeros_like(), true).0.is_none());
        let (half, stretched) = fit(
            &ones
                .f_narrow(3, 0, 3)
                .unwrap()
                .f_pad([0, 3], "constant", 0.0)
                .unwrap(),
            false,
        );
        assert_eq!(half.expect("a half mask is a mask").size(), [1, 1, 8, 12]);
        assert!(!stretched);
    }

    #[test]
    fn only_an_all_ones_mask_selects_all() {
        let ones = Tensor::ones([1, 1, 4, 6], (Kind::Float, Device::Cpu));
        assert!(selects_all(&ones).unwrap());
        let dented = ones.copy();
        let _ = dented.get(0).get(0).get(3).get(5).fill_(0.999);
        assert!(!selects_all(&dented).unwrap());
        assert!(!selects_all(&ones.zeros_like()).unwrap());
    }

    #[test]
    fn fit_reports_stretching() {
        let m = Tensor::ones([1, 1, 10, 20], (Kind::Float, Device::Cpu));
        let (fitted, stretched) = fit(&m, 50, 100, Device::Cpu).unwrap();
        assert_eq!(fitted.size(), [1, 1, 50, 100]);
        assert!(!stretched);
        assert!(fit(&m, 50, 50, Device::Cpu).unwrap().1);
    }

    #[test]
    fn load_names_the_file() {
        let err = load(Path::new("/nonexistent/mask.png")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/mask.png"), "{err}");
    }
}
