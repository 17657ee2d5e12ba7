//! Work on independent documents spread over the machine's cores (issue: ingest that
//! scales with children). The engine's thread still owns the store and commits alone;
//! only Automerge work that touches one document each (loading a saved document,
//! computing a document's figures) runs beside it, on scoped threads that end before
//! the commit goes on.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Most threads one page's work uses.
const MAX_THREADS: usize = 8;

/// Applies `f` to `items` cut into one run per core (runs of at least `min` items), and
/// returns the runs' results concatenated, in order: for work that is cheaper in batches,
/// such as checking a page's signatures.
pub(crate) fn chunked<T: Sync, R: Send>(
    items: &[T],
    min: usize,
    f: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    let cores = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_THREADS);
    let runs = cores.min(items.len() / min.max(1)).max(1);
    if runs == 1 {
        return f(items);
    }
    let runs: Vec<&[T]> = items.chunks(items.len().div_ceil(runs)).collect();
    map(runs, &f).into_iter().flatten().collect()
}

/// Applies `f` to every item, in parallel when there are several and the machine has
/// more than one core, and returns the results in the order of `items`.
pub(crate) fn map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_THREADS)
        .min(items.len());
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    // Items are taken one at a time from a shared cursor: documents differ in size.
    let slots: Vec<std::sync::Mutex<Option<T>>> = items
        .into_iter()
        .map(|t| std::sync::Mutex::new(Some(t)))
        .collect();
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = slots.get(i) else {
                return done;
            };
            let item = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(item) = item {
                done.push((i, f(item)));
            }
        }
    };
    let mut all: Vec<(usize, R)> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in helpers {
            match h.join() {
                Ok(part) => all.extend(part),
                // A panic in `f` is the caller's panic, as it would be without threads.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_order_of_the_items() {
        let items: Vec<u64> = (0..1000).collect();
        let out = super::map(items, |x| x * x);
        assert_eq!(out, (0..1000).map(|x| x * x).collect::<Vec<_>>());
        assert!(super::map(Vec::<u8>::new(), |x| x).is_empty());
    }

    #[test]
    fn runs_cover_every_item_once_in_order() {
        for n in [0usize, 1, 63, 64, 129, 1000] {
            let items: Vec<usize> = (0..n).collect();
            let out = super::chunked(&items, 64, |run| run.iter().map(|x| x + 1).collect());
            assert_eq!(out, (1..=n).collect::<Vec<_>>(), "{n} items");
        }
    }
}
