// SPDX-License-Identifier: MIT
//! The data as square JPEG crops in one uncompressed tar, for a machine that has neither the
//! data nor the tools that fetch it (the GPU bundle): `adain-train pack DATA OUT.tar`.
//!
//! Each crop is prepared by the functions a training batch uses, so the two paths cannot drift
//! apart: [`adainstyle::image_io::load_rgb`] (any format, grey and 16-bit converted, alpha
//! composited onto white), [`data::resize_short_side`] (triangle filter), then a random square
//! for training images (its position drawn from the seed and the file's name) or the centre
//! square for held-out ones ([`data::center_square`]). A run on the unpacked crops with
//! `--resize` equal to the crop size leaves them as they are.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use image::imageops;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data;

/// The folders of a data directory that are packed, training ones first.
pub const PACK_DIRS: [&str; 4] = ["content", "style", "heldout/content", "heldout/style"];

/// Files of the data directory that travel with the crops (provenance and licences).
const EXTRAS: [&str; 2] = ["MANIFEST.tsv", "licenses"];

/// Settings of [`pack`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PackSettings {
    /// Side of the square crops; every image's short side is resized to it first.
    pub size: u32,
    /// JPEG quality, 1..=100.
    pub quality: u8,
    /// Seed of the crops' positions in the training images.
    pub seed: u64,
}

/// What [`pack`] wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Packed {
    /// Crops written.
    pub crops: usize,
    /// Images that could not be read (each named on stderr).
    pub skipped: usize,
    /// Size of the tar in bytes.
    pub bytes: u64,
}

/// The crop of one image as training prepares it: short side resized to `size`, then the
/// centre square (`random` = None) or a square at a position drawn from `random`.
pub fn prepare(image: &RgbImage, size: u32, random: Option<&mut ChaCha8Rng>) -> RgbImage {
    let Some(rng) = random else {
        return data::center_square(image, size);
    };
    let resized = data::resize_short_side(image, size);
    let (w, h) = resized.dimensions();
    let (x, y) = data::random_window(rng, w, h, size);
    imageops::crop_imm(&resized, x, y, size, size).to_image()
}

/// The random stream of the crop of the file named `name` in the tar: it depends on the seed
/// and the name only (FNV-1a of both), so a pack is reproducible file by file.
fn crop_rng(seed: u64, name: &str) -> ChaCha8Rng {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed.to_le_bytes().iter().chain(name.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    ChaCha8Rng::seed_from_u64(hash)
}

/// Writes the crops of every image under `data`'s [`PACK_DIRS`] (`content/` and `style/` are
/// required, the held-out folders are packed when present), named `DIR/<path>.jpg`, plus
/// `MANIFEST.tsv` and `licenses/`, into the tar `out` (through a temporary file and a rename).
pub fn pack(data_dir: &Path, out: &Path, settings: PackSettings) -> Result<Packed> {
    if settings.size < 8 {
        bail!("--size must be at least 8, got {}", settings.size);
    }
    if !(1..=100).contains(&settings.quality) {
        bail!("--quality must be 1..=100, got {}", settings.quality);
    }
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    let mut tar = Tar {
        out: std::io::BufWriter::new(file),
        path: tmp.clone(),
    };
    let mut packed = Packed::default();
    for dir in PACK_DIRS {
        let root = data_dir.join(dir);
        let training = !dir.starts_with("heldout");
        if !training && !root.is_dir() {
            continue;
        }
        for path in data::list_images(&root)? {
            let rel = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .with_extension("jpg");
            let name = format!("{dir}/{}", rel.to_string_lossy());
            let image = match adainstyle::image_io::load_rgb(&path) {
                Ok(img) if img.width() > 0 && img.height() > 0 => img,
                Ok(_) => {
                    eprintln!("warning: skipping empty image {}", path.display());
                    packed.skipped += 1;
                    continue;
                }
                Err(e) => {
                    eprintln!("warning: skipping unreadable image {e}");
                    packed.skipped += 1;
                    continue;
                }
            };
            let mut rng = crop_rng(settings.seed, &name);
            let crop = prepare(&image, settings.size, training.then_some(&mut rng));
            let mut jpeg = Vec::new();
            JpegEncoder::new_with_quality(&mut jpeg, settings.quality)
                .encode_image(&crop)
                .with_context(|| format!("encoding the crop of {}", path.display()))?;
            tar.append(&name, &jpeg)?;
            packed.crops += 1;
        }
    }
    for extra in EXTRAS {
        let path = data_dir.join(extra);
        let files = if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                .with_context(|| format!("listing {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            files
        } else if path.is_file() {
            vec![path]
        } else {
            Vec::new()
        };
        for file in files {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let name = file.strip_prefix(data_dir).unwrap_or(&file);
            tar.append(&name.to_string_lossy(), &bytes)?;
        }
    }
    tar.finish()?;
    std::fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))?;
    packed.bytes = std::fs::metadata(out)?.len();
    Ok(packed)
}

/// A POSIX ustar archive of regular files (mode 644, owner root, time 0), written in order.
struct Tar {
    out: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
}

const BLOCK: usize = 512;

impl Tar {
    fn append(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let header = ustar_header(name, bytes.len() as u64)?;
        let pad = (BLOCK - bytes.len() % BLOCK) % BLOCK;
        self.out
            .write_all(&header)
            .and_then(|()| self.out.write_all(bytes))
            .and_then(|()| self.out.write_all(&vec![0u8; pad]))
            .with_context(|| format!("writing {}", self.path.display()))
    }

    fn finish(mut self) -> Result<()> {
        self.out
            .write_all(&[0u8; 2 * BLOCK])
            .and_then(|()| self.out.flush())
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// Writes `value` as zero-padded octal digits filling `field` but its last byte (a NUL).
fn octal(field: &mut [u8], value: u64) -> Result<()> {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    if text.len() > digits {
        bail!("{value} does not fit a tar header field");
    }
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
    Ok(())
}

/// The 512-byte ustar header of a regular file; a name longer than 100 bytes is split at a `/`
/// into the prefix field (155 bytes).
fn ustar_header(name: &str, size: u64) -> Result<[u8; BLOCK]> {
    let bytes = name.as_bytes();
    let (prefix, base) = if bytes.len() <= 100 {
        (&[][..], bytes)
    } else {
        let split = (0..bytes.len())
            .rev()
            .find(|&i| bytes[i] == b'/' && i <= 155 && bytes.len() - i - 1 <= 100)
            .with_context(|| format!("{name}: too long for a tar header"))?;
        (&bytes[..split], &bytes[split + 1..])
    };
    let mut h = [0u8; BLOCK];
    h[..base.len()].copy_from_slice(base);
    octal(&mut h[100..108], 0o644)?;
    octal(&mut h[108..116], 0)?;
    octal(&mut h[116..124], 0)?;
    octal(&mut h[124..136], size)?;
    octal(&mut h[136..148], 0)?;
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    octal(&mut h[329..337], 0)?;
    octal(&mut h[337..345], 0)?;
    h[345..345 + prefix.len()].copy_from_slice(prefix);
    // The checksum is the byte sum of the header with its own field read as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    octal(&mut h[148..155], u64::from(sum))?;
    h[155] = b' ';
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn header_fields_and_checksum() {
        let h = ustar_header("content/a.jpg", 1234).unwrap();
        assert_eq!(&h[..13], b"content/a.jpg");
        assert_eq!(&h[124..136], b"00000002322\0");
        let mut copy = h;
        copy[148..156].copy_from_slice(b"        ");
        let sum: u32 = copy.iter().map(|&b| u32::from(b)).sum();
        let stored = std::str::from_utf8(&h[148..154]).unwrap();
        assert_eq!(u32::from_str_radix(stored, 8).unwrap(), sum);
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let h = ustar_header(&long, 0).unwrap();
        assert_eq!(&h[..90], "f".repeat(90).as_bytes());
        assert_eq!(&h[345..465], "d".repeat(120).as_bytes());
        assert!(ustar_header(&"x".repeat(300), 0).is_err());
    }

    #[test]
    fn crops_depend_on_the_seed_and_the_name_only() {
        let draw = |seed, name| crop_rng(seed, name).gen_range(0..1_000_000u32);
        assert_eq!(draw(0, "content/a.jpg"), draw(0, "content/a.jpg"));
        assert_ne!(draw(0, "content/a.jpg"), draw(0, "content/b.jpg"));
        assert_ne!(draw(0, "content/a.jpg"), draw(1, "content/a.jpg"));
    }
}
