// SPDX-License-Identifier: MIT
//! The `adain-train` binary: help, training as the default subcommand, export → library load
//! round trip, held-out evaluation, and clean errors on bad input.

mod common;

use std::path::Path;
use std::process::Command;

use adainstyle::Pretrained;
use adainstyle_trainer::config::{self, TrainConfig};
use common::{Scratch, encoder_path, write_images};
use tch::{Device, Kind};

fn adain_train() -> Command {
    Command::new(env!("CARGO_BIN_EXE_adain-train"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running adain-train");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "adain-train failed: {text}");
    text
}

/// Whether `help` has a line for `flag` itself (an option line starts with its flag), so that
/// `--lr` is not found in `--lr-decay`'s line or in another flag's description.
fn documents(help: &str, flag: &str) -> bool {
    help.lines()
        .any(|l| l.split_whitespace().next() == Some(flag))
}

#[test]
fn help_documents_every_training_flag() {
    let help = run_ok(adain_train().args(["train", "--help"]));
    let mut flags: Vec<String> = TrainConfig::settings()
        .iter()
        .map(|s| config::flag(s))
        .collect();
    assert!(flags.len() >= 30, "{flags:?}");
    flags.extend(["--run-dir".into(), "--resume".into()]);
    for flag in &flags {
        assert!(
            documents(&help, flag),
            "{flag} missing from --help:\n{help}"
        );
    }
    assert!(
        !documents(&help, "--lr-dec"),
        "a prefix of a flag counted as a flag"
    );
    let top = run_ok(adain_train().arg("--help"));
    // Each subcommand on a line of its own in the Commands list (the program's own name,
    // adain-train, must not count for `train`).
    for sub in ["train", "export", "eval", "frames-eval"] {
        assert!(
            top.lines()
                .any(|l| l.split_whitespace().next() == Some(sub)),
            "{sub} missing from --help:\n{top}"
        );
    }
}

#[test]
fn train_export_load_and_eval() {
    let dir = Scratch::new("cli");
    write_images(&dir.join("content"), 4, 1);
    write_images(&dir.join("style"), 3, 2);
    let run = dir.join("run");
    // No subcommand: `train` is the default.
    let log = run_ok(
        adain_train()
            .args([
                "--content-dir".as_ref(),
                dir.join("content").as_os_str(),
                "--style-dir".as_ref(),
                dir.join("style").as_os_str(),
                "--encoder".as_ref(),
                encoder_path().as_os_str(),
                "--run-dir".as_ref(),
                run.as_os_str(),
                "--heldout-dir".as_ref(),
                dir.path().as_os_str(),
            ])
            .args([
                "--device",
                "cpu",
                "--threads",
                "1",
                "--iterations",
                "3",
                "--batch-size",
                "2",
                "--crop",
                "32",
                "--resize",
                "40",
                "--sample-every",
                "2",
                "--log-every",
                "1",
                "--eval-every",
                "0",
            ]),
    );
    assert!(log.contains("iter 3/3"), "{log}");
    assert!(run.join("samples/iter-0000002.png").is_file());
    // Resuming may change the learning rate and the style weight (the optimiser state carries
    // over), not what defines the data.
    let resumed = run_ok(adain_train().arg("--resume").arg(&run).args([
        "--iterations",
        "4",
        "--style-weight",
        "3",
        "--lr",
        "0.0002",
        "--threads",
        "1",
        "--eval-every",
        "4",
    ]));
    assert!(resumed.contains("iter 4/4"), "{resumed}");
    // The held-out evaluation at iteration 4 wrote its figures and kept the decoder it measured.
    let heldout = std::fs::read_to_string(run.join("heldout.csv")).unwrap();
    assert!(
        heldout.lines().nth(1).is_some_and(|l| l.starts_with("4,")),
        "{heldout}"
    );
    let kept = run.join("heldout/decoder-0000004.safetensors");
    assert!(kept.is_file(), "{resumed}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["style_weight"].as_f64(), Some(3.0));
    assert_eq!(config["lr"].as_f64(), Some(0.0002));
    let refused = adain_train()
        .arg("--resume")
        .arg(&run)
        .args(["--batch-size", "3"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot change --batch-size"));

    let out = dir.join("exported/decoder.safetensors");
    let text = run_ok(adain_train().arg("export").arg(&run).arg(&out));
    assert!(text.contains("exported"), "{text}");
    let loaded = Pretrained::decoder(&out, Device::Cpu, Kind::Float).unwrap();
    let trained = adainstyle::weights::read_tensors(&run.join("decoder.safetensors")).unwrap();
    let vars = loaded.vs.variables();
    assert_eq!(vars.len(), trained.len());
    for (key, t) in &trained {
        assert!(vars[key].equal(t), "{key} differs after export");
    }

    // fp16 export: half the bytes, loads as fp32 equal to the fp16-rounded weights.
    let half = dir.join("exported/decoder-fp16.safetensors");
    let text = run_ok(
        adain_train()
            .arg("export")
            .arg(&run)
            .arg(&half)
            .arg("--half"),
    );
    assert!(text.contains("fp16"), "{text}");
    let (full_len, half_len) = (
        std::fs::metadata(&out).unwrap().len(),
        std::fs::metadata(&half).unwrap().len(),
    );
    assert!(
        half_len * 10 < full_len * 6,
        "{half_len} vs {full_len} bytes"
    );
    let loaded = Pretrained::decoder(&half, Device::Cpu, Kind::Float).unwrap();
    let vars = loaded.vs.variables();
    for (key, t) in &trained {
        let rounded = t.to_kind(Kind::Half).to_kind(Kind::Float);
        assert!(vars[key].equal(&rounded), "{key} differs after fp16 export");
    }

    // A kept copy exports like a run: the same fp16-rounded weights.
    let from_kept = dir.join("exported/decoder-kept.safetensors");
    run_ok(adain_train().arg("export").arg(&kept).arg(&from_kept));
    let loaded = Pretrained::decoder(&from_kept, Device::Cpu, Kind::Float).unwrap();
    let vars = loaded.vs.variables();
    assert_eq!(vars.len(), trained.len());
    for (key, t) in &trained {
        let rounded = t.to_kind(Kind::Half).to_kind(Kind::Float);
        assert!(vars[key].equal(&rounded), "{key} differs in the kept copy");
    }

    // The mean of the run and its kept copy: (t + fp16(t)) / 2 for every weight.
    let mean = dir.join("exported/decoder-mean.safetensors");
    let text = run_ok(
        adain_train()
            .arg("export")
            .arg(&run)
            .arg(&mean)
            .arg("--average-with")
            .arg(&kept),
    );
    assert!(text.contains("the mean of 2 weights files"), "{text}");
    let loaded = Pretrained::decoder(&mean, Device::Cpu, Kind::Float).unwrap();
    let vars = loaded.vs.variables();
    assert_eq!(vars.len(), trained.len());
    for (key, t) in &trained {
        let expected = (t + t.to_kind(Kind::Half).to_kind(Kind::Float)) / 2.0;
        assert!(vars[key].equal(&expected), "{key} is not the mean");
    }
    // Weights of another network are not averaged in.
    let lite = dir.join("lite.safetensors");
    adainstyle::Model::Lite
        .write_seeded_weights(3, &lite)
        .unwrap();
    let refused = adain_train()
        .arg("export")
        .arg(&run)
        .arg(dir.join("exported/mixed.safetensors"))
        .arg("--average-with")
        .arg(&lite)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("cannot be averaged"), "{err}");
    assert!(!dir.join("exported/mixed.safetensors").exists());

    let text = run_ok(
        adain_train()
            .arg("eval")
            .arg("--decoder")
            .arg(&out)
            .arg("--encoder")
            .arg(encoder_path())
            .arg("--content-dir")
            .arg(dir.join("content"))
            .arg("--style-dir")
            .arg(dir.join("style"))
            .args(["--pairs", "2", "--device", "cpu", "--grid"])
            .arg(dir.join("grid.png")),
    );
    let value = |name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{text}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert!(text.contains("pairs         2"), "{text}");
    // Three iterations leave the decoder far from its target: the figures are positive and
    // finite, the style ratio near or above 1 (little style), the content keep well above 1.
    let (ratio, keep) = (value("style_ratio"), value("content_keep"));
    assert!(ratio.is_finite() && ratio > 0.2, "{text}");
    assert!(keep.is_finite() && keep > 1.0, "{text}");
    assert!(
        value("content_loss") > 0.0 && value("style_loss") > 0.0,
        "{text}"
    );
    assert!(dir.join("grid.png").is_file());
}

#[test]
fn bad_input_is_an_error_message_not_a_panic() {
    let dir = Scratch::new("cli-bad");
    let missing = dir.join("missing");
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec!["--run-dir".into(), dir.join("r").display().to_string()],
            vec!["--content-dir is required"],
        ),
        (
            vec!["--device".into(), "tpu".into()],
            vec!["invalid value 'tpu' for '--device"],
        ),
        (
            vec![
                "export".into(),
                dir.join("nothing").display().to_string(),
                dir.join("o.safetensors").display().to_string(),
            ],
            vec!["nothing"],
        ),
        (
            vec![
                "--content-dir".into(),
                missing.display().to_string(),
                "--style-dir".into(),
                missing.display().to_string(),
                "--run-dir".into(),
                dir.join("r2").display().to_string(),
                "--device".into(),
                "cpu".into(),
            ],
            vec!["reading folder", "missing"],
        ),
        (
            vec![
                "--content-dir".into(),
                ".".into(),
                "--style-dir".into(),
                ".".into(),
                "--run-dir".into(),
                dir.join("r3").display().to_string(),
                "--crop".into(),
                "30".into(),
            ],
            vec!["--crop must be a multiple of 8", "got 30"],
        ),
        (
            vec!["--resume".into(), dir.join("no-run").display().to_string()],
            vec!["config.json", "no-run"],
        ),
    ];
    for (args, expected) in cases {
        let out = adain_train().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") || err.starts_with("adain-train: error: "),
            "{args:?}: {err}"
        );
        for part in expected {
            assert!(err.contains(part), "{args:?}: `{part}` not in: {err}");
        }
    }
}

/// `frames-eval`: unchanged frames score exactly 1 (no style transferred); frames replaced by
/// the painting itself score far below.
#[test]
fn frames_eval_measures_stylised_frames() {
    let dir = Scratch::new("cli-frames");
    let (input, same, painted) = (dir.join("in"), dir.join("same"), dir.join("painted"));
    for d in [&input, &same, &painted] {
        std::fs::create_dir_all(d).unwrap();
    }
    // A flat colour: its statistics do not depend on the size it is measured at.
    let style = dir.join("style.png");
    let flat = image::RgbImage::from_pixel(64, 48, image::Rgb([200, 60, 30]));
    flat.save(&style).unwrap();
    for k in 0..3 {
        let name = format!("{k:05}.png");
        let frame = common::pattern(64, 40, 10 + k);
        frame.save(input.join(&name)).unwrap();
        frame.save(same.join(&name)).unwrap();
        image::RgbImage::from_pixel(64, 40, image::Rgb([200, 60, 30]))
            .save(painted.join(&name))
            .unwrap();
    }
    let ratio = |outputs: &Path| -> f64 {
        let text = run_ok(
            adain_train()
                .arg("frames-eval")
                .arg("--content")
                .arg(&input)
                .arg("--output")
                .arg(outputs)
                .arg("--style")
                .arg(&style)
                .arg("--encoder")
                .arg(encoder_path())
                .args(["--device", "cpu"]),
        );
        assert!(text.contains("\"frames\": 3"), "{text}");
        let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        v["style_ratio"].as_f64().unwrap()
    };
    assert!((ratio(&same) - 1.0).abs() < 1e-6);
    let r = ratio(&painted);
    assert!(r < 0.05, "{r}");
}
