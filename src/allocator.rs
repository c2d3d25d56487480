//! Settings for mimalloc, the allocator the `star` binary and the examples install (the library
//! installs none; an application that embeds star keeps its own choice).

/// mimalloc's option index of `purge_delay` (`mi_option_purge_delay` in `mimalloc.h`, the
/// same in its v2 and v3; libmimalloc-sys does not export it as a constant).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc to keep freed memory instead of returning it to the OS a while after it is
/// freed (by default 1 s in the mimalloc 3 built here, 10 ms in mimalloc 2). Training frees and reallocates the same large buffers every step; on a
/// 2-core VM the purging cost SFT about a quarter of its wall time, mostly in the kernel
/// (BENCHMARKS.md, training speed). The process then keeps its peak memory until it exits.
/// Call it first thing in `main`, before other threads start (mimalloc's options are not
/// thread-safe); with another global allocator it changes nothing.
pub fn keep_freed_memory() {
    // SAFETY: a plain setter of mimalloc's option table, called before other threads exist.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_is_purge_delay() {
        // purge_delay's default is 1000 ms (mimalloc 3) or 10 ms (mimalloc 2) unless the
        // environment sets it; its neighbours in the table default to 1 (eager_commit_delay)
        // and 0 (use_numa_nodes)
        let get = |o| unsafe { libmimalloc_sys::mi_option_get(o) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert!(matches!(get(MI_OPTION_PURGE_DELAY), 10 | 1000));
        }
        assert_eq!(get(MI_OPTION_PURGE_DELAY - 1), 1);
        assert_eq!(get(MI_OPTION_PURGE_DELAY + 1), 0);
        keep_freed_memory();
        assert_eq!(get(MI_OPTION_PURGE_DELAY), -1);
    }
}
