// SPDX-License-Identifier: MIT
//! The whole stylisation of one image or video frame: [`Stylizer`] runs a loaded network with
//! AdaIN, resizing, colour preservation, masks and temporal smoothing around it.

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::adain::{self, Stats};
use crate::color::{self, PreserveColor};
use crate::error::{Error, Result};
use crate::frame::{self, network_size, pad};
use crate::layers;
use crate::mask::{self, Region};
use crate::network::{Model, Network};
use crate::precision::Precision;
use crate::profile::{self, Stage};
use crate::temporal::Temporal;

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
    /// The network (it also computes style statistics, through [`crate::StyleEncode`]).
    pub network: Network,
    /// The precision the convolutions run in (resolved: never `Auto`).
    precision: Precision,
}

impl Stylizer {
    /// Loads `model` onto `device` in `precision` (both `Auto` resolved for the device; a
    /// precision the device cannot run is an error naming both): the full model from the VGG-19
    /// `encoder` and the decoder `weights`, the light network from `weights` alone.
    pub fn load(
        model: Model,
        encoder: &Path,
        weights: &Path,
        device: Device,
        precision: Precision,
    ) -> Result<Self> {
        let precision = precision.resolve(device)?;
        if device == Device::Cpu {
            crate::alloc::reuse_freed_memory();
        }
        Ok(Self {
            network: Network::load(model, encoder, weights, device, precision.kind())?,
            precision,
        })
    }

    /// The device the networks live on.
    pub fn device(&self) -> Device {
        self.network.device()
    }

    /// Which network stylises.
    pub fn model(&self) -> Model {
        self.network.model()
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
    /// feathered mask, so it equals the input there). `None` stylises every pixel; a mask of all
    /// ones does too, through the masked statistics (equal up to rounding; pass `None` for the
    /// unmasked path's bits, [`mask::selects_all`] tells).
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
            && (region.mask.size() != [1, 1, h, w]
                || region.feathered.is_some_and(|f| f.size() != [1, 1, h, w]))
        {
            return Err(Error::InvalidMask(format!(
                "mask of shape {:?} (feathered copy {:?}) for content of shape {size:?}",
                region.mask.size(),
                region.feathered.map(Tensor::size)
            )));
        }
        let (net_h, net_w) = network_size(h, w, opts.processing_size)?;
        let device = self.device();
        let span = profile::span(Stage::Resize, device);
        let resized = frame::resize(content, net_h, net_w)?;
        drop(span);
        let net_region = match region {
            Some(r) => Some((frame::resize(r.mask, net_h, net_w)?, r.outside)),
            None => None,
        };
        let net_region = net_region.as_ref().map(|(m, outside)| (m, *outside));
        if let Some(t) = temporal.as_deref_mut() {
            let _span = profile::span(Stage::Smooth, device);
            t.begin(content)?;
        }
        let out = self.stylize_native(
            &resized,
            style,
            net_region,
            opts.alpha,
            temporal.as_deref_mut(),
        )?;
        let span = profile::span(Stage::Resize, device);
        let out = frame::resize(&out, h, w)?;
        drop(span);
        let span = profile::span(Stage::Composite, device);
        let out = match opts.preserve_color {
            PreserveColor::Luminance => color::transfer_luminance(&out, content)?,
            _ => out,
        };
        let out = match region {
            Some(region) if region.outside.is_none() => {
                let soft = match region.feathered {
                    Some(soft) => soft.shallow_clone(),
                    None => mask::feather(region.mask, region.feather)?,
                };
                frame::lerp_pixels(content, &out, &soft)?
            }
            _ => out,
        };
        drop(span);
        let _span = profile::span(Stage::Smooth, device);
        match temporal {
            Some(t) => t.smooth_output(out),
            None => Ok(out),
        }
    }

    /// Encoder, AdaIN and decoder at the input's own size (padded to a multiple of 8); with a
    /// mask (at the input's size) and the outside style, AdaIN works per region. A network with
    /// several AdaIN levels applies each level's part of the statistics to that level.
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
        let channels = self.model().level_channels();
        let device = self.device();
        let span = profile::span(Stage::Resize, device);
        let input = layers::to_channels_last(&pad(content)?.f_to_kind(kind)?)?;
        drop(span);
        let span = profile::span(Stage::Encode, device);
        let levels = self.network.levels(&input)?;
        drop(span);
        let _adain = profile::span(Stage::Adain, device);
        // AdaIN works on the levels in the network's kind: the statistics come out fp32, the
        // transfer is one pass ([`adain::adain_mix`]).
        let styles = style.split(&channels)?;
        let targets: Vec<Tensor> = match (region, temporal) {
            (None, None) => levels
                .iter()
                .zip(&styles)
                .map(|(level, s)| adain::adain_mix(level, s, alpha))
                .collect::<Result<_>>()?,
            (None, Some(t)) => {
                let own = levels
                    .iter()
                    .map(adain::mean_std)
                    .collect::<Result<Vec<_>>>()?;
                let own = t.smooth_stats(Stats::cat(&own)?)?.split(&channels)?;
                levels
                    .iter()
                    .zip(styles.iter().zip(&own))
                    .map(|(level, (s, own))| adain::adain_mix_with(level, own, s, alpha))
                    .collect::<Result<_>>()?
            }
            (Some((net_mask, outside)), _) => {
                let outside = outside.map(|o| o.split(&channels)).transpose()?;
                // Each level's mask is shrunk from the one before it (levels go from shallow to
                // deep): from the frame's size every time, the two of the light network took
                // 0.48 ms at 640×360, this way 0.27.
                let mut feature_mask = pad(net_mask)?;
                let mut targets = Vec::with_capacity(levels.len());
                for (i, level) in levels.iter().enumerate() {
                    let fsize = level.size();
                    feature_mask = frame::resize(&feature_mask, fsize[2], fsize[3])?;
                    let out = outside.as_ref().map(|o| &o[i]);
                    targets.push(adain::adain_masked(
                        level,
                        &feature_mask,
                        &styles[i],
                        out,
                        alpha,
                    )?);
                }
                targets
            }
        };
        let inputs = targets
            .iter()
            .map(|t| layers::to_channels_last(&t.f_to_kind(kind)?))
            .collect::<Result<Vec<_>>>()?;
        drop(_adain);
        let span = profile::span(Stage::Decode, device);
        let decoded = self.network.decode(&inputs, &input)?;
        drop(span);
        let _span = profile::span(Stage::Resize, device);
        Ok(decoded
            .f_narrow(2, 0, h)?
            .f_narrow(3, 0, w)?
            .f_to_kind(Kind::Float)?)
    }
}
