//! A table of deadlines keyed by what they are for, shared by the sans-IO layers.
//!
//! Each key has at most one deadline; setting it again moves it. The earliest deadline is
//! found in logarithmic time, so a driver can sleep until exactly the next one.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Instant;

#[derive(Debug)]
pub struct TimerTable<K: Ord + Hash + Clone> {
    by_time: BTreeSet<(Instant, K)>,
    by_key: HashMap<K, Instant>,
}

impl<K: Ord + Hash + Clone> Default for TimerTable<K> {
    fn default() -> Self {
        Self {
            by_time: BTreeSet::new(),
            by_key: HashMap::new(),
        }
    }
}

impl<K: Ord + Hash + Clone> TimerTable<K> {
    /// Arms `key` to fire at `at`, replacing any deadline it had.
    pub fn set(&mut self, key: K, at: Instant) {
        if let Some(old) = self.by_key.insert(key.clone(), at) {
            self.by_time.remove(&(old, key.clone()));
        }
        self.by_time.insert((at, key));
    }

    pub fn cancel(&mut self, key: &K) {
        if let Some(old) = self.by_key.remove(key) {
            self.by_time.remove(&(old, key.clone()));
        }
    }

    pub fn contains(&self, key: &K) -> bool {
        self.by_key.contains_key(key)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns one key whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        let (_, key) = self.by_time.pop_first()?;
        self.by_key.remove(&key);
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_in_deadline_order_and_rearming_moves_a_key() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        table.set("b", t0 + Duration::from_secs(2));
        table.set("a", t0 + Duration::from_secs(3));
        table.set("a", t0 + Duration::from_secs(1));

        assert_eq!(table.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(table.pop_expired(t0), None);
        assert_eq!(table.pop_expired(t0 + Duration::from_secs(5)), Some("a"));
        assert_eq!(table.pop_expired(t0 + Duration::from_secs(5)), Some("b"));
        assert!(table.is_empty());
    }

    #[test]
    fn a_cancelled_key_never_fires() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        table.set(1, t0);
        table.cancel(&1);
        assert_eq!(table.pop_expired(t0 + Duration::from_secs(1)), None);
    }
}
