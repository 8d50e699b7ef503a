// SPDX-License-Identifier: MIT
//! The person segmenter on the CPU by its own kernels, in fp32 on maps in host memory.
//!
//! The segmenter is about 130 small operations on maps of 9×16 to 72×128 pixels (at 144×256):
//! 30 million multiply-adds. Through libtorch each operation costs 5–50 µs of set-up whatever
//! its size (oneDNN computes a depthwise convolution there in 5–8 µs, libtorch's call around it
//! takes ~40, by an earlier session's measurement), which made most of the network's 3 ms a
//! frame (BENCHMARKS.md, "The person mask"). Here the same layers (the [`SegmenterNet`]'s,
//! loaded from the same weights) run as direct loops over channels-last maps with nothing between them: the
//! convolutions compute a few output pixels at a time with the channels innermost, where the
//! compiler vectorises them and keeps the sums in registers ([`simd!`] compiles each kernel a
//! second time for AVX2 and FMA, picked at run time), and the wider 1×1 convolutions are matrix
//! products (`matrixmultiply`). The maps' memory is reused from one call to the next ([`Pool`]):
//! fresh pages for each map cost about a millisecond a frame. Only for the CPU: on a GPU the
//! network runs through libtorch as before.

use std::sync::Mutex;

use crate::frame::host_values;
use matrixmultiply::sgemm;

use super::{Block, FuseStep, Gate, LOGIT_LIMIT, SameConv, SegmenterNet};
use crate::arch::Activation;
use crate::error::{Error, Result};

/// The buffers of the maps of earlier calls, for the next maps to reuse.
#[derive(Debug, Default)]
struct Pool(Mutex<Vec<Vec<f32>>>);

impl Pool {
    /// An empty buffer, with room for `len` values if one was kept.
    fn take(&self, len: usize) -> Vec<f32> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // The smallest that fits, else the largest (it grows once).
        let fits = kept
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .or_else(|| kept.iter().enumerate().max_by_key(|(_, b)| b.capacity()))
            .map(|(i, _)| i);
        let mut buffer = fits.map(|i| kept.swap_remove(i)).unwrap_or_default();
        buffer.clear();
        buffer.reserve(len);
        buffer
    }

    fn give(&self, buffer: Vec<f32>) {
        if buffer.capacity() > 0 {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(buffer);
        }
    }
}

/// A map in host memory, channels-last: the value of channel `k` at (`y`, `x`) is
/// `data[(y * w + x) * c + k]`. Its buffer goes back to its pool when it is dropped.
#[derive(Debug)]
struct Map<'p> {
    pool: &'p Pool,
    h: usize,
    w: usize,
    c: usize,
    data: Vec<f32>,
}

impl Drop for Map<'_> {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.data));
    }
}

impl<'p> Map<'p> {
    /// A map of `h` × `w` pixels whose every pixel is `pixel` (its channels).
    fn filled(pool: &'p Pool, h: usize, w: usize, pixel: &[f32]) -> Self {
        let mut data = pool.take(h * w * pixel.len());
        data.resize(h * w * pixel.len(), 0.0);
        for p in data.chunks_exact_mut(pixel.len()) {
            p.copy_from_slice(pixel);
        }
        Self {
            pool,
            h,
            w,
            c: pixel.len(),
            data,
        }
    }

    /// The mean of each channel over the picture (each row summed in fp32, the rows in fp64).
    fn mean(&self) -> Vec<f32> {
        let mut sum = vec![0f64; self.c];
        let mut row_sum = vec![0f32; self.c];
        for row in self.data.chunks_exact(self.w * self.c) {
            row_sum.fill(0.0);
            for pixel in row.chunks_exact(self.c) {
                for (s, v) in row_sum.iter_mut().zip(pixel) {
                    *s += v;
                }
            }
            for (s, r) in sum.iter_mut().zip(&row_sum) {
                *s += f64::from(*r);
            }
        }
        let n = (self.h * self.w) as f64;
        sum.into_iter().map(|s| (s / n) as f32).collect()
    }

    /// Applies `act` to every value.
    fn activate(&mut self, act: Activation) {
        match act {
            Activation::Relu => relu(&mut self.data),
            Activation::HardSwish => {
                for v in &mut self.data {
                    *v *= (*v + 3.0).clamp(0.0, 6.0) / 6.0;
                }
            }
        }
    }

    /// Multiplies each channel by its factor in `gate`.
    fn scale_channels(&mut self, gate: &[f32]) {
        for pixel in self.data.chunks_exact_mut(self.c) {
            for (v, g) in pixel.iter_mut().zip(gate) {
                *v *= g;
            }
        }
    }
}

#[inline(always)]
fn relu(values: &mut [f32]) {
    for v in values {
        *v = v.max(0.0);
    }
}

/// 1 / (1 + e^-x), for |x| up to about 80.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// e^x within about 2e-7 relative for |x| up to 87, as plain arithmetic the compiler vectorises
/// (libm's `expf` is a call per value): 2^n · 2^f with n = round(x · log2 e), |f| ≤ 1/2, and
/// 2^f by its Taylor series to the 7th power. The rounding adds and subtracts 1.5 · 2^23, which
/// leaves no fraction in fp32: no `floor`, which the baseline x86-64 has no vector instruction
/// for.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0;
    let t = (x * std::f32::consts::LOG2_E).clamp(-126.0, 126.0);
    let n = (t + ROUND) - ROUND;
    let f = (t - n) * std::f32::consts::LN_2;
    let mut p = 1.0 / 5040.0;
    for k in [720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0] {
        p = p * f + 1.0 / k;
    }
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `c += a · b` for row-major `a` (m × k), `b` (k × n) and `c` (m × n).
#[inline(always)]
fn matmul(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() == m * k && b.len() == k * n && c.len() == m * n);
    // SAFETY: the three slices hold exactly the row-major matrices the strides describe (checked
    // above), and `c` is borrowed mutably, so it overlaps neither input.
    unsafe {
        sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            n as isize,
            1,
            1.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// TensorFlow's `SAME` padding of an axis of `n` pixels: the output's length and the padding
/// before the first pixel.
#[inline(always)]
fn same(n: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = n.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(n);
    (out, total / 2)
}

/// `out += Σ_i v[i] · rows[i]`, `rows` holding one row of `out.len()` values per value of `v`:
/// one pixel of a dense convolution, vectorised across the output channels.
#[inline(always)]
fn axpys(out: &mut [f32], v: &[f32], rows: &[f32]) {
    for (a, row) in v.iter().zip(rows.chunks_exact(out.len())) {
        for (o, w) in out.iter_mut().zip(row) {
            *o += a * w;
        }
    }
}

/// Whether the CPU runs the kernels' AVX2 and FMA versions ([`simd!`]).
#[cfg(target_arch = "x86_64")]
fn simd() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Each `fn name<consts>(args) = kernel;` defines `name`, which runs the `#[inline(always)]`
/// `kernel` compiled for AVX2 and FMA where the CPU has them, and as compiled for the baseline
/// elsewhere. (Each kernel gets its own function: inlined all together into one large function
/// compiled for AVX2, the stem's convolution ran six times slower.)
macro_rules! simd {
    ($($(#[$attr:meta])* fn $name:ident<$(const $c:ident: usize),*>($($arg:ident: $ty:ty),* $(,)?) = $kernel:ident;)*) => {$(
        $(#[$attr])*
        fn $name<$(const $c: usize),*>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if simd() {
                #[target_feature(enable = "avx2,fma")]
                fn avx2<$(const $c: usize),*>($($arg: $ty),*) {
                    $kernel::<$($c),*>($($arg),*)
                }
                // SAFETY: the CPU has AVX2 and FMA (`simd`).
                return unsafe { avx2::<$($c),*>($($arg),*) };
            }
            $kernel::<$($c),*>($($arg),*)
        }
    )*};
}

simd! {
    /// `out` (pre-filled with the bias, `N` values a pixel) plus the 1×1 convolution of `x`
    /// (`c_in` values a pixel) by `weight` (c_in rows of `N`), `P` pixels at a time.
    fn pointwise<const N: usize, const P: usize>(
        out: &mut [f32],
        x: &[f32],
        c_in: usize,
        weight: &[f32],
    ) = pointwise_kernel;

    /// `out` (pre-filled with the bias, `N` values a pixel) plus the dense convolution of the
    /// padded `x` by `weight` ((ky, kx, c_in) rows of `N`), `P` pixels at a time.
    fn dense<const N: usize, const P: usize>(
        out: &mut [f32],
        x: &Map,
        weight: &[f32],
        win: Window,
    ) = dense_kernel;

    /// `out` (pre-filled with the bias) plus the depthwise convolution of the padded `x` by
    /// `weight` ((ky, kx) rows of the channels), `B` channels of `P` pixels at a time.
    fn depthwise<const B: usize, const P: usize>(
        out: &mut [f32],
        x: &Map,
        weight: &[f32],
        win: Window,
    ) = depthwise_kernel;

    /// The channels-last picture `x` (`shape`: `width` pixels a row, `c` values a pixel) resized
    /// bilinearly into `out` (its size as `rows` and `cols` give: the source pixels and the
    /// second one's weight of each output row and column).
    fn resize<>(
        out: &mut [f32],
        x: &[f32],
        shape: (usize, usize),
        rows: &[(usize, usize, f32)],
        cols: &[(usize, usize, f32)],
    ) = resize_kernel;

    /// Each of `values` clamped to ±`limit` and through the sigmoid.
    fn sigmoids<>(values: &mut [f32], limit: f32) = sigmoids_kernel;
}

#[inline(always)]
fn sigmoids_kernel(values: &mut [f32], limit: f32) {
    for v in values {
        *v = sigmoid(v.clamp(-limit, limit));
    }
}

// The kernels compute a few output pixels at a time, each pixel's sums (`N` or `B` channels,
// known when compiled) in registers: one pixel's sums alone are a chain of dependent additions,
// as slow as the adder's latency; `P` pixels give `P` chains side by side.

#[inline(always)]
fn pointwise_kernel<const N: usize, const P: usize>(
    out: &mut [f32],
    x: &[f32],
    c_in: usize,
    weight: &[f32],
) {
    let rows = &weight.as_chunks::<N>().0[..c_in];
    let mut outs = out.chunks_exact_mut(N * P);
    let mut ins = x.chunks_exact(c_in * P);
    for (o, i) in (&mut outs).zip(&mut ins) {
        pointwise_pixels::<N, P>(o, i, rows);
    }
    let rest = outs.into_remainder().chunks_exact_mut(N);
    for (o, i) in rest.zip(ins.remainder().chunks_exact(c_in)) {
        pointwise_pixels::<N, 1>(o, i, rows);
    }
}

#[inline(always)]
fn pointwise_pixels<const N: usize, const P: usize>(out: &mut [f32], x: &[f32], rows: &[[f32; N]]) {
    let c_in = rows.len();
    let out = &mut out.as_chunks_mut::<N>().0[..P];
    let mut sums = [[0f32; N]; P];
    sums.copy_from_slice(out);
    for (ci, row) in rows.iter().enumerate() {
        for (q, sum) in sums.iter_mut().enumerate() {
            let a = x[q * c_in + ci];
            for j in 0..N {
                sum[j] += a * row[j];
            }
        }
    }
    out.copy_from_slice(&sums);
}

/// `x` with its `SAME` padding for a k×k convolution of stride `s` written out as zeros (so
/// that no tap of the convolution needs a check), and the convolution's output size.
#[inline(always)]
fn pad_same<'p>(x: &Map<'p>, k: usize, s: usize) -> (Map<'p>, (usize, usize)) {
    let (oh, top) = same(x.h, k, s);
    let (ow, left) = same(x.w, k, s);
    // SAME pads `(out - 1) · s + k - n ≥ 0` pixels in all, so `x` fits with `top`, `left` before.
    let (h, w, c) = ((oh - 1) * s + k, (ow - 1) * s + k, x.c);
    let mut data = x.pool.take(h * w * c);
    data.resize(h * w * c, 0.0);
    for (y, row) in x.data.chunks_exact(x.w * c).enumerate() {
        data[((y + top) * w + left) * c..][..x.w * c].copy_from_slice(row);
    }
    let padded = Map {
        pool: x.pool,
        h,
        w,
        c,
        data,
    };
    (padded, (oh, ow))
}

/// The stride and the output's width of a k×k convolution reading a [`pad_same`] map.
#[derive(Debug, Clone, Copy)]
struct Window {
    k: usize,
    s: usize,
    ow: usize,
}

#[inline(always)]
fn dense_kernel<const N: usize, const P: usize>(
    out: &mut [f32],
    x: &Map,
    weight: &[f32],
    win: Window,
) {
    let rows = weight.as_chunks::<N>().0;
    let out = out.as_chunks_mut::<N>().0;
    let full = win.ow / P * P;
    for (oy, row) in out.chunks_exact_mut(win.ow).enumerate() {
        for ox in (0..full).step_by(P) {
            dense_pixels::<N, P>(&mut row[ox..ox + P], (oy, ox), x, rows, win);
        }
        for ox in full..win.ow {
            dense_pixels::<N, 1>(&mut row[ox..=ox], (oy, ox), x, rows, win);
        }
    }
}

/// `P` output pixels of [`dense`] from (`oy`, `ox`) on.
#[inline(always)]
fn dense_pixels<const N: usize, const P: usize>(
    out: &mut [[f32; N]],
    (oy, ox): (usize, usize),
    x: &Map,
    rows: &[[f32; N]],
    win: Window,
) {
    let c = x.c;
    let first = (oy * win.s * x.w + ox * win.s) * c;
    let mut sums = [[0f32; N]; P];
    sums.copy_from_slice(out);
    for ky in 0..win.k {
        for kx in 0..win.k {
            let at = first + (ky * x.w + kx) * c;
            for (ci, row) in rows[(ky * win.k + kx) * c..][..c].iter().enumerate() {
                for (q, sum) in sums.iter_mut().enumerate() {
                    let a = x.data[at + q * win.s * c + ci];
                    for j in 0..N {
                        sum[j] += a * row[j];
                    }
                }
            }
        }
    }
    out.copy_from_slice(&sums);
}

#[inline(always)]
fn depthwise_kernel<const B: usize, const P: usize>(
    out: &mut [f32],
    x: &Map,
    weight: &[f32],
    win: Window,
) {
    let blocks = x.c / B;
    let full = win.ow / P * P;
    for (oy, row) in out.chunks_exact_mut(win.ow * x.c).enumerate() {
        let row = row.as_chunks_mut::<B>().0;
        for ox in (0..full).step_by(P) {
            depthwise_pixels::<B, P>(&mut row[ox * blocks..], (oy, ox), x, weight, win);
        }
        for ox in full..win.ow {
            depthwise_pixels::<B, 1>(&mut row[ox * blocks..], (oy, ox), x, weight, win);
        }
    }
}

/// `P` output pixels of [`depthwise`] from (`oy`, `ox`) on (`out` starts at the first).
#[inline(always)]
fn depthwise_pixels<const B: usize, const P: usize>(
    out: &mut [[f32; B]],
    (oy, ox): (usize, usize),
    x: &Map,
    weight: &[f32],
    win: Window,
) {
    let blocks = x.c / B;
    let input = x.data.as_chunks::<B>().0;
    let taps = weight.as_chunks::<B>().0;
    let first = (oy * win.s * x.w + ox * win.s) * blocks;
    for b in 0..blocks {
        let mut sums = [[0f32; B]; P];
        for (q, sum) in sums.iter_mut().enumerate() {
            *sum = out[q * blocks + b];
        }
        for ky in 0..win.k {
            for kx in 0..win.k {
                let t = taps[(ky * win.k + kx) * blocks + b];
                let at = first + (ky * x.w + kx) * blocks + b;
                for (q, sum) in sums.iter_mut().enumerate() {
                    let v = input[at + q * win.s * blocks];
                    for j in 0..B {
                        sum[j] += v[j] * t[j];
                    }
                }
            }
        }
        for (q, sum) in sums.iter().enumerate() {
            out[q * blocks + b] = *sum;
        }
    }
}

/// Output channels of the segmenter's stem, its only dense k×k convolution.
const STEM_CHANNELS: usize = crate::arch::SEGMENTER_STEM as usize;

/// How a [`HostConv`] combines its input's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mixing {
    /// Every output channel reads every input channel.
    Dense,
    /// Each channel reads only itself.
    Depthwise,
}

/// One convolution's weights laid out for the host kernels: `weight[((ky · k + kx) · c_in + ci)
/// · c_out + co]` for a dense one (a (k·k·c_in) × c_out matrix), `weight[(ky · k + kx) · c + ch]`
/// for a depthwise one.
#[derive(Debug)]
struct HostConv {
    mixing: Mixing,
    c_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl HostConv {
    fn new(conv: &SameConv) -> Result<Self> {
        let size = conv.conv.ws.size();
        let (c_out, kernel) = (size[0] as usize, size[2] as usize);
        let mixing = if conv.groups == 1 {
            Mixing::Dense
        } else if conv.groups == size[0] && size[1] == 1 {
            Mixing::Depthwise
        } else {
            return Err(Error::Torch(format!(
                "the host segmenter has no kernel for a convolution of {} groups",
                conv.groups
            )));
        };
        if mixing == Mixing::Dense && kernel > 1 && c_out != STEM_CHANNELS {
            return Err(Error::Torch(format!(
                "the host segmenter has no kernel for a {kernel}×{kernel} convolution to {c_out} \
                 channels"
            )));
        }
        // (c_out, c_in, ky, kx) → (ky, kx, c_in, c_out): both layouts above.
        let weight = host_values(&conv.conv.ws.f_permute([2, 3, 1, 0])?)?;
        let bias = match &conv.conv.bs {
            Some(b) => host_values(b)?,
            None => vec![0.0; c_out],
        };
        Ok(Self {
            mixing,
            c_in: if mixing == Mixing::Dense {
                size[1] as usize
            } else {
                c_out
            },
            c_out,
            kernel,
            stride: conv.stride as usize,
            weight,
            bias,
        })
    }

    fn forward<'p>(&self, x: &Map<'p>) -> Map<'p> {
        debug_assert_eq!(x.c, self.c_in);
        match self.mixing {
            Mixing::Dense if self.kernel == 1 && self.stride == 1 => self.pointwise(x),
            Mixing::Dense => self.dense(x),
            Mixing::Depthwise => self.depthwise(x),
        }
    }

    /// A 1×1 convolution: one matrix product over the pixels (direct loops where it is
    /// narrow: the product's packing costs more than its arithmetic there).
    fn pointwise<'p>(&self, x: &Map<'p>) -> Map<'p> {
        let mut out = Map::filled(x.pool, x.h, x.w, &self.bias);
        let (o, i, w, c) = (&mut out.data, &x.data, &self.weight, self.c_in);
        match self.c_out {
            4 => pointwise::<4, 8>(o, i, c, w),
            16 => pointwise::<16, 4>(o, i, c, w),
            24 => pointwise::<24, 2>(o, i, c, w),
            32 => pointwise::<32, 2>(o, i, c, w),
            n => matmul(x.h * x.w, c, n, i, w, o),
        }
        out
    }

    /// What a k×k convolution of `x` reads and writes: `x` padded ([`pad_same`]), the output
    /// filled with the bias, and its window.
    fn windowed<'p>(&self, x: &Map<'p>) -> (Map<'p>, Map<'p>, Window) {
        let (x, (oh, ow)) = pad_same(x, self.kernel, self.stride);
        let out = Map::filled(x.pool, oh, ow, &self.bias);
        let window = Window {
            k: self.kernel,
            s: self.stride,
            ow,
        };
        (x, out, window)
    }

    /// A k×k convolution (the stem's: 3 channels in), tap by tap into each output pixel.
    fn dense<'p>(&self, x: &Map<'p>) -> Map<'p> {
        let (x, mut out, window) = self.windowed(x);
        // The only dense k×k convolution is the stem (checked in `new`).
        dense::<STEM_CHANNELS, 4>(&mut out.data, &x, &self.weight, window);
        out
    }

    /// A depthwise k×k convolution, channel by channel across each pixel's channels.
    fn depthwise<'p>(&self, x: &Map<'p>) -> Map<'p> {
        let (x, mut out, window) = self.windowed(x);
        let (o, w) = (&mut out.data, &self.weight);
        match x.c {
            16 => depthwise::<16, 2>(o, &x, w, window),
            24 => depthwise::<24, 2>(o, &x, w, window),
            c if c % 32 == 0 => depthwise::<32, 2>(o, &x, w, window),
            c if c % 8 == 0 => depthwise::<8, 4>(o, &x, w, window),
            _ => depthwise::<1, 1>(o, &x, w, window),
        }
        out
    }

    /// The convolution of a single pixel (a picture's mean): `bias + weightᵀ · v`.
    fn of_vector(&self, v: &[f32]) -> Vec<f32> {
        let mut out = self.bias.clone();
        axpys(&mut out, v, &self.weight);
        out
    }
}

/// A gate from a picture's mean (see the libtorch [`Gate`]).
#[derive(Debug)]
struct HostGate {
    reduce: HostConv,
    expand: HostConv,
}

impl HostGate {
    fn new(gate: &Gate) -> Result<Self> {
        Ok(Self {
            reduce: HostConv::new(&gate.reduce)?,
            expand: HostConv::new(&gate.expand)?,
        })
    }

    fn of_mean(&self, mean: &[f32]) -> Vec<f32> {
        let mut squeezed = self.reduce.of_vector(mean);
        relu(&mut squeezed);
        let mut gate = self.expand.of_vector(&squeezed);
        for g in &mut gate {
            *g = sigmoid(*g);
        }
        gate
    }
}

#[derive(Debug)]
struct HostBlock {
    act: Activation,
    residual: bool,
    expand: HostConv,
    depthwise: HostConv,
    excite: Option<HostGate>,
    project: HostConv,
}

impl HostBlock {
    fn new(block: &Block) -> Result<Self> {
        Ok(Self {
            act: block.spec.act,
            residual: block.spec.stride == 1 && block.spec.c_in == block.spec.c_out,
            expand: HostConv::new(&block.expand)?,
            depthwise: HostConv::new(&block.depthwise)?,
            excite: block.excite.as_ref().map(HostGate::new).transpose()?,
            project: HostConv::new(&block.project)?,
        })
    }

    fn forward<'p>(&self, x: &Map<'p>) -> Map<'p> {
        let mut y = self.expand.forward(x);
        y.activate(self.act);
        let mut y = self.depthwise.forward(&y);
        y.activate(self.act);
        if let Some(gate) = &self.excite {
            y.scale_channels(&gate.of_mean(&y.mean()));
        }
        let mut y = self.project.forward(&y);
        if self.residual {
            for (o, i) in y.data.iter_mut().zip(&x.data) {
                *o += i;
            }
        }
        y
    }
}

#[derive(Debug)]
struct HostFuse {
    skip: usize,
    up: HostConv,
    attention: HostGate,
    mix: HostConv,
    refine: HostConv,
}

impl HostFuse {
    fn new(fuse: &FuseStep) -> Result<Self> {
        Ok(Self {
            skip: fuse.skip,
            up: HostConv::new(&fuse.up)?,
            attention: HostGate::new(&fuse.attention)?,
            mix: HostConv::new(&fuse.mix)?,
            refine: HostConv::new(&fuse.refine)?,
        })
    }

    fn forward<'p>(&self, x: &Map<'p>, skips: &[Map<'p>]) -> Result<Map<'p>> {
        let skip = skips
            .get(self.skip)
            .ok_or_else(|| Error::Torch(format!("the segmenter has no skip {}", self.skip)))?;
        // As the libtorch step: projected, then upsampled; the gate from the two means. An
        // upsampling by exactly 2 gives every pixel it reads a weight of 2 per axis in all
        // (the repeated edges included), so the mean is the small map's.
        let small = self.up.forward(x);
        let mut up = upsample_bilinear(&small, skip.h, skip.w);
        let up_mean = if (up.h, up.w) == (2 * small.h, 2 * small.w) {
            small.mean()
        } else {
            up.mean()
        };
        let mean: Vec<f32> = skip
            .mean()
            .iter()
            .zip(up_mean)
            .map(|(a, b)| a + b)
            .collect();
        let gate = self.attention.of_mean(&mean);
        for (u, s) in up
            .data
            .chunks_exact_mut(up.c)
            .zip(skip.data.chunks_exact(skip.c))
        {
            for ((u, s), g) in u.iter_mut().zip(s).zip(&gate) {
                *u += s * g;
            }
        }
        let mut mixed = self.mix.forward(&up);
        relu(&mut mixed.data);
        let mut out = self.refine.forward(&mixed);
        for (o, m) in out.data.iter_mut().zip(&mixed.data) {
            *o = o.max(0.0) + m;
        }
        Ok(out)
    }
}

/// The source pixels and the second one's weight of each output pixel of a bilinear resize
/// of an axis from `n_in` to `n_out` pixels (half-pixel centres, PyTorch's `align_corners=False`).
#[inline(always)]
fn bilinear_axis(n_in: usize, n_out: usize) -> Vec<(usize, usize, f32)> {
    let scale = n_in as f32 / n_out as f32;
    (0..n_out)
        .map(|o| {
            let src = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src as usize).min(n_in - 1);
            let i1 = (i0 + 1).min(n_in - 1);
            (i0, i1, src - i0 as f32)
        })
        .collect()
}

/// `x` resized to `h` × `w` bilinearly (as libtorch's `upsample_bilinear2d`).
fn upsample_bilinear<'p>(x: &Map<'p>, h: usize, w: usize) -> Map<'p> {
    let mut data = x.pool.take(h * w * x.c);
    data.resize(h * w * x.c, 0.0);
    let (rows, cols) = (bilinear_axis(x.h, h), bilinear_axis(x.w, w));
    resize(&mut data, &x.data, (x.w, x.c), &rows, &cols);
    Map {
        pool: x.pool,
        h,
        w,
        c: x.c,
        data,
    }
}

#[inline(always)]
fn resize_kernel(
    out: &mut [f32],
    x: &[f32],
    (width, c): (usize, usize),
    rows: &[(usize, usize, f32)],
    cols: &[(usize, usize, f32)],
) {
    for (out_row, &(y0, y1, ly)) in out.chunks_exact_mut(cols.len() * c).zip(rows) {
        let (r0, r1) = (&x[y0 * width * c..], &x[y1 * width * c..]);
        for (o, &(x0, x1, lx)) in out_row.chunks_exact_mut(c).zip(cols) {
            let (a, b) = (&r0[x0 * c..][..c], &r0[x1 * c..][..c]);
            let (d, e) = (&r1[x0 * c..][..c], &r1[x1 * c..][..c]);
            for k in 0..c {
                let top = a[k] + (b[k] - a[k]) * lx;
                let bottom = d[k] + (e[k] - d[k]) * lx;
                o[k] = top + (bottom - top) * ly;
            }
        }
    }
}

/// A [`SegmenterNet`] for the host kernels.
#[derive(Debug)]
pub(super) struct HostNet {
    stem: HostConv,
    blocks: Vec<HostBlock>,
    features: HostConv,
    feature_gate: HostConv,
    fuses: Vec<HostFuse>,
    /// The transposed 2×2 convolution as a (C × 4) matrix (the 2×2 block of each pixel, rows
    /// first) and its bias.
    out: Vec<f32>,
    out_bias: f32,
    pool: Pool,
}

impl HostNet {
    /// The host copy of `net`'s weights, in fp32.
    pub(super) fn new(net: &SegmenterNet) -> Result<Self> {
        let c = net.out.ws.size()[0];
        Ok(Self {
            stem: HostConv::new(&net.stem)?,
            blocks: net
                .blocks
                .iter()
                .map(HostBlock::new)
                .collect::<Result<_>>()?,
            features: HostConv::new(&net.features)?,
            feature_gate: HostConv::new(&net.feature_gate)?,
            fuses: net.fuses.iter().map(HostFuse::new).collect::<Result<_>>()?,
            out: host_values(&net.out.ws.f_view([c, 4])?)?,
            out_bias: match &net.out.bs {
                Some(b) => host_values(b)?.first().copied().unwrap_or(0.0),
                None => 0.0,
            },
            pool: Pool::default(),
        })
    }

    /// The person's probability, row after row at `h` × `w` (the network's input size), of
    /// the picture `frame`: RGB in [0, 1], channels-last (`height` × `width` × 3), stretched to
    /// the input bilinearly (plain bilinear, as MediaPipe's own preprocessing) and clamped to
    /// [0, 1].
    pub(super) fn forward(
        &self,
        frame: &[f32],
        (height, width): (usize, usize),
        (h, w): (usize, usize),
    ) -> Result<Vec<f32>> {
        if frame.len() != height * width * 3 || height * width == 0 {
            return Err(Error::Torch(format!(
                "the segmenter's picture holds {} values, not {height}×{width}×3",
                frame.len()
            )));
        }
        let mut data = self.pool.take(h * w * 3);
        data.resize(h * w * 3, 0.0);
        let (rows, cols) = (bilinear_axis(height, h), bilinear_axis(width, w));
        resize(&mut data, frame, (width, 3), &rows, &cols);
        for v in &mut data {
            *v = v.clamp(0.0, 1.0);
        }
        let input = Map {
            pool: &self.pool,
            h,
            w,
            c: 3,
            data,
        };
        let mut stem = self.stem.forward(&input);
        stem.activate(Activation::HardSwish);
        let mut skips = vec![stem];
        for block in &self.blocks {
            let next = block.forward(&skips[skips.len() - 1]);
            skips.push(next);
        }
        let deepest = skips
            .pop()
            .ok_or_else(|| Error::Torch("the segmenter has no blocks".into()))?;
        let mut gate = self.feature_gate.of_vector(&deepest.mean());
        for g in &mut gate {
            *g = sigmoid(*g);
        }
        let mut x = self.features.forward(&deepest);
        relu(&mut x.data);
        x.scale_channels(&gate);
        for fuse in &self.fuses {
            x = fuse.forward(&x, &skips)?;
        }
        Ok(self.upscale(&x))
    }

    /// The transposed 2×2 convolution of stride 2 to the logits at twice `x`'s size, clamped
    /// (as the libtorch network's) and turned into probabilities.
    fn upscale(&self, x: &Map) -> Vec<f32> {
        let mut blocks = Map::filled(x.pool, x.h, x.w, &[self.out_bias; 4]);
        pointwise::<4, 8>(&mut blocks.data, &x.data, x.c, &self.out);
        sigmoids(&mut blocks.data, LOGIT_LIMIT as f32);
        // Each pixel's 2×2 block, rows first, into the two rows it covers.
        let w2 = 2 * x.w;
        let mut p = vec![0f32; 4 * x.h * x.w];
        for (rows, blocks) in p
            .chunks_exact_mut(2 * w2)
            .zip(blocks.data.chunks_exact(4 * x.w))
        {
            let (top, bottom) = rows.split_at_mut(w2);
            for ((t, b), block) in top
                .chunks_exact_mut(2)
                .zip(bottom.chunks_exact_mut(2))
                .zip(blocks.chunks_exact(4))
            {
                t.copy_from_slice(&block[..2]);
                b.copy_from_slice(&block[2..]);
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    #[test]
    fn same_padding_matches_tensorflow() {
        // Stride 2 over an even axis: the odd pixel of padding goes after the last pixel.
        assert_eq!(same(144, 3, 2), (72, 0));
        assert_eq!(same(9, 5, 2), (5, 2));
        assert_eq!(same(36, 5, 1), (36, 2));
        // Written out: a 2×3 map for a 3×3 convolution of stride 2 gains a row below (the odd
        // pixel of padding goes after) and a column each side; for a 5×5 of stride 1, two on
        // every side.
        let pool = Pool::default();
        let x = Map {
            pool: &pool,
            h: 2,
            w: 3,
            c: 1,
            data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        };
        let (p, size) = pad_same(&x, 3, 2);
        assert_eq!((p.h, p.w, size), (3, 5, (1, 2)));
        let row = |y: usize| p.data[y * 5..(y + 1) * 5].to_vec();
        assert_eq!(row(0), [0.0, 1.0, 2.0, 3.0, 0.0]);
        assert_eq!(row(1), [0.0, 4.0, 5.0, 6.0, 0.0]);
        assert_eq!(row(2), [0.0; 5]);
        let (p, size) = pad_same(&x, 5, 1);
        assert_eq!((p.h, p.w, size), (6, 7, (2, 3)));
        assert_eq!(p.data[2 * 7..3 * 7], [0.0, 0.0, 1.0, 2.0, 3.0, 0.0, 0.0]);
        assert_eq!(p.data.iter().sum::<f32>(), 21.0);
    }

    #[test]
    fn the_kernels_compute_the_same_with_and_without_avx2() {
        // `simd!` picks the AVX2 build on this CPU (if it has AVX2); the kernels called
        // directly are the baseline build. No fused multiply-adds in either: the same sums.
        let pool = Pool::default();
        let values = |n: usize, seed: f32| (0..n).map(|i| (i as f32 * seed).sin()).collect();
        let x = Map {
            pool: &pool,
            h: 9,
            w: 14,
            c: 16,
            data: values(9 * 14 * 16, 0.37),
        };
        let weight: Vec<f32> = values(25 * 16 * 16, 0.11);
        let (padded, (oh, ow)) = pad_same(&x, 5, 2);
        let win = Window { k: 5, s: 2, ow };
        let run = |f: &dyn Fn(&mut [f32])| {
            let mut out = vec![0.5f32; oh * ow * 16];
            f(&mut out);
            out
        };
        let same = |a: Vec<f32>, b: Vec<f32>| assert_eq!(a, b);
        same(
            run(&|o| depthwise::<16, 2>(o, &padded, &weight, win)),
            run(&|o| depthwise_kernel::<16, 2>(o, &padded, &weight, win)),
        );
        same(
            run(&|o| dense::<16, 4>(o, &padded, &weight, win)),
            run(&|o| dense_kernel::<16, 4>(o, &padded, &weight, win)),
        );
        let mut a = vec![0.5f32; 9 * 14 * 16];
        let mut b = a.clone();
        pointwise::<16, 4>(&mut a, &x.data, 16, &weight[..256]);
        pointwise_kernel::<16, 4>(&mut b, &x.data, 16, &weight[..256]);
        same(a, b);
    }

    #[test]
    fn an_upsampling_by_two_keeps_the_mean() {
        let pool = Pool::default();
        let x = Map {
            pool: &pool,
            h: 5,
            w: 7,
            c: 3,
            data: (0..105)
                .map(|i| (i as f32 * 0.7).sin() + 0.1 * i as f32)
                .collect(),
        };
        let up = upsample_bilinear(&x, 10, 14);
        for (a, b) in x.mean().iter().zip(up.mean()) {
            assert!((a - b).abs() < 1e-5, "{a} against {b}");
        }
    }

    #[test]
    fn bilinear_matches_libtorch() {
        let t = Tensor::arange(2 * 5 * 7, (Kind::Float, tch::Device::Cpu))
            .sin()
            .view([1, 2, 5, 7]);
        let expected = t.upsample_bilinear2d([10, 14], false, None, None);
        let pool = Pool::default();
        let x = Map {
            pool: &pool,
            h: 5,
            w: 7,
            c: 2,
            data: host_values(&t.permute([0, 2, 3, 1])).unwrap(),
        };
        let got = upsample_bilinear(&x, 10, 14);
        let expected = host_values(&expected.permute([0, 2, 3, 1])).unwrap();
        for (g, e) in got.data.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-6, "{g} against {e}");
        }
    }
}
