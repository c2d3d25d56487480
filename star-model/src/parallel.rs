//! Ordered parallel maps on a fixed number of threads (rayon), for the CPU paths that cut
//! their work into independent parts. Results come back in input order, so they do not depend
//! on which thread ran which part.

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// `f` of each of `items` on `threads` threads, results in input order. With one thread or
/// one item it runs on the caller's thread.
pub(crate) fn map_ordered<T, R, F>(items: &[T], threads: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync + Send,
{
    match pool(threads) {
        Some(pool) if items.len() > 1 => pool.install(|| items.par_iter().map(f).collect()),
        _ => items.iter().map(f).collect(),
    }
}

/// The pool of `threads` workers, built on first use and kept for the process; `None` for one
/// thread, or when the threads cannot be started (the work then runs on the caller's thread,
/// with the same results).
fn pool(threads: usize) -> Option<Arc<ThreadPool>> {
    static POOLS: Mutex<BTreeMap<usize, Arc<ThreadPool>>> = Mutex::new(BTreeMap::new());
    if threads <= 1 {
        return None;
    }
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(pool) = pools.get(&threads) {
        return Some(pool.clone());
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("star-cpu-{i}"))
        .build()
        .ok()?;
    Some(pools.entry(threads).or_insert(Arc::new(pool)).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_input_order_on_any_thread_count() {
        let items: Vec<u64> = (0..1000).collect();
        let expect: Vec<u64> = items.iter().map(|x| x * x).collect();
        for threads in [0, 1, 2, 3, 8] {
            assert_eq!(map_ordered(&items, threads, |x| x * x), expect, "{threads}");
        }
        assert!(map_ordered(&[] as &[u64], 4, |x| *x).is_empty());
    }

    #[test]
    fn the_work_runs_on_the_pool_of_the_thread_count() {
        let items: Vec<usize> = (0..64).collect();
        let sizes = map_ordered(&items, 3, |_| rayon::current_num_threads());
        assert!(sizes.iter().all(|&n| n == 3), "{sizes:?}");
        let names = map_ordered(&items, 3, |_| {
            std::thread::current().name().unwrap_or("").to_string()
        });
        assert!(
            names.iter().all(|n| n.starts_with("star-cpu-")),
            "{names:?}"
        );
        // one thread: the caller's
        let here = std::thread::current().id();
        assert!(map_ordered(&items, 1, |_| std::thread::current().id())
            .iter()
            .all(|&id| id == here));
    }
}
