// SPDX-License-Identifier: MIT
//! The person segmenter behind `mask=person`: MediaPipe's selfie-segmentation networks (a
//! MobileNetV3-style encoder and a light decoder with attention-gated skips), rebuilt from
//! their layer table ([`arch::SEGMENTER_BLOCKS`], [`arch::SEGMENTER_FUSES`]) and loaded from the
//! weights `tools/make_segmenter.py` converts from the pinned MediaPipe wheel: one network for
//! wide frames and one for the others ([`arch::SEGMENTER_LANDSCAPE`], [`arch::SEGMENTER_SQUARE`]).
//! They run at their own small size on the device and in the precision of the stylising
//! network; [`Segmenter::person`] gives the person's probability at any size.

use std::path::Path;

use tch::{Kind, Tensor, nn};

use crate::arch::{self, Activation, Fuse, InvertedResidual};
use crate::error::{Error, Result};
use crate::frame::resize;
use crate::network::Pretrained;

mod host;

/// The architecture tag in the segmenter's weights header.
pub const ARCH_TAG: &str = "selfie-segmenter";

/// The largest |logit| the segmenter's output keeps: probabilities stay within about 1e-7 of
/// 0 and 1, clear of the subnormal floats that slow the CPU down (see [`SegmenterNet::forward`]).
const LOGIT_LIMIT: f64 = 16.0;

/// A convolution padded as TensorFlow's `SAME` (zeros; for a stride of 2 the odd pixel of
/// padding goes at the bottom and right), optionally depthwise.
#[derive(Debug)]
struct SameConv {
    conv: nn::Conv2D,
    kernel: i64,
    stride: i64,
    groups: i64,
}

impl SameConv {
    /// Declares the convolution under `vs / index` and moves `index` on.
    fn new(vs: &nn::Path, index: &mut usize, c_in: i64, c_out: i64, kernel: i64) -> Self {
        Self::strided(vs, index, c_in, c_out, kernel, 1, 1)
    }

    fn depthwise(vs: &nn::Path, index: &mut usize, c: i64, kernel: i64, stride: i64) -> Self {
        Self::strided(vs, index, c, c, kernel, stride, c)
    }

    fn strided(
        vs: &nn::Path,
        index: &mut usize,
        c_in: i64,
        c_out: i64,
        kernel: i64,
        stride: i64,
        groups: i64,
    ) -> Self {
        let config = nn::ConvConfig {
            groups,
            ..Default::default()
        };
        let conv = nn::conv2d(vs / *index, c_in, c_out, kernel, config);
        *index += 1;
        Self {
            conv,
            kernel,
            stride,
            groups,
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.kernel == 1 && self.stride == 1 && self.groups == 1 {
            return pointwise(x, &self.conv.ws, self.conv.bs.as_ref());
        }
        if self.stride == 1 && self.kernel % 2 == 1 {
            // SAME padding is symmetric here: the convolution pads, with no copy of the input.
            let pad = self.kernel / 2;
            return Ok(x.f_conv2d(
                &self.conv.ws,
                self.conv.bs.as_ref(),
                [1, 1],
                [pad, pad],
                [1, 1],
                self.groups,
            )?);
        }
        let size = x.size();
        let pad = |n: i64| {
            let out = (n + self.stride - 1) / self.stride;
            let total = ((out - 1) * self.stride + self.kernel - n).max(0);
            (total / 2, total - total / 2)
        };
        let (top, bottom) = pad(size[2]);
        let (left, right) = pad(size[3]);
        let padded;
        let input = if top + bottom + left + right > 0 {
            padded = x.f_constant_pad_nd([left, right, top, bottom])?;
            &padded
        } else {
            x
        };
        Ok(input.f_conv2d(
            &self.conv.ws,
            self.conv.bs.as_ref(),
            [self.stride, self.stride],
            [0, 0],
            [1, 1],
            self.groups,
        )?)
    }
}

/// A 1×1 convolution of `x` (N, C, H, W) as one matrix product over its pixels (C_out, C, 1, 1
/// weights): the segmenter's tensors are small, and libtorch's convolution costs about twice as
/// much there (its set-up, not its arithmetic). Channels-last inputs (the segmenter's) are
/// (N·H·W, C) matrices already, and the result is channels-last too.
fn pointwise(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let size = x.size();
    let (n, c, h, w) = (size[0], size[1], size[2], size[3]);
    let c_out = weight.size()[0];
    let pixels = x.f_permute([0, 2, 3, 1])?.f_reshape([n * h * w, c])?;
    let matrix = weight.f_reshape([c_out, c])?.f_tr()?;
    let out = match bias {
        Some(b) => b.f_addmm(&pixels, &matrix)?,
        None => pixels.f_mm(&matrix)?,
    };
    Ok(out.f_view([n, h, w, c_out])?.f_permute([0, 3, 1, 2])?)
}

/// Applies `act` to `x` in place (the segmenter's intermediate maps are its own: working in
/// place saves an allocation and a pass over memory per activation).
fn activate(mut x: Tensor, act: Activation) -> Result<Tensor> {
    Ok(match act {
        Activation::Relu => x.f_relu_()?,
        Activation::HardSwish => x.f_hardswish_()?,
    })
}

/// The spatial mean of `x` (N, C, H, W) as (N, C, 1, 1).
fn spatial_mean(x: &Tensor) -> Result<Tensor> {
    Ok(x.f_mean_dim([2i64, 3].as_slice(), true, None::<Kind>)?)
}

/// A gate from the picture's mean: sigmoid(conv(relu(conv(mean)))), (N, C, 1, 1).
#[derive(Debug)]
struct Gate {
    reduce: SameConv,
    expand: SameConv,
}

impl Gate {
    fn new(vs: &nn::Path, index: &mut usize, c: i64, squeeze: i64) -> Self {
        Self {
            reduce: SameConv::new(vs, index, c, squeeze, 1),
            expand: SameConv::new(vs, index, squeeze, c, 1),
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.of_mean(&spatial_mean(x)?)
    }

    /// The gate of a picture whose spatial mean is `mean` (N, C, 1, 1).
    fn of_mean(&self, mean: &Tensor) -> Result<Tensor> {
        let squeezed = self.reduce.forward(mean)?.f_relu_()?;
        Ok(self.expand.forward(&squeezed)?.f_sigmoid_()?)
    }
}

/// One inverted residual block of the encoder.
#[derive(Debug)]
struct Block {
    spec: InvertedResidual,
    expand: SameConv,
    depthwise: SameConv,
    excite: Option<Gate>,
    project: SameConv,
}

impl Block {
    fn new(vs: &nn::Path, index: &mut usize, spec: InvertedResidual) -> Self {
        let expand = SameConv::new(vs, index, spec.c_in, spec.expand, 1);
        let depthwise = SameConv::depthwise(vs, index, spec.expand, spec.kernel, spec.stride);
        let excite = spec.squeeze.map(|s| Gate::new(vs, index, spec.expand, s));
        let project = SameConv::new(vs, index, spec.expand, spec.c_out, 1);
        Self {
            spec,
            expand,
            depthwise,
            excite,
            project,
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = activate(self.expand.forward(x)?, self.spec.act)?;
        let mut y = activate(self.depthwise.forward(&y)?, self.spec.act)?;
        if let Some(gate) = &self.excite {
            y = y.f_mul_(&gate.forward(&y)?)?;
        }
        let mut y = self.project.forward(&y)?;
        if self.spec.stride == 1 && self.spec.c_in == self.spec.c_out {
            y = y.f_add_(x)?;
        }
        Ok(y)
    }
}

/// One decoder step ([`Fuse`]).
#[derive(Debug)]
struct FuseStep {
    skip: usize,
    up: SameConv,
    attention: Gate,
    mix: SameConv,
    refine: SameConv,
}

impl FuseStep {
    fn new(vs: &nn::Path, index: &mut usize, spec: Fuse) -> Self {
        Self {
            skip: spec.skip,
            up: SameConv::new(vs, index, spec.c_in, spec.c_skip, 1),
            attention: Gate::new(vs, index, spec.c_skip, spec.c_skip),
            mix: SameConv::new(vs, index, spec.c_skip, spec.c_skip, 1),
            refine: SameConv::depthwise(vs, index, spec.c_skip, 3, 1),
        }
    }

    fn forward(&self, x: &Tensor, skips: &[Tensor]) -> Result<Tensor> {
        let skip = skips
            .get(self.skip)
            .ok_or_else(|| Error::Torch(format!("the segmenter has no skip {}", self.skip)))?;
        let size = skip.size();
        // The 1×1 projection, then the upsampling (bilinear weights sum to 1, so the two
        // commute): the upsampling moves the skip's channels, fewer than the input's.
        let mut up =
            self.up
                .forward(x)?
                .f_upsample_bilinear2d([size[2], size[3]], false, None, None)?;
        // The gate of skip + up from the two means (the sum itself is never needed).
        let mean = spatial_mean(skip)?.f_add(&spatial_mean(&up)?)?;
        let gate = self.attention.of_mean(&mean)?;
        // mixed = skip · gate + up, then mixed + relu(refine(mixed)), each in place.
        let mixed = self.mix.forward(&up.f_addcmul_(skip, &gate)?)?.f_relu_()?;
        Ok(self.refine.forward(&mixed)?.f_relu_()?.f_add_(&mixed)?)
    }
}

/// One of MediaPipe's selfie segmenters, weights under `<k>.weight` / `<k>.bias` for its
/// convolutions in the graph's order.
#[derive(Debug)]
pub struct SegmenterNet {
    stem: SameConv,
    blocks: Vec<Block>,
    features: SameConv,
    feature_gate: SameConv,
    fuses: Vec<FuseStep>,
    out: nn::ConvTranspose2D,
    /// The same network for the host kernels ([`host`]), where it runs on the CPU in fp32.
    host: Option<host::HostNet>,
}

impl SegmenterNet {
    /// Declares the segmenter's variables under `vs`.
    pub fn new(vs: &nn::Path) -> Self {
        let mut k = 0;
        let stem = SameConv::strided(vs, &mut k, 3, arch::SEGMENTER_STEM, 3, 2, 1);
        let blocks = arch::SEGMENTER_BLOCKS
            .iter()
            .map(|&spec| Block::new(vs, &mut k, spec))
            .collect::<Vec<_>>();
        let deepest = arch::SEGMENTER_BLOCKS[arch::SEGMENTER_BLOCKS.len() - 1].c_out;
        let features = SameConv::new(vs, &mut k, deepest, arch::SEGMENTER_HEAD, 1);
        let feature_gate = SameConv::new(vs, &mut k, deepest, arch::SEGMENTER_HEAD, 1);
        let fuses = arch::SEGMENTER_FUSES
            .iter()
            .map(|&spec| FuseStep::new(vs, &mut k, spec))
            .collect::<Vec<_>>();
        let last = arch::SEGMENTER_FUSES[arch::SEGMENTER_FUSES.len() - 1].c_skip;
        let config = nn::ConvTransposeConfig {
            stride: 2,
            ..Default::default()
        };
        let out = nn::conv_transpose2d(vs / k, last, 1, 2, config);
        Self {
            stem,
            blocks,
            features,
            feature_gate,
            fuses,
            out,
            host: None,
        }
    }

    /// Whether [`Segmenter::person`] runs this network by the host kernels ([`host`]): on the
    /// CPU in fp32.
    pub fn on_host(&self) -> bool {
        self.host.is_some()
    }

    /// The person's probability (N, 1, H, W) of the network's input `rgb` (N, 3, H, W) in
    /// [0, 1] at its model's input size, in the input's kind.
    pub fn forward(&self, rgb: &Tensor) -> Result<Tensor> {
        let stem = self.stem.forward(rgb)?.f_hardswish_()?;
        let mut skips = vec![stem];
        for block in &self.blocks {
            let next = block.forward(&skips[skips.len() - 1])?;
            skips.push(next);
        }
        let deepest = skips.pop().expect("the encoder has blocks");
        let gate = self
            .feature_gate
            .forward(&spatial_mean(&deepest)?)?
            .f_sigmoid()?;
        let mut x = self.features.forward(&deepest)?.f_relu_()?.f_mul_(&gate)?;
        for fuse in &self.fuses {
            x = fuse.forward(&x, &skips)?;
        }
        // Logits clamped: where the network is sure, the sigmoid gives probabilities down in
        // the subnormal range (a few hundred of the 36,864 on the demo still and the test
        // photos, most of them on noise), which x86 computes with many times slower: resizing
        // the answer for a noise frame to 640x360 took 0.8 ms, clamped 0.19.
        Ok(self
            .upscale(&x)?
            .f_clamp_(-LOGIT_LIMIT, LOGIT_LIMIT)?
            .f_sigmoid_()?)
    }

    /// The transposed 2×2 convolution of stride 2 to one channel (the logits at full size):
    /// each pixel of `x` (N, C, H, W) writes a 2×2 block, so it is one matrix product (C → 4
    /// per pixel) and a reordering of the blocks into (N, 1, 2H, 2W).
    fn upscale(&self, x: &Tensor) -> Result<Tensor> {
        let size = x.size();
        let (n, c, h, w) = (size[0], size[1], size[2], size[3]);
        let mut blocks = pointwise(x, &self.out.ws.f_view([c, 4])?.f_tr()?, None)?;
        if let Some(b) = &self.out.bs {
            blocks = blocks.f_add_(b)?;
        }
        // (N, 4, H, W) channels-last holds (N, H, W, dy, dx).
        Ok(blocks
            .f_permute([0, 2, 3, 1])?
            .f_reshape([n, h, w, 2, 2])?
            .f_permute([0, 1, 3, 2, 4])?
            .f_reshape([n, 1, 2 * h, 2 * w])?)
    }
}

/// The values of `t` (1, 3, H, W) as the row-major (H, W, 3) slice they are in memory, if it
/// is fp32 on the CPU and channels-last without gaps (an uploaded frame); `None` otherwise.
fn channels_last_values(t: &Tensor) -> Option<&[f32]> {
    let size = t.size();
    let [1, 3, h, w] = size[..] else {
        return None;
    };
    let plain = t.kind() == Kind::Float
        && t.device() == tch::Device::Cpu
        && h > 0
        && w > 0
        && t.stride() == [h * w * 3, 1, w * 3, 3];
    if !plain {
        return None;
    }
    // SAFETY: an fp32 CPU tensor of these sizes and strides holds its h·w·3 values one after
    // another from its data pointer (the storage offset included in it). The slice borrows `t`
    // for as long as it lives. Writing into the tensor meanwhile (through another handle, from
    // another thread) would race with this read as it would with any libtorch operation reading
    // it; the library never does: it segments a frame before stylising it, on the same thread.
    Some(unsafe { std::slice::from_raw_parts(t.data_ptr() as *const f32, (h * w * 3) as usize) })
}

/// Both of MediaPipe's selfie segmenters, each under its model's key prefix.
#[derive(Debug)]
pub struct Segmenter {
    /// For wide frames ([`arch::SEGMENTER_LANDSCAPE`]).
    pub landscape: SegmenterNet,
    /// For the others ([`arch::SEGMENTER_SQUARE`]).
    pub square: SegmenterNet,
}

impl Segmenter {
    /// Declares both networks' variables under `vs`.
    pub fn new(vs: &nn::Path) -> Self {
        Self {
            landscape: SegmenterNet::new(&(vs / arch::SEGMENTER_LANDSCAPE.name)),
            square: SegmenterNet::new(&(vs / arch::SEGMENTER_SQUARE.name)),
        }
    }

    /// The network for a picture of `height` × `width`, and its model.
    pub fn for_size(&self, height: i64, width: i64) -> (&SegmenterNet, arch::SegmenterModel) {
        if width as f64 >= arch::SEGMENTER_LANDSCAPE_FROM * height as f64 {
            (&self.landscape, arch::SEGMENTER_LANDSCAPE)
        } else {
            (&self.square, arch::SEGMENTER_SQUARE)
        }
    }

    /// The person's probability (N, 1, `height`, `width`) in fp32 of `rgb` (N, 3, H, W) in
    /// [0, 1] at any size: each picture segmented as [`Segmenter::person_map`] does, the
    /// probabilities stretched to `height` × `width` (bilinear).
    pub fn person(&self, rgb: &Tensor, kind: Kind, height: i64, width: i64) -> Result<Tensor> {
        let maps = (0..rgb.size()[0])
            .map(|i| {
                let (p, (h, w)) = self.person_map(&rgb.f_narrow(0, i, 1)?, kind)?;
                let p = Tensor::f_from_slice(&p)?
                    .f_view([1, 1, h, w])?
                    .f_to_device(rgb.device())?;
                resize(&p, height, width)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::f_cat(&maps, 0)?)
    }

    /// The person's probability, row after row, of the picture `rgb` (1, 3, H, W) in [0, 1] at
    /// any size, and the size it has: that of the input of the network for the picture's shape
    /// ([`Segmenter::for_size`]), which the picture is stretched to (bilinear) and segmented at
    /// in `kind`, or in fp32 by the host kernels where the network has them
    /// ([`SegmenterNet::on_host`]).
    pub fn person_map(&self, rgb: &Tensor, kind: Kind) -> Result<(Vec<f32>, (i64, i64))> {
        let size = rgb.size();
        let (net, model) = self.for_size(size[2], size[3]);
        let (h, w) = model.input;
        if let Some(host) = &net.host {
            let (height, width) = (size[2] as usize, size[3] as usize);
            let p = match channels_last_values(rgb) {
                Some(frame) => host.forward(frame, (height, width), (h as usize, w as usize))?,
                None => {
                    let pixels = rgb.f_to_kind(Kind::Float)?.f_permute([0, 2, 3, 1])?;
                    host.forward(
                        &crate::frame::host_values(&pixels)?,
                        (height, width),
                        (h as usize, w as usize),
                    )?
                }
            };
            return Ok((p, (h, w)));
        }
        // Plain bilinear, with no antialiasing filter when it shrinks (as MediaPipe's own
        // preprocessing, a bilinear warp): at 640×360 the filtered resize took 0.7 ms, this
        // 0.1, and the masks kept people as well (BENCHMARKS.md, "The person mask").
        let input = rgb
            .f_to_kind(Kind::Float)?
            .f_upsample_bilinear2d([h, w], false, None, None)?
            .f_clamp(0.0, 1.0)?;
        let p = net.forward(&crate::layers::to_channels_last(&input.f_to_kind(kind)?)?)?;
        let p = crate::frame::host_values(&p)?;
        Ok((p, (h, w)))
    }
}

impl Pretrained<Segmenter> {
    /// Loads the segmenter's weights (a file whose header names [`ARCH_TAG`]; anything else is
    /// an error naming the file).
    pub fn segmenter(path: &Path, device: tch::Device, kind: Kind) -> Result<Self> {
        match crate::weights::read_arch(path)? {
            Some(tag) if tag == ARCH_TAG => {}
            found => {
                return Err(Error::WrongArchitecture {
                    path: path.to_owned(),
                    found: found.map_or_else(
                        || "the full model (a decoder)".to_owned(),
                        |t| format!("the {t} network"),
                    ),
                    expected: "the person segmenter".to_owned(),
                });
            }
        }
        let mut segmenter = Self::load(path, device, kind, Segmenter::new)?;
        // On the CPU in fp32 the host kernels run it (libtorch's set-up per operation costs
        // more than the segmenter's arithmetic there: `host`).
        if device == tch::Device::Cpu && kind == Kind::Float {
            for net in [&mut segmenter.net.landscape, &mut segmenter.net.square] {
                let host = host::HostNet::new(net).map_err(|e| Error::Checkpoint {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
                net.host = Some(host);
            }
        }
        Ok(segmenter)
    }
}
