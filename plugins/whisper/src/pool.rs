//! A fixed set of reusable items handed out one caller at a time.
//!
//! Callers beyond the pool's size wait in line (a `Condvar`), with an
//! optional deadline. A checked-out item goes back when its guard drops,
//! also when the caller panics, so a panic never shrinks the pool.

use std::{
    ops::{Deref, DerefMut},
    sync::{Condvar, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

/// Items shared by many threads, each used by one of them at a time.
pub(crate) struct Pool<T> {
    free: Mutex<Vec<T>>,
    returned: Condvar,
    size: usize,
}

/// Why [`Pool::take`] gave up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TimedOut;

impl<T> Pool<T> {
    pub(crate) fn new(items: Vec<T>) -> Self {
        Self {
            size: items.len(),
            free: Mutex::new(items),
            returned: Condvar::new(),
        }
    }

    /// How many items the pool owns.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Takes a free item, waiting for one when all are in use: forever,
    /// or until `timeout` has passed.
    pub(crate) fn take(&self, timeout: Option<Duration>) -> Result<Taken<'_, T>, TimedOut> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut free = self.lock();
        loop {
            if let Some(item) = free.pop() {
                return Ok(Taken {
                    pool: self,
                    item: Some(item),
                });
            }
            free = match deadline {
                None => self
                    .returned
                    .wait(free)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(TimedOut);
                    }
                    self.returned
                        .wait_timeout(free, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    // The lock only guards a Vec push/pop, which cannot leave it half-done,
    // so a poisoned lock is safe to keep using.
    fn lock(&self) -> MutexGuard<'_, Vec<T>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A checked-out item; it returns to the pool when dropped.
pub(crate) struct Taken<'a, T> {
    pool: &'a Pool<T>,
    // Always `Some` until `drop`.
    item: Option<T>,
}

impl<T> Deref for Taken<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // Invariant: `item` is only taken out in `drop`.
        self.item.as_ref().expect("pool item present until drop")
    }
}

impl<T> DerefMut for Taken<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // Invariant: `item` is only taken out in `drop`.
        self.item.as_mut().expect("pool item present until drop")
    }
}

impl<T> Drop for Taken<'_, T> {
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            self.pool.lock().push(item);
            self.pool.returned.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            atomic::{AtomicUsize, Ordering},
            Arc,
        },
        thread,
    };

    use super::*;

    #[test]
    fn callers_beyond_the_size_wait_instead_of_failing() {
        let pool = Arc::new(Pool::new(vec![0_u32, 0]));
        let busy = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (pool, busy, peak) = (pool.clone(), busy.clone(), peak.clone());
                thread::spawn(move || {
                    let mut item = pool.take(None).unwrap();
                    let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(20));
                    *item += 1;
                    busy.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        let a = pool.take(None).unwrap();
        let b = pool.take(None).unwrap();
        assert_eq!(*a + *b, 6);
    }

    #[test]
    fn a_deadline_turns_the_wait_into_an_error() {
        let pool = Pool::new(vec![()]);
        let held = pool.take(None).unwrap();
        let start = Instant::now();
        assert!(pool.take(Some(Duration::from_millis(30))).is_err());
        assert!(start.elapsed() >= Duration::from_millis(30));
        drop(held);
        assert!(pool.take(Some(Duration::ZERO)).is_ok());
    }

    #[test]
    fn a_panicking_user_gives_the_item_back() {
        let pool = Arc::new(Pool::new(vec![1_u8]));
        let p = pool.clone();
        let joined = thread::spawn(move || {
            let _item = p.take(None).unwrap();
            panic!("boom");
        })
        .join();
        assert!(joined.is_err());
        assert_eq!(*pool.take(Some(Duration::ZERO)).unwrap(), 1);
    }
}
