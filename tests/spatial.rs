// SPDX-License-Identifier: MIT
//! Spatial control through the library: masks, the outside style, the soft edge.

mod common;

use adainstyle::{
    Precision, Region, StyleBank, StyleSpec, StylizeOptions, Stylizer, data, image_io, mask,
};
use tch::{Device, Kind, Tensor};

/// A held-out photo at 320 x 213 (or so), on the CPU.
fn photo() -> Tensor {
    let path = common::heldout_dir().join("content/es-badlands8.jpg");
    let img = image_io::to_tensor(
        &image_io::load_rgb(&path).expect("held-out photo"),
        Device::Cpu,
        Kind::Float,
    )
    .unwrap();
    let size = img.size();
    let (h, w) = adainstyle::frame::fit_longest(size[2], size[3], 320);
    adainstyle::frame::resize(&img, h, w).unwrap()
}

fn stylizer() -> Stylizer {
    Stylizer::load(
        adainstyle::Model::Full,
        &data::find(data::ENCODER),
        &data::find(data::DECODER),
        Device::Cpu,
        Precision::Fp32,
    )
    .expect("shipped model")
}

fn style_stats(s: &Stylizer, file: &str) -> adainstyle::Stats {
    let spec = StyleSpec::single(common::root().join("styles").join(file));
    StyleBank::new()
        .stats(&s.network, &spec, 256, None)
        .expect("shipped style")
}

/// The largest difference in 8-bit levels between two images in [0, 1].
fn max_lsb(a: &Tensor, b: &Tensor) -> f64 {
    let q = |t: &Tensor| (t.clamp(0.0, 1.0) * 255.0).round();
    (q(a) - q(b)).abs().max().double_value(&[])
}

fn mean_abs(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().mean(Kind::Float).double_value(&[])
}

fn uniform(content: &Tensor, value: f64) -> Tensor {
    let size = content.size();
    Tensor::full([1, 1, size[2], size[3]], value, (Kind::Float, Device::Cpu))
}

#[test]
fn uniform_masks_give_the_full_style_or_the_input() {
    let s = stylizer();
    let content = photo();
    let style = style_stats(&s, "night-cafe.jpg");
    let opts = StylizeOptions::default();
    let plain = s.stylize(&content, &style, &opts).unwrap();
    let white = uniform(&content, 1.0);
    let region = Region {
        mask: &white,
        outside: None,
        feather: 8,
        feathered: None,
    };
    let masked = s
        .stylize_region(&content, &style, Some(&region), &opts)
        .unwrap();
    assert!(max_lsb(&masked, &plain) <= 1.0);
    let black = uniform(&content, 0.0);
    let kept = s
        .stylize_region(
            &content,
            &style,
            Some(&Region {
                mask: &black,
                ..region
            }),
            &opts,
        )
        .unwrap();
    assert!(max_lsb(&kept, &content) <= 1.0);
    // And the masked path is not a no-op: the style changed the photo.
    assert!(mean_abs(&plain, &content) > 0.05);
}

/// Left half one style, right half another (or the photo itself): away from the boundary, each
/// half matches that half stylised on its own with its style.
#[test]
fn half_masks_match_each_half_stylised_alone() {
    let s = stylizer();
    let content = photo();
    let (h, w) = (content.size()[2], content.size()[3]);
    let half = w / 2;
    let left_style = style_stats(&s, "night-cafe.jpg");
    let right_style = style_stats(&s, "langlois-bridge.jpg");
    let mask = Tensor::cat(
        &[
            Tensor::ones([1, 1, h, half], (Kind::Float, Device::Cpu)),
            Tensor::zeros([1, 1, h, w - half], (Kind::Float, Device::Cpu)),
        ],
        3,
    );
    let opts = StylizeOptions::default();
    let two = s
        .stylize_region(
            &content,
            &left_style,
            Some(&Region {
                mask: &mask,
                outside: Some(&right_style),
                feather: 8,
                feathered: None,
            }),
            &opts,
        )
        .unwrap();
    let alone = |start: i64, len: i64, style| {
        s.stylize(&content.narrow(3, start, len), style, &opts)
            .unwrap()
    };
    let margin = 48;
    let left_alone = alone(0, half, &left_style);
    let right_alone = alone(half, w - half, &right_style);
    let inner_left = |t: &Tensor| t.narrow(3, 0, half - margin);
    let inner_right = |t: &Tensor, from: i64| t.narrow(3, from + margin, w - half - margin);
    let left_err = mean_abs(&inner_left(&two), &inner_left(&left_alone));
    let right_err = mean_abs(&inner_right(&two, half), &inner_right(&right_alone, 0));
    // The other style on the same half is far off: the yardstick for "matches".
    let wrong = mean_abs(
        &inner_left(&two),
        &inner_left(&alone(0, half, &right_style)),
    );
    println!("two styles: left {left_err:.4}, right {right_err:.4}, wrong style {wrong:.4}");
    assert!(
        left_err < 0.01 && right_err < 0.01,
        "{left_err} {right_err}"
    );
    assert!(wrong > 5.0 * left_err.max(right_err), "{wrong}");

    // One style, the rest kept: the right half is the photo, the left half the style.
    let kept = s
        .stylize_region(
            &content,
            &left_style,
            Some(&Region {
                mask: &mask,
                outside: None,
                feather: 8,
                feathered: None,
            }),
            &opts,
        )
        .unwrap();
    let kept_right = inner_right(&kept, half);
    assert!(max_lsb(&kept_right, &inner_right(&content, half)) <= 1.0);
    let kept_left = mean_abs(&inner_left(&kept), &inner_left(&left_alone));
    println!("one style: left {kept_left:.4}");
    assert!(kept_left < 0.01, "{kept_left}");
}

#[test]
fn masks_resize_and_invert() {
    let scratch = common::Scratch::new("mask-file");
    let dir = scratch.path();
    let path = dir.join("mask.png");
    // A 4 x 2 mask, white on the left: it is stretched to the frame.
    let img = image::GrayImage::from_fn(4, 2, |x, _| image::Luma([if x < 2 { 255 } else { 0 }]));
    img.save(&path).unwrap();
    let loaded = mask::load(&path).unwrap();
    let (fitted, stretched) = mask::fit(&loaded, 30, 40, Device::Cpu).unwrap();
    assert!(stretched);
    assert_eq!(fitted.size(), [1, 1, 30, 40]);
    assert_eq!(fitted.double_value(&[0, 0, 15, 2]), 1.0);
    assert_eq!(fitted.double_value(&[0, 0, 15, 37]), 0.0);
    let inverted = mask::invert(&fitted).unwrap();
    assert_eq!(inverted.double_value(&[0, 0, 15, 2]), 0.0);
    let broken = dir.join("broken.png");
    std::fs::write(&broken, b"not an image").unwrap();
    let err = mask::load(&broken).unwrap_err().to_string();
    assert!(err.contains("broken.png"), "{err}");
}
