// SPDX-License-Identifier: MIT
//! Loading and saving checkpoints as safetensors, with errors that name the file and the key.

use std::collections::HashMap;
use std::path::Path;

use tch::{Tensor, nn};

use crate::error::{Error, Result};

/// Reads every tensor of a safetensors file (on the CPU).
pub fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    crate::files::regular_file(path)?;
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
        check_values(path, &key, &found)?;
        tch::no_grad(|| var.f_copy_(&found))?;
    }
    Ok(())
}

/// Checks that a weight read from `path` is floating point and finite: integer weights or
/// NaN/infinite values would give black frames rather than an error.
fn check_values(path: &Path, key: &str, t: &Tensor) -> Result<()> {
    let bad = |reason: String| Error::Checkpoint {
        path: path.to_owned(),
        reason: format!("key `{key}` {reason}"),
    };
    if !t.is_floating_point() {
        return Err(bad(format!(
            "holds {:?} values; weights are floating point",
            t.kind()
        )));
    }
    if t.f_isfinite()?.f_all()?.f_int64_value(&[])? == 0 {
        return Err(bad("holds NaN or infinite values".into()));
    }
    Ok(())
}

/// Copies the tensors of `file` into the variables of `vs` that have the same name and shape,
/// leaving the others as they are (a warm start of one network from another that shares some
/// of its layers). Returns the names of the variables left as they were, sorted.
pub fn copy_matching(vs: &nn::VarStore, mut file: HashMap<String, Tensor>) -> Result<Vec<String>> {
    let mut untouched = Vec::new();
    for (key, mut var) in vs.variables() {
        match file.remove(&key) {
            Some(found) if found.size() == var.size() => {
                tch::no_grad(|| var.f_copy_(&found))?;
            }
            _ => untouched.push(key),
        }
    }
    untouched.sort();
    Ok(untouched)
}

/// Fills every variable of `vs` with seeded pseudo-random values: He-uniform weights (bound
/// sqrt(6 / fan-in)), as tch initialises convolutions, and biases within ±0.05, drawn from a sine
/// hash of each element's index, `seed` and the variable's rank by name instead of libtorch's
/// global generator, which every thread of a process shares (parallel tests would reorder each
/// other's draws). For test weights whose values must not depend on what else runs.
pub fn fill_seeded(vs: &nn::VarStore, seed: u64) -> Result<()> {
    let mut vars: Vec<_> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (rank, (_, mut var)) in vars.into_iter().enumerate() {
        let fan_in: i64 = var.size().iter().skip(1).product();
        let bound = if var.dim() > 1 {
            (6.0 / fan_in.max(1) as f64).sqrt()
        } else {
            0.05
        };
        let step = 12.9898 + rank as f64 * 0.731 + (seed % 1000) as f64 * 0.0173;
        let uniform = hash_uniform(var.numel() as i64, step)? * (2.0 * bound) - bound;
        let values = uniform
            .f_to_kind(var.kind())?
            .f_view(var.size().as_slice())?
            .f_to(var.device())?;
        tch::no_grad(|| var.f_copy_(&values))?;
    }
    Ok(())
}

/// `n` pseudo-random values in [0, 1) (CPU, fp64): the fractional part of a scaled sine of each
/// index times `step`, a hash that depends on nothing but its arguments.
fn hash_uniform(n: i64, step: f64) -> Result<Tensor> {
    let hash =
        (Tensor::f_arange(n, (tch::Kind::Double, tch::Device::Cpu))? * step).f_sin()? * 43758.5453;
    Ok(&hash - hash.f_floor()?)
}

/// A CPU fp32 tensor of `shape` with pseudo-random values in [0, 1) that depend only on `seed`,
/// for unit tests (libtorch's global generator is shared by the tests running in parallel).
#[cfg(test)]
pub(crate) fn seeded_uniform(shape: &[i64], seed: u64) -> Tensor {
    hash_uniform(
        shape.iter().product(),
        12.9898 + (seed % 1000) as f64 * 0.0173,
    )
    .and_then(|t| Ok(t.f_to_kind(tch::Kind::Float)?.f_view(shape)?))
    .expect("seeded test tensor")
}

/// Writes every variable of `vs` to `path` as fp32 safetensors, through a temporary file and a
/// rename so that a crash never leaves a half-written checkpoint behind.
pub fn save_atomic(vs: &nn::VarStore, path: &Path) -> Result<()> {
    save_atomic_with(vs, &HashMap::new(), path)
}

/// [`save_atomic`] with `metadata` in the header, such as a network's
/// [`crate::Model::metadata`].
pub fn save_atomic_with(
    vs: &nn::VarStore,
    metadata: &HashMap<String, String>,
    path: &Path,
) -> Result<()> {
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
    write_atomic_with(&named, metadata, path)
}

/// Writes named tensors to `path` as safetensors through a temporary file and a rename.
pub fn write_atomic(tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    write_atomic_with(tensors, &HashMap::new(), path)
}

/// [`write_atomic`] with `metadata` in the file's header (`__metadata__`), such as the
/// [`ARCH_KEY`] of a network's weights.
pub fn write_atomic_with(
    tensors: &[(String, Tensor)],
    metadata: &HashMap<String, String>,
    path: &Path,
) -> Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    let checkpoint_error = |reason: String| Error::Checkpoint {
        path: path.to_owned(),
        reason,
    };
    let mut raw = Vec::with_capacity(tensors.len());
    for (key, t) in tensors {
        let t = t.f_to(tch::Device::Cpu)?.f_contiguous()?;
        let dtype = safetensors::tensor::Dtype::try_from(t.kind())?;
        let numel = t.numel();
        let mut bytes = vec![0u8; numel * t.kind().elt_size_in_bytes()];
        t.f_copy_data_u8(&mut bytes, numel)?;
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        raw.push((key.as_str(), dtype, shape, bytes));
    }
    let views = raw
        .iter()
        .map(|(key, dtype, shape, bytes)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .map(|view| (*key, view))
                .map_err(|e| checkpoint_error(format!("key `{key}`: {e:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = (!metadata.is_empty()).then(|| metadata.clone());
    safetensors::tensor::serialize_to_file(views, &metadata, &tmp)
        .map_err(|e| checkpoint_error(format!("{e:?}")))?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// Header key naming the architecture a weights file belongs to (`lite`); files without it
/// are the full model's (pytorch-AdaIN's decoder and encoder keys carry no metadata).
pub const ARCH_KEY: &str = "adainstyle.arch";

/// Header key of a full-model decoder trained with another upsampling than pytorch-AdaIN's
/// nearest neighbour ([`crate::arch::Upsample`]); absent = nearest.
pub const UPSAMPLE_KEY: &str = "adainstyle.upsample";

/// The `__metadata__` entries of a safetensors file's header (empty when it has none).
///
/// Only the header is read (its 8-byte length, then the JSON), not the tensors after it.
pub fn read_metadata(path: &Path) -> Result<HashMap<String, String>> {
    use std::io::Read;
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let bad = |reason: String| Error::Checkpoint {
        path: path.to_owned(),
        reason,
    };
    crate::files::regular_file(path)?;
    let mut file = std::fs::File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|e| bad(format!("no header: {e}")))?;
    let len = u64::from_le_bytes(len);
    if len > file_len.saturating_sub(8) || len > 100 << 20 {
        return Err(bad(format!(
            "header of {len} bytes in a file of {file_len}"
        )));
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header).map_err(io)?;
    let json: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| bad(format!("header: {e}")))?;
    Ok(json
        .get("__metadata__")
        .and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default())
}

/// The architecture a weights file names in its header ([`ARCH_KEY`]), if any.
pub fn read_arch(path: &Path) -> Result<Option<String>> {
    Ok(read_metadata(path)?.remove(ARCH_KEY))
}

/// The upsampling mode a full-model decoder file names in its header ([`UPSAMPLE_KEY`]).
pub fn read_upsample(path: &Path) -> Result<crate::arch::Upsample> {
    let tag = read_metadata(path)?.remove(UPSAMPLE_KEY);
    crate::arch::Upsample::from_tag(tag.as_deref()).ok_or_else(|| Error::Checkpoint {
        path: path.to_owned(),
        reason: format!(
            "unknown upsampling `{}` in its header",
            tag.unwrap_or_default()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_that_are_not_finite_floats_are_refused_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("adainstyle-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _conv = nn::conv2d(vs.root() / "0", 3, 4, 3, Default::default());
        let good = dir.join("good.safetensors");
        save_atomic(&vs, &good).unwrap();
        let tensors = read_tensors(&good).unwrap();
        let write = |name: &str, change: &dyn Fn(&Tensor) -> Tensor| {
            let path = dir.join(name);
            let changed: Vec<(String, Tensor)> = tensors
                .iter()
                .map(|(k, v)| (k.clone(), change(v)))
                .collect();
            write_atomic(&changed, &path).unwrap();
            path
        };
        let nan = write("nan.safetensors", &|t| t.full_like(f64::NAN));
        let ints = write("ints.safetensors", &|t| t.to_kind(tch::Kind::Int64));
        load_into(&vs, &good).unwrap();
        let err = load_into(&vs, &nan).unwrap_err().to_string();
        assert!(
            err.contains("nan.safetensors") && err.contains("NaN"),
            "{err}"
        );
        let err = load_into(&vs, &ints).unwrap_err().to_string();
        assert!(
            err.contains("ints.safetensors") && err.contains("floating point"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
