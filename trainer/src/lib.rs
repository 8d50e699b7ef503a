// SPDX-License-Identifier: MIT
//! # adainstyle-trainer
//!
//! Trains the AdaIN decoder (Huang & Belongie, ICCV 2017) against the frozen normalised VGG-19
//! encoder of the `adainstyle` library, as in the paper: content loss at relu4_1 against the AdaIN
//! target, style loss on channel means and standard deviations at relu1_1..relu4_1, Adam with an
//! inverse-time learning-rate decay.
//!
//! The modules follow the life of a run: [`config`] (what a run is), [`data`] (images to batches
//! on worker threads), [`cache`] (encoder targets computed once per image), [`loss`] (the paper's objective), [`adam`] (an optimiser whose state can be
//! saved), [`checkpoint`] (atomic run state), [`report`] (CSV, image grids, loss plot), [`train`]
//! (the loop) and [`eval`] (held-out losses and export of the shipped decoder).

pub mod adam;
pub mod cache;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod detail;
pub mod eval;
pub mod loss;
pub mod report;
pub mod train;
