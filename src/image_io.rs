// SPDX-License-Identifier: MIT
//! Reading and writing still images as tensors.

use std::path::Path;

use image::{DynamicImage, RgbImage};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::frame::{self, FrameLayout, PixelLayout};

/// Decodes any supported image file (PNG, JPEG, WebP, BMP) into 8-bit RGB, whatever its colour
/// type: grey is expanded, 16-bit is reduced, transparency is composited onto white. The format
/// is taken from the content, not the file name.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    Ok(flatten(decode(path)?))
}

/// Decodes any supported image file as it is stored (format from the content); errors name the
/// file.
pub fn decode(path: &Path) -> Result<DynamicImage> {
    let io_error = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let reader = image::ImageReader::open(path)
        .map_err(io_error)?
        .with_guessed_format()
        .map_err(io_error)?;
    reader.decode().map_err(|source| Error::Image {
        path: path.to_owned(),
        source,
    })
}

/// Converts a decoded image of any colour type to RGB, compositing alpha onto white.
pub fn flatten(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let a = src[3] as u32;
        for c in 0..3 {
            dst[c] = ((src[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}

/// An RGB image as a (1, 3, H, W) float tensor in [0, 1] on `device`.
pub fn to_tensor(img: &RgbImage, device: Device, kind: Kind) -> Result<Tensor> {
    let layout = FrameLayout::packed(
        img.width() as usize,
        img.height() as usize,
        PixelLayout::Rgb,
    );
    Ok(frame::upload(img.as_raw(), &layout, device, kind)?.rgb)
}

/// A (1, 3, H, W) tensor in [0, 1] (clamped) as an RGB image.
pub fn from_tensor(t: &Tensor) -> Result<RgbImage> {
    let size = t.size();
    let (h, w) = (size[2] as usize, size[3] as usize);
    let layout = FrameLayout::packed(w, h, PixelLayout::Rgb);
    let mut data = vec![0u8; layout.min_len()];
    frame::download(t, None, &mut data, &layout)?;
    RgbImage::from_raw(w as u32, h as u32, data)
        .ok_or_else(|| Error::Frame("image buffer size mismatch".into()))
}

/// Writes a (1, 3, H, W) tensor as an image file (format from the extension).
pub fn save(t: &Tensor, path: &Path) -> Result<()> {
    save_as(t, path, path)
}

/// Writes a (1, 3, H, W) tensor to `path` in the format `named`'s extension gives (for a
/// temporary file that becomes `named`, [`crate::files::PendingOutput`]).
pub fn save_as(t: &Tensor, path: &Path, named: &Path) -> Result<()> {
    let error = |source| Error::Image {
        path: named.to_owned(),
        source,
    };
    let format = image::ImageFormat::from_path(named).map_err(error)?;
    from_tensor(t)?
        .save_with_format(path, format)
        .map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, LumaA, Rgba};

    #[test]
    fn alpha_is_composited_on_white() {
        let mut img: ImageBuffer<Rgba<u8>, Vec<u8>> = ImageBuffer::new(2, 1);
        img.put_pixel(0, 0, Rgba([0, 0, 0, 0]));
        img.put_pixel(1, 0, Rgba([100, 50, 0, 255]));
        let rgb = flatten(DynamicImage::ImageRgba8(img));
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(rgb.get_pixel(1, 0).0, [100, 50, 0]);
        let grey = ImageBuffer::from_pixel(1, 1, LumaA([10u8, 255]));
        assert_eq!(
            flatten(DynamicImage::ImageLumaA8(grey)).get_pixel(0, 0).0,
            [10, 10, 10]
        );
    }

    #[test]
    fn unreadable_files_name_the_path() {
        let dir = std::env::temp_dir().join(format!("adainstyle-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("corrupt.jpg");
        std::fs::write(&bad, b"\xFF\xD8\xFFnot really a jpeg").unwrap();
        let err = load_rgb(&bad).unwrap_err().to_string();
        assert!(err.contains("corrupt.jpg"), "{err}");
        let err = load_rgb(&dir.join("missing.png")).unwrap_err().to_string();
        assert!(err.contains("missing.png"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
