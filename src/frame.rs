// SPDX-License-Identifier: MIT
//! Conversion between packed 8-bit frames in host memory and normalised float tensors on a device.
//!
//! Each direction touches host memory exactly once: the upload wraps the caller's bytes without
//! copying and moves them to the device in one transfer; everything else (channel reordering,
//! normalisation, NCHW layout) happens on the device. The download writes straight into the
//! caller's (possibly padded) rows with one strided copy.

use tch::{Device, Kind, Tensor};

use crate::encoder::DOWNSAMPLING;
use crate::error::{Error, Result};

/// The packed 8-bit pixel layouts the converter handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelLayout {
    /// R, G, B.
    Rgb,
    /// B, G, R.
    Bgr,
    /// R, G, B, alpha.
    Rgba,
    /// B, G, R, alpha.
    Bgra,
    /// R, G, B, padding.
    Rgbx,
    /// B, G, R, padding.
    Bgrx,
}

impl PixelLayout {
    /// Every supported layout.
    pub const ALL: [PixelLayout; 6] = [
        Self::Rgb,
        Self::Bgr,
        Self::Rgba,
        Self::Bgra,
        Self::Rgbx,
        Self::Bgrx,
    ];

    /// Bytes per pixel.
    pub fn channels(self) -> usize {
        match self {
            Self::Rgb | Self::Bgr => 3,
            _ => 4,
        }
    }

    /// Whether the fourth byte is alpha (not padding).
    pub fn has_alpha(self) -> bool {
        matches!(self, Self::Rgba | Self::Bgra)
    }

    /// Whether the colour bytes are stored blue first.
    pub fn is_bgr(self) -> bool {
        matches!(self, Self::Bgr | Self::Bgra | Self::Bgrx)
    }
}

/// Geometry of one packed frame in host memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Bytes from the start of one row to the start of the next (at least `width * channels`).
    pub stride: usize,
    /// The pixel layout.
    pub pixels: PixelLayout,
}

impl FrameLayout {
    /// A tightly packed frame (stride = width * channels).
    pub fn packed(width: usize, height: usize, pixels: PixelLayout) -> Self {
        Self {
            width,
            height,
            stride: width * pixels.channels(),
            pixels,
        }
    }

    /// The number of bytes a buffer must have at least.
    pub fn min_len(&self) -> usize {
        if self.height == 0 {
            return 0;
        }
        (self.height - 1) * self.stride + self.width * self.pixels.channels()
    }

    fn check(&self, len: usize) -> Result<()> {
        let row = self.width * self.pixels.channels();
        if self.width == 0 || self.height == 0 {
            return Err(Error::Frame(format!(
                "empty frame {}x{}",
                self.width, self.height
            )));
        }
        if self.stride < row {
            return Err(Error::Frame(format!(
                "stride {} < row size {row}",
                self.stride
            )));
        }
        if len < self.min_len() {
            return Err(Error::Frame(format!(
                "buffer of {len} bytes, {}x{} {:?} with stride {} needs {}",
                self.width,
                self.height,
                self.pixels,
                self.stride,
                self.min_len()
            )));
        }
        Ok(())
    }

    fn dims(&self) -> ([i64; 3], [i64; 3]) {
        let c = self.pixels.channels() as i64;
        (
            [self.height as i64, self.width as i64, c],
            [self.stride as i64, c, 1],
        )
    }
}

/// A frame on the device: RGB as (1, 3, H, W) floats in [0, 1] stored channels-last (the
/// layout the networks run in), plus the untouched fourth byte of each pixel (alpha or padding)
/// as (H, W, 1) u8 for four-byte layouts.
#[derive(Debug)]
pub struct DeviceFrame {
    /// RGB, (1, 3, H, W) with channels-last strides, in the requested float kind.
    pub rgb: Tensor,
    /// The fourth byte of every pixel, kept to be written back unchanged.
    pub extra: Option<Tensor>,
}

/// Moves a packed frame to `device` as normalised float RGB, with one host-to-device transfer;
/// the conversion keeps the frame's own pixel order, so the result is channels-last without a
/// transposition.
pub fn upload(
    data: &[u8],
    layout: &FrameLayout,
    device: Device,
    kind: Kind,
) -> Result<DeviceFrame> {
    layout.check(data.len())?;
    let (size, strides) = layout.dims();
    // SAFETY: `check` guarantees that every element addressed by size/strides lies inside `data`,
    // and the view is dropped before this function returns: everything kept is a fresh tensor
    // (the conversion allocates, and `extra` is copied on the CPU).
    let host =
        unsafe { Tensor::f_from_blob(data.as_ptr(), &size, &strides, Kind::Uint8, Device::Cpu)? };
    let on_device = host.f_to_device_(device, Kind::Uint8, false, false)?;
    // Every byte of a pixel converted at once (a strided three-of-four conversion is ten times
    // slower on a CPU), then the colour channels taken in RGB order in one gather, which makes
    // (H, W, 3) contiguous: channels-last for the network without a transposition.
    let hwc = if layout.pixels.is_bgr() || layout.pixels.channels() == 4 {
        let order: &[i64] = if layout.pixels.is_bgr() {
            &[2, 1, 0]
        } else {
            &[0, 1, 2]
        };
        let index = Tensor::f_from_slice(order)?.f_to_device(device)?;
        on_device
            .f_to_kind(Kind::Float)?
            .f_index_select(2, &index)?
    } else {
        on_device.shallow_clone()
    };
    // (1, H, W, 3) to (1, 3, H, W): channels-last with the canonical batch stride (H·W·3), which
    // libtorch's kernels need to recognise the layout.
    let rgb = rgb_bytes_to_unit(&hwc.f_unsqueeze(0)?, kind)?;
    let extra = if layout.pixels.channels() == 4 {
        let fourth = on_device.f_narrow(2, 3, 1)?;
        // On the CPU `on_device` aliases the caller's buffer: take a copy we own.
        Some(if device == Device::Cpu {
            let mut owned = fourth.f_zeros_like()?;
            owned.f_copy_(&fourth)?;
            owned
        } else {
            fourth
        })
    } else {
        None
    };
    Ok(DeviceFrame { rgb, extra })
}

/// 8-bit RGB pixels (..., H, W, 3), contiguous, as floats in [0, 1] of `kind`, (..., 3, H, W)
/// with channels-last strides: one conversion pass, no transposition (the layout the networks
/// run in). The one conversion of the element's frames and of the trainer's batches.
pub fn rgb_bytes_to_unit(pixels: &Tensor, kind: Kind) -> Result<Tensor> {
    let mut unit = pixels.f_to_kind(Kind::Float)?.f_contiguous()?;
    let _ = unit.f_div_scalar_(255.0)?;
    if kind != Kind::Float {
        unit = unit.f_to_kind(kind)?;
    }
    let dims = unit.dim() as i64;
    let mut order: Vec<i64> = (0..dims - 3).collect();
    order.extend([dims - 1, dims - 3, dims - 2]);
    Ok(unit.f_permute(order.as_slice())?)
}

/// RGB floats (1, 3, H, W) scaled to 8-bit values plus one half and clamped to [0, 255], in the
/// tensor's own layout: converting them to u8, which truncates, rounds (halves up).
fn quantised(rgb: &Tensor) -> Result<Tensor> {
    let mut q = rgb.f_mul_scalar(255.0)?;
    let _ = q.f_add_scalar_(0.5)?;
    let _ = q.f_clamp_(0.0, 255.0)?;
    Ok(q)
}

/// Converts RGB floats (1, 3, H, W) to u8 pixels, clamped and rounded, in the layout's channel
/// order, still on the device: (H, W, channels).
pub fn to_pixels(rgb: &Tensor, extra: Option<&Tensor>, pixels: PixelLayout) -> Result<Tensor> {
    let device = rgb.device();
    let mut chw = quantised(rgb)?
        .f_squeeze_dim(0)?
        .f_to_dtype(Kind::Uint8, false, false)?;
    if pixels.is_bgr() {
        chw = chw.f_flip([0])?;
    }
    let hwc = chw.f_permute([1, 2, 0])?;
    match (pixels.channels(), extra) {
        (3, _) => Ok(hwc),
        (4, Some(extra)) => Ok(Tensor::f_cat(&[&hwc, extra], 2)?),
        (4, None) => {
            let opaque = Tensor::f_full(
                [hwc.size()[0], hwc.size()[1], 1],
                255,
                (Kind::Uint8, device),
            )?;
            Ok(Tensor::f_cat(&[&hwc, &opaque], 2)?)
        }
        _ => unreachable!("layouts have 3 or 4 channels"),
    }
}

/// Writes RGB floats (1, 3, H, W) on any device into a packed host frame. On the CPU each
/// channel is written straight into its bytes of the frame (no intermediate 8-bit image); from
/// another device the pixels are made there and come back in one strided copy. `extra` (alpha
/// or padding bytes from [`upload`]) is written back unchanged; without it, four-byte layouts
/// get 255.
pub fn download(
    rgb: &Tensor,
    extra: Option<&Tensor>,
    out: &mut [u8],
    layout: &FrameLayout,
) -> Result<()> {
    layout.check(out.len())?;
    let size = rgb.size();
    if size != [1, 3, layout.height as i64, layout.width as i64] {
        return Err(Error::Frame(format!(
            "tensor of shape {size:?} does not fit a {}x{} frame",
            layout.width, layout.height
        )));
    }
    let (size, strides) = layout.dims();
    // SAFETY: `check` guarantees the strided view lies inside `out`, which we borrow mutably for
    // the whole call; the view is only used as the destination of copies and then dropped.
    let mut dst = unsafe {
        Tensor::f_from_blob(out.as_mut_ptr(), &size, &strides, Kind::Uint8, Device::Cpu)?
    };
    if rgb.device() != Device::Cpu {
        dst.f_copy_(&to_pixels(rgb, extra, layout.pixels)?)?;
        return Ok(());
    }
    let q = quantised(rgb)?;
    for c in 0..3 {
        let source = if layout.pixels.is_bgr() { 2 - c } else { c };
        dst.f_select(2, c)?
            .f_copy_(&q.f_select(1, source)?.f_squeeze_dim(0)?)?;
    }
    if layout.pixels.channels() == 4 {
        let mut fourth = dst.f_narrow(2, 3, 1)?;
        match extra {
            Some(extra) => fourth.f_copy_(extra)?,
            None => drop(fourth.f_fill_(255)?),
        }
    }
    Ok(())
}

/// Resizes (N, C, H, W) to `height` x `width` with bilinear filtering (antialiased when shrinking).
pub fn resize(t: &Tensor, height: i64, width: i64) -> Result<Tensor> {
    let size = t.size();
    if size[2] == height && size[3] == width {
        return Ok(t.shallow_clone());
    }
    let shrinking = height < size[2] || width < size[3];
    Ok(if shrinking {
        t.f_internal_upsample_bilinear2d_aa([height, width], false, None, None)?
    } else {
        t.f_upsample_bilinear2d([height, width], false, None, None)?
    })
}

/// `from + (to − from) · weight` for pictures `from` and `to` (N, C, H, W) and a weight per
/// pixel (N, 1, H, W): the mask's compositing and the temporal smoothing's blend. On a CPU the
/// blend runs in `to`'s layout, `from` brought to it first: with two layouts libtorch walks
/// one of them a value at a time (at 640×360, 1.45 ms against 0.17 in `to`'s). In planes (the
/// light network's output, laid out for the download) the weight broadcasts along rows as it
/// is; channels-last (the full model's), it is first spread over the channels in that layout
/// (broadcast there, libtorch walks the innermost 3 channels one pixel at a time: about 1 ms
/// against under half of that; BENCHMARKS.md).
pub fn lerp_pixels(from: &Tensor, to: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let size = from.size();
    let per_pixel = weight.size().get(1) == Some(&1)
        && size.len() == 4
        && size[1] > 1
        && from.device() == Device::Cpu;
    if !per_pixel {
        return Ok(from.f_lerp_tensor(to, weight)?);
    }
    if to.is_contiguous() {
        return Ok(from.f_contiguous()?.f_lerp_tensor(to, weight)?);
    }
    let from = crate::layers::to_channels_last(from)?;
    let weight = weight
        .f_expand(&size, false)?
        .f_permute([0, 2, 3, 1])?
        .f_contiguous()?
        .f_permute([0, 3, 1, 2])?;
    Ok(from.f_lerp_tensor(to, &weight)?)
}

/// The values of `t` in fp32 and in its logical order (row-major over its sizes, whatever its
/// layout), copied to host memory.
pub fn host_values(t: &Tensor) -> Result<Vec<f32>> {
    let t = t.f_to_kind(Kind::Float)?.f_contiguous()?;
    let n = t.numel();
    let mut values = vec![0f32; n];
    t.f_copy_data(&mut values, n)?;
    Ok(values)
}

/// The size with the longest edge scaled to `longest` (aspect ratio kept, at least 1 pixel).
pub fn fit_longest(height: i64, width: i64, longest: i64) -> (i64, i64) {
    let scale = longest as f64 / height.max(width) as f64;
    let h = ((height as f64 * scale).round() as i64).max(1);
    let w = ((width as f64 * scale).round() as i64).max(1);
    (h, w)
}

/// Least side, in pixels, of what the networks run on (both reduce it by 8, and need 2 pixels
/// there to pad by reflection).
pub const MIN_NETWORK_SIDE: i64 = 16;

/// The size the network runs at for a frame of `h` x `w` and `processing_size` (0 = the frame's
/// own); an error naming the setting when that is under [`MIN_NETWORK_SIDE`] on a side.
pub fn network_size(h: i64, w: i64, processing_size: i64) -> Result<(i64, i64)> {
    let (net_h, net_w) = if processing_size > 0 && processing_size != h.max(w) {
        fit_longest(h, w, processing_size)
    } else {
        (h, w)
    };
    if net_h.min(net_w) >= MIN_NETWORK_SIDE {
        return Ok((net_h, net_w));
    }
    let least = (MIN_NETWORK_SIDE * h.max(w) + h.min(w) - 1) / h.min(w).max(1);
    Err(Error::Frame(
        if processing_size > 0 && processing_size != h.max(w) {
            format!(
                "processing-size {processing_size} makes the network's frame {net_w}x{net_h}: it needs \
             at least {MIN_NETWORK_SIDE} pixels on each side (processing-size {least} or more for \
             a {w}x{h} frame, or 0)"
            )
        } else {
            format!("a {w}x{h} frame is too small: at least {MIN_NETWORK_SIDE} pixels on each side")
        },
    ))
}

/// `t` (N, C, H, W) padded at the bottom and right to a multiple of the encoder's downsampling
/// factor: by reflection, or by replication where the image is too small to reflect.
pub fn pad(t: &Tensor) -> Result<Tensor> {
    let size = t.size();
    let (h, w) = (size[2], size[3]);
    let (pad_h, pad_w) = (pad_to(h), pad_to(w));
    Ok(if pad_h == 0 && pad_w == 0 {
        t.shallow_clone()
    } else if pad_h < h && pad_w < w {
        t.f_reflection_pad2d([0, pad_w, 0, pad_h])?
    } else {
        t.f_replication_pad2d([0, pad_w, 0, pad_h])?
    })
}

/// Padding that brings `n` up to a multiple of the encoder's downsampling factor.
pub fn pad_to(n: i64) -> i64 {
    (DOWNSAMPLING - n % DOWNSAMPLING) % DOWNSAMPLING
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lerp_pixels_is_lerp_whatever_the_layout() {
        let from = crate::weights::seeded_uniform(&[1, 3, 5, 7], 1);
        let to = crate::weights::seeded_uniform(&[1, 3, 5, 7], 2);
        let weight = crate::weights::seeded_uniform(&[1, 1, 5, 7], 3);
        let want = from.lerp_tensor(&to, &weight);
        let cl = |t: &Tensor| t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2]);
        for (a, b) in [
            (from.shallow_clone(), to.shallow_clone()),
            (cl(&from), cl(&to)),
            (cl(&from), to.shallow_clone()),
            (from.shallow_clone(), cl(&to)),
        ] {
            let got = lerp_pixels(&a, &b, &weight).unwrap();
            assert_eq!(got.size(), want.size());
            let err = (&got - &want).abs().max().double_value(&[]);
            assert!(err < 1e-6, "{err}");
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 37 % 251) as u8).collect()
    }

    #[test]
    fn round_trip_is_exact_for_every_layout_and_padding() {
        for pixels in PixelLayout::ALL {
            for (w, h, pad) in [(5, 3, 0), (7, 4, 3), (16, 9, 64)] {
                let stride = w * pixels.channels() + pad;
                let layout = FrameLayout {
                    width: w,
                    height: h,
                    stride,
                    pixels,
                };
                let input = pattern(stride * h);
                let frame = upload(&input, &layout, Device::Cpu, Kind::Float).unwrap();
                assert_eq!(frame.rgb.size(), [1, 3, h as i64, w as i64]);
                let mut out = vec![0xAAu8; stride * h];
                download(&frame.rgb, frame.extra.as_ref(), &mut out, &layout).unwrap();
                for y in 0..h {
                    let row = y * stride;
                    let n = w * pixels.channels();
                    assert_eq!(
                        &out[row..row + n],
                        &input[row..row + n],
                        "{pixels:?} {w}x{h}+{pad} row {y}"
                    );
                    // Row padding is never written.
                    assert!(out[row + n..row + stride].iter().all(|&b| b == 0xAA));
                }
            }
        }
    }

    #[test]
    fn channel_order_is_rgb_on_the_device() {
        let bgr = [10u8, 20, 30];
        let frame = upload(
            &bgr,
            &FrameLayout::packed(1, 1, PixelLayout::Bgr),
            Device::Cpu,
            Kind::Float,
        )
        .unwrap();
        let v: Vec<f32> = Vec::try_from(frame.rgb.flatten(0, -1)).unwrap();
        assert_eq!(v, [30.0 / 255.0, 20.0 / 255.0, 10.0 / 255.0]);
        let rgba = [10u8, 20, 30, 40];
        let frame = upload(
            &rgba,
            &FrameLayout::packed(1, 1, PixelLayout::Rgba),
            Device::Cpu,
            Kind::Float,
        )
        .unwrap();
        let v: Vec<f32> = Vec::try_from(frame.rgb.flatten(0, -1)).unwrap();
        assert_eq!(v, [10.0 / 255.0, 20.0 / 255.0, 30.0 / 255.0]);
    }

    #[test]
    fn rejects_short_buffers_and_bad_strides() {
        let layout = FrameLayout {
            width: 4,
            height: 2,
            stride: 12,
            pixels: PixelLayout::Rgb,
        };
        let err = upload(&[0u8; 23], &layout, Device::Cpu, Kind::Float).unwrap_err();
        assert!(err.to_string().contains("needs 24"), "{err}");
        let bad = FrameLayout {
            stride: 8,
            ..layout
        };
        assert!(upload(&[0u8; 64], &bad, Device::Cpu, Kind::Float).is_err());
    }

    #[test]
    fn values_are_clamped_and_rounded() {
        let t = Tensor::from_slice(&[-0.5f32, 0.5, 2.0]).view([1, 3, 1, 1]);
        let mut out = [0u8; 3];
        download(
            &t,
            None,
            &mut out,
            &FrameLayout::packed(1, 1, PixelLayout::Rgb),
        )
        .unwrap();
        assert_eq!(out, [0, 128, 255]);
    }
}
