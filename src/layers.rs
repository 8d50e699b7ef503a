// SPDX-License-Identifier: MIT
//! The building blocks every network is made of, and [`Stack`], which runs a layer table of
//! [`crate::arch`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::thread::LocalKey;

use tch::{Device, Kind, Tensor, nn};

use crate::arch::{Layer, Resample, Upsample};
use crate::error::{Error, Result};
use crate::polyphase::PhaseTail;

/// A 3x3 (or 1x1) convolution stored under `<idx>.weight` / `<idx>.bias` (pytorch-AdaIN's keys
/// in the full model), preceded by a 1-pixel reflection pad when it is 3x3.
#[derive(Debug)]
pub struct Conv {
    conv: nn::Conv2D,
    reflect_pad: bool,
    stride: i64,
}

impl Conv {
    /// Creates the convolution under `vs / index`.
    pub fn new(
        vs: &nn::Path,
        index: usize,
        c_in: i64,
        c_out: i64,
        kernel: i64,
        stride: i64,
    ) -> Self {
        let conv = nn::conv2d(vs / index, c_in, c_out, kernel, Default::default());
        Self {
            conv,
            reflect_pad: kernel == 3,
            stride,
        }
    }

    /// Pads (a 3x3 convolution, unless `pad` is false: its input already extended by a ring)
    /// and convolves, without an activation. The convolution runs in the input's float kind:
    /// weights stored in another kind (fp32 master weights while training in bf16) are cast on
    /// the way, which autograd differentiates like any other op.
    fn forward_padded(&self, x: &Tensor, pad: bool) -> Result<Tensor> {
        let kind = x.kind();
        let (ws, bs) = if self.conv.ws.kind() == kind {
            (
                self.conv.ws.shallow_clone(),
                self.conv.bs.as_ref().map(Tensor::shallow_clone),
            )
        } else {
            (
                self.conv.ws.f_to_kind(kind)?,
                match &self.conv.bs {
                    Some(b) => Some(b.f_to_kind(kind)?),
                    None => None,
                },
            )
        };
        let padded;
        let input = if pad && self.reflect_pad {
            padded = x.f_reflection_pad2d([1, 1, 1, 1])?;
            &padded
        } else {
            x
        };
        let s = self.stride;
        Ok(input.f_conv2d(&ws, bs.as_ref(), [s, s], [0, 0], [1, 1], 1)?)
    }
}

/// A network made from a layer table: pooling, (un)shuffling, strided and plain convolutions,
/// ReLUs, upsampling and skip joins, exactly as the table says.
#[derive(Debug)]
pub struct Stack {
    convs: Vec<(Layer, Conv)>,
    upsample: Upsample,
    /// The layers after an upsampling by 2 with fixed taps, computed at the sizes they are
    /// upsampled from ([`Stack::fuse_phase_tail`]), with the position of the upsampled layer.
    tail: Option<(usize, PhaseTail)>,
}

impl Stack {
    /// Declares the table's convolutions under `vs` (`vs / <index>`), upsampling (where the
    /// table does) by nearest neighbour.
    pub fn new(vs: &nn::Path, table: &[Layer]) -> Self {
        Self::with_upsample(vs, table, Upsample::Nearest)
    }

    /// [`Stack::new`] with another upsampling mode.
    pub fn with_upsample(vs: &nn::Path, table: &[Layer], upsample: Upsample) -> Self {
        Self {
            upsample,
            tail: None,
            convs: table
                .iter()
                .map(|l| {
                    let stride = if l.resample == Resample::Stride2 {
                        2
                    } else {
                        1
                    };
                    (
                        *l,
                        Conv::new(vs, l.index, l.c_in, l.c_out, l.kernel, stride),
                    )
                })
                .collect(),
        }
    }

    /// From now on runs the layers after the first upsampling by 2 with fixed taps that has only
    /// 3x3 convolutions and such upsamplings after it ([`PhaseTail`]) at the sizes they are
    /// upsampled from: the same picture in fewer passes over memory. For inference weights,
    /// which must not change afterwards (the tail holds kernels made from them); those layers'
    /// outputs are no longer visited.
    pub fn fuse_phase_tail(&mut self) -> Result<()> {
        self.tail = None;
        for (at, (layer, _)) in self.convs.iter().enumerate() {
            let rest: Vec<_> = self.convs[at + 1..]
                .iter()
                .map(|(l, c)| (l, &c.conv.ws, c.conv.bs.as_ref()))
                .collect();
            if let Some(tail) = PhaseTail::new(layer.resample, &rest)? {
                self.tail = Some((at, tail));
                break;
            }
        }
        Ok(())
    }

    /// The position in the table of the layer after whose upsampling [`PhaseTail`] takes over.
    #[cfg(test)]
    pub(crate) fn phase_tail_start(&self) -> Option<usize> {
        self.tail.as_ref().map(|(at, _)| *at)
    }

    /// Runs the table on `x`. Layers marked `join` concatenate the next of `skips` to their
    /// input, deepest (last) first. `visit` sees every layer's output after its ReLU and before
    /// any upsampling (the taps and levels of an encoder).
    pub fn forward(
        &self,
        x: &Tensor,
        skips: &[Tensor],
        mut visit: impl FnMut(&Layer, &Tensor),
    ) -> Result<Tensor> {
        let mut skips = skips.iter().rev();
        let mut x = x.shallow_clone();
        // Whether `x` carries a ring beyond the picture (an upsampling's own extension), which
        // the next 3x3 convolution reads instead of a reflection.
        let mut ringed = false;
        for (i, (layer, conv)) in self.convs.iter().enumerate() {
            x = match layer.resample {
                Resample::PoolBefore => x.f_max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], true)?,
                Resample::UnshuffleBefore(r) => x.f_pixel_unshuffle(r)?,
                _ => x,
            };
            if layer.join {
                let skip = skips.next().ok_or_else(|| {
                    Error::Torch(format!(
                        "layer {} joins a skip level that is missing",
                        layer.index
                    ))
                })?;
                x = Tensor::f_cat(&[&x, skip], 1)?;
            }
            x = conv.forward_padded(&x, !ringed)?;
            ringed = false;
            if layer.relu {
                x = x.f_relu()?;
            }
            visit(layer, &x);
            if let Some((at, tail)) = &self.tail
                && *at == i
            {
                return tail.forward(&x);
            }
            // An upsampling by 2 with fixed taps extends its map by a ring when a plain 3x3
            // convolution reads it next.
            let ring = self
                .convs
                .get(i + 1)
                .is_some_and(|(next, _)| next.kernel == 3 && !next.join);
            x = match layer.resample {
                Resample::UpsampleAfter => {
                    let (h, w) = (x.size()[2], x.size()[3]);
                    match self.upsample {
                        Upsample::Nearest => x.f_upsample_nearest2d([h * 2, w * 2], 2.0, 2.0)?,
                        Upsample::Bilinear => {
                            x.f_upsample_bilinear2d([h * 2, w * 2], false, 2.0, 2.0)?
                        }
                    }
                }
                Resample::ShuffleAfter(r) if i + 1 == self.convs.len() => {
                    last_pixel_shuffle(&x, r)?
                }
                Resample::ShuffleAfter(r) => x.f_pixel_shuffle(r)?,
                Resample::BilinearAfter(2) if ring => {
                    ringed = true;
                    bilinear2_ringed(&x)?
                }
                Resample::BilinearAfter(r) => bilinear(&x, r)?,
                Resample::BlurBilinear2After => {
                    ringed = ring;
                    blur_bilinear2(&x, i64::from(ring))?
                }
                _ => x,
            };
        }
        Ok(x)
    }

    /// Runs the table and returns the outputs of its `level` layers, shallow to deep.
    pub fn levels(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let mut levels = Vec::new();
        let _ = self.forward(x, &[], |layer, t| {
            if layer.level {
                levels.push(t.shallow_clone());
            }
        })?;
        Ok(levels)
    }
}

/// The pixel-shuffle by `r` of a network's last layer, written in the standard (NCHW) layout by
/// one permuted copy: libtorch's `pixel_shuffle` of a channels-last bf16 map took 0.54 ms for
/// the 3 output channels at 640x360, this 0.32 (BENCHMARKS.md, "The light decoders' ending at
/// half size"). Maps between layers stay channels-last (the next convolution's layout).
pub(crate) fn last_pixel_shuffle(x: &Tensor, r: i64) -> Result<Tensor> {
    let size = x.size();
    let (n, c, h, w) = (size[0], size[1] / (r * r), size[2], size[3]);
    Ok(x.f_permute([0, 2, 3, 1])?
        .f_reshape([n, h, w, c, r, r])?
        .f_permute([0, 3, 1, 4, 2, 5])?
        .f_contiguous()?
        .f_view([n, c, h * r, w * r])?)
}

/// Bilinear upsampling by `r` (half-pixel centres).
fn bilinear(x: &Tensor, r: i64) -> Result<Tensor> {
    let (h, w) = (x.size()[2], x.size()[3]);
    let f = r as f64;
    Ok(x.f_upsample_bilinear2d([h * r, w * r], false, f, f)?)
}

/// Bilinear upsampling by 2 (half-pixel centres) of `x` (N, C, H, W) with a ring of its own
/// extension, (N, C, 2H + 2, 2W + 2): the upsampling of `x` with its edges repeated outwards by
/// one, whose picture is exactly [`bilinear`]'s (which clamps at the edges).
fn bilinear2_ringed(x: &Tensor) -> Result<Tensor> {
    let (h, w) = (x.size()[2], x.size()[3]);
    Ok(x.f_pad([1, 1, 1, 1], "replicate", None)?
        .f_upsample_bilinear2d([2 * h + 4, 2 * w + 4], false, 2.0, 2.0)?
        .f_narrow(2, 1, 2 * h + 2)?
        .f_narrow(3, 1, 2 * w + 2)?)
}

/// The taps per axis of [`Resample::BilinearAfter`]`(2)`: output row `Y` takes
/// `taps[Y + 1 - 2y]` of input row `y`.
pub(crate) const BILINEAR2_TAPS: [f32; 4] = [0.25, 0.75, 0.75, 0.25];

/// The taps per axis of [`Resample::BlurBilinear2After`]: the 1 2 1 blur followed by bilinear
/// interpolation (1 3 3 1 / 4 on the doubled grid). Output row `Y` takes `taps[Y + 3 - 2y]` of
/// input row `y`.
pub(crate) const BLUR_BILINEAR2_TAPS: [f32; 8] = [
    1.0 / 16.0,
    3.0 / 16.0,
    5.0 / 16.0,
    7.0 / 16.0,
    7.0 / 16.0,
    5.0 / 16.0,
    3.0 / 16.0,
    1.0 / 16.0,
];

/// [`Resample::BlurBilinear2After`] of `x` (N, C, H, W): its edges repeated outwards by 2,
/// then one depthwise transposed convolution of stride 2 with [`BLUR_BILINEAR2_TAPS`], (N, C,
/// 2H + 2 `ring`, 2W + 2 `ring`): the picture and `ring` (0 or 1) pixels of the upsampling's own
/// extension around it, which the next 3x3 convolution reads instead of a reflection pad (so
/// that [`PhaseTail`] computes the same picture, borders included). Each output phase's taps
/// sum to 1, so constant maps stay constant. In two passes (blur, then `upsample_bilinear2d`)
/// the 16 channels at 640x360 took 2.8 ms, this way 1.3.
///
/// On a CPU it runs in fp32 whatever the map's kind: libtorch's depthwise transposed convolution
/// in bf16 took 20 ms for 8 channels at 1/2 of 640x360 and 39 ms for 16 on a Xeon with AMX,
/// through fp32 (both conversions counted) 2.1-2.2 ms (BENCHMARKS.md, "The light networks'
/// upsampling in bf16").
fn blur_bilinear2(x: &Tensor, ring: i64) -> Result<Tensor> {
    let kind = x.kind();
    if x.device() == Device::Cpu && kind != Kind::Float {
        return Ok(blur_bilinear2(&x.f_to_kind(Kind::Float)?, ring)?.f_to_kind(kind)?);
    }
    let size = x.size();
    let (c, h, w) = (size[1], size[2], size[3]);
    let kernel = blur_bilinear2_kernel(c, x.kind(), x.device())?;
    let up = x
        .f_pad([2, 2, 2, 2], "replicate", None)?
        .f_conv_transpose2d(&kernel, None::<Tensor>, [2, 2], [0, 0], [0, 0], c, [1, 1])?;
    // The padded map of (h + 4) rows gives 2h + 14; the picture's 2h start at row 7.
    Ok(up
        .f_narrow(2, 7 - ring, 2 * (h + ring))?
        .f_narrow(3, 7 - ring, 2 * (w + ring))?)
}

/// The depthwise kernel (C, 1, 8, 8), channels-last, of [`blur_bilinear2`]: built once per
/// channel count, kind and device on each thread (it took seven small operations a frame).
fn blur_bilinear2_kernel(c: i64, kind: Kind, device: Device) -> Result<Tensor> {
    thread_local! {
        static KERNELS: TensorCache<(i64, Kind, Device)> = TensorCache::default();
    }
    cached(&KERNELS, (c, kind, device), || {
        let taps = Tensor::f_from_slice(&BLUR_BILINEAR2_TAPS)?;
        let kernel = taps
            .f_view([8, 1])?
            .f_mul(&taps.f_view([1, 8])?)?
            .f_view([1, 1, 8, 8])?
            .f_repeat([c, 1, 1, 1])?
            .f_to_kind(kind)?
            .f_to_device(device)?;
        to_channels_last(&kernel)
    })
}

/// A cache, one per thread, of small constant tensors (kernels, window counts) that a hot path
/// would otherwise rebuild from several small operations on every frame.
pub(crate) type TensorCache<K> = RefCell<HashMap<K, Tensor>>;

/// The tensor kept in `cache` under `key` on this thread, made by `make` the first time.
pub(crate) fn cached<K: Eq + Hash>(
    cache: &'static LocalKey<TensorCache<K>>,
    key: K,
    make: impl FnOnce() -> Result<Tensor>,
) -> Result<Tensor> {
    if let Some(t) = cache.with(|c| c.borrow().get(&key).map(Tensor::shallow_clone)) {
        return Ok(t);
    }
    let t = make()?;
    cache.with(|c| c.borrow_mut().insert(key, t.shallow_clone()));
    Ok(t)
}

/// Gives every 4-d variable of `vs` channels-last strides in place (values unchanged), so that
/// convolutions on channels-last activations need no layout conversion.
pub fn weights_to_channels_last(vs: &nn::VarStore) -> Result<()> {
    for (_, mut var) in vs.variables() {
        if var.dim() == 4 {
            let cl = to_channels_last(&var)?;
            tch::no_grad(|| var.f_set_data(&cl))?;
        }
    }
    Ok(())
}

/// The same (N, C, H, W) tensor with channels-last (NHWC) strides. libtorch's convolutions pick
/// their memory format from the input; on this project's CPU (oneDNN) channels-last ran faster
/// (BENCHMARKS.md); on CUDA it is what cuDNN's tensor-core kernels prefer, not measured here yet.
/// The logical shape and every index stay the same.
pub fn to_channels_last(t: &Tensor) -> Result<Tensor> {
    Ok(t.f_permute([0, 2, 3, 1])?
        .f_contiguous()?
        .f_permute([0, 3, 1, 2])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blurred_upsampling_removes_the_nyquist_stripes_and_keeps_the_rest() {
        // Columns alternating +1 / -1 (the map's Nyquist frequency along x) on a level of 3.
        let stripes = Tensor::from_slice(&[1f32, -1.0])
            .repeat([8])
            .view([1, 1, 1, 16])
            .expand([2, 4, 6, 16], false)
            + 3.0;
        let up = blur_bilinear2(&stripes, 0).unwrap();
        assert_eq!(up.size(), [2, 4, 12, 32]);
        let inner = up.narrow(3, 4, 24);
        let err = (&inner - 3.0).abs().max().double_value(&[]);
        assert!(err < 1e-6, "stripes left: {err}");
        // A constant map stays exactly what it was, edges included (they are repeated).
        let flat = Tensor::full([1, 3, 5, 7], 0.25, (Kind::Float, Device::Cpu));
        let up = blur_bilinear2(&flat, 0).unwrap();
        assert_eq!(
            up,
            Tensor::full([1, 3, 10, 14], 0.25, (Kind::Float, Device::Cpu))
        );
        // Away from the edges it is the 1 2 1 blur followed by bilinear upsampling.
        let x = crate::weights::seeded_uniform(&[1, 2, 9, 11], 7);
        let b = Tensor::from_slice(&[1f32, 2., 1.]) / 4.0;
        let blur = (b.view([3, 1]) * b.view([1, 3]))
            .view([1, 1, 3, 3])
            .repeat([2, 1, 1, 1]);
        let two_passes = x
            .pad([1, 1, 1, 1], "replicate", None)
            .conv2d(&blur, None::<Tensor>, [1, 1], [0, 0], [1, 1], 2)
            .upsample_bilinear2d([18, 22], false, 2.0, 2.0);
        let inner = |t: &Tensor| t.narrow(2, 4, 10).narrow(3, 4, 14);
        let got = blur_bilinear2(&x, 0).unwrap();
        let err = (inner(&got) - inner(&two_passes))
            .abs()
            .max()
            .double_value(&[]);
        assert!(err < 1e-6, "{err}");
        // A second call takes the kernel from the cache and gives the same.
        assert_eq!(blur_bilinear2(&x, 0).unwrap(), got);
        // A bf16 map (computed in fp32 on a CPU) comes back in bf16, as the fp32 result rounded.
        let half = blur_bilinear2(&x.to_kind(Kind::BFloat16), 0).unwrap();
        assert_eq!(half.kind(), Kind::BFloat16);
        let rounded = blur_bilinear2(&x.to_kind(Kind::BFloat16).to_kind(Kind::Float), 0).unwrap();
        assert_eq!(half, rounded.to_kind(Kind::BFloat16));
    }

    #[test]
    fn the_last_pixel_shuffle_is_a_pixel_shuffle() {
        let x = crate::weights::seeded_uniform(&[2, 12, 5, 7], 4);
        for t in [x.shallow_clone(), to_channels_last(&x).unwrap()] {
            for r in [2, 4].into_iter().filter(|r| 12 % (r * r) == 0) {
                let got = last_pixel_shuffle(&t, r).unwrap();
                assert_eq!(got, t.pixel_shuffle(r));
                assert!(got.is_contiguous());
            }
        }
    }

    #[test]
    fn a_ringed_upsampling_is_the_picture_and_its_own_extension() {
        let x = crate::weights::seeded_uniform(&[1, 3, 5, 7], 8);
        let inner = |t: &Tensor| t.narrow(2, 1, 10).narrow(3, 1, 14);
        let ringed = bilinear2_ringed(&x).unwrap();
        assert_eq!(ringed.size(), [1, 3, 12, 16]);
        assert!(inner(&ringed).allclose(&bilinear(&x, 2).unwrap(), 1e-6, 1e-6, false));
        let ringed = blur_bilinear2(&x, 1).unwrap();
        assert_eq!(ringed.size(), [1, 3, 12, 16]);
        assert!(inner(&ringed).allclose(&blur_bilinear2(&x, 0).unwrap(), 1e-6, 1e-6, false));
        // The ring continues the map (the edge repeated, then interpolated), not a reflection:
        // the bilinear one's top row is the input's top row, as the picture's is.
        let top = ringed.narrow(2, 0, 1);
        assert!(!top.allclose(&ringed.narrow(2, 2, 1), 1e-6, 1e-6, false));
        let bilinear_top = bilinear2_ringed(&x)
            .unwrap()
            .narrow(2, 0, 1)
            .narrow(3, 1, 14);
        let picture_top = bilinear(&x, 2).unwrap().narrow(2, 0, 1);
        assert!(bilinear_top.allclose(&picture_top, 1e-6, 1e-6, false));
    }
}
