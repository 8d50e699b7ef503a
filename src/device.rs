// SPDX-License-Identifier: MIT
//! Device selection: `auto`, `cpu`, `cuda`, `cuda:N`.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Where the network should run, as a user writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// The first CUDA device if there is one, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// A CUDA device by index.
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "auto" | "" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            _ => t
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
                .map(Self::Cuda)
                .ok_or_else(|| Error::InvalidDevice(s.to_owned())),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl DeviceSpec {
    /// Resolves the spec against the CUDA devices libtorch can see.
    ///
    /// `Auto` falls back to the CPU; an explicit CUDA index that is not available is an error.
    pub fn resolve(self) -> Result<tch::Device> {
        self.resolve_with(tch::Cuda::device_count().max(0) as usize)
    }

    /// Resolves the spec given the number of CUDA devices (testable without a GPU).
    pub fn resolve_with(self, cuda_devices: usize) -> Result<tch::Device> {
        match self {
            Self::Cpu => Ok(tch::Device::Cpu),
            Self::Auto if cuda_devices > 0 => Ok(tch::Device::Cuda(0)),
            Self::Auto => Ok(tch::Device::Cpu),
            Self::Cuda(n) if n < cuda_devices => Ok(tch::Device::Cuda(n)),
            Self::Cuda(n) => Err(Error::CudaUnavailable {
                requested: n,
                available: cuda_devices,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("auto".parse::<DeviceSpec>().unwrap(), DeviceSpec::Auto);
        assert_eq!("CPU".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        for bad in ["cuda:", "cuda:x", "tpu", "cuda:-1"] {
            let err = bad.parse::<DeviceSpec>().unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn resolves_against_device_count() {
        assert_eq!(DeviceSpec::Auto.resolve_with(0).unwrap(), tch::Device::Cpu);
        assert_eq!(
            DeviceSpec::Auto.resolve_with(2).unwrap(),
            tch::Device::Cuda(0)
        );
        assert_eq!(
            DeviceSpec::Cuda(1).resolve_with(2).unwrap(),
            tch::Device::Cuda(1)
        );
        let err = DeviceSpec::Cuda(0).resolve_with(0).unwrap_err();
        assert!(matches!(
            err,
            Error::CudaUnavailable {
                requested: 0,
                available: 0
            }
        ));
        assert_eq!(DeviceSpec::Cuda(2).to_string(), "cuda:2");
    }
}
