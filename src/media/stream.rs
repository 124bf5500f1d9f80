//! Keeping the stream a party receives consistent while its source changes.
//!
//! A B2BUA that anchors media sends each party one RTP stream (RFC 3550 §8: one SSRC per
//! source). When the audio behind it changes (a transfer, another seat), the SSRC stays the
//! service's own and the sequence numbers and timestamps carry on from where they were,
//! with the marker bit set on the first packet of the new source.

/// Samples in 20 ms of 8 kHz audio: the timestamp step assumed across a change of source.
const FRAME_SAMPLES: u32 = 160;

#[derive(Debug, Clone)]
pub struct OutStream {
    ssrc: u32,
    source: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    last_seq: u16,
    last_ts: u32,
}

/// Header fields for one packet as it leaves towards the party.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewritten {
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
    pub marker: bool,
}

impl OutStream {
    pub fn new(ssrc: u32) -> Self {
        Self {
            ssrc,
            source: None,
            seq_offset: 0,
            ts_offset: 0,
            last_seq: 0,
            last_ts: 0,
        }
    }

    pub fn rewrite(
        &mut self,
        source_ssrc: u32,
        seq: u16,
        timestamp: u32,
        marker: bool,
    ) -> Rewritten {
        let mut marker = marker;
        if self.source != Some(source_ssrc) {
            if self.source.is_some() {
                self.seq_offset = self.last_seq.wrapping_add(1).wrapping_sub(seq);
                self.ts_offset = self
                    .last_ts
                    .wrapping_add(FRAME_SAMPLES)
                    .wrapping_sub(timestamp);
                marker = true;
            } else {
                self.last_seq = seq.wrapping_sub(1);
                self.last_ts = timestamp;
            }
            self.source = Some(source_ssrc);
        }
        let out_seq = seq.wrapping_add(self.seq_offset);
        let out_ts = timestamp.wrapping_add(self.ts_offset);
        // Track the newest packet only; a late one must not pull the stream backwards.
        if (out_seq.wrapping_sub(self.last_seq) as i16) > 0 {
            self.last_seq = out_seq;
            self.last_ts = out_ts;
        }
        Rewritten {
            ssrc: self.ssrc,
            seq: out_seq,
            timestamp: out_ts,
            marker,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_source_continues_the_sequence_and_timestamps() {
        let mut out = OutStream::new(0xabcd);
        let a = out.rewrite(1, 100, 8000, false);
        let b = out.rewrite(1, 101, 8160, false);
        assert_eq!((a.seq, b.seq), (100, 101));
        assert_eq!(b.ssrc, 0xabcd);

        let c = out.rewrite(2, 5000, 123_456, false);
        assert_eq!(c.seq, 102);
        assert_eq!(c.timestamp, 8320);
        assert!(c.marker);
        assert_eq!(out.rewrite(2, 5001, 123_616, false).seq, 103);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut out = OutStream::new(1);
        out.rewrite(9, u16::MAX, 0, false);
        let next = out.rewrite(9, 0, 160, false);
        assert_eq!(next.seq, 0);
        let switched = out.rewrite(10, 40, 0, false);
        assert_eq!(switched.seq, 1);
    }

    #[test]
    fn a_late_packet_keeps_its_place() {
        let mut out = OutStream::new(1);
        out.rewrite(9, 10, 1600, false);
        out.rewrite(9, 12, 1920, false);
        assert_eq!(out.rewrite(9, 11, 1760, false).seq, 11);
        let switched = out.rewrite(3, 0, 0, false);
        assert_eq!(switched.seq, 13);
    }
}
