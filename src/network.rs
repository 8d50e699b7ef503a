// SPDX-License-Identifier: MIT
//! Which network stylises: the `model` setting shared by the element, the examples, the bench
//! and the trainer ([`Model`]), and the loaded network itself ([`Network`]), whichever it is.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use tch::{Device, Kind, Tensor, nn};

use crate::adain::{Stats, mean_std};
use crate::arch::{self, Layer, LiteArch};
use crate::decoder::Decoder;
use crate::encoder::Encoder;
use crate::error::{Error, Result};
use crate::lite::Lite;
use crate::{data, layers, weights};

/// The network a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// The full model on CUDA; on a CPU [`Model::CPU_DEFAULT`] (with weights given, the network
    /// they hold: [`Model::resolve_given`]).
    #[default]
    Auto,
    /// VGG-19 to relu4_1, AdaIN, the mirrored decoder (Huang & Belongie 2017).
    Full,
    /// The light network of [`crate::lite`], shaped for real time on a CPU.
    Lite,
}

impl FromStr for Model {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Self::Auto),
            "full" => Ok(Self::Full),
            "lite" | "light" => Ok(Self::Lite),
            _ => Err(Error::InvalidModel(s.to_owned())),
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Full => "full",
            Self::Lite => "lite",
        })
    }
}

impl Model {
    /// Every variant, in the order the element's enum lists them.
    pub const ALL: [Model; 3] = [Self::Auto, Self::Full, Self::Lite];

    /// What `auto` picks on a CPU: the light network, whose shipped weights meet the quality bar
    /// of the full model on the held-out pairs (style ratio and content keep within 1.1x of the
    /// full model's, luma SSIM no lower; models/README.md) at 20x fewer operations.
    pub const CPU_DEFAULT: Model = Model::Lite;

    /// The network `self` stands for on `device` (never `Auto`).
    pub fn resolve(self, device: Device) -> Model {
        match self {
            Self::Auto if device.is_cuda() => Self::Full,
            Self::Auto => Self::CPU_DEFAULT,
            other => other,
        }
    }

    /// [`Model::resolve`], given the files the user named: `auto` with a weights file is the
    /// network that file holds (its header), so that a full-model decoder set with `model=auto`
    /// runs the full model on every device; `auto` with only an encoder file is the full model
    /// (the only one with a separate encoder).
    pub fn resolve_given(
        self,
        device: Device,
        encoder: Option<&Path>,
        weights: Option<&Path>,
    ) -> Result<Model> {
        match (self, weights, encoder) {
            (Self::Auto, Some(weights), _) => Model::of_weights(weights),
            (Self::Auto, None, Some(_)) => Ok(Self::Full),
            _ => Ok(self.resolve(device)),
        }
    }

    /// Channels of each AdaIN level, shallow to deep: what a style's [`Stats`] hold (every light
    /// network shares its encoder).
    pub fn level_channels(self) -> Vec<i64> {
        arch::level_channels(match self {
            Self::Lite => &arch::LITE_ENCODER,
            Self::Auto | Self::Full => &arch::ENCODER,
        })
    }

    /// The shipped weights of a resolved model, relative to the data directory (the decoder of
    /// the full model; the whole light network).
    pub fn shipped_weights(self) -> &'static str {
        match self {
            Self::Lite => data::LITE,
            Self::Auto | Self::Full => data::DECODER,
        }
    }

    /// The network a weights file holds, as its header says: the light networks name
    /// themselves ([`LiteArch::tag`]), the full model's decoders (ours and pytorch-AdaIN's) carry
    /// no name.
    pub fn of_weights(path: &Path) -> Result<Model> {
        Ok(match Shape::of_weights(path)? {
            Shape::Full => Model::Full,
            Shape::Lite(_) => Model::Lite,
        })
    }

    /// Writes seeded pseudo-random weights of a resolved model (the full model's decoder, or the
    /// whole light network as shipped) to `path`, with the model's header: the weights of tests,
    /// whose results must not depend on a trained file or on libtorch's global generator
    /// ([`crate::weights::fill_seeded`]).
    pub fn write_seeded_weights(self, seed: u64, path: &Path) -> Result<()> {
        let shape = match self {
            Self::Lite => Shape::Lite(arch::LITE),
            Self::Auto | Self::Full => Shape::Full,
        };
        shape.write_seeded_weights(seed, path)
    }
}

/// The layers a weights file is for: the full model's decoder, or one of the light networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The full model (a decoder file; the VGG-19 encoder is separate).
    Full,
    /// A light network (encoder and decoder in one file).
    Lite(LiteArch),
}

impl Shape {
    /// The shape a weights file's header names ([`crate::weights::ARCH_KEY`]): none for the
    /// full model, a light network's tag otherwise.
    pub fn of_weights(path: &Path) -> Result<Self> {
        Self::from_tag(path, crate::weights::read_arch(path)?.as_deref())
    }

    fn from_tag(path: &Path, tag: Option<&str>) -> Result<Self> {
        match tag {
            None => Ok(Self::Full),
            Some(tag) => LiteArch::from_tag(tag)
                .map(Self::Lite)
                .ok_or_else(|| Error::Checkpoint {
                    path: path.to_owned(),
                    reason: format!("unknown architecture `{tag}` in its header"),
                }),
        }
    }

    /// The network it belongs to.
    pub fn model(self) -> Model {
        match self {
            Self::Full => Model::Full,
            Self::Lite(_) => Model::Lite,
        }
    }

    /// The header entries of its weights files (none for the full model).
    pub fn metadata(self) -> std::collections::HashMap<String, String> {
        match self {
            Self::Full => Default::default(),
            Self::Lite(a) => [(crate::weights::ARCH_KEY.to_owned(), a.tag.to_owned())].into(),
        }
    }

    /// Floating-point operations (2 per multiply-add, convolutions only) of one stylisation at
    /// `height` x `width`, at the padded size the network runs at.
    pub fn flops_per_frame(self, height: i64, width: i64) -> f64 {
        let pad = |n: i64| (n + crate::frame::pad_to(n)) as f64;
        let (encoder, decoder): (&[Layer], &[Layer]) = match self {
            Self::Full => (&arch::ENCODER, &arch::DECODER),
            Self::Lite(a) => (a.encoder, a.decoder),
        };
        let (enc, (h, w)) = arch::conv_flops(encoder, pad(height), pad(width));
        enc + arch::conv_flops(decoder, h, w).0
    }

    /// Writes seeded pseudo-random weights of this shape to `path`, with its header
    /// ([`Model::write_seeded_weights`]).
    pub fn write_seeded_weights(self, seed: u64, path: &Path) -> Result<()> {
        let vs = tch::nn::VarStore::new(Device::Cpu);
        tch::no_grad(|| match self {
            Self::Lite(a) => drop(Lite::new(&vs.root(), a)),
            Self::Full => drop(Decoder::new(&vs.root())),
        });
        crate::weights::fill_seeded(&vs, seed)?;
        crate::weights::save_atomic_with(&vs, &self.metadata(), path)
    }
}

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
    /// Loads an encoder checkpoint (pytorch-AdaIN `vgg` keys 0..29). Its style statistics come
    /// through [`crate::StyleEncode`].
    pub fn encoder(path: &Path, device: Device, kind: Kind) -> Result<Self> {
        Self::load(path, device, kind, Encoder::new)
    }
}

impl Pretrained<Decoder> {
    /// Loads a decoder checkpoint (pytorch-AdaIN `decoder` keys); the light network's weights
    /// are an error naming the file.
    pub fn decoder(path: &Path, device: Device, kind: Kind) -> Result<Self> {
        check_arch(path, Model::Full)?;
        let upsample = weights::read_upsample(path)?;
        Self::load(path, device, kind, |vs| {
            Decoder::with_upsample(vs, upsample)
        })
    }
}

/// Checks that the weights file `path` is of `model`'s architecture (an error naming the file
/// and both architectures otherwise) and returns its shape.
pub fn check_arch(path: &Path, model: Model) -> Result<Shape> {
    let shape = Shape::of_weights(path)?;
    let expected = match model {
        Model::Lite => Model::Lite,
        Model::Auto | Model::Full => Model::Full,
    };
    if shape.model() == expected {
        return Ok(shape);
    }
    let name = |m: Model| match m {
        Model::Lite => "a light network (lite)".to_owned(),
        _ => "the full model (a decoder)".to_owned(),
    };
    Err(Error::WrongArchitecture {
        path: path.to_owned(),
        found: match shape {
            Shape::Lite(a) => format!("the {} network", a.tag),
            Shape::Full => name(Model::Full),
        },
        expected: name(expected),
    })
}

/// Something that turns a style image into the statistics a [`Network`] applies with AdaIN.
pub trait StyleEncode {
    /// The statistics (fp32, every AdaIN level) of a style image (1, 3, H, W) in [0, 1].
    fn style_stats(&self, image: &Tensor) -> Result<Stats>;
}

/// The statistics of each level, one after the other, in fp32.
fn level_stats(levels: &[Tensor]) -> Result<Stats> {
    let parts = levels
        .iter()
        .map(|l| mean_std(&l.f_to_kind(Kind::Float)?))
        .collect::<Result<Vec<_>>>()?;
    Stats::cat(&parts)
}

impl Pretrained<Lite> {
    /// Loads a light network's weights (a file whose header names one of
    /// [`arch::LITE_ARCHS`]).
    pub fn lite(path: &Path, device: Device, kind: Kind) -> Result<Self> {
        match check_arch(path, Model::Lite)? {
            Shape::Lite(arch) => {
                let mut lite = Self::load(path, device, kind, |vs| Lite::new(vs, arch))?;
                lite.net.fuse_phase_tail()?;
                Ok(lite)
            }
            Shape::Full => Err(Error::Checkpoint {
                path: path.to_owned(),
                reason: "a full-model decoder, not a light network".into(),
            }),
        }
    }
}

/// A network's input: an image in its precision, channels-last.
fn network_input(image: &Tensor, device: Device, kind: Kind) -> Result<Tensor> {
    layers::to_channels_last(&image.f_to_device_(device, kind, false, false)?)
}

impl StyleEncode for Pretrained<Encoder> {
    fn style_stats(&self, image: &Tensor) -> Result<Stats> {
        let _guard = tch::no_grad_guard();
        let x = network_input(image, self.vs.device(), self.vs.kind())?;
        level_stats(&[self.net.relu4_1(&x)?])
    }
}

impl StyleEncode for Pretrained<Lite> {
    fn style_stats(&self, image: &Tensor) -> Result<Stats> {
        let _guard = tch::no_grad_guard();
        let x = network_input(&crate::frame::pad(image)?, self.vs.device(), self.vs.kind())?;
        level_stats(&self.net.levels(&x)?)
    }
}

/// A loaded network of either kind, ready to stylise.
#[derive(Debug)]
pub enum Network {
    /// The full model: the VGG-19 encoder and the decoder.
    Full {
        /// The encoder (also what style statistics come from).
        encoder: Pretrained<Encoder>,
        /// The decoder.
        decoder: Pretrained<Decoder>,
    },
    /// The light network (its own encoder and decoder in one file).
    Lite(Pretrained<Lite>),
}

impl Network {
    /// Loads `model` (resolved for `device`): the full model from the VGG-19 `encoder` and the
    /// decoder `weights`, the light network from `weights` alone. Weights of the other
    /// architecture are an error naming the file.
    pub fn load(
        model: Model,
        encoder: &Path,
        weights: &Path,
        device: Device,
        kind: Kind,
    ) -> Result<Self> {
        Ok(match model.resolve(device) {
            Model::Lite => Self::Lite(Pretrained::lite(weights, device, kind)?),
            _ => Self::Full {
                encoder: Pretrained::encoder(encoder, device, kind)?,
                decoder: Pretrained::decoder(weights, device, kind)?,
            },
        })
    }

    /// A separate copy of what computes style statistics for `model` (for a thread of its own):
    /// the VGG-19 encoder of the full model, or the light network.
    pub fn load_style_encoder(
        model: Model,
        encoder: &Path,
        weights: &Path,
        device: Device,
        kind: Kind,
    ) -> Result<Box<dyn StyleEncode + Send>> {
        Ok(match model.resolve(device) {
            Model::Lite => Box::new(Pretrained::lite(weights, device, kind)?),
            _ => Box::new(Pretrained::encoder(encoder, device, kind)?),
        })
    }

    /// Which network this is.
    pub fn model(&self) -> Model {
        self.shape().model()
    }

    /// Its layers.
    pub fn shape(&self) -> Shape {
        match self {
            Self::Full { .. } => Shape::Full,
            Self::Lite(lite) => Shape::Lite(lite.net.arch()),
        }
    }

    /// The device it lives on.
    pub fn device(&self) -> Device {
        match self {
            Self::Full { decoder, .. } => decoder.vs.device(),
            Self::Lite(lite) => lite.vs.device(),
        }
    }

    /// The features AdaIN normalises, shallow to deep, of `x` (its precision, channels-last,
    /// sides multiples of 8).
    pub fn levels(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        match self {
            Self::Full { encoder, .. } => Ok(vec![encoder.net.relu4_1(x)?]),
            Self::Lite(lite) => lite.net.levels(x),
        }
    }

    /// Decodes the (normalised) levels of `input` (the network's input, which a guided light
    /// decoder transforms) back into an image.
    pub fn decode(&self, levels: &[Tensor], input: &Tensor) -> Result<Tensor> {
        match self {
            Self::Full { decoder, .. } => {
                let [features] = levels else {
                    return Err(Error::Torch("the full decoder takes one level".into()));
                };
                decoder.net.forward(features)
            }
            Self::Lite(lite) => lite.net.decode(levels, input),
        }
    }
}

impl StyleEncode for Network {
    fn style_stats(&self, image: &Tensor) -> Result<Stats> {
        match self {
            Self::Full { encoder, .. } => encoder.style_stats(image),
            Self::Lite(lite) => lite.style_stats(image),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prints_and_resolves() {
        for m in Model::ALL {
            assert_eq!(m.to_string().parse::<Model>().unwrap(), m);
        }
        assert!(
            "huge"
                .parse::<Model>()
                .unwrap_err()
                .to_string()
                .contains("huge")
        );
        assert_eq!(Model::Auto.resolve(Device::Cuda(0)), Model::Full);
        assert_eq!(Model::Auto.resolve(Device::Cpu), Model::CPU_DEFAULT);
        assert_eq!(Model::Lite.resolve(Device::Cuda(0)), Model::Lite);
        assert_eq!(Model::Lite.level_channels(), vec![64, 128]);
        assert_eq!(Model::Full.level_channels(), vec![512]);
    }

    #[test]
    fn headers_name_the_architecture_and_the_upsampling() {
        use crate::arch::Upsample;
        let dir = std::env::temp_dir().join(format!("adainstyle-header-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let _decoder = Decoder::new(&vs.root());
        let (plain, bilinear) = (
            dir.join("plain.safetensors"),
            dir.join("bilinear.safetensors"),
        );
        crate::weights::save_atomic(&vs, &plain).unwrap();
        crate::weights::save_atomic_with(&vs, &Upsample::Bilinear.metadata(), &bilinear).unwrap();
        assert_eq!(Model::of_weights(&plain).unwrap(), Model::Full);
        // auto with weights given runs the network they hold, on any device.
        let lite = dir.join("lite.safetensors");
        Model::Lite.write_seeded_weights(1, &lite).unwrap();
        let given = |encoder: Option<&Path>, weights: Option<&Path>| {
            Model::Auto
                .resolve_given(Device::Cpu, encoder, weights)
                .unwrap()
        };
        assert_eq!(given(None, Some(&plain)), Model::Full);
        assert_eq!(given(None, Some(&lite)), Model::Lite);
        assert_eq!(given(Some(&plain), None), Model::Full);
        assert_eq!(given(None, None), Model::CPU_DEFAULT);
        assert_eq!(
            Model::Lite
                .resolve_given(Device::Cpu, None, Some(&plain))
                .unwrap(),
            Model::Lite
        );
        assert_eq!(
            crate::weights::read_upsample(&plain).unwrap(),
            Upsample::Nearest
        );
        assert_eq!(
            crate::weights::read_upsample(&bilinear).unwrap(),
            Upsample::Bilinear
        );
        // Same weights, another upsampling: another picture.
        let x = crate::weights::seeded_uniform(&[1, 512, 4, 4], 4);
        let run = |path: &Path| {
            let d = Pretrained::decoder(path, Device::Cpu, Kind::Float).unwrap();
            tch::no_grad(|| d.net.forward(&x).unwrap())
        };
        let (a, b) = (run(&plain), run(&bilinear));
        assert_eq!(a.size(), b.size());
        assert!((a - b).abs().max().double_value(&[]) > 1e-4);
        // A full decoder is not the light network, and the error says which file and why.
        let err = Pretrained::lite(&plain, Device::Cpu, Kind::Float)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("plain.safetensors") && err.contains("lite"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_light_network_costs_a_fraction_of_the_full_one() {
        let (full, lite) = (
            Shape::Full.flops_per_frame(360, 640),
            Shape::Lite(arch::LITE).flops_per_frame(360, 640),
        );
        assert!(full / lite > 15.0, "{full:e} / {lite:e}");
        // The hand count of bench/lite_candidates.py's u2-s2s2-c128-skip4 shape: 10.7 GFLOP.
        assert!((lite / 1e9 - 10.7).abs() < 0.1, "{lite:e}");
    }

    #[test]
    fn flop_count_of_a_512_frame() {
        // Hand count at 512²: encoder 0.9 + 19.3 + 9.7 + 19.3 + 9.7 + 3 x 19.3 + 9.7 = 126.6
        // GFLOP, the mirrored decoder about the same.
        let flops = |h, w| Shape::Full.flops_per_frame(h, w);
        let f = flops(512, 512);
        assert!((2.45e11..2.6e11).contains(&f), "{f:e}");
        // Scales with the (padded) area.
        assert!((flops(1024, 1024) / f - 4.0).abs() < 1e-9);
        assert_eq!(flops(45, 67), flops(48, 72));
    }
}
