// SPDX-License-Identifier: MIT
//! # adainstyle-trainer
//!
//! Trains the AdaIN decoder (Huang & Belongie, ICCV 2017) against the frozen normalised VGG-19
//! encoder of the `adainstyle` library, as in the paper: content loss at relu4_1 against the AdaIN
//! target, style loss on channel means and standard deviations at relu1_1..relu4_1, Adam with an
//! inverse-time learning-rate decay.
//!
//! The modules follow the life of a run: [`config`] (what a run is: the flags and
//! `config.json`), [`data`] (images to batches on worker threads), [`pack`] (the same images as
//! square crops in a tar for a machine without the data), [`cache`] (encoder targets computed
//! once per image), [`loss`] (the paper's objective and the style statistics), [`adam`] (an
//! optimiser whose state can be saved), [`checkpoint`] (atomic run state), [`report`] (CSV,
//! image grids, loss plot), [`train`] (a session: open, step, finish), [`progress`] (what it
//! prints), [`detail`] (fine-detail figures) and [`eval`] (held-out figures and export of the
//! shipped decoder).

pub mod adam;
pub mod cache;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod detail;
pub mod eval;
pub mod loss;
pub mod pack;
pub mod progress;
pub mod report;
pub mod train;

/// Helpers of the unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use rand::Rng;
    use tch::Tensor;

    /// A tensor of uniform values in [0, 1) drawn from a ChaCha stream of `seed`, not from
    /// libtorch's global generator: tests run in parallel in one process, and one test's
    /// `tch::manual_seed` would reorder another's draws.
    pub fn uniform(shape: &[i64], seed: u64) -> Tensor {
        let mut rng = crate::data::Dataset::rng_for(seed, 0);
        let n = shape.iter().product::<i64>() as usize;
        let values: Vec<f32> = (0..n).map(|_| rng.gen_range(0.0f32..1.0)).collect();
        Tensor::from_slice(&values).view(shape)
    }
}
