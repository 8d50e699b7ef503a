// SPDX-License-Identifier: MIT
//! Loading and saving checkpoints as safetensors, with errors that name the file and the key.

use std::collections::HashMap;
use std::path::Path;

use tch::{Tensor, nn};

use crate::error::{Error, Result};

/// Reads every tensor of a safetensors file (on the CPU).
pub fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let parsed = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| Error::Checkpoint {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    parsed
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let tensor = Tensor::try_from(view).map_err(|e| Error::Checkpoint {
                path: path.to_owned(),
                reason: format!("key `{name}`: {e}"),
            })?;
            Ok((name, tensor))
        })
        .collect()
}

/// Copies a checkpoint into every variable of `vs`, checking that each key exists with the shape
/// the model expects. Extra keys in the file are ignored (pytorch-AdaIN's VGG has layers past
/// relu4_1 that the encoder does not use).
pub fn load_into(vs: &nn::VarStore, path: &Path) -> Result<()> {
    copy_checked(vs, read_tensors(path)?, path)
}

/// Copies `tensors` (read from `source`, which errors name) into every variable of `vs`,
/// checking that each key exists with the shape the model expects; extra keys are ignored.
/// Values are converted to each variable's kind (an fp16 file fills fp32 variables).
pub fn copy_checked(
    vs: &nn::VarStore,
    mut file: HashMap<String, Tensor>,
    source: &Path,
) -> Result<()> {
    let path = source;
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, mut var) in vars {
        let expected = var.size();
        let Some(found) = file.remove(&key) else {
            return Err(Error::MissingKey {
                path: path.to_owned(),
                key,
                expected,
            });
        };
        if found.size() != expected {
            return Err(Error::ShapeMismatch {
                path: path.to_owned(),
                key,
                expected,
                found: found.size(),
            });
        }
        tch::no_grad(|| var.f_copy_(&found))?;
    }
    Ok(())
}

/// Writes every variable of `vs` to `path` as fp32 safetensors, through a temporary file and a
/// rename so that a crash never leaves a half-written checkpoint behind.
pub fn save_atomic(vs: &nn::VarStore, path: &Path) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| {
            Ok((
                k,
                v.f_to_dtype(tch::Kind::Float, false, false)?
                    .f_to(tch::Device::Cpu)?,
            ))
        })
        .collect::<Result<_>>()?;
    named.sort_by(|a, b| a.0.cmp(&b.0));
    write_atomic(&named, path)
}

/// Writes named tensors to `path` as safetensors through a temporary file and a rename.
pub fn write_atomic(tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    let contiguous: Vec<(&str, Tensor)> = tensors
        .iter()
        .map(|(k, v)| Ok((k.as_str(), v.f_contiguous()?)))
        .collect::<Result<_>>()?;
    Tensor::write_safetensors(&contiguous, &tmp)?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}
