// SPDX-License-Identifier: MIT
//! The floating-point precision the networks run in: one setting shared by the element, the
//! examples, the benchmark and the trainer.
//!
//! Channel statistics, AdaIN, the colour transfer and the training losses always stay in fp32;
//! only the convolutions (and the activations between them) use the chosen precision.

use std::fmt;
use std::str::FromStr;

use tch::{Device, Kind};

use crate::error::{Error, Result};

/// What a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// fp16 on CUDA, bf16 on a CPU where it is the faster ([`cpu_bf16_is_faster`]), fp32
    /// otherwise.
    #[default]
    Auto,
    /// Single precision everywhere.
    Fp32,
    /// Half precision (CUDA only).
    Fp16,
    /// bfloat16 (CUDA, or a CPU with native bf16 instructions).
    Bf16,
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Self::Auto),
            "fp32" | "float32" | "float" => Ok(Self::Fp32),
            "fp16" | "float16" | "half" => Ok(Self::Fp16),
            "bf16" | "bfloat16" => Ok(Self::Bf16),
            _ => Err(Error::InvalidPrecision(s.to_owned())),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Fp32 => "fp32",
            Self::Fp16 => "fp16",
            Self::Bf16 => "bf16",
        })
    }
}

/// Whether this CPU has native bf16 dot products (AVX-512 BF16), the instructions oneDNN's bf16
/// convolutions need to beat fp32. Elsewhere libtorch emulates bf16, which is slower than fp32.
/// (Every x86 CPU with AMX-BF16 also has AVX-512 BF16.)
pub fn cpu_has_native_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether bf16 convolutions run faster than fp32 on this CPU, which is what `auto` picks bf16
/// for. Measured (BENCHMARKS.md): on AMD Zen 4 (AVX-512 BF16) bf16 ran the networks 1.5x faster
/// than fp32; on a 2-vCPU Intel Xeon with AVX-512 BF16 but no AMX the light network ran 1.7x
/// *slower* in bf16 (oneDNN's bf16 kernels there, and their conversions, lose to fp32). Intel
/// CPUs with AMX-BF16 tiles run bf16 on them. So: AVX-512 BF16, and either AMX-BF16 or an AMD
/// CPU.
pub fn cpu_bf16_is_faster() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        cpu_has_native_bf16() && (cpu_flag("amx_bf16") || cpu_is_amd())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the kernel lists `flag` for this CPU (`/proc/cpuinfo`).
#[cfg(target_arch = "x86_64")]
fn cpu_flag(flag: &str) -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
        info.lines()
            .find(|l| l.starts_with("flags"))
            .is_some_and(|l| l.split_whitespace().any(|f| f == flag))
    })
}

/// Whether the CPU's vendor is AMD.
#[cfg(target_arch = "x86_64")]
fn cpu_is_amd() -> bool {
    // CPUID leaf 0 exists on every x86-64 CPU.
    let id = std::arch::x86_64::__cpuid(0);
    let vendor: Vec<u8> = [id.ebx, id.edx, id.ecx]
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .collect();
    vendor == b"AuthenticAMD"
}

impl Precision {
    /// Every variant, in the order the element's enum lists them.
    pub const ALL: [Precision; 4] = [Self::Auto, Self::Fp32, Self::Fp16, Self::Bf16];

    /// The precision `self` stands for on `device` (never `Auto`), or an error naming the device
    /// and the precision when the device cannot run it.
    pub fn resolve(self, device: Device) -> Result<Precision> {
        self.resolve_with(device, cpu_has_native_bf16(), cpu_bf16_is_faster())
    }

    /// [`Precision::resolve`] with the CPU's bf16 support, and whether bf16 is the faster there,
    /// given (testable on any machine).
    pub fn resolve_with(
        self,
        device: Device,
        cpu_bf16: bool,
        bf16_faster: bool,
    ) -> Result<Precision> {
        let cuda = device.is_cuda();
        match self {
            Self::Auto if cuda => Ok(Self::Fp16),
            Self::Auto if cpu_bf16 && bf16_faster => Ok(Self::Bf16),
            Self::Auto | Self::Fp32 => Ok(Self::Fp32),
            Self::Fp16 if cuda => Ok(Self::Fp16),
            Self::Bf16 if cuda || cpu_bf16 => Ok(Self::Bf16),
            Self::Fp16 | Self::Bf16 => Err(Error::UnsupportedPrecision {
                precision: self.to_string(),
                device: match device {
                    Device::Cpu if self == Self::Bf16 => {
                        "the CPU (no AVX-512 BF16 instructions)".to_owned()
                    }
                    Device::Cpu => "the CPU (fp16 runs on CUDA only)".to_owned(),
                    other => format!("{other:?}"),
                },
            }),
        }
    }

    /// The tensor kind of a resolved precision (`Auto` maps to fp32; resolve first).
    pub fn kind(self) -> Kind {
        match self {
            Self::Fp16 => Kind::Half,
            Self::Bf16 => Kind::BFloat16,
            Self::Auto | Self::Fp32 => Kind::Float,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_variant() {
        for p in Precision::ALL {
            assert_eq!(p.to_string().parse::<Precision>().unwrap(), p);
        }
        assert_eq!("BF16".parse::<Precision>().unwrap(), Precision::Bf16);
        let err = "fp8".parse::<Precision>().unwrap_err().to_string();
        assert!(err.contains("fp8"), "{err}");
    }

    #[test]
    fn auto_picks_per_device() {
        let cuda = Device::Cuda(0);
        assert_eq!(
            Precision::Auto.resolve_with(cuda, false, false).unwrap(),
            Precision::Fp16
        );
        assert_eq!(
            Precision::Auto
                .resolve_with(Device::Cpu, true, true)
                .unwrap(),
            Precision::Bf16
        );
        // bf16 instructions that lose to fp32 (an Intel CPU without AMX): fp32.
        assert_eq!(
            Precision::Auto
                .resolve_with(Device::Cpu, true, false)
                .unwrap(),
            Precision::Fp32
        );
        assert_eq!(
            Precision::Auto
                .resolve_with(Device::Cpu, false, false)
                .unwrap(),
            Precision::Fp32
        );
    }

    #[test]
    fn impossible_requests_name_device_and_precision() {
        let err = Precision::Fp16
            .resolve_with(Device::Cpu, true, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("fp16") && err.contains("CPU"), "{err}");
        let err = Precision::Bf16
            .resolve_with(Device::Cpu, false, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bf16") && err.contains("CPU"), "{err}");
        assert_eq!(
            Precision::Bf16
                .resolve_with(Device::Cpu, true, false)
                .unwrap(),
            Precision::Bf16
        );
    }
}
