//! Choosing a device among the backends compiled in (cargo features `flex`, `ndarray`, `wgpu`,
//! `cuda`).

use crate::error::{Error, Result};
use burn::tensor::Device;

/// The names [`device_from_name`] accepts in this build, default first.
pub fn available_devices() -> Vec<&'static str> {
    [
        ("cuda", cfg!(feature = "cuda")),
        ("wgpu", cfg!(feature = "wgpu")),
        ("flex", cfg!(feature = "flex")),
        ("ndarray", cfg!(feature = "ndarray")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect()
}

/// The device called `name` (`flex`, `ndarray`, `wgpu`, `cuda`, `cuda:N`, or `default` for the
/// first of [`available_devices`]). Fails with the list of compiled backends otherwise.
pub fn device_from_name(name: &str) -> Result<Device> {
    let unavailable = || Error::DeviceNotCompiled {
        name: name.to_string(),
        available: available_devices(),
        feature: name.split(':').next().unwrap_or(name).to_string(),
    };
    match name {
        "default" => available_devices()
            .first()
            .map(|d| device_from_name(d))
            .unwrap_or(Err(Error::NoBackend)),
        #[cfg(feature = "flex")]
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        "ndarray" => Ok(Device::ndarray()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        #[cfg(feature = "cuda")]
        n if n.starts_with("cuda:") => {
            n[5..]
                .parse::<usize>()
                .map(Device::cuda)
                .map_err(|_| Error::BadDeviceIndex {
                    name: n.to_string(),
                })
        }
        #[allow(unreachable_patterns)] // reachable only for backends that are not compiled in
        "flex" | "cpu" | "ndarray" | "wgpu" | "cuda" => Err(unavailable()),
        #[allow(unreachable_patterns)]
        n if n.starts_with("cuda:") => Err(unavailable()),
        _ => Err(Error::UnknownDevice {
            name: name.to_string(),
            available: available_devices(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_compiled_backends_or_say_what_is_missing() {
        assert!(available_devices().contains(&"flex"));
        assert!(device_from_name("flex").is_ok());
        assert!(device_from_name("default").is_ok());
        let err = device_from_name("tpu").unwrap_err();
        assert!(
            matches!(&err, Error::UnknownDevice { name, available } if name == "tpu" && available.contains(&"flex")),
            "{err}"
        );
        assert!(err.to_string().contains("unknown device `tpu`"), "{err}");
        if !cfg!(feature = "cuda") {
            let err = device_from_name("cuda:1").unwrap_err();
            assert!(
                matches!(&err, Error::DeviceNotCompiled { feature, .. } if feature == "cuda"),
                "{err}"
            );
            assert!(err.to_string().contains("--features cuda"), "{err}");
        }
    }
}
