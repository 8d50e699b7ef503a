// SPDX-License-Identifier: MIT
//! What every example and the benchmark take to pick and load a network: `--model`,
//! `--device`, `--precision`, `--encoder`, `--decoder`, declared once.

use std::path::PathBuf;

use adainstyle::{DeviceSpec, Model, Precision, Stylizer, data};
use anyhow::{Context, Result};
use gst::prelude::*;

#[allow(dead_code)] // Only stylize-file takes a time range.
pub mod segment;

/// The network options shared by the examples.
#[derive(clap::Args, Debug, Clone)]
pub struct NetworkArgs {
    /// Network: auto (the full model on CUDA, the light network on a CPU; with --decoder, the
    /// network that file holds), full (VGG-19, AdaIN and its decoder) or lite (the light network
    /// for real time on a CPU).
    #[arg(long, default_value = "auto")]
    pub model: Model,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// Precision of the network: auto (fp16 on CUDA, bf16 on a CPU with AVX-512 BF16, else
    /// fp32), fp32, fp16 or bf16.
    #[arg(long, default_value = "auto")]
    pub precision: Precision,
    /// The full model's encoder (default: the shipped normalised VGG-19).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Trained weights: the full model's decoder, or the light network's (default: the shipped
    /// weights of the model).
    #[arg(long)]
    pub decoder: Option<PathBuf>,
}

#[allow(dead_code)] // Each example uses the half it needs: the library or the element.
impl NetworkArgs {
    /// Loads the network through the library, as the element would.
    pub fn load(&self) -> Result<Stylizer> {
        let device = self.device.resolve()?;
        let model = self.resolve_model(device)?;
        let encoder = self
            .encoder
            .clone()
            .unwrap_or_else(|| data::find(data::ENCODER));
        let weights = self.weights(model);
        Ok(Stylizer::load(
            model,
            &encoder,
            &weights,
            device,
            self.precision,
        )?)
    }

    /// The trained weights `model` runs with: `--decoder`, or the shipped ones.
    pub fn weights(&self, model: Model) -> PathBuf {
        self.decoder
            .clone()
            .unwrap_or_else(|| data::find(model.shipped_weights()))
    }

    /// The network `--model` means on `device` with the files given ([`Model::resolve_given`]).
    pub fn resolve_model(&self, device: tch::Device) -> Result<Model> {
        Ok(self
            .model
            .resolve_given(device, self.encoder.as_deref(), self.decoder.as_deref())?)
    }

    /// Sets the element's `model`, `device`, `precision`, `encoder` and `decoder` properties.
    pub fn apply(&self, element: &gst::Element) -> Result<()> {
        element.set_property_from_str("model", &self.model.to_string());
        element.set_property("device", self.device.to_string());
        element.set_property_from_str("precision", &self.precision.to_string());
        for (name, path) in [("encoder", &self.encoder), ("decoder", &self.decoder)] {
            if let Some(path) = path {
                let text = path
                    .to_str()
                    .with_context(|| format!("non-UTF-8 {name} path"))?;
                element.set_property(name, text);
            }
        }
        Ok(())
    }
}
