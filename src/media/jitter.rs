//! A small playout buffer for one party of a mix, driven by RTP timestamps.
//!
//! Samples are placed by their timestamp, so packets of any size, late packets within the
//! buffer's depth and reordered packets all land where they belong; the mixer takes 20 ms
//! at a time on its own clock. A new source (SSRC) or a jump far from the playout point
//! starts the buffer afresh.

use std::collections::VecDeque;

use super::codec::FRAME;

#[derive(Debug)]
pub struct JitterBuffer {
    /// How far behind the newest audio playout starts, in samples.
    depth: u32,
    samples: VecDeque<i16>,
    /// RTP timestamp of `samples[0]`.
    playout: Option<u32>,
    source: Option<u32>,
    /// Consecutive packets that arrived too late to be played.
    late: u32,
}

/// More than a second ahead of playout is taken as a jump, not jitter.
const MAX_AHEAD: i64 = 8000;

impl JitterBuffer {
    /// A buffer that plays `depth_frames` 20 ms frames behind what arrives.
    pub fn new(depth_frames: u32) -> Self {
        Self {
            depth: depth_frames * FRAME as u32,
            samples: VecDeque::new(),
            playout: None,
            source: None,
            late: 0,
        }
    }

    pub fn push(&mut self, ssrc: u32, timestamp: u32, audio: &[i16]) {
        if self.source != Some(ssrc) || self.playout.is_none() {
            self.restart(ssrc, timestamp);
        }
        let playout = self.playout.expect("set by restart");
        let mut offset = i64::from(timestamp.wrapping_sub(playout) as i32);
        if offset > MAX_AHEAD || offset < -i64::from(self.depth) * 2 || self.late > 10 {
            self.restart(ssrc, timestamp);
            offset = i64::from(self.depth);
        }
        if offset < 0 {
            self.late += 1;
            return;
        }
        self.late = 0;
        let offset = offset as usize;
        if self.samples.len() < offset + audio.len() {
            self.samples.resize(offset + audio.len(), 0);
        }
        for (slot, sample) in self.samples.range_mut(offset..).zip(audio) {
            *slot = *sample;
        }
    }

    fn restart(&mut self, ssrc: u32, timestamp: u32) {
        self.source = Some(ssrc);
        self.playout = Some(timestamp.wrapping_sub(self.depth));
        self.samples.clear();
        self.late = 0;
    }

    /// The next 20 ms; silence where nothing arrived.
    pub fn pop(&mut self, out: &mut [i16; FRAME]) {
        for slot in out.iter_mut() {
            *slot = self.samples.pop_front().unwrap_or(0);
        }
        if let Some(playout) = self.playout.as_mut() {
            *playout = playout.wrapping_add(FRAME as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(value: i16) -> Vec<i16> {
        vec![value; FRAME]
    }

    fn pop(buffer: &mut JitterBuffer) -> i16 {
        let mut out = [0; FRAME];
        buffer.pop(&mut out);
        out[0]
    }

    #[test]
    fn audio_plays_after_the_depth_in_timestamp_order() {
        let mut buffer = JitterBuffer::new(2);
        buffer.push(1, 1000, &frame(1));
        buffer.push(1, 1320, &frame(3));
        buffer.push(1, 1160, &frame(2));
        assert_eq!(
            [
                pop(&mut buffer),
                pop(&mut buffer),
                pop(&mut buffer),
                pop(&mut buffer),
                pop(&mut buffer)
            ],
            [0, 0, 1, 2, 3]
        );
    }

    #[test]
    fn a_missing_packet_is_silence_and_a_too_late_one_is_dropped() {
        let mut buffer = JitterBuffer::new(1);
        buffer.push(1, 0, &frame(5));
        buffer.push(1, 320, &frame(7));
        assert_eq!([pop(&mut buffer), pop(&mut buffer)], [0, 5]);
        assert_eq!(pop(&mut buffer), 0, "timestamp 160 never came");
        buffer.push(1, 160, &frame(6));
        assert_eq!(
            pop(&mut buffer),
            7,
            "the late packet did not push the stream back"
        );
    }

    #[test]
    fn a_new_source_or_a_jump_restarts_playout() {
        let mut buffer = JitterBuffer::new(1);
        buffer.push(1, 0, &frame(5));
        buffer.push(2, 90_000, &frame(9));
        assert_eq!([pop(&mut buffer), pop(&mut buffer)], [0, 9]);
        buffer.push(2, 500_000, &frame(4));
        assert_eq!([pop(&mut buffer), pop(&mut buffer)], [0, 4]);
    }

    #[test]
    fn thirty_millisecond_packets_are_played_in_twenty_millisecond_frames() {
        let mut buffer = JitterBuffer::new(0);
        buffer.push(1, 0, &vec![1; 240]);
        buffer.push(1, 240, &vec![2; 240]);
        let mut out = [0; FRAME];
        buffer.pop(&mut out);
        assert!(out.iter().all(|s| *s == 1));
        buffer.pop(&mut out);
        assert_eq!((out[79], out[80]), (1, 2));
    }
}
