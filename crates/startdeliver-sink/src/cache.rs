//! Small in-memory maps whose entries expire: record ids by match value, and the
//! `messageId`s delivered recently.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// A map whose entries expire `ttl` after they were inserted.
///
/// Expired entries are dropped when read, and all of them whenever the map has doubled
/// since the last sweep, so memory follows the number of live entries.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    state: Mutex<CacheState<K, V>>,
}

#[derive(Debug)]
struct CacheState<K, V> {
    entries: HashMap<K, (V, Instant)>,
    sweep_at_len: usize,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// Creates an empty cache whose entries live for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            state: Mutex::new(CacheState {
                entries: HashMap::new(),
                sweep_at_len: 1_024,
            }),
        }
    }

    /// Returns the live value for `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        let now = Instant::now();
        let mut state = self.lock();
        match state.entries.get(key) {
            Some((value, expires)) if *expires > now => Some(value.clone()),
            Some(_) => {
                state.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Inserts or replaces the value for `key`, live for the cache's TTL from now.
    pub fn insert(&self, key: K, value: V) {
        let now = Instant::now();
        let mut state = self.lock();
        state.entries.insert(key, (value, now + self.ttl));

        if state.entries.len() >= state.sweep_at_len {
            state.entries.retain(|_, (_, expires)| *expires > now);
            state.sweep_at_len = (state.entries.len() * 2).max(1_024);
        }
    }

    /// Drops the entry for `key`.
    pub fn remove(&self, key: &K) {
        self.lock().entries.remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState<K, V>> {
        // The map stays consistent whatever panicked while it was locked.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The set of ids seen within a time window, such as `messageId`s delivered in the last
/// 24 hours, keeping at most `capacity` of the newest.
///
/// Memory grows with the number of ids kept, by an estimated 200 bytes per id of 36
/// characters, so the capacity bounds it.
#[derive(Debug)]
pub struct RecentIds {
    window: Duration,
    capacity: usize,
    state: Mutex<RecentState>,
}

#[derive(Debug, Default)]
struct RecentState {
    seen: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl RecentIds {
    /// Creates an empty set that remembers up to `capacity` ids for `window` each.
    pub fn new(window: Duration, capacity: usize) -> Self {
        Self {
            window,
            capacity: capacity.max(1),
            state: Mutex::new(RecentState::default()),
        }
    }

    /// Tells whether `id` was inserted within the window.
    pub fn contains(&self, id: &str) -> bool {
        let now = Instant::now();
        let mut state = self.lock();
        Self::expire(&mut state, now, self.window);
        state.seen.contains_key(id)
    }

    /// Remembers `id` from now on.
    pub fn insert(&self, id: &str) {
        let now = Instant::now();
        let mut state = self.lock();
        Self::expire(&mut state, now, self.window);
        state.seen.insert(id.to_owned(), now);
        state.order.push_back((now, id.to_owned()));
        Self::evict_oldest(&mut state, self.capacity);
    }

    fn expire(state: &mut RecentState, now: Instant, window: Duration) {
        while let Some((at, _)) = state.order.front() {
            if now.saturating_duration_since(*at) < window {
                break;
            }
            Self::pop_oldest(state);
        }
    }

    fn evict_oldest(state: &mut RecentState, capacity: usize) {
        while state.seen.len() > capacity {
            if !Self::pop_oldest(state) {
                return;
            }
        }
    }

    /// Drops the oldest insert, and returns `false` when there was none.
    fn pop_oldest(state: &mut RecentState) -> bool {
        let Some((at, id)) = state.order.pop_front() else {
            return false;
        };
        // A later insert of the same id keeps it alive.
        if state.seen.get(&id) == Some(&at) {
            state.seen.remove(&id);
        }
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecentState> {
        // The maps stay consistent whatever panicked while they were locked.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn cache_entry_expires_after_ttl() {
        let cache = TtlCache::new(10 * MINUTE);
        cache.insert("u1".to_owned(), 7);

        tokio::time::advance(9 * MINUTE).await;
        assert_eq!(cache.get(&"u1".to_owned()), Some(7));
        tokio::time::advance(MINUTE).await;
        assert_eq!(cache.get(&"u1".to_owned()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn removed_entry_is_gone() {
        let cache = TtlCache::new(10 * MINUTE);
        cache.insert("u1".to_owned(), 7);
        cache.remove(&"u1".to_owned());
        assert_eq!(cache.get(&"u1".to_owned()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn recent_ids_forget_after_window() {
        let recent = RecentIds::new(24 * 60 * MINUTE, 100);
        recent.insert("m1");

        tokio::time::advance(23 * 60 * MINUTE).await;
        recent.insert("m2");
        assert!(recent.contains("m1"));

        tokio::time::advance(60 * MINUTE).await;
        assert!(!recent.contains("m1"));
        assert!(recent.contains("m2"));
    }

    #[tokio::test(start_paused = true)]
    async fn oldest_ids_leave_at_capacity() {
        let recent = RecentIds::new(10 * MINUTE, 2);
        recent.insert("m1");
        recent.insert("m2");
        recent.insert("m3");
        assert!(!recent.contains("m1"));
        assert!(recent.contains("m2"));
        assert!(recent.contains("m3"));
    }

    #[tokio::test(start_paused = true)]
    async fn reinserted_id_stays_remembered() {
        let recent = RecentIds::new(10 * MINUTE, 100);
        recent.insert("m1");
        tokio::time::advance(5 * MINUTE).await;
        recent.insert("m1");
        tokio::time::advance(6 * MINUTE).await;
        assert!(recent.contains("m1"));
    }
}
