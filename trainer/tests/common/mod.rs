// SPDX-License-Identifier: MIT
//! Helpers shared by the trainer's integration tests: scratch folders (the workspace's), generated
//! images and a tiny training configuration. Nothing here needs Python or the fetched data.

// Each test binary uses its own subset of the helpers.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};

use adainstyle_trainer::config::TrainConfig;
use image::{ImageBuffer, Rgb, RgbImage};

pub use adainstyle_test_support::Scratch;

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

/// The shipped encoder, found as `adain-train` finds it.
pub fn encoder_path() -> PathBuf {
    adainstyle_trainer::config::shipped_encoder()
}

/// The flags of a small, fast CPU run on `content` and `style` folders (the rest default).
pub fn tiny_flags(content: &Path, style: &Path, iterations: u64) -> Vec<String> {
    let mut flags: Vec<String> = vec![
        "--content-dir".into(),
        content.display().to_string(),
        "--style-dir".into(),
        style.display().to_string(),
    ];
    let iterations = iterations.to_string();
    for pair in [
        ["--iterations", &iterations],
        ["--batch-size", "2"],
        ["--crop", "32"],
        ["--resize", "40"],
        ["--seed", "7"],
        ["--device", "cpu"],
        ["--precision", "fp32"],
        ["--save-every", "0"],
        ["--sample-every", "0"],
        ["--log-every", "1000"],
        ["--eval-every", "0"],
        ["--threads", "1"],
        ["--cache-mb", "16"],
    ] {
        flags.extend(pair.map(String::from));
    }
    flags
}

/// [`tiny_flags`] as the configuration `adain-train` makes of them.
pub fn tiny_config(content: &Path, style: &Path, iterations: u64) -> TrainConfig {
    use clap::{Args, FromArgMatches};
    let command = TrainConfig::augment_args(clap::Command::new("adain-train").no_binary_name(true));
    let matches = command
        .try_get_matches_from(tiny_flags(content, style, iterations))
        .expect("tiny flags parse");
    TrainConfig::from_arg_matches(&matches).expect("tiny flags make a configuration")
}
