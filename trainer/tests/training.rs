// SPDX-License-Identifier: MIT
//! The training loop on tiny generated images, on the CPU: one step on its own, the loss falls,
//! resume reproduces an uninterrupted run exactly, an interrupted run leaves a resumable
//! checkpoint.

mod common;

use std::sync::atomic::AtomicBool;

use adainstyle_trainer::checkpoint;
use adainstyle_trainer::data::HostBatch;
use adainstyle_trainer::loss;
use adainstyle_trainer::report::{self, LossRow};
use adainstyle_trainer::train::{self, Session, StopReason};
use common::{Scratch, tiny_config, write_images};
use tch::Tensor;

fn losses(run_dir: &std::path::Path) -> Vec<LossRow> {
    report::read_losses(&run_dir.join(report::LOSSES_FILE)).unwrap()
}

/// Deep copies of a network's variables, by name.
fn snapshot(session: &Session) -> Vec<(String, Tensor)> {
    let mut vars: Vec<(String, Tensor)> = session
        .variables()
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.detach().copy()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// The losses of the session's first batch under its weights as they are, and that batch's
/// content and style images.
fn first_batch_losses(session: &Session) -> (loss::Losses, Tensor, Tensor) {
    let (device, compute) = session.device();
    let batch = session.dataset().batch(0).unwrap();
    let content = HostBatch::to_device(&batch.content, batch.batch, batch.crop, device).unwrap();
    let style = HostBatch::to_device(&batch.style, batch.batch, batch.crop, device).unwrap();
    let losses = tch::no_grad(|| {
        loss::compute(
            session.encoder(),
            session.trainee(),
            &content,
            &style,
            compute,
            session.loss_weights(),
        )
    })
    .unwrap();
    (losses, content, style)
}

/// One step on its own: it reports the loss of its iteration's batch under the weights it
/// started from, and applies Adam's first update with that iteration's learning rate.
#[test]
fn one_step_is_the_loss_of_its_batch_and_an_adam_update() {
    let dir = Scratch::new("step");
    write_images(&dir.join("content"), 4, 11);
    write_images(&dir.join("style"), 3, 12);
    let config = tiny_config(&dir.join("content"), &dir.join("style"), 3);
    let mut session = Session::open(&config, &dir.join("run"), false).unwrap();
    assert_eq!(session.state().iteration, 0);

    let (l, content, style) = first_batch_losses(&session);
    let expected = (
        l.terms.content.as_ref().unwrap().double_value(&[]),
        l.terms.style.as_ref().unwrap().double_value(&[]),
        tch::no_grad(|| l.total(session.loss_weights()))
            .unwrap()
            .double_value(&[]),
    );
    let before = snapshot(&session);

    let step = session.step().unwrap();
    assert!(step.updated);
    assert_eq!(step.row.iteration, 0);
    assert_eq!(step.row.lr, config.lr_at(0));
    assert_eq!(
        (step.row.terms.content, step.row.terms.style, step.row.total),
        expected,
        "the step's loss is not its batch's"
    );
    let (c, s) = step.pixels.as_ref().expect("a batch of pixels");
    assert!(
        c.equal(&content) && s.equal(&style),
        "the step trained on another batch"
    );
    assert_eq!(
        (session.state().iteration, session.state().adam_steps),
        (1, 1)
    );

    // Adam's first update: m̂ = g and v̂ = g², so every weight moves by -lr·g / (|g| + ε).
    let lr = config.lr_at(0);
    let (mut moved, mut total) = (0i64, 0i64);
    let vars = session.variables().variables();
    for ((name, old), (_, new)) in before.iter().zip(snapshot(&session)) {
        let g = vars[name].grad();
        let expected = -(&g / (g.abs() + 1e-8)) * lr;
        let off = (&new - old - &expected).abs().max().double_value(&[]);
        assert!(off < 1e-3 * lr, "{name} moved {off} away from Adam's step");
        moved += g.ne(0.0).sum(tch::Kind::Int64).int64_value(&[]);
        total += g.numel() as i64;
    }
    assert!(
        moved * 2 > total,
        "only {moved} of {total} weights have a gradient"
    );

    // Two more steps finish the run; the log holds one row per step.
    session.step().unwrap();
    session.step().unwrap();
    assert!(session.step().is_err(), "a step past the last iteration");
    let out = session.finish(StopReason::Finished).unwrap();
    assert_eq!((out.iterations_done, out.iterations_this_call), (3, 3));
    let rows = losses(&dir.join("run"));
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (rows[0].terms.content, rows[0].total),
        (expected.0, expected.2)
    );
    assert_eq!(
        checkpoint::load(&dir.join("run")).unwrap().state.iteration,
        3
    );
}

#[test]
fn loss_falls_on_tiny_images() {
    let dir = Scratch::new("falls");
    write_images(&dir.join("content"), 6, 1);
    write_images(&dir.join("style"), 4, 2);
    let config = tiny_config(&dir.join("content"), &dir.join("style"), 16);
    let run = dir.join("run");
    let out = train::run(&config, &run, false, &AtomicBool::new(false)).unwrap();
    assert_eq!(out.reason, StopReason::Finished);
    assert_eq!(out.iterations_done, 16);
    let rows = losses(&run);
    assert_eq!(rows.len(), 16);
    let mean = |r: &[LossRow]| r.iter().map(|x| x.total).sum::<f64>() / r.len() as f64;
    let (first, last) = (mean(&rows[..4]), mean(&rows[12..]));
    assert!(
        last < 0.75 * first,
        "total loss did not fall: first {first}, last {last}"
    );
    for name in [
        "checkpoint.safetensors",
        "decoder.safetensors",
        "config.json",
        "losses.png",
    ] {
        assert!(run.join(name).is_file(), "{name} missing");
    }
}

/// With only the identity loss weighted, a step decodes the photos' own features: the content
/// and style losses are not computed (logged as 0), the reconstruction error falls, and the
/// step's output is the reconstruction.
#[test]
fn identity_alone_trains_the_reconstruction() {
    let dir = Scratch::new("identity-alone");
    write_images(&dir.join("content"), 6, 21);
    write_images(&dir.join("style"), 3, 22);
    let mut config = tiny_config(&dir.join("content"), &dir.join("style"), 16);
    (
        config.content_weight,
        config.style_weight,
        config.identity_weight,
    ) = (0.0, 0.0, 1.0);
    config.lr = 1e-3;
    let mut session = Session::open(&config, &dir.join("run"), false).unwrap();
    let (first, content, _) = first_batch_losses(&session);
    let identity = first
        .terms
        .identity
        .as_ref()
        .expect("the identity loss")
        .double_value(&[]);
    // Only the identity loss is computed; the log reads 0 for the others.
    let t = &first.terms;
    assert!(t.content.is_none() && t.style.is_none());
    assert!(t.shallow.is_none() && t.tv.is_none() && t.temporal.is_none());
    let mse = first
        .output
        .mse_loss(&content, tch::Reduction::Mean)
        .double_value(&[]);
    assert!(
        (mse - identity).abs() <= 1e-6 * identity.max(1e-6),
        "the output is not the reconstruction: {mse} against {identity}"
    );
    for _ in 0..16 {
        session.step().unwrap();
    }
    session.finish(StopReason::Finished).unwrap();
    let rows = losses(&dir.join("run"));
    assert!(
        rows.iter()
            .all(|r| r.terms.content == 0.0 && r.terms.style == 0.0)
    );
    // The log keeps the identity term itself: with only its weight set, total = weight x term.
    assert!(
        rows.iter()
            .all(|r| r.terms.identity > 0.0 && r.terms.shallow == 0.0)
    );
    assert!(
        rows.iter()
            .all(|r| (r.total - r.terms.identity * config.identity_weight).abs() <= 1e-4 * r.total),
        "the logged identity term is not the one trained on"
    );
    let mean = |r: &[LossRow]| r.iter().map(|x| x.total).sum::<f64>() / r.len() as f64;
    let (early, late) = (mean(&rows[..4]), mean(&rows[12..]));
    assert!(
        late < 0.75 * early,
        "reconstruction error did not fall: {early} -> {late}"
    );

    // Every weight 0 is refused rather than run.
    config.identity_weight = 0.0;
    let err = train::run(&config, &dir.join("none"), false, &AtomicBool::new(false)).unwrap_err();
    assert!(format!("{err:#}").contains("nothing to train"), "{err:#}");
}

#[test]
fn resume_equals_uninterrupted() {
    let dir = Scratch::new("resume");
    write_images(&dir.join("content"), 5, 3);
    write_images(&dir.join("style"), 3, 4);
    let stop = AtomicBool::new(false);
    let mut config = tiny_config(&dir.join("content"), &dir.join("style"), 6);
    config.save_every = 2;

    let whole = dir.join("whole");
    train::run(&config, &whole, false, &stop).unwrap();

    let split = dir.join("split");
    let mut first_half = config.clone();
    first_half.iterations = 3;
    train::run(&first_half, &split, false, &stop).unwrap();
    assert_eq!(checkpoint::load(&split).unwrap().state.iteration, 3);
    // A different worker count must not change the batches.
    let mut second_half = config.clone();
    second_half.workers = 3;
    train::run(&second_half, &split, true, &stop).unwrap();

    let key = |r: &LossRow| (r.iteration, r.lr, r.terms.content, r.terms.style, r.total);
    let a: Vec<_> = losses(&whole).iter().map(key).collect();
    let b: Vec<_> = losses(&split).iter().map(key).collect();
    assert_eq!(a.len(), 6);
    assert_eq!(a, b, "resumed losses differ from the uninterrupted run");
    let wa = std::fs::read(whole.join("decoder.safetensors")).unwrap();
    let wb = std::fs::read(split.join("decoder.safetensors")).unwrap();
    assert!(wa == wb, "final decoder weights differ");
}

#[test]
fn stop_request_leaves_a_resumable_checkpoint() {
    let dir = Scratch::new("stop");
    write_images(&dir.join("content"), 3, 5);
    write_images(&dir.join("style"), 3, 6);
    let config = tiny_config(&dir.join("content"), &dir.join("style"), 2);
    let run = dir.join("run");
    let out = train::run(&config, &run, false, &AtomicBool::new(true)).unwrap();
    assert_eq!(out.reason, StopReason::Interrupted);
    assert_eq!(out.iterations_done, 0);
    assert!(run.join("decoder.safetensors").is_file());
    // A second fresh start in the same folder is refused; resuming works.
    let err = train::run(&config, &run, false, &AtomicBool::new(false)).unwrap_err();
    assert!(err.to_string().contains("--resume"), "{err}");
    let out = train::run(&config, &run, true, &AtomicBool::new(false)).unwrap();
    assert_eq!((out.reason, out.iterations_done), (StopReason::Finished, 2));
}

#[test]
fn bf16_and_cached_targets_train_and_warm_start_from_a_decoder() {
    let dir = Scratch::new("bf16-cached");
    write_images(&dir.join("content"), 5, 5);
    write_images(&dir.join("style"), 3, 6);
    let stop = AtomicBool::new(false);
    let mut config = tiny_config(&dir.join("content"), &dir.join("style"), 12);
    config.precision = if adainstyle::precision::cpu_has_native_bf16() {
        adainstyle::Precision::Bf16
    } else {
        adainstyle::Precision::Fp32
    };
    config.cache_targets = true;
    let first = dir.join("first");
    let out = train::run(&config, &first, false, &stop).unwrap();
    assert_eq!(out.iterations_done, 12);
    let rows = losses(&first);
    assert!(rows.iter().all(|r| r.total.is_finite()), "{rows:?}");
    let mean = |r: &[LossRow]| r.iter().map(|x| x.total).sum::<f64>() / r.len() as f64;
    assert!(
        mean(&rows[8..]) < mean(&rows[..4]),
        "loss did not fall with cached targets"
    );

    // A new run started from that decoder begins where it ended, not from scratch.
    let mut warm = config.clone();
    warm.init_decoder = Some(first.join("decoder.safetensors"));
    warm.iterations = 1;
    let second = dir.join("second");
    train::run(&warm, &second, false, &stop).unwrap();
    let start = losses(&second)[0].total;
    assert!(
        start < rows[0].total,
        "warm start {start} is no better than a fresh start {}",
        rows[0].total
    );
}
