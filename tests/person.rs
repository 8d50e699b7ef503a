// SPDX-License-Identifier: MIT
//! The person mask over time: on a still camera (the same photo with fresh sensor noise and a
//! pixel of shake each frame) the steadied mask flickers much less than the network's own
//! per-frame answer, and a person who moves is followed at once.

mod common;

use adainstyle::{PersonMask, image_io};
use tch::{Device, Kind, Tensor};

fn photo() -> Tensor {
    let path = common::root().join("tests/data/people/astronaut.jpg");
    image_io::to_tensor(
        &image_io::load_rgb(&path).unwrap(),
        Device::Cpu,
        Kind::Float,
    )
    .unwrap()
}

/// Frame `i` of the still camera: the photo shifted by up to a pixel, with noise of about 3
/// levels.
fn frame(photo: &Tensor, i: i64) -> Tensor {
    tch::manual_seed(i);
    let shifted = photo.roll([i % 2, (i / 2) % 2], [2, 3]);
    (shifted + Tensor::randn_like(photo) * (3.0 / 255.0)).clamp(0.0, 1.0)
}

/// Mean |mask(t) - mask(t-1)| and the share of pixels that change side of 0.5, over `frames`.
fn flicker(smoothing: f64, frames: i64) -> (f64, f64) {
    let weights = common::root().join("models/segmenter.safetensors");
    let mut mask = PersonMask::load(&weights, Device::Cpu, Kind::Float).unwrap();
    let photo = photo();
    let size = photo.size();
    let (mut change, mut flips, mut previous) = (0.0, 0.0, None::<Tensor>);
    for i in 0..frames {
        let m = mask
            .for_frame(&frame(&photo, i), smoothing, 0, (size[2], size[3]), false)
            .unwrap();
        if let Some(p) = &previous {
            change += (&m - p).abs().mean(Kind::Float).double_value(&[]);
            flips += 1.0 - common::same_side(&m, p);
        }
        previous = Some(m);
    }
    let n = (frames - 1) as f64;
    (change / n, flips / n)
}

#[test]
fn the_steadied_mask_flickers_less_on_a_still_camera() {
    let (raw, raw_flips) = flicker(0.0, 12);
    let (steady, steady_flips) = flicker(0.5, 12);
    eprintln!(
        "mean |Δmask| per frame: {raw:.5} alone, {steady:.5} steadied (0.5); pixels changing \
         side: {:.4} % alone, {:.4} % steadied",
        100.0 * raw_flips,
        100.0 * steady_flips
    );
    assert!(raw > 0.0, "the noise moves the network's answer");
    assert!(steady < 0.7 * raw, "{steady} vs {raw}");
}

#[test]
fn a_person_who_moves_is_followed_at_once() {
    let weights = common::root().join("models/segmenter.safetensors");
    let mut mask = PersonMask::load(&weights, Device::Cpu, Kind::Float).unwrap();
    let photo = photo();
    let size = photo.size();
    let (h, w) = (size[2], size[3]);
    let mut alone = PersonMask::load(&weights, Device::Cpu, Kind::Float).unwrap();
    for _ in 0..5 {
        let _ = mask.for_frame(&photo, 0.9, 0, (h, w), false).unwrap();
    }
    // The astronaut jumps a quarter of the picture to the right.
    let moved = photo.roll([w / 4], [3]);
    let steadied = mask.for_frame(&moved, 0.9, 0, (h, w), false).unwrap();
    let own = alone.for_frame(&moved, 0.0, 0, (h, w), false).unwrap();
    let agree = common::same_side(&steadied, &own);
    assert!(agree > 0.97, "{agree}");
}
