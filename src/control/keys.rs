//! Transfer keys: turning a seat's key presses into actions.
//!
//! Every action starts with `*`. Digits outside a sequence are ordinary digits and do
//! nothing; a sequence left unfinished for longer than the inter-digit timeout is dropped.

use std::time::{Duration, Instant};

/// What a seat asked for with its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAction {
    /// Bring the linked hotline in for a three-way call (三方通话).
    ThreeWay,
    /// Hand the caller to the linked hotline (电话转接).
    Transfer,
    /// In a three-way call: the pressing seat leaves, the other two stay.
    Leave,
    /// Drop the third party, or abort a handoff still ringing.
    Cancel,
    /// Tag the incident with a two-digit category code.
    Category(String),
}

/// The key sequences, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMap {
    pub three_way: String,
    pub transfer: String,
    pub leave: String,
    pub cancel: String,
    /// Followed by two digits.
    pub category: String,
    pub inter_digit: Duration,
}

impl Default for KeyMap {
    fn default() -> Self {
        Self {
            three_way: "*1".into(),
            transfer: "*2".into(),
            leave: "*3".into(),
            cancel: "*0".into(),
            category: "*9".into(),
            inter_digit: Duration::from_secs(3),
        }
    }
}

impl KeyMap {
    fn complete(&self, keys: &str) -> Option<KeyAction> {
        let fixed = [
            (&self.three_way, KeyAction::ThreeWay),
            (&self.transfer, KeyAction::Transfer),
            (&self.leave, KeyAction::Leave),
            (&self.cancel, KeyAction::Cancel),
        ];
        if let Some((_, action)) = fixed.into_iter().find(|(seq, _)| *seq == keys) {
            return Some(action);
        }
        let code = keys.strip_prefix(self.category.as_str())?;
        (code.len() == 2 && code.chars().all(|c| c.is_ascii_digit()))
            .then(|| KeyAction::Category(code.to_string()))
    }

    fn is_prefix(&self, keys: &str) -> bool {
        [&self.three_way, &self.transfer, &self.leave, &self.cancel]
            .iter()
            .any(|seq| seq.starts_with(keys))
            || (keys.starts_with(self.category.as_str())
                && keys.len() < self.category.len() + 2
                && keys[self.category.len()..]
                    .chars()
                    .all(|c| c.is_ascii_digit()))
            || self.category.starts_with(keys)
    }
}

/// The keys one seat leg has pressed so far.
#[derive(Debug, Default)]
pub struct KeySequence {
    keys: String,
    last: Option<Instant>,
}

impl KeySequence {
    pub fn push(&mut self, map: &KeyMap, digit: char, now: Instant) -> Option<KeyAction> {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) > map.inter_digit)
        {
            self.keys.clear();
        }
        self.last = Some(now);
        if self.keys.is_empty() && digit != '*' {
            return None;
        }
        self.keys.push(digit);
        if let Some(action) = map.complete(&self.keys) {
            self.keys.clear();
            return Some(action);
        }
        if !map.is_prefix(&self.keys) {
            // A `*` that broke a sequence may start the next one.
            self.keys.clear();
            if digit == '*' {
                self.keys.push('*');
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(seq: &mut KeySequence, keys: &str, now: Instant) -> Vec<KeyAction> {
        let map = KeyMap::default();
        keys.chars()
            .filter_map(|k| seq.push(&map, k, now))
            .collect()
    }

    #[test]
    fn each_default_sequence_gives_its_action() {
        let now = Instant::now();
        let mut seq = KeySequence::default();
        assert_eq!(
            press(&mut seq, "*1*2*3*0*931", now),
            vec![
                KeyAction::ThreeWay,
                KeyAction::Transfer,
                KeyAction::Leave,
                KeyAction::Cancel,
                KeyAction::Category("31".into())
            ]
        );
    }

    #[test]
    fn ordinary_digits_and_broken_sequences_do_nothing() {
        let now = Instant::now();
        let mut seq = KeySequence::default();
        assert!(press(&mut seq, "123#*5", now).is_empty());
        assert_eq!(press(&mut seq, "**2", now), vec![KeyAction::Transfer]);
        assert!(press(&mut seq, "*9x", now).is_empty());
    }

    #[test]
    fn a_pause_longer_than_the_inter_digit_timeout_drops_the_sequence() {
        let t0 = Instant::now();
        let mut seq = KeySequence::default();
        assert!(press(&mut seq, "*", t0).is_empty());
        assert!(press(&mut seq, "1", t0 + Duration::from_secs(4)).is_empty());
        assert!(press(&mut seq, "*", t0 + Duration::from_secs(5)).is_empty());
        assert_eq!(
            press(&mut seq, "1", t0 + Duration::from_secs(7)),
            vec![KeyAction::ThreeWay]
        );
    }
}
