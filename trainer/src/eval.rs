//! Exporting the decoder the element loads, and measuring a decoder's losses on held-out pairs.

use std::path::{Path, PathBuf};

use adainstyle::{Decoder, Pretrained};
use anyhow::{Context, Result, bail};
use tch::{Device, Kind, Tensor};

use crate::checkpoint;
use crate::data;
use crate::loss;
use crate::report;

/// Writes the decoder of `run_dir`'s checkpoint to `out` (fp32, pytorch-AdaIN keys), then loads
/// it back with the library and checks every weight arrived unchanged. Returns the number of
/// tensors written.
pub fn export(run_dir: &Path, out: &Path) -> Result<usize> {
    let loaded = checkpoint::load(run_dir)?;
    let mut weights: Vec<(String, Tensor)> = loaded
        .decoder
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.f_to_kind(Kind::Float)?)))
        .collect::<Result<_>>()?;
    weights.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    adainstyle::weights::write_atomic(&weights, out)
        .with_context(|| format!("writing {}", out.display()))?;
    let back = Pretrained::decoder(out, Device::Cpu, Kind::Float)
        .with_context(|| format!("loading {} back", out.display()))?;
    let vars = back.vs.variables();
    if vars.len() != weights.len() {
        bail!(
            "{} holds {} tensors but the decoder has {}",
            out.display(),
            weights.len(),
            vars.len()
        );
    }
    for (key, w) in &weights {
        let v = vars
            .get(key)
            .with_context(|| format!("the decoder has no variable `{key}`"))?;
        if !v.f_equal(w)? {
            bail!("`{key}` changed on the way through {}", out.display());
        }
    }
    Ok(weights.len())
}

/// Settings of [`evaluate`].
#[derive(Debug, Clone)]
pub struct EvalSettings {
    /// Encoder checkpoint.
    pub encoder: PathBuf,
    /// Decoder checkpoint.
    pub decoder: PathBuf,
    /// Content photos.
    pub content_dir: PathBuf,
    /// Style images.
    pub style_dir: PathBuf,
    /// Side of the centre square each image is reduced to.
    pub size: u32,
    /// Number of pairs (0 = as many as the larger folder has images).
    pub pairs: usize,
    /// Style weight for the total.
    pub style_weight: f64,
    /// Content weight for the total.
    pub content_weight: f64,
    /// Where the networks run.
    pub device: Device,
    /// Optional grid of the first pairs (content | style | output).
    pub grid: Option<PathBuf>,
    /// Pairs shown in the grid.
    pub grid_pairs: usize,
}

/// Mean losses of a decoder over held-out pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalResult {
    /// Pairs evaluated.
    pub pairs: usize,
    /// Mean content loss.
    pub content: f64,
    /// Mean style loss.
    pub style: f64,
    /// `content_weight * content + style_weight * style`.
    pub total: f64,
    /// Images skipped because they could not be read.
    pub skipped: usize,
}

fn load_square(path: &Path, size: u32, device: Device) -> Result<Tensor> {
    let img = adainstyle::image_io::load_rgb(path)?;
    Ok(adainstyle::image_io::to_tensor(
        &data::center_square(&img, size),
        device,
        Kind::Float,
    )?)
}

/// Pairs content `i mod C` with style `i mod S` (both sorted) and averages the training losses
/// over them, one pair at a time, without gradients.
pub fn evaluate(s: &EvalSettings) -> Result<EvalResult> {
    if s.size < 8 || !s.size.is_multiple_of(8) {
        bail!("--size must be a multiple of 8, got {}", s.size);
    }
    let encoder = Pretrained::encoder(&s.encoder, s.device, Kind::Float)
        .with_context(|| format!("loading encoder {}", s.encoder.display()))?;
    let decoder: Pretrained<Decoder> = Pretrained::decoder(&s.decoder, s.device, Kind::Float)
        .with_context(|| format!("loading decoder {}", s.decoder.display()))?;
    let contents = data::list_images(&s.content_dir)?;
    let styles = data::list_images(&s.style_dir)?;
    let n = if s.pairs == 0 {
        contents.len().max(styles.len())
    } else {
        s.pairs
    };
    let _guard = tch::no_grad_guard();
    let (mut sum_c, mut sum_s, mut done, mut skipped) = (0.0, 0.0, 0usize, 0usize);
    let mut shown: Vec<(Tensor, Tensor, Tensor)> = Vec::new();
    for i in 0..n {
        let (cp, sp) = (&contents[i % contents.len()], &styles[i % styles.len()]);
        let (c, st) = match (
            load_square(cp, s.size, s.device),
            load_square(sp, s.size, s.device),
        ) {
            (Ok(c), Ok(st)) => (c, st),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("warning: skipping pair {i}: {e:#}");
                skipped += 1;
                continue;
            }
        };
        let out = loss::compute(&encoder.net, &decoder.net, &c, &st, false)?;
        sum_c += out.content.f_double_value(&[])?;
        sum_s += out.style.f_double_value(&[])?;
        done += 1;
        if s.grid.is_some() && shown.len() < s.grid_pairs {
            shown.push((c, st, out.output));
        }
    }
    if done == 0 {
        bail!("no readable pairs");
    }
    if let Some(grid) = &s.grid {
        let cat = |f: fn(&(Tensor, Tensor, Tensor)) -> &Tensor| -> Result<Tensor> {
            Ok(Tensor::f_cat(&shown.iter().map(f).collect::<Vec<_>>(), 0)?)
        };
        report::save_grid(&cat(|p| &p.0)?, &cat(|p| &p.1)?, &cat(|p| &p.2)?, grid)?;
    }
    let (content, style) = (sum_c / done as f64, sum_s / done as f64);
    Ok(EvalResult {
        pairs: done,
        content,
        style,
        total: s.content_weight * content + s.style_weight * style,
        skipped,
    })
}
