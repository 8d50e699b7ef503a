// SPDX-License-Identifier: MIT
//! Networks with their weights, and the whole stylisation of one image.

use std::path::Path;

use tch::{Device, Kind, Tensor, nn};

use crate::adain::{self, Stats};
use crate::color::{self, PreserveColor};
use crate::decoder::Decoder;
use crate::encoder::{DOWNSAMPLING, Encoder};
use crate::error::{Error, Result};
use crate::frame;
use crate::layers;
use crate::mask::{self, Region};
use crate::precision::Precision;
use crate::temporal::Temporal;
use crate::weights;

/// A network together with the variable store that owns its weights.
#[derive(Debug)]
pub struct Pretrained<T> {
    /// The weights.
    pub vs: nn::VarStore,
    /// The network built on them.
    pub net: T,
}

impl<T> Pretrained<T> {
    /// Builds the network with `build`, loads `path` into it (checking every key and shape), and
    /// moves it to `device` in `kind`. Gradients are off: these are inference weights.
    pub fn load(
        path: &Path,
        device: Device,
        kind: Kind,
        build: impl FnOnce(&nn::Path) -> T,
    ) -> Result<Self> {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let net = build(&vs.root());
        weights::load_into(&vs, path)?;
        vs.freeze();
        vs.set_device(device);
        vs.set_kind(kind);
        // Convolution weights in channels-last, so that inference runs channels-last throughout.
        layers::weights_to_channels_last(&vs)?;
        Ok(Self { vs, net })
    }
}

impl Pretrained<Encoder> {
    /// Loads an encoder checkpoint (pytorch-AdaIN `vgg` keys 0..29).
    pub fn encoder(path: &Path, device: Device, kind: Kind) -> Result<Self> {
        Self::load(path, device, kind, Encoder::new)
    }

    /// The relu4_1 statistics of a style image (1, 3, H, W) in [0, 1], in fp32 whatever the
    /// encoder's precision.
    pub fn style_stats(&self, image: &Tensor) -> Result<Stats> {
        let _guard = tch::no_grad_guard();
        let x = image.f_to_device_(self.vs.device(), self.vs.kind(), false, false)?;
        let features = self.net.relu4_1(&layers::to_channels_last(&x)?)?;
        adain::mean_std(&features.f_to_kind(Kind::Float)?)
    }
}

impl Pretrained<Decoder> {
    /// Loads a decoder checkpoint (pytorch-AdaIN `decoder` keys).
    pub fn decoder(path: &Path, device: Device, kind: Kind) -> Result<Self> {
        Self::load(path, device, kind, Decoder::new)
    }
}

/// Per-call options of [`Stylizer::stylize`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StylizeOptions {
    /// 1 = full style, 0 = the content reconstructed.
    pub alpha: f64,
    /// Longest edge the network runs at (0 = the input's own size).
    pub processing_size: i64,
    /// Colour preservation applied to the output (only `Luminance` acts here; `Coral` acts on the
    /// style image before its statistics are computed, see [`crate::style`]).
    pub preserve_color: PreserveColor,
}

impl Default for StylizeOptions {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            processing_size: 0,
            preserve_color: PreserveColor::None,
        }
    }
}

/// Encoder + AdaIN + decoder on one device: the whole per-frame computation.
#[derive(Debug)]
pub struct Stylizer {
    /// The encoder (also used to compute style statistics).
    pub encoder: Pretrained<Encoder>,
    /// The decoder.
    pub decoder: Pretrained<Decoder>,
    /// The precision the convolutions run in (resolved: never `Auto`).
    precision: Precision,
}

impl Stylizer {
    /// Loads both checkpoints onto `device` in `precision` (`Auto` resolved for the device; a
    /// precision the device cannot run is an error naming both).
    pub fn load(
        encoder: &Path,
        decoder: &Path,
        device: Device,
        precision: Precision,
    ) -> Result<Self> {
        let precision = precision.resolve(device)?;
        let kind = precision.kind();
        Ok(Self {
            encoder: Pretrained::encoder(encoder, device, kind)?,
            decoder: Pretrained::decoder(decoder, device, kind)?,
            precision,
        })
    }

    /// The device the networks live on.
    pub fn device(&self) -> Device {
        self.decoder.vs.device()
    }

    /// The precision the convolutions run in.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Stylises `content` (1, 3, H, W) in [0, 1] (any float kind, on the stylizer's device) with
    /// the fp32 style statistics `style`. Returns fp32 (1, 3, H, W), not clamped. Any size
    /// works: the network runs on a reflection-padded multiple of 8 (or at `processing_size`) and
    /// the result is cropped or resized back. The convolutions run in the stylizer's precision;
    /// AdaIN, resizing and colour preservation in fp32.
    pub fn stylize(
        &self,
        content: &Tensor,
        style: &Stats,
        opts: &StylizeOptions,
    ) -> Result<Tensor> {
        self.stylize_region(content, style, None, opts)
    }

    /// [`Stylizer::stylize`] with spatial control: `style` goes where `region.mask` says, the
    /// rest gets `region.outside` or keeps the content (composited over the output through the
    /// feathered mask, so it equals the input there). `None` stylises every pixel.
    pub fn stylize_region(
        &self,
        content: &Tensor,
        style: &Stats,
        region: Option<&Region>,
        opts: &StylizeOptions,
    ) -> Result<Tensor> {
        self.run(content, style, region, opts, None)
    }

    /// [`Stylizer::stylize_region`] for one frame of a stream whose smoothing state is
    /// `temporal`: the content statistics (without a mask) and the output are smoothed over
    /// time, and a scene cut starts afresh. Strength 0 gives the per-frame result.
    pub fn stylize_frame(
        &self,
        content: &Tensor,
        style: &Stats,
        region: Option<&Region>,
        opts: &StylizeOptions,
        temporal: &mut Temporal,
    ) -> Result<Tensor> {
        self.run(content, style, region, opts, Some(temporal))
    }

    fn run(
        &self,
        content: &Tensor,
        style: &Stats,
        region: Option<&Region>,
        opts: &StylizeOptions,
        mut temporal: Option<&mut Temporal>,
    ) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let content = &content.f_to_kind(Kind::Float)?;
        let size = content.size();
        let (h, w) = (size[2], size[3]);
        if let Some(region) = region
            && region.mask.size() != [1, 1, h, w]
        {
            return Err(Error::InvalidMask(format!(
                "mask of shape {:?} for content of shape {size:?}",
                region.mask.size()
            )));
        }
        let (net_h, net_w) = if opts.processing_size > 0 && opts.processing_size != h.max(w) {
            frame::fit_longest(h, w, opts.processing_size)
        } else {
            (h, w)
        };
        let resized = frame::resize(content, net_h, net_w)?;
        let net_region = match region {
            Some(r) => Some((frame::resize(r.mask, net_h, net_w)?, r.outside)),
            None => None,
        };
        let net_region = net_region.as_ref().map(|(m, outside)| (m, *outside));
        if let Some(t) = temporal.as_deref_mut() {
            t.begin(content)?;
        }
        let out = self.stylize_native(
            &resized,
            style,
            net_region,
            opts.alpha,
            temporal.as_deref_mut(),
        )?;
        let out = frame::resize(&out, h, w)?;
        let out = match opts.preserve_color {
            PreserveColor::Luminance => color::transfer_luminance(&out, content)?,
            _ => out,
        };
        let out = match region {
            Some(region) if region.outside.is_none() => {
                let soft = mask::feather(region.mask, region.feather)?;
                out.f_mul(&soft)?
                    .f_add(&content.f_mul(&mask::invert(&soft)?)?)?
            }
            _ => out,
        };
        match temporal {
            Some(t) => t.smooth_output(content, out),
            None => Ok(out),
        }
    }

    /// Encoder, AdaIN and decoder at the input's own size (padded to a multiple of 8); with a
    /// mask (at the input's size) and the outside style, AdaIN works per region.
    fn stylize_native(
        &self,
        content: &Tensor,
        style: &Stats,
        region: Option<(&Tensor, Option<&Stats>)>,
        alpha: f64,
        temporal: Option<&mut Temporal>,
    ) -> Result<Tensor> {
        let size = content.size();
        let (h, w) = (size[2], size[3]);
        let kind = self.precision.kind();
        let features = self
            .encoder
            .net
            .relu4_1(&layers::to_channels_last(&pad(content)?.f_to_kind(kind)?)?)?
            .f_to_kind(Kind::Float)?;
        let target = match (region, temporal) {
            (None, None) => adain::adain_mix(&features, style, alpha)?,
            (None, Some(t)) => {
                let own = t.smooth_stats(adain::mean_std(&features)?)?;
                adain::adain_mix_with(&features, &own, style, alpha)?
            }
            (Some((net_mask, outside)), _) => {
                let fsize = features.size();
                let feature_mask = frame::resize(&pad(net_mask)?, fsize[2], fsize[3])?;
                adain::adain_masked(&features, &feature_mask, style, outside, alpha)?
            }
        };
        let decoded = self.decoder.net.forward(&target.f_to_kind(kind)?)?;
        Ok(decoded
            .f_narrow(2, 0, h)?
            .f_narrow(3, 0, w)?
            .f_to_kind(Kind::Float)?)
    }
}

/// `t` (N, C, H, W) padded at the bottom and right to a multiple of the encoder's downsampling
/// factor: by reflection, or by replication where the image is too small to reflect.
fn pad(t: &Tensor) -> Result<Tensor> {
    let size = t.size();
    let (h, w) = (size[2], size[3]);
    let (pad_h, pad_w) = (pad_to(h), pad_to(w));
    Ok(if pad_h == 0 && pad_w == 0 {
        t.shallow_clone()
    } else if pad_h < h && pad_w < w {
        t.f_reflection_pad2d([0, pad_w, 0, pad_h])?
    } else {
        t.f_replication_pad2d([0, pad_w, 0, pad_h])?
    })
}

/// Floating-point operations (2 per multiply-add, convolutions only) of one stylisation at
/// `height` x `width`, at the padded size the network actually runs at.
pub fn flops_per_frame(height: i64, width: i64) -> f64 {
    let (h, w) = (
        (height + pad_to(height)) as f64,
        (width + pad_to(width)) as f64,
    );
    crate::arch::conv_flops(&crate::arch::ENCODER, h, w)
        + crate::arch::conv_flops(&crate::arch::DECODER, h / 8.0, w / 8.0)
}

/// Padding that brings `n` up to a multiple of the encoder's downsampling factor.
fn pad_to(n: i64) -> i64 {
    (DOWNSAMPLING - n % DOWNSAMPLING) % DOWNSAMPLING
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flop_count_of_a_512_frame() {
        // Hand count at 512²: encoder 0.9 + 19.3 + 9.7 + 19.3 + 9.7 + 3 x 19.3 + 9.7 = 126.6
        // GFLOP, the mirrored decoder about the same.
        let f = flops_per_frame(512, 512);
        assert!((2.45e11..2.6e11).contains(&f), "{f:e}");
        // Scales with the (padded) area.
        assert!((flops_per_frame(1024, 1024) / f - 4.0).abs() < 1e-9);
        assert_eq!(flops_per_frame(45, 67), flops_per_frame(48, 72));
    }
}
