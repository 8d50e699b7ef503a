// SPDX-License-Identifier: MIT
//! Encoder targets computed once per image instead of once per iteration.
//!
//! A training step runs the frozen encoder three times: on the content crops (for relu4_1), on
//! the style crops (for their statistics) and on the output (for the losses). The first two never
//! change for a given image, so with `--cache-targets` they are computed once when the run
//! starts: relu4_1 of every content image (resized like the batches), from which each iteration
//! takes random crops on the encoder's 8-pixel grid, and the statistics of every style image as a
//! whole, which is also what the element uses at inference. A step then only decodes, encodes the
//! output and goes back through both.

use adainstyle::{Encoder, Stats};
use anyhow::{Result, bail};
use rand::Rng;
use tch::{Device, Kind, Tensor};

use crate::data::{Dataset, ImageFolder};
use crate::loss::{self, Compute, Targets};

/// Targets of every readable image of a dataset.
#[derive(Debug)]
pub struct TargetCache {
    /// relu4_1 of each content image, (512, h, w), in the encoder's precision.
    content: Vec<Tensor>,
    /// Statistics at relu1_1..relu4_1 of each style image, each (1, C, 1, 1), fp32.
    style: Vec<Vec<Stats>>,
    /// Crop side in pixels (a multiple of 8).
    crop: u32,
    /// Images per batch.
    batch: usize,
    /// Base seed of the per-iteration random streams.
    seed: u64,
}

/// Reports of images that could not be read while the cache was built.
pub type Warnings = Vec<String>;

fn encode_folder<T>(
    folder: &ImageFolder,
    device: Device,
    warnings: &mut Warnings,
    mut each: impl FnMut(&Tensor) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(folder.len());
    for index in 0..folder.len() {
        if let Some(img) = folder.get(index, warnings) {
            let t = adainstyle::image_io::to_tensor(&img, device, Kind::Float)?;
            out.push(each(&t)?);
        }
    }
    if out.is_empty() {
        bail!("none of the {} images could be read", folder.len());
    }
    Ok(out)
}

impl TargetCache {
    /// Encodes every image of `dataset` once (a few minutes on a CPU for a thousand images).
    pub fn build(
        dataset: &Dataset,
        encoder: &Encoder,
        compute: Compute,
        device: Device,
    ) -> Result<(Self, Warnings)> {
        let mut warnings = Vec::new();
        let content = encode_folder(&dataset.content, device, &mut warnings, |img| {
            let f = loss::content_features(encoder, img, compute)?;
            Ok(f.f_to_kind(compute.encoder_kind())?
                .f_squeeze_dim(0)?
                .f_contiguous()?)
        })?;
        let style = encode_folder(&dataset.style, device, &mut warnings, |img| {
            loss::style_stats(encoder, img, compute)
        })?;
        Ok((
            Self {
                content,
                style,
                crop: dataset.crop,
                batch: dataset.batch,
                seed: dataset.seed,
            },
            warnings,
        ))
    }

    /// Content images and style images held.
    pub fn len(&self) -> (usize, usize) {
        (self.content.len(), self.style.len())
    }

    /// The targets of `iteration`: a random crop of a random content image's relu4_1 and a
    /// random style's statistics for each batch element. Depends only on the seed and
    /// `iteration`.
    pub fn batch(&self, iteration: u64) -> Result<Targets> {
        let mut rng = Dataset::rng_for(self.seed, iteration);
        let side = (self.crop / 8) as i64;
        let mut crops = Vec::with_capacity(self.batch);
        let mut styles = Vec::with_capacity(self.batch);
        for _ in 0..self.batch {
            let feat = &self.content[rng.gen_range(0..self.content.len())];
            let size = feat.size();
            let (x, y) =
                crate::data::random_window(&mut rng, size[2] as u32, size[1] as u32, side as u32);
            let (x, y) = (i64::from(x), i64::from(y));
            crops.push(feat.f_narrow(1, y, side)?.f_narrow(2, x, side)?);
            styles.push(&self.style[rng.gen_range(0..self.style.len())]);
        }
        let content = Tensor::f_stack(&crops, 0)?.f_to_kind(Kind::Float)?;
        let style = (0..4)
            .map(|tap| {
                let means: Vec<&Tensor> = styles.iter().map(|s| &s[tap].mean).collect();
                let stds: Vec<&Tensor> = styles.iter().map(|s| &s[tap].std).collect();
                Ok(Stats {
                    mean: Tensor::f_cat(&means, 0)?,
                    std: Tensor::f_cat(&stds, 0)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Targets {
            content,
            content_shallow: Vec::new(),
            style,
        })
    }
}
