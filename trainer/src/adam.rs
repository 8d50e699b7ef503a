// SPDX-License-Identifier: MIT
//! Adam (Kingma & Ba) on the variables of a `VarStore`, with state that can be saved and restored
//! exactly (libtorch's optimisers behind `tch::COptimizer` cannot be serialised), plus the dynamic
//! loss scaling that fp16 mixed precision needs.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

/// Adam's hyper-parameters (PyTorch's defaults).
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// Dynamic loss scale for fp16 gradients, as `torch.cuda.amp.GradScaler` does it: halve on an
/// overflow (and skip that step), double after `GROWTH_INTERVAL` clean steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    /// The factor the loss is multiplied by before `backward`.
    pub scale: f64,
    /// Clean steps since the last change.
    pub clean_steps: u64,
}

/// Steps without overflow after which the loss scale doubles.
pub const GROWTH_INTERVAL: u64 = 2000;

impl LossScale {
    /// The scale for a run: 2^16 with mixed precision, 1 (a no-op) without.
    pub fn new(amp: bool) -> Self {
        Self {
            scale: if amp { 65536.0 } else { 1.0 },
            clean_steps: 0,
        }
    }

    /// Records the outcome of a step.
    pub fn update(&mut self, finite: bool) {
        if finite {
            self.clean_steps += 1;
            if self.clean_steps >= GROWTH_INTERVAL && self.scale < 2f64.powi(24) {
                self.scale *= 2.0;
                self.clean_steps = 0;
            }
        } else {
            self.scale = (self.scale / 2.0).max(1.0);
            self.clean_steps = 0;
        }
    }
}

/// Adam over every trainable variable of a `VarStore`, in sorted key order.
#[derive(Debug)]
pub struct Adam {
    names: Vec<String>,
    params: Vec<Tensor>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    /// Updates applied so far (Adam's `t`, used for bias correction).
    pub steps: u64,
}

impl Adam {
    /// Zero moments for every variable of `vs` that requires a gradient.
    pub fn new(vs: &nn::VarStore) -> Result<Self> {
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        if vars.is_empty() {
            bail!("no trainable variables");
        }
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let mut names = Vec::new();
        let mut params = Vec::new();
        let mut exp_avg = Vec::new();
        let mut exp_avg_sq = Vec::new();
        for (name, t) in vars {
            exp_avg.push(t.f_zeros_like()?.f_detach()?);
            exp_avg_sq.push(t.f_zeros_like()?.f_detach()?);
            names.push(name);
            params.push(t);
        }
        Ok(Self {
            names,
            params,
            exp_avg,
            exp_avg_sq,
            steps: 0,
        })
    }

    /// Clears every gradient.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    /// A 0-d bool tensor: whether every gradient is finite (no host synchronisation).
    pub fn grads_finite(&self) -> Result<Tensor> {
        let flags = self
            .params
            .iter()
            .map(|p| Ok(p.grad().f_isfinite()?.f_all()?))
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::f_stack(&flags, 0)?.f_all()?)
    }

    /// One Adam update with learning rate `lr`, on gradients that were scaled by `grad_scale`.
    pub fn step(&mut self, lr: f64, grad_scale: f64) -> Result<()> {
        self.steps += 1;
        let bias1 = 1.0 - BETA1.powi(self.steps as i32);
        let bias2 = 1.0 - BETA2.powi(self.steps as i32);
        let step_size = lr / bias1;
        tch::no_grad(|| -> Result<()> {
            for ((p, m), v) in self
                .params
                .iter_mut()
                .zip(&mut self.exp_avg)
                .zip(&mut self.exp_avg_sq)
            {
                let mut g = p.grad();
                if !g.defined() {
                    continue;
                }
                if grad_scale != 1.0 {
                    g = g.f_div_scalar(grad_scale)?;
                }
                let g = g.f_to_kind(Kind::Float)?;
                // In-place updates return the tensor itself; nothing to keep.
                let _ = m.f_mul_scalar_(BETA1)?;
                let _ = m.f_add_(&g.f_mul_scalar(1.0 - BETA1)?)?;
                let _ = v.f_mul_scalar_(BETA2)?;
                let _ = v.f_add_(&g.f_square()?.f_mul_scalar(1.0 - BETA2)?)?;
                let denom = v.f_sqrt()?.f_div_scalar(bias2.sqrt())?.f_add_scalar(EPS)?;
                let _ = p.f_sub_(&m.f_div(&denom)?.f_mul_scalar(step_size)?)?;
            }
            Ok(())
        })
    }

    /// The moments as named tensors (`exp_avg.<var>`, `exp_avg_sq.<var>`) for a checkpoint.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.names.len());
        for (i, name) in self.names.iter().enumerate() {
            out.push((format!("exp_avg.{name}"), self.exp_avg[i].shallow_clone()));
            out.push((
                format!("exp_avg_sq.{name}"),
                self.exp_avg_sq[i].shallow_clone(),
            ));
        }
        out
    }

    /// Restores the moments written by [`Adam::state_tensors`] (keys without the checkpoint's
    /// prefix) and the step count.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, steps: u64) -> Result<()> {
        tch::no_grad(|| -> Result<()> {
            for (i, name) in self.names.iter().enumerate() {
                for (prefix, dst) in [
                    ("exp_avg", &mut self.exp_avg[i]),
                    ("exp_avg_sq", &mut self.exp_avg_sq[i]),
                ] {
                    let key = format!("{prefix}.{name}");
                    let src = tensors
                        .get(&key)
                        .with_context(|| format!("optimizer state lacks `{key}`"))?;
                    if src.size() != dst.size() {
                        bail!(
                            "optimizer state `{key}` has shape {:?}, expected {:?}",
                            src.size(),
                            dst.size()
                        );
                    }
                    dst.f_copy_(src)?;
                }
            }
            Ok(())
        })?;
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::OptimizerConfig;
    use tch::{Device, nn::Module};

    fn toy(vs: &nn::VarStore) -> nn::Linear {
        nn::linear(vs.root() / "fc", 5, 3, Default::default())
    }

    fn loss(net: &nn::Linear, x: &Tensor) -> Tensor {
        net.forward(x).square().mean(Kind::Float)
    }

    /// Our Adam takes the same steps as libtorch's `torch::optim::Adam` (with a decaying lr).
    #[test]
    fn matches_libtorch_adam() {
        let x = crate::test_support::uniform(&[8, 5], 3) * 2.0 - 1.0;
        let vs_ref = nn::VarStore::new(Device::Cpu);
        let net_ref = toy(&vs_ref);
        let mut vs_ours = nn::VarStore::new(Device::Cpu);
        let net_ours = toy(&vs_ours);
        vs_ours.copy(&vs_ref).unwrap();
        let mut reference = nn::Adam::default().build(&vs_ref, 1e-2).unwrap();
        let mut ours = Adam::new(&vs_ours).unwrap();
        for t in 0..20 {
            let lr = 1e-2 / (1.0 + 0.1 * t as f64);
            reference.set_lr(lr);
            reference.zero_grad();
            loss(&net_ref, &x).backward();
            reference.step();
            ours.zero_grad();
            (loss(&net_ours, &x) * 8.0).backward();
            ours.step(lr, 8.0).unwrap();
        }
        let a = vs_ref.variables();
        for (k, v) in vs_ours.variables() {
            let diff = (&v - &a[&k]).abs().max().double_value(&[]);
            assert!(diff < 1e-6, "{k}: {diff}");
        }
        assert_eq!(ours.steps, 20);
    }

    #[test]
    fn state_round_trips() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = toy(&vs);
        let mut adam = Adam::new(&vs).unwrap();
        loss(&net, &Tensor::ones([2, 5], (Kind::Float, Device::Cpu))).backward();
        adam.step(1e-3, 1.0).unwrap();
        let saved: HashMap<String, Tensor> = adam
            .state_tensors()
            .into_iter()
            .map(|(k, v)| (k, v.copy()))
            .collect();
        let mut other = Adam::new(&vs).unwrap();
        other.load_state(&saved, adam.steps).unwrap();
        for ((_, a), (_, b)) in adam.state_tensors().iter().zip(other.state_tensors()) {
            assert!(a.equal(&b));
        }
        let mut missing = saved;
        missing.remove("exp_avg.fc.weight");
        assert!(other.load_state(&missing, 1).is_err());
    }

    #[test]
    fn loss_scale_backs_off_and_grows() {
        let mut s = LossScale::new(true);
        s.update(false);
        assert_eq!(s.scale, 32768.0);
        for _ in 0..GROWTH_INTERVAL {
            s.update(true);
        }
        assert_eq!(s.scale, 65536.0);
        assert_eq!(LossScale::new(false).scale, 1.0);
    }
}
