// SPDX-License-Identifier: MIT
//! The model library against an independent NumPy reference of pytorch-AdaIN's layout
//! (tools/adain_np.py, float64) and against real data.

mod common;

use std::collections::HashMap;
use std::path::Path;

use adainstyle::{Decoder, Encoder, Error, Pretrained, adain, mean_std, weights};
use common::Scratch;
use tch::{Device, Kind, Tensor};

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

fn encoder_path() -> std::path::PathBuf {
    common::root().join("models/vgg19-normalised.safetensors")
}

#[test]
fn encoder_and_decoder_match_the_reference_at_an_odd_size() {
    let scratch = Scratch::new("parity");
    let dir = scratch.path();
    let decoder_path = dir.join("decoder.safetensors");
    let reference = dir.join("reference.safetensors");
    common::random_decoder(&decoder_path, 7);
    common::run_python(&[
        &common::root().join("tools/reference_outputs.py"),
        &encoder_path(),
        &decoder_path,
        &reference,
        Path::new("--height"),
        Path::new("45"),
        Path::new("--width"),
        Path::new("67"),
    ]);
    let r: HashMap<String, Tensor> = weights::read_tensors(&reference).unwrap();
    let encoder = Pretrained::encoder(&encoder_path(), Device::Cpu, Kind::Float).unwrap();
    let decoder = Pretrained::decoder(&decoder_path, Device::Cpu, Kind::Float).unwrap();
    let _guard = tch::no_grad_guard();
    let features = encoder.net.features(&r["content"]).unwrap();
    let names = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"];
    for (name, ours) in names.iter().zip(features.taps()) {
        let theirs = &r[*name];
        let err = max_abs(ours, theirs);
        let scale = theirs.abs().max().double_value(&[]);
        println!(
            "{name}: shape {:?}, max abs error {err:.3e} (max |value| {scale:.2})",
            ours.size()
        );
        assert!(err <= 1e-4 * scale.max(1.0), "{name}: {err}");
    }
    let style = mean_std(&encoder.net.relu4_1(&r["style"]).unwrap()).unwrap();
    let target = adain(&features.relu4_1, &style).unwrap();
    let err = max_abs(&target, &r["adain"]);
    println!("adain: max abs error {err:.3e}");
    assert!(err < 1e-3, "adain {err}");
    // The decoder is compared on the reference's own AdaIN target, so its error is its own.
    let decoded = decoder.net.forward(&r["adain"]).unwrap();
    let err = max_abs(&decoded, &r["decoded"]);
    println!(
        "decoder: shape {:?}, max abs error {err:.3e}",
        decoded.size()
    );
    assert_eq!(decoded.size(), [1, 3, 48, 72]);
    assert!(err < 1e-4, "decoder {err}");
}

#[test]
fn checkpoint_errors_name_the_file_and_the_key() {
    let scratch = Scratch::new("checkpoints");
    let dir = scratch.path();
    let good = dir.join("decoder.safetensors");
    common::random_decoder(&good, 1);
    let mut tensors = weights::read_tensors(&good).unwrap();

    tensors.remove("25.bias");
    let missing = dir.join("missing-key.safetensors");
    let named: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(k, v)| (k.clone(), v.shallow_clone()))
        .collect();
    weights::write_atomic(&named, &missing).unwrap();
    let err = Pretrained::decoder(&missing, Device::Cpu, Kind::Float).unwrap_err();
    assert!(matches!(err, Error::MissingKey { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("missing-key.safetensors") && text.contains("25.bias"),
        "{text}"
    );

    let mut named = named;
    for (k, v) in named.iter_mut() {
        if k == "1.weight" {
            *v = Tensor::zeros([256, 512, 1, 1], (Kind::Float, Device::Cpu));
        }
    }
    named.push((
        "25.bias".into(),
        Tensor::zeros([64], (Kind::Float, Device::Cpu)),
    ));
    let misshaped = dir.join("misshaped.safetensors");
    weights::write_atomic(&named, &misshaped).unwrap();
    let text = Pretrained::decoder(&misshaped, Device::Cpu, Kind::Float)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("misshaped.safetensors")
            && text.contains("1.weight")
            && text.contains("[256, 512, 3, 3]"),
        "{text}"
    );

    let corrupt = dir.join("corrupt.safetensors");
    std::fs::write(&corrupt, b"definitely not safetensors").unwrap();
    let text = Pretrained::decoder(&corrupt, Device::Cpu, Kind::Float)
        .unwrap_err()
        .to_string();
    assert!(text.contains("corrupt.safetensors"), "{text}");

    // An encoder checkpoint is not a decoder: the first key it lacks is named.
    let text = Pretrained::decoder(&encoder_path(), Device::Cpu, Kind::Float)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("vgg19-normalised.safetensors") && text.contains("missing key"),
        "{text}"
    );

    let text = Pretrained::encoder(&dir.join("absent.safetensors"), Device::Cpu, Kind::Float)
        .unwrap_err()
        .to_string();
    assert!(text.contains("absent.safetensors"), "{text}");
}

/// Normalisation check on photos the normalisation never saw (scripts/fetch-data.sh holds them
/// out): the mean channel activation at every tap lies in [0.5, 2].
#[test]
fn normalised_encoder_activations_on_heldout_photos() {
    let dir = common::heldout_dir().join("content");
    let mut photos: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run scripts/fetch-data.sh; make test does)",
                dir.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    photos.sort();
    assert!(photos.len() >= 10, "only {} held-out photos", photos.len());
    let encoder = Pretrained::encoder(&encoder_path(), Device::Cpu, Kind::Float).unwrap();
    let _guard = tch::no_grad_guard();
    let mut sums = [0.0f64; 4];
    for path in &photos {
        let img = adainstyle::style::load_style_image(path, 256).unwrap();
        let features = encoder.net.features(&img).unwrap();
        for (sum, tap) in sums.iter_mut().zip(features.taps()) {
            *sum += tap.mean(Kind::Float).double_value(&[]);
        }
    }
    for (name, sum) in ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]
        .iter()
        .zip(sums)
    {
        let mean = sum / photos.len() as f64;
        println!(
            "{name}: mean activation {mean:.3} over {} held-out photos",
            photos.len()
        );
        assert!((0.5..=2.0).contains(&mean), "{name}: {mean}");
    }
}

#[test]
fn encoder_and_decoder_declare_pytorch_adain_keys() {
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let _e = Encoder::new(&vs.root().sub("enc"));
    let _d = Decoder::new(&vs.root().sub("dec"));
    let mut keys: Vec<String> = vs.variables().into_keys().collect();
    keys.sort();
    let enc: Vec<&str> = keys.iter().filter_map(|k| k.strip_prefix("enc.")).collect();
    let dec: Vec<&str> = keys.iter().filter_map(|k| k.strip_prefix("dec.")).collect();
    let idx = |v: &[&str]| {
        let mut i: Vec<u32> = v
            .iter()
            .map(|k| k.split('.').next().unwrap().parse().unwrap())
            .collect();
        i.sort();
        i.dedup();
        i
    };
    assert_eq!(idx(&enc), [0, 2, 5, 9, 12, 16, 19, 22, 25, 29]);
    assert_eq!(idx(&dec), [1, 5, 8, 11, 14, 18, 21, 25, 28]);
    assert_eq!(enc.len(), 20);
    assert_eq!(dec.len(), 18);
}
