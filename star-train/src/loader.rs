//! A burn-train data loader whose epochs are reproducible: the items of epoch `e` come from a
//! function of `e` alone, so a run resumed from the checkpoint of epoch `k` sees exactly the
//! batches an uninterrupted run would have seen from epoch `k + 1` on. (burn's own shuffling
//! loader advances one RNG across epochs, which a resume cannot replay.)

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::tensor::Device;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

type ItemsFn<T> = dyn Fn(usize) -> Vec<T> + Send + Sync;
type BatchFn<T, O> = dyn Fn(&[T], &Device) -> O + Send + Sync;

/// Batches of `items_of_epoch(e)` in order, `batch_size` at a time, made into `O` on a device.
pub struct EpochLoader<T, O> {
    items_of_epoch: Arc<ItemsFn<T>>,
    to_batch: Arc<BatchFn<T, O>>,
    batch_size: usize,
    num_items: usize,
    /// The 0-based epoch the next `iter()` serves; shared by copies made with `to_device`, not
    /// by slices.
    next_epoch: Arc<AtomicUsize>,
    device: Device,
    range: Option<(usize, usize)>,
}

impl<T: Send + Sync + 'static, O: Send + 'static> EpochLoader<T, O> {
    /// A loader serving `items_of_epoch(0)`, `items_of_epoch(1)`, ... on successive `iter()`
    /// calls. `num_items` is the (constant) number of items per epoch.
    pub fn new(
        items_of_epoch: impl Fn(usize) -> Vec<T> + Send + Sync + 'static,
        to_batch: impl Fn(&[T], &Device) -> O + Send + Sync + 'static,
        batch_size: usize,
        num_items: usize,
        device: Device,
    ) -> Self {
        EpochLoader {
            items_of_epoch: Arc::new(items_of_epoch),
            to_batch: Arc::new(to_batch),
            batch_size: batch_size.max(1),
            num_items,
            next_epoch: Arc::new(AtomicUsize::new(0)),
            device,
            range: None,
        }
    }

    /// Starts at 0-based epoch `epoch` (for a run resumed after `epoch` finished epochs).
    pub fn starting_at(self, epoch: usize) -> Self {
        self.next_epoch.store(epoch, Ordering::SeqCst);
        self
    }

    fn copy(&self) -> Self {
        EpochLoader {
            items_of_epoch: self.items_of_epoch.clone(),
            to_batch: self.to_batch.clone(),
            batch_size: self.batch_size,
            num_items: self.num_items,
            next_epoch: self.next_epoch.clone(),
            device: self.device.clone(),
            range: self.range,
        }
    }
}

struct EpochIter<T, O> {
    items: Vec<T>,
    pos: usize,
    batch_size: usize,
    to_batch: Arc<BatchFn<T, O>>,
    device: Device,
}

impl<T, O> Iterator for EpochIter<T, O> {
    type Item = Result<O, DatasetError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.items.len() {
            return None;
        }
        let end = (self.pos + self.batch_size).min(self.items.len());
        let batch = (self.to_batch)(&self.items[self.pos..end], &self.device);
        self.pos = end;
        Some(Ok(batch))
    }
}

impl<T, O> DataLoaderIterator<O> for EpochIter<T, O> {
    fn progress(&self) -> Progress {
        Progress {
            items_processed: self.pos,
            items_total: self.items.len(),
            unit: Some("items".into()),
        }
    }
}

impl<T: Send + Sync + 'static, O: Send + 'static> DataLoader<O> for EpochLoader<T, O> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<O> + 'a> {
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        let mut items = (self.items_of_epoch)(epoch);
        if let Some((start, end)) = self.range {
            items = items
                .into_iter()
                .skip(start)
                .take(end.saturating_sub(start))
                .collect();
        }
        Box::new(EpochIter {
            items,
            pos: 0,
            batch_size: self.batch_size,
            to_batch: self.to_batch.clone(),
            device: self.device.clone(),
        })
    }

    fn num_items(&self) -> usize {
        match self.range {
            Some((s, e)) => e.min(self.num_items).saturating_sub(s),
            None => self.num_items,
        }
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<O>> {
        let mut c = self.copy();
        c.device = device.clone();
        Arc::new(c)
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<O>> {
        let mut c = self.copy();
        c.range = Some((start, end));
        // each share of a multi-device epoch counts its own epochs: every share iterates once
        // per epoch, and a shared counter would hand the shares different epochs
        c.next_epoch = Arc::new(AtomicUsize::new(self.next_epoch.load(Ordering::SeqCst)));
        Arc::new(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_functions_of_the_epoch_number_and_resume_replays_them() {
        let make = || {
            EpochLoader::new(
                |e| (0..5).map(|i| i * 10 + e).collect::<Vec<usize>>(),
                |xs: &[usize], _d: &Device| xs.to_vec(),
                2,
                5,
                Device::flex(),
            )
        };
        let drain = |l: &dyn DataLoader<Vec<usize>>| -> Vec<Vec<usize>> {
            l.iter().map(|b| b.unwrap()).collect()
        };
        let a = make();
        let e0 = drain(&a);
        assert_eq!(e0, vec![vec![0, 10], vec![20, 30], vec![40]]);
        let moved = a.to_device(&Device::flex());
        let e1 = drain(moved.as_ref());
        assert_eq!(
            e1[0],
            vec![1, 11],
            "the epoch counter is shared by device copies"
        );
        let resumed = make().starting_at(1);
        assert_eq!(drain(&resumed), e1);
        assert_eq!(a.slice(1, 3).num_items(), 2);
    }

    #[test]
    fn the_shares_of_a_multi_device_split_partition_every_epoch() {
        // what burn-train's multi-device strategy does: slice, then move each share
        let loader = EpochLoader::new(
            |e| (0..5).map(|i| i * 10 + e).collect::<Vec<usize>>(),
            |xs: &[usize], _d: &Device| xs.to_vec(),
            2,
            5,
            Device::flex(),
        )
        .starting_at(3);
        let shares = burn::data::dataloader::split::split_dataloader(
            Arc::new(loader),
            &[Device::flex(), Device::flex()],
        );
        for epoch in 3..6 {
            let mut seen: Vec<usize> = shares
                .iter()
                .flat_map(|s| s.iter().flat_map(|b| b.unwrap()).collect::<Vec<_>>())
                .collect();
            seen.sort_unstable();
            let all: Vec<usize> = (0..5).map(|i| i * 10 + epoch).collect();
            assert_eq!(
                seen, all,
                "epoch {epoch}: every item once, all of one epoch"
            );
        }
    }
}
