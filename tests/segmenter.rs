// SPDX-License-Identifier: MIT
//! The person segmenter against MediaPipe's own graphs: tests/data/segmenter-reference.safetensors
//! holds the inputs MediaPipe 0.10.21 was given and the masks it returned, for each of its two
//! models (tools/segmenter_reference.py), and the shipped weights (tools/make_segmenter.py) must
//! give the same masks.

mod common;

use adainstyle::arch::{self, SegmenterModel};
use adainstyle::segmenter::{Segmenter, SegmenterNet};
use adainstyle::{Error, Pretrained, weights};
use common::Scratch;
use tch::{Device, Kind, Tensor};

fn weights_path() -> std::path::PathBuf {
    common::root().join("models/segmenter.safetensors")
}

const MODELS: [SegmenterModel; 2] = [arch::SEGMENTER_LANDSCAPE, arch::SEGMENTER_SQUARE];

fn net(segmenter: &Segmenter, model: SegmenterModel) -> &SegmenterNet {
    match model.name {
        "landscape" => &segmenter.landscape,
        _ => &segmenter.square,
    }
}

/// `model`'s reference inputs as (N, 3, H, W) floats in [0, 1] and MediaPipe's masks
/// (N, 1, H, W).
fn reference(model: SegmenterModel) -> Vec<(Tensor, Tensor)> {
    let path = common::root().join("tests/data/segmenter-reference.safetensors");
    let r = weights::read_tensors(&path).unwrap();
    let mut pairs = Vec::new();
    for i in 0.. {
        let key = |what: &str| format!("{}.{what}{i}", model.name);
        let (Some(input), Some(output)) = (r.get(&key("input")), r.get(&key("output"))) else {
            break;
        };
        let rgb = input.permute([0, 3, 1, 2]).to_kind(Kind::Float) / 255.0;
        pairs.push((rgb, output.unsqueeze(1)));
    }
    assert!(
        pairs.len() >= 2,
        "the reference holds {} images",
        pairs.len()
    );
    pairs
}

/// Every reference image of both models: the model, the image's index, its input and mask.
fn every_reference() -> impl Iterator<Item = (SegmenterModel, usize, Tensor, Tensor)> {
    MODELS.into_iter().flat_map(|m| {
        reference(m)
            .into_iter()
            .enumerate()
            .map(move |(i, (rgb, expected))| (m, i, rgb, expected))
    })
}

#[test]
fn the_segmenter_matches_mediapipe() {
    let segmenter = Pretrained::segmenter(&weights_path(), Device::Cpu, Kind::Float).unwrap();
    for (model, i, rgb, expected) in every_reference() {
        let got = tch::no_grad(|| net(&segmenter.net, model).forward(&rgb)).unwrap();
        assert_eq!(got.size(), expected.size());
        let diff = (&got - &expected).abs();
        let max = diff.max().double_value(&[]);
        let mean = diff.mean(Kind::Float).double_value(&[]);
        let agree = common::same_side(&got, &expected);
        let person = expected.gt(0.5).to_kind(Kind::Float).mean(Kind::Float);
        eprintln!(
            "{} image {i}: max |diff| {max:.2e}, mean {mean:.2e}, same side of 0.5 {agree:.5}, \
             person share {:.3}",
            model.name,
            person.double_value(&[])
        );
        assert!(person.double_value(&[]) > 0.2, "the reference shows people");
        // MediaPipe runs the fp16 weights in fp32 with XNNPACK; the difference is rounding.
        assert!(
            max < 2e-3 && mean < 1e-4,
            "image {i}: max {max}, mean {mean}"
        );
        assert!(agree > 0.999, "image {i}: {agree}");
    }
}

#[test]
fn on_the_cpu_the_host_kernels_draw_mediapipes_mask() {
    let segmenter = Pretrained::segmenter(&weights_path(), Device::Cpu, Kind::Float).unwrap();
    for (model, i, rgb, expected) in every_reference() {
        let net = net(&segmenter.net, model);
        assert!(net.on_host(), "fp32 on the CPU runs by the host kernels");
        let (h, w) = model.input;
        // `person` at the network's own size: the host kernels' answer, nothing resized; the
        // picture read in place (channels-last, as uploaded frames are) or copied (planes).
        let got = tch::no_grad(|| segmenter.net.person(&rgb, Kind::Float, h, w)).unwrap();
        assert_eq!(rgb.stride()[1], 1, "channels-last, as an uploaded frame");
        let planes = rgb.contiguous();
        let from_planes = tch::no_grad(|| segmenter.net.person(&planes, Kind::Float, h, w));
        assert_eq!(from_planes.unwrap(), got);
        let libtorch = tch::no_grad(|| net.forward(&rgb)).unwrap();
        assert_eq!(got.size(), expected.size());
        let max = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
        let (to_libtorch, to_mediapipe) = (max(&got, &libtorch), max(&got, &expected));
        let mean = (&got - &expected).abs().mean(Kind::Float).double_value(&[]);
        eprintln!(
            "{} image {i}: host against libtorch max {to_libtorch:.2e}, against MediaPipe max \
             {to_mediapipe:.2e}, mean {mean:.2e}",
            model.name
        );
        // The same arithmetic in another order: fp32 rounding apart.
        assert!(to_libtorch < 1e-4, "image {i}: {to_libtorch}");
        assert!(to_mediapipe < 2e-3 && mean < 1e-4, "image {i}");
        assert!(common::same_side(&got, &expected) > 0.999, "image {i}");
    }
}

#[test]
fn in_bf16_the_segmenter_draws_the_same_person() {
    let segmenter = Pretrained::segmenter(&weights_path(), Device::Cpu, Kind::BFloat16).unwrap();
    for (model, i, rgb, expected) in every_reference() {
        let input = adainstyle::to_channels_last(&rgb.to_kind(Kind::BFloat16)).unwrap();
        let got = tch::no_grad(|| net(&segmenter.net, model).forward(&input))
            .unwrap()
            .to_kind(Kind::Float);
        let agree = common::same_side(&got, &expected);
        assert!(agree > 0.99, "{} image {i}: {agree}", model.name);
    }
}

#[test]
fn person_picks_the_network_for_the_frame_and_resizes_to_it() {
    let segmenter = Pretrained::segmenter(&weights_path(), Device::Cpu, Kind::Float).unwrap();
    assert_eq!(
        segmenter.net.for_size(720, 1280).1,
        arch::SEGMENTER_LANDSCAPE
    );
    assert_eq!(segmenter.net.for_size(480, 640).1, arch::SEGMENTER_SQUARE);
    assert_eq!(segmenter.net.for_size(1280, 720).1, arch::SEGMENTER_SQUARE);
    for model in MODELS {
        let (rgb, expected) = &reference(model)[0];
        let (h, w) = model.input;
        // The mask asked for at twice the frame's size: shrunk again, it is the network's own.
        let mask = tch::no_grad(|| segmenter.net.person(rgb, Kind::Float, 2 * h, 2 * w)).unwrap();
        assert_eq!(mask.size(), [1, 1, 2 * h, 2 * w]);
        let back = mask.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>);
        // Bilinear up, then down by averaging: a slight blur of the edges, nothing more.
        let mean = (&back - expected).abs().mean(Kind::Float).double_value(&[]);
        assert!(mean < 0.01, "{}: {mean}", model.name);
    }
}

#[test]
fn missing_corrupt_or_foreign_segmenter_weights_are_errors_naming_the_file() {
    let scratch = Scratch::new("segmenter-weights");
    let missing = scratch.path().join("missing.safetensors");
    let err = Pretrained::segmenter(&missing, Device::Cpu, Kind::Float).unwrap_err();
    assert!(err.to_string().contains("missing.safetensors"), "{err}");

    let corrupt = scratch.path().join("corrupt.safetensors");
    let bytes = std::fs::read(weights_path()).unwrap();
    std::fs::write(&corrupt, &bytes[..bytes.len() / 2]).unwrap();
    let err = Pretrained::segmenter(&corrupt, Device::Cpu, Kind::Float).unwrap_err();
    assert!(err.to_string().contains("corrupt.safetensors"), "{err}");

    let lite = common::root().join("models/lite.safetensors");
    let err = Pretrained::segmenter(&lite, Device::Cpu, Kind::Float).unwrap_err();
    assert!(matches!(err, Error::WrongArchitecture { .. }), "{err}");
    assert!(err.to_string().contains("lite.safetensors"), "{err}");
}
