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

    /// Pads (if 3x3) and convolves, without an activation. The convolution runs in the input's
    /// float kind: weights stored in another kind (fp32 master weights while training in bf16)
    /// are cast on the way, which autograd differentiates like any other op.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
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
        let input = if self.reflect_pad {
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
        for (layer, conv) in &self.convs {
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
            x = conv.forward(&x)?;
            if layer.relu {
                x = x.f_relu()?;
            }
            visit(layer, &x);
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
                Resample::ShuffleAfter(r) => x.f_pixel_shuffle(r)?,
                Resample::BilinearAfter(r) => bilinear(&x, r)?,
                Resample::BlurBilinear2After => blur_bilinear2(&x)?,
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

/// Bilinear upsampling by `r` (half-pixel centres).
fn bilinear(x: &Tensor, r: i64) -> Result<Tensor> {
    let (h, w) = (x.size()[2], x.size()[3]);
    let f = r as f64;
    Ok(x.f_upsample_bilinear2d([h * r, w * r], false, f, f)?)
}

/// [`Resample::BlurBilinear2After`] of `x` (N, C, H, W): its edges repeated outwards by 2,
/// then one depthwise transposed convolution of stride 2 whose 8 taps per axis are the 1 2 1
/// blur followed by bilinear interpolation (1 3 3 1 / 4 on the doubled grid): 1 3 5 7 7 5 3 1 /
/// 16. Each output phase's taps sum to 1, so constant maps stay constant. In two passes (blur,
/// then `upsample_bilinear2d`) the 16 channels at 640x360 took 2.8 ms, this way 1.3.
///
/// On a CPU it runs in fp32 whatever the map's kind: libtorch's depthwise transposed convolution
/// in bf16 took 20 ms for 8 channels at 1/2 of 640x360 and 39 ms for 16 on a Xeon with AMX,
/// through fp32 (both conversions counted) 2.1-2.2 ms (BENCHMARKS.md, "The light networks'
/// upsampling in bf16").
fn blur_bilinear2(x: &Tensor) -> Result<Tensor> {
    let kind = x.kind();
    if x.device() == Device::Cpu && kind != Kind::Float {
        return Ok(blur_bilinear2(&x.f_to_kind(Kind::Float)?)?.f_to_kind(kind)?);
    }
    let size = x.size();
    let (c, h, w) = (size[1], size[2], size[3]);
    let kernel = blur_bilinear2_kernel(c, x.kind(), x.device())?;
    let up = x
        .f_pad([2, 2, 2, 2], "replicate", None)?
        .f_conv_transpose2d(&kernel, None::<Tensor>, [2, 2], [0, 0], [0, 0], c, [1, 1])?;
    // The padded map of (h + 4) rows gives 2h + 14; the picture's 2h start at row 7.
    Ok(up.f_narrow(2, 7, 2 * h)?.f_narrow(3, 7, 2 * w)?)
}

/// The depthwise kernel (C, 1, 8, 8), channels-last, of [`blur_bilinear2`]: built once per
/// channel count, kind and device on each thread (it took seven small operations a frame).
fn blur_bilinear2_kernel(c: i64, kind: Kind, device: Device) -> Result<Tensor> {
    thread_local! {
        static KERNELS: TensorCache<(i64, Kind, Device)> = TensorCache::default();
    }
    cached(&KERNELS, (c, kind, device), || {
        let taps = Tensor::f_from_slice(&[1f32, 3., 5., 7., 7., 5., 3., 1.])?.f_div_scalar(16.0)?;
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
        let up = blur_bilinear2(&stripes).unwrap();
        assert_eq!(up.size(), [2, 4, 12, 32]);
        let inner = up.narrow(3, 4, 24);
        let err = (&inner - 3.0).abs().max().double_value(&[]);
        assert!(err < 1e-6, "stripes left: {err}");
        // A constant map stays exactly what it was, edges included (they are repeated).
        let flat = Tensor::full([1, 3, 5, 7], 0.25, (Kind::Float, Device::Cpu));
        let up = blur_bilinear2(&flat).unwrap();
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
        let got = blur_bilinear2(&x).unwrap();
        let err = (inner(&got) - inner(&two_passes))
            .abs()
            .max()
            .double_value(&[]);
        assert!(err < 1e-6, "{err}");
        // A second call takes the kernel from the cache and gives the same.
        assert_eq!(blur_bilinear2(&x).unwrap(), got);
        // A bf16 map (computed in fp32 on a CPU) comes back in bf16, as the fp32 result rounded.
        let half = blur_bilinear2(&x.to_kind(Kind::BFloat16)).unwrap();
        assert_eq!(half.kind(), Kind::BFloat16);
        let rounded = blur_bilinear2(&x.to_kind(Kind::BFloat16).to_kind(Kind::Float)).unwrap();
        assert_eq!(half, rounded.to_kind(Kind::BFloat16));
    }
}
