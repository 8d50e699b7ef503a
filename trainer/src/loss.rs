// SPDX-License-Identifier: MIT
//! The training objective of the paper (section 6.1), for either network a run trains.
//!
//! `t = AdaIN(f(c), f(s))` with `f` the frozen VGG-19 (the loss network); `g` the network's
//! output: the full model decodes `t`, the light network stylises the pixels of `c` with those
//! of `s` through its own encoder, AdaIN and decoder;
//! content loss `‖f(g) − t‖²` at relu4_1 (mean squared error);
//! style loss `Σ_i ‖μ(φ_i(g)) − μ(φ_i(s))‖² + ‖σ(φ_i(g)) − σ(φ_i(s))‖²` over relu1_1..relu4_1.
//! Optional terms: the identity loss (the pixel MSE between `c` and its stylisation with `c`
//! itself as the style, which AdaIN turns into the network's plain reconstruction of `c`) and a
//! shallow content loss (MSE at relu2_1 and relu3_1 against AdaIN of `c`'s features there with
//! the style's statistics there), a total-variation term on the output, and a temporal term
//! ([`Motion`]): the stylisation of a slightly moved, zoomed and noised copy of the photo should
//! be the stylisation of the photo moved and zoomed alike (an image-only regulariser in the
//! spirit of Wang et al. 2020's compound regularisation; no video data).
//! All statistics and losses are computed in fp32, also under mixed precision (see [`Compute`]).

use std::collections::HashMap;

use adainstyle::arch::{LiteArch, Upsample};
use adainstyle::network::Shape;
use adainstyle::{
    Decoder, Encoder, Features, Lite, Model, Stats, adain, mean_std, to_channels_last,
};
use anyhow::{Context, Result, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Reduction, Tensor, nn};

/// The terms of the training objective, declared once: `T` is what each term has (its weight,
/// its value in a row of `losses.csv`, its tensor in a batch). Their order is [`TERM_NAMES`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Terms<T> {
    /// Content loss at relu4_1.
    pub content: T,
    /// Style loss summed over the four taps (its weight is λ).
    pub style: T,
    /// Identity loss: the pixel MSE of the network's plain reconstruction of the photo.
    pub identity: T,
    /// Shallow content loss at relu2_1 and relu3_1.
    pub shallow: T,
    /// Total variation of the output.
    pub tv: T,
    /// Temporal term ([`Motion`]).
    pub temporal: T,
    /// Lattice term: the power of the output's 8-pixel-periodic fine structure over its whole
    /// fine structure's ([`lattice_term`]).
    pub lattice: T,
}

/// The terms' names in the order of [`Terms::into_array`]: the columns of `losses.csv`.
pub const TERM_NAMES: [&str; 7] = [
    "content", "style", "identity", "shallow", "tv", "temporal", "lattice",
];

impl<T> Terms<T> {
    /// The terms in the order of [`TERM_NAMES`].
    pub fn into_array(self) -> [T; 7] {
        [
            self.content,
            self.style,
            self.identity,
            self.shallow,
            self.tv,
            self.temporal,
            self.lattice,
        ]
    }

    /// The terms from an array in the order of [`TERM_NAMES`].
    pub fn from_array([content, style, identity, shallow, tv, temporal, lattice]: [T; 7]) -> Self {
        Self {
            content,
            style,
            identity,
            shallow,
            tv,
            temporal,
            lattice,
        }
    }

    /// The terms by reference.
    pub fn as_ref(&self) -> Terms<&T> {
        Terms {
            content: &self.content,
            style: &self.style,
            identity: &self.identity,
            shallow: &self.shallow,
            tv: &self.tv,
            temporal: &self.temporal,
            lattice: &self.lattice,
        }
    }
}

/// How much each term counts (0 = not computed).
pub type Weights = Terms<f64>;

impl Weights {
    /// Whether any term looks at the stylised output (all but the identity loss do). When none
    /// does, a step only decodes the photos' own features (the identity loss): no stylised
    /// output, no pass of the loss network over it, about 2.5 times cheaper than a full step (a
    /// reconstruction warm-up).
    pub fn stylises(&self) -> bool {
        Terms {
            identity: 0.0,
            ..*self
        }
        .into_array()
        .iter()
        .any(|w| *w > 0.0)
    }
}

/// The loss terms of one batch (scalar fp32 tensors, still attached to the graph; `None` for a
/// term not computed) and the network's output for it.
#[derive(Debug)]
pub struct Losses {
    /// The terms.
    pub terms: Terms<Option<Tensor>>,
    /// The network's output for the batch.
    pub output: Tensor,
}

impl Losses {
    /// The weighted sum of every term computed.
    pub fn total(&self, w: &Weights) -> Result<Tensor> {
        let mut total: Option<Tensor> = None;
        for (term, weight) in self
            .terms
            .as_ref()
            .into_array()
            .into_iter()
            .zip(w.into_array())
        {
            if let Some(term) = term {
                let weighted = term.f_mul_scalar(weight)?;
                total = Some(match total {
                    Some(t) => t.f_add(&weighted)?,
                    None => weighted,
                });
            }
        }
        total.context("no loss term was computed")
    }
}

fn float(t: &Tensor) -> Result<Tensor> {
    Ok(t.f_to_kind(Kind::Float)?)
}

/// How the networks run in a training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    /// Everything in fp32.
    Fp32,
    /// Convolutions and activations in bf16 (inputs and frozen encoder weights cast, trained
    /// weights cast from their fp32 masters in every forward); statistics and losses in fp32.
    Bf16,
    /// libtorch's fp16 autocast (CUDA only), with the trainer's dynamic loss scaling.
    Fp16Autocast,
}

impl Compute {
    /// The step for a resolved precision (`Fp16` means autocast; `Auto` is treated as fp32).
    pub fn for_precision(p: adainstyle::Precision) -> Self {
        match p {
            adainstyle::Precision::Bf16 => Self::Bf16,
            adainstyle::Precision::Fp16 => Self::Fp16Autocast,
            _ => Self::Fp32,
        }
    }

    /// The kind the frozen encoder's weights are kept in, and the networks' activations run in.
    pub fn encoder_kind(self) -> Kind {
        match self {
            Self::Bf16 => Kind::BFloat16,
            _ => Kind::Float,
        }
    }

    /// Whether gradients can overflow and need loss scaling.
    pub fn needs_loss_scaling(self) -> bool {
        self == Self::Fp16Autocast
    }
}

/// The network a run trains, declared on its variable store.
#[derive(Debug)]
pub enum Trainee {
    /// The full model's decoder (pytorch-AdaIN keys); the VGG-19 encoder is frozen.
    Full(Decoder, Upsample),
    /// The whole light network.
    Lite(Lite),
}

impl Trainee {
    /// The layers it has (what its weights files' header names).
    pub fn shape(&self) -> Shape {
        match self {
            Self::Full(..) => Shape::Full,
            Self::Lite(lite) => Shape::Lite(lite.arch()),
        }
    }
}

impl Trainee {
    /// Declares the variables of `model` (full or lite) under `vs`; `upsample` is the full
    /// decoder's, `lite` which light network.
    pub fn new(model: Model, upsample: Upsample, lite: LiteArch, vs: &nn::Path) -> Result<Self> {
        Ok(match model {
            Model::Full => Self::Full(Decoder::with_upsample(vs, upsample), upsample),
            Model::Lite => Self::Lite(Lite::new(vs, lite)),
            Model::Auto => bail!("a run trains the full or the lite model, not auto"),
        })
    }

    /// Which network this is.
    pub fn model(&self) -> Model {
        self.shape().model()
    }

    /// The header entries its weights files carry (architecture, upsampling).
    pub fn metadata(&self) -> HashMap<String, String> {
        let mut m = self.shape().metadata();
        if let Self::Full(_, upsample) = self {
            m.extend(upsample.metadata());
        }
        m
    }
}

/// What the loss needs of a batch's inputs, from the frozen VGG-19, all fp32 and without
/// gradients.
#[derive(Debug)]
pub struct Targets {
    /// relu4_1 of the content crops, (N, 512, h, w).
    pub content: Tensor,
    /// relu2_1 and relu3_1 of the content crops, for the shallow content loss (empty when the
    /// targets come from the cache).
    pub content_shallow: Vec<Tensor>,
    /// Channel statistics of the style images at relu1_1..relu4_1, each (N, C, 1, 1).
    pub style: Vec<Stats>,
}

/// Runs `f` without gradients, under fp16 autocast when `compute` asks for it.
fn frozen<T>(compute: Compute, f: impl FnOnce() -> Result<T>) -> Result<T> {
    tch::autocast(compute == Compute::Fp16Autocast, || tch::no_grad(f))
}

/// A batch of (N, 3, H, W) images in [0, 1] as a network's input: its precision, channels-last.
fn net_input(t: &Tensor, compute: Compute) -> Result<Tensor> {
    Ok(to_channels_last(&t.f_to_kind(compute.encoder_kind())?)?)
}

/// relu4_1 of content images (N, 3, H, W) in [0, 1], fp32, without gradients.
pub fn content_features(encoder: &Encoder, content: &Tensor, compute: Compute) -> Result<Tensor> {
    frozen(compute, || {
        float(&encoder.relu4_1(&net_input(content, compute)?)?)
    })
}

/// The channel statistics the style loss compares: [`mean_std`] of each tap of `features`,
/// relu1_1..relu4_1, in fp32. The one definition for training (targets, outputs, the cache) and
/// for the held-out figures of [`crate::eval`].
pub fn tap_stats(features: &Features) -> Result<Vec<Stats>> {
    features
        .taps()
        .iter()
        .map(|tap| Ok(mean_std(&float(tap)?)?))
        .collect()
}

/// The style loss between two sets of [`tap_stats`]: the sum over the taps of the MSE of the
/// channel means plus the MSE of the channel standard deviations, an fp32 scalar (averaged over
/// the batch too when the statistics hold several images). What training minimises and what
/// the held-out style ratio divides.
pub fn style_distance(a: &[Stats], b: &[Stats]) -> Result<Tensor> {
    if a.len() != b.len() || a.is_empty() {
        bail!(
            "style loss between {} and {} taps of statistics",
            a.len(),
            b.len()
        );
    }
    let mut sum = Tensor::f_zeros([], (Kind::Float, a[0].mean.device()))?;
    for (x, y) in a.iter().zip(b) {
        sum = sum
            .f_add(&x.mean.f_mse_loss(&y.mean, Reduction::Mean)?)?
            .f_add(&x.std.f_mse_loss(&y.std, Reduction::Mean)?)?;
    }
    Ok(sum)
}

/// Channel statistics at relu1_1..relu4_1 of style images (N, 3, H, W) in [0, 1], fp32,
/// without gradients.
pub fn style_stats(encoder: &Encoder, style: &Tensor, compute: Compute) -> Result<Vec<Stats>> {
    frozen(compute, || {
        tap_stats(&encoder.features(&net_input(style, compute)?)?)
    })
}

/// The loss network's view of a batch of (N, 3, H, W) images in [0, 1].
pub fn targets(
    encoder: &Encoder,
    content: &Tensor,
    style: &Tensor,
    compute: Compute,
) -> Result<Targets> {
    let (content, content_shallow) = frozen(compute, || {
        let f = encoder.features(&net_input(content, compute)?)?;
        Ok((
            float(&f.relu4_1)?,
            vec![float(&f.relu2_1)?, float(&f.relu3_1)?],
        ))
    })?;
    Ok(Targets {
        content,
        content_shallow,
        style: style_stats(encoder, style, compute)?,
    })
}

/// The pixels of a batch, which the light network and the identity loss need.
#[derive(Debug, Clone, Copy)]
pub struct Pixels<'a> {
    /// Content crops (N, 3, H, W) in [0, 1], fp32.
    pub content: &'a Tensor,
    /// Style crops (N, 3, H, W) in [0, 1], fp32.
    pub style: &'a Tensor,
}

/// The network's stylisation of the photos `content` (N, 3, H, W) in [0, 1] with the batch's
/// style. The full model decodes AdaIN of relu4_1 (`features`, or the frozen VGG-19's own of
/// `content` when `None`) with the style's statistics; the light network runs its own encoder
/// on `content` and normalises each level with `style_levels`.
fn stylise(
    encoder: &Encoder,
    trainee: &Trainee,
    targets: &Targets,
    content: Option<&Tensor>,
    features: Option<&Tensor>,
    style_levels: &[Stats],
    compute: Compute,
) -> Result<Tensor> {
    let to_net = |t: &Tensor| -> Result<Tensor> {
        Ok(to_channels_last(&t.f_to_kind(compute.encoder_kind())?)?)
    };
    match (trainee, content, features) {
        (Trainee::Full(decoder, _), _, Some(features)) => {
            let target = tch::no_grad(|| adain(features, &targets.style[3]))?;
            Ok(decoder.forward(&to_net(&target)?)?)
        }
        (Trainee::Full(decoder, _), Some(content), None) => {
            let features = content_features(encoder, content, compute)?;
            let target = tch::no_grad(|| adain(&features, &targets.style[3]))?;
            Ok(decoder.forward(&to_net(&target)?)?)
        }
        (Trainee::Lite(lite), Some(content), _) => {
            let input = net_input(content, compute)?;
            let levels = lite.levels(&input)?;
            let normalised = levels
                .iter()
                .zip(style_levels)
                .map(|(c, s)| to_net(&adain(&float(c)?, s)?))
                .collect::<Result<Vec<_>>>()?;
            Ok(lite.decode(&normalised, &input)?)
        }
        _ => bail!("the light network trains on pixels, not on cached features"),
    }
}

/// The statistics each AdaIN level of the light network takes from the batch's style images
/// (none for the full model, whose style statistics are the loss network's).
fn style_levels(trainee: &Trainee, pixels: Option<Pixels>, compute: Compute) -> Result<Vec<Stats>> {
    match trainee {
        Trainee::Full(..) => Ok(Vec::new()),
        Trainee::Lite(lite) => {
            let Some(px) = pixels else {
                bail!("the light network trains on pixels, not on cached features");
            };
            lite.levels(&net_input(px.style, compute)?)?
                .iter()
                .map(|s| Ok(mean_std(&float(s)?)?))
                .collect()
        }
    }
}

/// The network's plain reconstruction of the content (its stylisation with the content itself
/// as the style, which AdaIN reduces to decoding the content's own features).
fn reconstruct(
    trainee: &Trainee,
    targets: &Targets,
    pixels: Option<Pixels>,
    compute: Compute,
) -> Result<Tensor> {
    let to_net = |t: &Tensor| -> Result<Tensor> {
        Ok(to_channels_last(&t.f_to_kind(compute.encoder_kind())?)?)
    };
    match trainee {
        Trainee::Full(decoder, _) => Ok(decoder.forward(&to_net(&targets.content)?)?),
        Trainee::Lite(lite) => {
            let Some(px) = pixels else {
                bail!("the light network trains on pixels, not on cached features");
            };
            let input = net_input(px.content, compute)?;
            Ok(lite.decode(&lite.levels(&input)?, &input)?)
        }
    }
}

/// The small random motion of one training step for the temporal term: the same shift (pixels)
/// and zoom for the whole batch, and the seed of the noise added to the moved photos.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    /// Horizontal shift in pixels.
    pub dx: f64,
    /// Vertical shift in pixels.
    pub dy: f64,
    /// Zoom factor (1 = none).
    pub zoom: f64,
    /// Seed of the Gaussian noise.
    pub noise_seed: u64,
}

impl Motion {
    /// Largest shift, in pixels, in either direction.
    pub const MAX_SHIFT: f64 = 2.0;
    /// Largest zoom away from 1 (a fraction).
    pub const MAX_ZOOM: f64 = 0.02;
    /// Standard deviation of the noise added to the moved photos (in [0, 1] units: about 2.5 of
    /// 255 levels, a camera's sensor noise).
    pub const NOISE: f64 = 0.01;
    /// Pixels cut from each border before comparing (where a move brings in the border's
    /// replicated pixels).
    pub const MARGIN: i64 = 4;

    /// The motion of iteration `iteration` of a run seeded `seed` (its own random stream, apart
    /// from the batch's).
    pub fn draw(seed: u64, iteration: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d6f_7469_6f6e_0000);
        rng.set_stream(iteration);
        Self {
            dx: rng.gen_range(-Self::MAX_SHIFT..=Self::MAX_SHIFT),
            dy: rng.gen_range(-Self::MAX_SHIFT..=Self::MAX_SHIFT),
            zoom: 1.0 + rng.gen_range(-Self::MAX_ZOOM..=Self::MAX_ZOOM),
            noise_seed: rng.r#gen(),
        }
    }

    /// `x` (N, C, H, W, fp32) moved and zoomed about its centre by this motion (bilinear, the
    /// border replicated).
    pub fn warp(&self, x: &Tensor) -> Result<Tensor> {
        let size = x.size();
        let (n, h, w) = (size[0], size[2], size[3]);
        // Output pixel p samples the input at (p - centre) / zoom + centre - shift, in the
        // normalised coordinates of align_corners = false.
        let inv = 1.0 / self.zoom;
        let theta = Tensor::f_from_slice(&[
            inv as f32,
            0.0,
            (-2.0 * self.dx / w as f64) as f32,
            0.0,
            inv as f32,
            (-2.0 * self.dy / h as f64) as f32,
        ])?
        .f_view([1, 2, 3])?
        .f_expand([n, 2, 3], false)?
        .f_to_device(x.device())?;
        let grid = Tensor::f_affine_grid_generator(&theta, [n, size[1], h, w], false)?;
        // Interpolation 0 = bilinear, padding 1 = border.
        Ok(x.f_grid_sampler(&grid, 0, 1, false)?)
    }

    /// The moved copy of the photos `content` (N, 3, H, W in [0, 1], fp32) with its noise,
    /// clamped to [0, 1].
    pub fn moved_input(&self, content: &Tensor) -> Result<Tensor> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.noise_seed);
        let n = content.numel();
        let noise: Vec<f32> = (0..n.div_ceil(2))
            .flat_map(|_| {
                // Box-Muller: two standard normal values from two uniform ones.
                let (u, v): (f64, f64) = (rng.gen_range(f64::EPSILON..1.0), rng.r#gen());
                let r = (-2.0 * u.ln()).sqrt() * Self::NOISE;
                let a = std::f64::consts::TAU * v;
                [(r * a.cos()) as f32, (r * a.sin()) as f32]
            })
            .take(n)
            .collect();
        let noise = Tensor::f_from_slice(&noise)?
            .f_view(content.size().as_slice())?
            .f_to_device(content.device())?;
        Ok(self.warp(content)?.f_add(&noise)?.f_clamp(0.0, 1.0)?)
    }

    /// The temporal term: the mean squared difference between the stylisation of the moved
    /// input (`moved_output`) and the stylisation of the photo moved alike (`output`), away from
    /// the borders; both fp32.
    pub fn term(&self, output: &Tensor, moved_output: &Tensor) -> Result<Tensor> {
        let inner = |t: &Tensor| -> Result<Tensor> {
            let size = t.size();
            let m = Self::MARGIN;
            Ok(t.f_narrow(2, m, size[2] - 2 * m)?
                .f_narrow(3, m, size[3] - 2 * m)?)
        };
        Ok(inner(moved_output)?.f_mse_loss(&inner(&self.warp(output)?)?, Reduction::Mean)?)
    }
}

/// Computes every loss term of a batch from its `targets` (and `pixels`, which the light
/// network, the identity and the temporal terms need; and `motion`, which the temporal term
/// needs). The VGG-19 is frozen; gradients flow into the trained network only. The
/// convolutions run as `compute` says, in channels-last; the AdaIN targets, the statistics and
/// the losses in fp32. Terms whose weight is 0 are not computed; when only the identity loss
/// counts ([`Weights::stylises`] is false), the content and style losses are not computed (the
/// log reads 0 for them) and `output` is the reconstruction.
pub fn compute_from(
    encoder: &Encoder,
    trainee: &Trainee,
    targets: &Targets,
    pixels: Option<Pixels>,
    motion: Option<Motion>,
    compute: Compute,
    weights: &Weights,
) -> Result<Losses> {
    tch::autocast(compute == Compute::Fp16Autocast, || {
        let want_identity = weights.identity > 0.0;
        if !weights.stylises() && !want_identity {
            bail!("every loss weight is 0: nothing to train");
        }
        let reconstruction = if want_identity {
            Some(reconstruct(trainee, targets, pixels, compute)?)
        } else {
            None
        };
        let identity = match (&reconstruction, pixels) {
            (Some(r), Some(px)) => Some(float(r)?.f_mse_loss(px.content, Reduction::Mean)?),
            (Some(_), None) => bail!("the identity loss needs the batch's pixels"),
            _ => None,
        };
        if !weights.stylises() {
            return Ok(Losses {
                terms: Terms {
                    identity,
                    ..Terms::default()
                },
                output: float(
                    reconstruction
                        .as_ref()
                        .context("no stylised output and no reconstruction")?,
                )?,
            });
        }
        let style_levels = style_levels(trainee, pixels, compute)?;
        let content_pixels = pixels.map(|px| px.content);
        let stylise_pixels = |content: Option<&Tensor>, features: Option<&Tensor>| {
            stylise(
                encoder,
                trainee,
                targets,
                content,
                features,
                &style_levels,
                compute,
            )
        };
        let output = stylise_pixels(content_pixels, Some(&targets.content))?;
        let target = tch::no_grad(|| adain(&targets.content, &targets.style[3]))?;
        let out_feat = encoder.features(&output)?;
        let content_loss = float(&out_feat.relu4_1)?.f_mse_loss(&target, Reduction::Mean)?;
        let style_loss = style_distance(&tap_stats(&out_feat)?, &targets.style)?;
        let shallow = if weights.shallow > 0.0 {
            Some(shallow_content(&out_feat, targets)?)
        } else {
            None
        };
        let output = float(&output)?;
        let tv = if weights.tv > 0.0 {
            Some(total_variation(&output)?)
        } else {
            None
        };
        let temporal = if weights.temporal > 0.0 {
            let (Some(content), Some(motion)) = (content_pixels, motion) else {
                bail!("the temporal term needs the batch's pixels and a motion");
            };
            let moved = motion.moved_input(content)?;
            let moved_output = float(&stylise_pixels(Some(&moved), None)?)?;
            Some(motion.term(&output, &moved_output)?)
        } else {
            None
        };
        let lattice = if weights.lattice > 0.0 {
            Some(lattice_term(&output)?)
        } else {
            None
        };
        Ok(Losses {
            terms: Terms {
                content: Some(content_loss),
                style: Some(style_loss),
                identity,
                shallow,
                tv,
                temporal,
                lattice,
            },
            output,
        })
    })
}

/// The shallow content loss: MSE at relu2_1 and relu3_1 of the output against AdaIN of the
/// content's features there with the style's statistics there.
fn shallow_content(out_feat: &Features, targets: &Targets) -> Result<Tensor> {
    if targets.content_shallow.len() != 2 {
        bail!("the shallow content loss needs relu2_1 and relu3_1 of the content");
    }
    let mut sum = Tensor::f_zeros([], (Kind::Float, targets.content.device()))?;
    let outs = [&out_feat.relu2_1, &out_feat.relu3_1];
    for ((out, content), style) in outs
        .iter()
        .zip(&targets.content_shallow)
        .zip(&targets.style[1..3])
    {
        let goal = tch::no_grad(|| adain(content, style))?;
        sum = sum.f_add(&float(out)?.f_mse_loss(&goal, Reduction::Mean)?)?;
    }
    Ok(sum)
}

/// Floor of the fine structure's mean square in [`lattice_term`]'s denominator (a flat map's
/// lattice counts against about a level of 8-bit noise, not against nothing).
const LATTICE_FLOOR: f64 = 1e-5;

/// The lattice term of (N, 3, H, W) images: for each image and channel,
/// [`detail::lattice_power`] over the mean square of its fine structure (a constant, no
/// gradient, at least [`LATTICE_FLOOR`]); the mean over the batch and channels. About 1 for
/// an image without a period (the sampling noise of the mean tile), the height of the lattice
/// peaks above their neighbourhood for one with a tile, like the `grid` figure; its gradient
/// removes the 8-pixel-periodic part of the output's fine structure and nothing else.
pub fn lattice_term(images: &Tensor) -> Result<Tensor> {
    let images = float(images)?;
    let power = crate::detail::lattice_power(&images)?;
    let level = tch::no_grad(|| -> Result<Tensor> {
        Ok(crate::detail::fine_structure(&images)?
            .f_square()?
            .f_mean_dim([2i64, 3].as_slice(), false, None)?
            .f_clamp_min(LATTICE_FLOOR)?)
    })?;
    Ok(power.f_div(&level)?.f_mean(Kind::Float)?)
}

/// Mean absolute difference between horizontally and between vertically neighbouring pixels.
fn total_variation(image: &Tensor) -> Result<Tensor> {
    let size = image.size();
    let (h, w) = (size[2], size[3]);
    let dx = image
        .f_narrow(3, 1, w - 1)?
        .f_sub(&image.f_narrow(3, 0, w - 1)?)?
        .f_abs()?
        .f_mean(Kind::Float)?;
    let dy = image
        .f_narrow(2, 1, h - 1)?
        .f_sub(&image.f_narrow(2, 0, h - 1)?)?
        .f_abs()?
        .f_mean(Kind::Float)?;
    Ok(dx.f_add(&dy)?)
}

/// [`targets`] then [`compute_from`] for a batch of (N, 3, H, W) images in [0, 1].
pub fn compute(
    encoder: &Encoder,
    trainee: &Trainee,
    content: &Tensor,
    style: &Tensor,
    compute: Compute,
    weights: &Weights,
) -> Result<Losses> {
    compute_from(
        encoder,
        trainee,
        &targets(encoder, content, style, compute)?,
        Some(Pixels { content, style }),
        Some(Motion::draw(0, 0)),
        compute,
        weights,
    )
}
