// SPDX-License-Identifier: MIT
//! The two building blocks both networks are made of.

use tch::{Tensor, nn};

use crate::error::Result;

/// A 3x3 (or 1x1) convolution stored under pytorch-AdaIN's keys `<idx>.weight` / `<idx>.bias`,
/// preceded by a 1-pixel reflection pad when it is 3x3.
#[derive(Debug)]
pub struct Conv {
    conv: nn::Conv2D,
    reflect_pad: bool,
}

impl Conv {
    /// Creates the convolution under `vs / index`.
    pub fn new(vs: &nn::Path, index: usize, c_in: i64, c_out: i64, kernel: i64) -> Self {
        let conv = nn::conv2d(vs / index, c_in, c_out, kernel, Default::default());
        Self {
            conv,
            reflect_pad: kernel == 3,
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
        Ok(input.f_conv2d(&ws, bs.as_ref(), [1, 1], [0, 0], [1, 1], 1)?)
    }
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
