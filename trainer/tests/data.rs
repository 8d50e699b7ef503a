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
    let readable = write_odd_images(&dir.0);
    let folder = ImageFolder::open(&dir.0, 40, 1 << 20).unwrap();
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
    assert_eq!(folder.unreadable().len(), 3);

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
