// SPDX-License-Identifier: MIT
//! The resumable state of a run, kept in one safetensors file so that it is replaced atomically:
//! the decoder (`decoder.<key>`), Adam's moments (`adam.exp_avg.<key>`, `adam.exp_avg_sq.<key>`)
//! and a JSON [`RunState`] stored as a byte tensor under `state`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

use crate::adam::{Adam, LossScale};

/// File name of the checkpoint inside a run directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// File name of the plain decoder (pytorch-AdaIN keys) kept next to it.
pub const DECODER_FILE: &str = "decoder.safetensors";

const DECODER_PREFIX: &str = "decoder.";
const ADAM_PREFIX: &str = "adam.";
const STATE_KEY: &str = "state";

/// Everything besides tensors that a resumed run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Iterations completed (the next one to run).
    pub iteration: u64,
    /// Adam updates applied (fewer than `iteration` if fp16 overflows skipped some).
    pub adam_steps: u64,
    /// The mixed-precision loss scale.
    pub loss_scale: LossScale,
    /// Training seconds accumulated over every invocation.
    pub train_seconds: f64,
    /// The run's seed. Batches are derived from it and the iteration, so this and `iteration`
    /// are the whole data-sampling state.
    pub seed: u64,
}

/// Path of the checkpoint in `run_dir`.
pub fn checkpoint_path(run_dir: &Path) -> PathBuf {
    run_dir.join(CHECKPOINT_FILE)
}

/// The decoder's variables as fp32 CPU tensors, sorted by key.
pub fn decoder_tensors(vs: &nn::VarStore) -> Result<Vec<(String, Tensor)>> {
    let mut out: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| {
            Ok((
                k,
                v.f_detach()?
                    .f_to_kind(Kind::Float)?
                    .f_to(tch::Device::Cpu)?,
            ))
        })
        .collect::<Result<_>>()?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Writes the checkpoint (and the plain weights beside it, with `metadata` in their header:
/// what the network's files carry), each atomically.
pub fn save(
    run_dir: &Path,
    decoder: &nn::VarStore,
    metadata: &HashMap<String, String>,
    adam: &Adam,
    state: &RunState,
) -> Result<()> {
    let weights = decoder_tensors(decoder)?;
    let mut all: Vec<(String, Tensor)> = weights
        .iter()
        .map(|(k, v)| (format!("{DECODER_PREFIX}{k}"), v.shallow_clone()))
        .collect();
    for (k, v) in adam.state_tensors() {
        all.push((format!("{ADAM_PREFIX}{k}"), v.f_to(tch::Device::Cpu)?));
    }
    let json = serde_json::to_vec(state)?;
    all.push((STATE_KEY.to_owned(), Tensor::f_from_slice(&json)?));
    let path = checkpoint_path(run_dir);
    adainstyle::weights::write_atomic(&all, &path)
        .with_context(|| format!("writing {}", path.display()))?;
    adainstyle::weights::write_atomic_with(&weights, metadata, &run_dir.join(DECODER_FILE))
        .with_context(|| format!("writing the decoder into {}", run_dir.display()))?;
    Ok(())
}

/// A checkpoint read back: decoder weights (plain keys), optimiser moments and the run state.
#[derive(Debug)]
pub struct Loaded {
    /// Decoder weights with pytorch-AdaIN keys.
    pub decoder: HashMap<String, Tensor>,
    /// Adam moments, keys as [`Adam::state_tensors`] names them.
    pub adam: HashMap<String, Tensor>,
    /// Counters and seed.
    pub state: RunState,
}

/// Reads the checkpoint of `run_dir`.
pub fn load(run_dir: &Path) -> Result<Loaded> {
    let path = checkpoint_path(run_dir);
    let tensors = adainstyle::weights::read_tensors(&path)
        .with_context(|| format!("reading checkpoint {}", path.display()))?;
    let mut decoder = HashMap::new();
    let mut adam = HashMap::new();
    let mut state = None;
    for (key, t) in tensors {
        if let Some(k) = key.strip_prefix(DECODER_PREFIX) {
            decoder.insert(k.to_owned(), t);
        } else if let Some(k) = key.strip_prefix(ADAM_PREFIX) {
            adam.insert(k.to_owned(), t);
        } else if key == STATE_KEY {
            let bytes = Vec::<u8>::try_from(&t)?;
            state = Some(
                serde_json::from_slice::<RunState>(&bytes)
                    .with_context(|| format!("{}: run state", path.display()))?,
            );
        }
    }
    let Some(state) = state else {
        bail!("{}: no run state in the checkpoint", path.display());
    };
    if decoder.is_empty() {
        bail!("{}: no decoder weights in the checkpoint", path.display());
    }
    Ok(Loaded {
        decoder,
        adam,
        state,
    })
}
