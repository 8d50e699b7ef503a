// SPDX-License-Identifier: MIT
//! Helpers shared by the trainer's integration tests: scratch folders, generated images and a
//! tiny training configuration.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use adainstyle_trainer::config::TrainConfig;
use image::{ImageBuffer, Rgb, RgbImage};

/// A scratch folder removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh, empty folder under the system temp dir.
    pub fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("adain-train-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating scratch dir");
        Self(dir)
    }

    /// A path inside the folder.
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A smooth colourful test image; `seed` varies the pattern.
pub fn pattern(w: u32, h: u32, seed: u32) -> RgbImage {
    ImageBuffer::from_fn(w, h, |x, y| {
        let s = seed as f32;
        let r = 127.5 + 127.5 * ((x as f32 * 0.21 + s).sin());
        let g = 127.5 + 127.5 * ((y as f32 * 0.17 + 2.0 * s).cos());
        let b = ((x * 7 + y * 3 + seed * 41) % 256) as f32;
        Rgb([r as u8, g as u8, b as u8])
    })
}

/// Writes `n` PNG images of assorted sizes (some smaller than the crop, some not square) into
/// `dir`, half of them in a sub-folder.
pub fn write_images(dir: &Path, n: u32, seed: u32) {
    std::fs::create_dir_all(dir.join("sub")).expect("creating image dir");
    for i in 0..n {
        let (w, h) = [(40, 56), (64, 40), (24, 30), (50, 50)][(i % 4) as usize];
        let sub = if i % 2 == 0 { "" } else { "sub/" };
        pattern(w, h, seed * 100 + i)
            .save(dir.join(format!("{sub}img{i}.png")))
            .expect("writing test image");
    }
}

/// The real encoder of the repository.
pub fn encoder_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/vgg19-normalised.safetensors")
}

/// A small, fast CPU configuration on `content` and `style` folders.
pub fn tiny_config(content: &Path, style: &Path, iterations: u64) -> TrainConfig {
    TrainConfig {
        model: adainstyle::Model::Full,
        upsample: Default::default(),
        content_dir: content.to_owned(),
        style_dir: style.to_owned(),
        encoder: encoder_path(),
        batch_size: 2,
        crop: 32,
        resize: 40,
        lr: 1e-4,
        lr_decay: 5e-5,
        style_weight: 10.0,
        content_weight: 1.0,
        identity_weight: 0.0,
        shallow_content_weight: 0.0,
        tv_weight: 0.0,
        seed: 7,
        iterations,
        device: "cpu".into(),
        precision: adainstyle::Precision::Fp32,
        init_decoder: None,
        cache_targets: false,
        save_every: 0,
        sample_every: 0,
        log_every: 1000,
        workers: 2,
        threads: 1,
        max_minutes: None,
        heldout_dir: None,
        eval_every: 0,
        eval_pairs: 0,
        cache_mb: 16,
    }
}
