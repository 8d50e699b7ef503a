// SPDX-License-Identifier: MIT
//! The data pipeline: odd image files load or are skipped as specified, and batches depend only
//! on the seed and the iteration.

mod common;

use std::sync::Arc;

use adainstyle_trainer::data::{BatchLoader, Dataset, ImageFolder, list_images};
use common::{Scratch, pattern, write_images};
use image::{DynamicImage, ImageBuffer, Luma, Rgb, Rgba};

/// Writes one file of every kind the pipeline must cope with; returns how many should load.
fn write_odd_images(dir: &std::path::Path) -> usize {
    std::fs::create_dir_all(dir.join("deep/er")).unwrap();
    pattern(48, 40, 1).save(dir.join("plain.jpg")).unwrap();
    let rgba = ImageBuffer::from_fn(40, 48, |x, y| {
        Rgba([x as u8 * 5, y as u8 * 5, 90, (x * 6) as u8])
    });
    rgba.save(dir.join("alpha.png")).unwrap();
    let grey = ImageBuffer::from_fn(36, 36, |x, y| Luma([(x * 7 + y) as u8]));
    grey.save(dir.join("deep/grey.png")).unwrap();
    let grey_jpeg = DynamicImage::ImageLuma8(grey);
    grey_jpeg.save(dir.join("deep/er/grey.JPEG")).unwrap();
    let wide: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_fn(40, 33, |x, y| {
        Rgb([x as u16 * 1500, y as u16 * 1900, 40000])
    });
    wide.save(dir.join("sixteen.png")).unwrap();
    pattern(33, 35, 2).save(dir.join("deep/pic.bmp")).unwrap();
    // Unreadable: truncated JPEG, empty PNG, text with an image name.
    std::fs::write(dir.join("corrupt.jpg"), b"\xFF\xD8\xFF\xE0 truncated").unwrap();
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    std::fs::write(dir.join("deep/notes.webp"), b"just text").unwrap();
    // Not an image by name: ignored altogether.
    std::fs::write(dir.join("README.txt"), b"hello").unwrap();
    6
}

#[test]
fn odd_images_load_or_are_skipped_once() {
    let dir = Scratch::new("odd");
    let readable = write_odd_images(dir.path());
    let folder = ImageFolder::open(dir.path(), 40, 1 << 20).unwrap();
    assert_eq!(folder.len(), readable + 3, "{:?}", folder.paths());
    let mut warnings = Vec::new();
    let mut loaded = 0;
    for i in 0..folder.len() {
        if let Some(img) = folder.get(i, &mut warnings) {
            assert_eq!(img.width().min(img.height()), 40, "{:?}", folder.paths()[i]);
            loaded += 1;
        }
    }
    assert_eq!(loaded, readable);
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    for name in ["corrupt.jpg", "empty.png", "notes.webp"] {
        assert!(
            warnings.iter().any(|w| w.contains(name)),
            "{name} not named: {warnings:?}"
        );
    }
    // Asking again neither reloads nor warns again.
    for i in 0..folder.len() {
        folder.get(i, &mut warnings);
    }
    assert_eq!(warnings.len(), 3);

    // Alpha is composited onto white: the fully transparent column x = 0 becomes white.
    let alpha = folder
        .paths()
        .iter()
        .position(|p| p.ends_with("alpha.png"))
        .unwrap();
    let img = adainstyle::image_io::load_rgb(&folder.paths()[alpha]).unwrap();
    assert_eq!(img.get_pixel(0, 10).0, [255, 255, 255]);
}

#[test]
fn batches_skip_unreadable_files_and_depend_only_on_seed_and_iteration() {
    let dir = Scratch::new("batches");
    write_odd_images(&dir.join("content"));
    write_images(&dir.join("style"), 4, 9);
    let open = |seed| Dataset {
        content: ImageFolder::open(&dir.join("content"), 40, 1 << 20).unwrap(),
        style: ImageFolder::open(&dir.join("style"), 40, 0).unwrap(),
        batch: 3,
        crop: 32,
        seed,
    };
    let a = open(11);
    let mut warnings = Vec::new();
    let batches: Vec<_> = (0..12).map(|t| a.batch(t).unwrap()).collect();
    for b in &batches {
        assert_eq!(b.content.len(), 3 * 32 * 32 * 3);
        assert_eq!(b.style.len(), b.content.len());
        warnings.extend(b.warnings.iter().cloned());
    }
    // Every unreadable file drawn is named exactly once.
    let mut sorted = warnings.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), warnings.len(), "{warnings:?}");

    // Another dataset, visited in reverse order, and worker threads give the same batches.
    let b = open(11);
    for t in (0..12).rev() {
        let x = b.batch(t).unwrap();
        assert_eq!(x.content, batches[t as usize].content, "iteration {t}");
        assert_eq!(x.style, batches[t as usize].style);
    }
    let mut loader = BatchLoader::start(Arc::new(open(11)), 5, 12, 3, 1).unwrap();
    for t in 5..12 {
        let x = loader.next_batch().unwrap();
        assert_eq!(x.iteration, t);
        assert_eq!(x.content, batches[t as usize].content);
    }
    assert!(loader.next_batch().is_err());
    // Another seed, other batches.
    assert_ne!(open(12).batch(0).unwrap().content, batches[0].content);
}

#[test]
fn unreadable_or_empty_folders_are_errors_not_panics() {
    let dir = Scratch::new("bad");
    std::fs::create_dir_all(dir.join("none")).unwrap();
    let err = list_images(&dir.join("none")).unwrap_err().to_string();
    assert!(err.contains("no images"), "{err}");
    assert!(list_images(&dir.join("missing")).is_err());
    std::fs::create_dir_all(dir.join("broken")).unwrap();
    std::fs::write(dir.join("broken/a.jpg"), b"nope").unwrap();
    std::fs::write(dir.join("broken/b.png"), b"nope").unwrap();
    write_images(&dir.join("style"), 1, 1);
    let data = Dataset {
        content: ImageFolder::open(&dir.join("broken"), 40, 0).unwrap(),
        style: ImageFolder::open(&dir.join("style"), 40, 0).unwrap(),
        batch: 2,
        crop: 32,
        seed: 0,
    };
    let err = data.batch(0).unwrap_err().to_string();
    assert!(err.contains("none of the 2 images"), "{err}");
    let mut loader = BatchLoader::start(Arc::new(data), 0, 4, 2, 1).unwrap();
    assert!(loader.next_batch().is_err());
}

/// Mean absolute difference of two RGB images of the same size, per channel value.
fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

/// `adain-train pack` prepares the crops as a training batch prepares images (alpha onto white,
/// bmp included, the training resize), writes a tar the system's `tar` reads, and the crops
/// train as they are.
#[test]
fn pack_prepares_crops_as_training_does() {
    use adainstyle::image_io::load_rgb;
    use adainstyle_trainer::data::{center_square, resize_short_side};
    use adainstyle_trainer::pack::{self, PackSettings};

    let dir = Scratch::new("pack");
    let data = dir.join("data");
    let readable = write_odd_images(&data.join("content"));
    write_images(&data.join("style"), 3, 3);
    write_images(&data.join("heldout/content"), 2, 4);
    write_images(&data.join("heldout/style"), 2, 5);
    std::fs::write(data.join("MANIFEST.tsv"), "kind\tname\tpackage\tsource\n").unwrap();
    std::fs::create_dir_all(data.join("licenses")).unwrap();
    std::fs::write(data.join("licenses/x.copyright"), "licence text").unwrap();
    let settings = PackSettings {
        size: 32,
        quality: 95,
        seed: 3,
    };
    let out = dir.join("bundle/data.tar");
    let packed = pack::pack(&data, &out, settings).unwrap();
    assert_eq!(
        (packed.crops, packed.skipped),
        (readable + 3 + 2 + 2, 3),
        "{packed:?}"
    );
    // The same pack again, byte for byte.
    let again = dir.join("again.tar");
    pack::pack(&data, &again, settings).unwrap();
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&again).unwrap());

    let unpacked = dir.join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&out)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .expect("running tar");
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(unpacked.join("licenses/x.copyright")).unwrap(),
        "licence text"
    );
    assert!(unpacked.join("MANIFEST.tsv").is_file());
    // bmp is an image like any other.
    assert!(unpacked.join("content/deep/pic.jpg").is_file());

    // Held-out images: the centre square of the training resize (up to JPEG's error).
    for sub in ["heldout/content", "heldout/style"] {
        for src in list_images(&data.join(sub)).unwrap() {
            let rel = src
                .strip_prefix(data.join(sub))
                .unwrap()
                .with_extension("jpg");
            let got = load_rgb(&unpacked.join(sub).join(rel)).unwrap();
            let want = center_square(&load_rgb(&src).unwrap(), 32);
            assert!(mean_abs_diff(&got, &want) < 3.0, "{}", src.display());
        }
    }
    // Training images: some 32 x 32 window of the training resize.
    for sub in ["content", "style"] {
        for src in list_images(&data.join(sub)).unwrap() {
            let Ok(img) = load_rgb(&src) else { continue };
            let rel = src
                .strip_prefix(data.join(sub))
                .unwrap()
                .with_extension("jpg");
            let got = load_rgb(&unpacked.join(sub).join(rel)).unwrap();
            let resized = resize_short_side(&img, 32);
            let (w, h) = resized.dimensions();
            let best = (0..=w - 32)
                .flat_map(|x| (0..=h - 32).map(move |y| (x, y)))
                .map(|(x, y)| {
                    let window = image::imageops::crop_imm(&resized, x, y, 32, 32).to_image();
                    mean_abs_diff(&got, &window)
                })
                .fold(f64::INFINITY, f64::min);
            assert!(best < 3.0, "{}: {best}", src.display());
        }
    }
    // Transparency became white, as in training (not grey): the transparent left column of
    // alpha.png is the left column of its crop (40 px wide, resized to 32: no horizontal room).
    let alpha = load_rgb(&unpacked.join("content/alpha.jpg")).unwrap();
    let left: f64 = (0..32)
        .map(|y| {
            f64::from(
                alpha
                    .get_pixel(0, y)
                    .0
                    .iter()
                    .map(|&v| u32::from(v))
                    .sum::<u32>(),
            )
        })
        .sum::<f64>()
        / (32.0 * 3.0);
    assert!(left > 235.0, "left column {left}");

    // A run on the unpacked crops with --resize 32 takes them as they are.
    let folder = ImageFolder::open(&unpacked.join("content"), 32, 1 << 20).unwrap();
    let mut warnings = Vec::new();
    for (i, path) in folder.paths().iter().enumerate() {
        let got = folder.get(i, &mut warnings).unwrap();
        assert!(*got == load_rgb(path).unwrap(), "{}", path.display());
    }
    assert!(warnings.is_empty(), "{warnings:?}");
}
