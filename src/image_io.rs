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

/// Largest side, in pixels, of an image the project decodes at all.
pub const MAX_SIDE: u32 = 16384;
/// Most memory, in bytes, the decoder may take for one image (a 12000 x 12000 RGBA PNG takes
/// 576 MB): larger images are refused with an error naming the file rather than decoded.
pub const MAX_DECODE_BYTES: u64 = 1 << 30;

/// Decodes any supported image file as it is stored (format from the content); errors name the
/// file. Only regular files are opened (a FIFO or a device would block the reader), images over
/// [`MAX_SIDE`] or [`MAX_DECODE_BYTES`] are refused, and a JPEG without its end marker (a
/// truncated file, which the decoder would fill with grey) is an error.
pub fn decode(path: &Path) -> Result<DynamicImage> {
    let io_error = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    crate::files::regular_file(path)?;
    let mut reader = image::ImageReader::open(path)
        .map_err(io_error)?
        .with_guessed_format()
        .map_err(io_error)?;
    if reader.format() == Some(image::ImageFormat::Jpeg) && !jpeg_has_end(path).map_err(io_error)? {
        return Err(Error::Truncated(path.to_owned()));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    reader.decode().map_err(|source| Error::Image {
        path: path.to_owned(),
        source,
    })
}

/// Whether the last megabyte of a JPEG file holds its end-of-image marker (FF D9).
fn jpeg_has_end(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let tail = len.min(1 << 20);
    file.seek(SeekFrom::Start(len - tail))?;
    let mut bytes = Vec::with_capacity(tail as usize);
    file.read_to_end(&mut bytes)?;
    Ok(bytes.windows(2).any(|w| w == [0xFF, 0xD9]))
}

/// [`decode`], then shrunk on the 8-bit pixels (a fast area average) so that its longest side
/// is at most `longest` (0 = as decoded): a huge image becomes small before any float copy of it
/// is made.
pub fn decode_at_most(path: &Path, longest: u32) -> Result<DynamicImage> {
    let img = decode(path)?;
    if longest == 0 || img.width().max(img.height()) <= longest {
        return Ok(img);
    }
    let scale = f64::from(longest) / f64::from(img.width().max(img.height()));
    let w = ((f64::from(img.width()) * scale).round() as u32).max(1);
    let h = ((f64::from(img.height()) * scale).round() as u32).max(1);
    Ok(img.thumbnail_exact(w, h))
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

    #[test]
    fn truncated_jpegs_fifos_and_tiny_styles_are_errors_and_big_images_shrink_first() {
        let dir = std::env::temp_dir().join(format!("adainstyle-io2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A real JPEG, then the same cut in half: the decoder would fill the rest with grey.
        let img = RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 3, y as u8 * 5, 90]));
        let whole = dir.join("whole.jpg");
        img.save(&whole).unwrap();
        let bytes = std::fs::read(&whole).unwrap();
        let cut = dir.join("cut.jpg");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        assert!(load_rgb(&whole).is_ok());
        let err = load_rgb(&cut).unwrap_err().to_string();
        assert!(
            err.contains("cut.jpg") && err.contains("truncated"),
            "{err}"
        );
        // A FIFO is refused without opening it (opening would block until a writer comes).
        let fifo = dir.join("style.png");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let err = load_rgb(&fifo).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        // A 1 x 1 style image is too small, and says so.
        let tiny = dir.join("tiny.png");
        RgbImage::new(1, 1).save(&tiny).unwrap();
        let err = crate::style::load_style_image(&tiny, 512)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tiny.png") && err.contains("too small"),
            "{err}"
        );
        // A large image is shrunk on its bytes before any float copy.
        let shrunk = decode_at_most(&whole, 16).unwrap();
        assert_eq!((shrunk.width(), shrunk.height()), (16, 12));
        std::fs::remove_dir_all(&dir).ok();
    }
}
