//! The devices a training run uses: one, or several for burn-train's multi-device strategy.

use crate::run::TrainError;
use burn::tensor::Device;

/// One device or several to train on, as the training functions take them: a [`Device`]
/// trains on that device; a slice or `Vec` of devices trains on all of them.
///
/// The first device holds the model, steps the optimiser and validates. With more than one,
/// burn-train's multi-device strategy splits every epoch into one contiguous share per device;
/// each step takes a batch from every share, computes its gradients on that share's device and
/// sums them on the first. A step therefore sees `devices × batch_size` items and an epoch takes
/// that many times fewer optimiser steps than on one device, so results differ from a
/// one-device run. With two devices a run is deterministic (a sum of two gradients does not
/// depend on which arrives first); with three or more the order of arrival, and so the last
/// bits of the sum, can vary.
pub trait TrainDevices {
    /// The devices, the main one first.
    fn as_devices(&self) -> &[Device];

    /// The main device (the first), or an error when there is none.
    fn main_device(&self) -> Result<&Device, TrainError> {
        self.as_devices()
            .first()
            .ok_or_else(|| TrainError::Training("no device to train on".into()))
    }
}

impl TrainDevices for Device {
    fn as_devices(&self) -> &[Device] {
        std::slice::from_ref(self)
    }
}

impl TrainDevices for [Device] {
    fn as_devices(&self) -> &[Device] {
        self
    }
}

impl TrainDevices for Vec<Device> {
    fn as_devices(&self) -> &[Device] {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_device_or_several_with_the_first_as_main_and_none_refused() {
        let one = Device::flex();
        assert_eq!(one.as_devices().len(), 1);
        assert_eq!(one.main_device().unwrap(), &Device::flex());
        let two = vec![Device::flex(), Device::flex()];
        assert_eq!(two.as_devices().len(), 2);
        let none: &[Device] = &[];
        let err = none.main_device().unwrap_err();
        assert!(err.to_string().contains("no device"), "{err}");
    }
}
