//! The three-way mix: each party hears the sum of the others, never itself.
//!
//! Parties push decoded audio as it arrives; [`Mixer::tick`] runs every 20 ms on the
//! mixer's own clock, takes one frame from each party's jitter buffer, and encodes for each
//! party, in its own codec, the sum of everyone else, saturated to 16 bits.

use super::codec::{self, FRAME};
use super::jitter::JitterBuffer;
use super::sdp::Codec;
use crate::control::LegId;

/// Jitter buffer depth for mixed parties: 40 ms.
const DEPTH_FRAMES: u32 = 2;

struct Party {
    leg: LegId,
    codec: Codec,
    buffer: JitterBuffer,
    frame: [i16; FRAME],
}

#[derive(Default)]
pub struct Mixer {
    parties: Vec<Party>,
    decoded: Vec<i16>,
}

impl Mixer {
    pub fn add(&mut self, leg: LegId, codec: Codec) {
        if self.parties.iter().any(|p| p.leg == leg) {
            return;
        }
        self.parties.push(Party {
            leg,
            codec,
            buffer: JitterBuffer::new(DEPTH_FRAMES),
            frame: [0; FRAME],
        });
    }

    pub fn remove(&mut self, leg: LegId) {
        self.parties.retain(|p| p.leg != leg);
    }

    pub fn legs(&self) -> Vec<LegId> {
        self.parties.iter().map(|p| p.leg).collect()
    }

    /// An RTP payload from `leg`, in the codec of `payload_type`.
    pub fn push(
        &mut self,
        leg: LegId,
        payload_type: u8,
        ssrc: u32,
        timestamp: u32,
        payload: &[u8],
    ) {
        let Some(codec) = codec::codec_of(payload_type) else {
            return;
        };
        let Some(party) = self.parties.iter_mut().find(|p| p.leg == leg) else {
            return;
        };
        codec::decode(codec, payload, &mut self.decoded);
        party.buffer.push(ssrc, timestamp, &self.decoded);
    }

    /// Mixes the next 20 ms; `emit` receives each party's encoded frame.
    pub fn tick(&mut self, mut emit: impl FnMut(LegId, Codec, &[u8])) {
        let mut total = [0i32; FRAME];
        for party in &mut self.parties {
            party.buffer.pop(&mut party.frame);
            for (sum, sample) in total.iter_mut().zip(party.frame.iter()) {
                *sum += i32::from(*sample);
            }
        }
        let mut others = [0i16; FRAME];
        let mut encoded = Vec::with_capacity(FRAME);
        for party in &self.parties {
            for ((out, sum), own) in others.iter_mut().zip(total.iter()).zip(party.frame.iter()) {
                *out =
                    (sum - i32::from(*own)).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
            }
            codec::encode(party.codec, &others, &mut encoded);
            emit(party.leg, party.codec, &encoded);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::{goertzel_power, Tone};

    const CALLER: LegId = LegId(1);
    const SEAT: LegId = LegId(2);
    const LINKED: LegId = LegId(3);

    /// Runs one second of three parties each sending its own tone; returns what each heard.
    fn mix_one_second(codecs: [Codec; 3]) -> Vec<(LegId, Vec<i16>)> {
        let parties = [(CALLER, 400.0), (SEAT, 1000.0), (LINKED, 1700.0)];
        let mut mixer = Mixer::default();
        let mut tones: Vec<Tone> = parties.iter().map(|(_, f)| Tone::new(*f, 8000.0)).collect();
        for ((leg, _), codec) in parties.iter().zip(codecs) {
            mixer.add(*leg, codec);
        }
        let mut heard: Vec<(LegId, Vec<i16>)> =
            parties.iter().map(|(l, _)| (*l, Vec::new())).collect();
        let mut pcm = [0i16; FRAME];
        let mut payload = Vec::new();
        for frame_index in 0..50u32 {
            for (((leg, _), tone), codec) in parties.iter().zip(&mut tones).zip(codecs) {
                tone.fill(&mut pcm);
                codec::encode(codec, &pcm, &mut payload);
                let pt = codec.payload_type();
                mixer.push(*leg, pt, leg.0 as u32, frame_index * FRAME as u32, &payload);
            }
            mixer.tick(|leg, codec, encoded| {
                let mut decoded = Vec::new();
                codec::decode(codec, encoded, &mut decoded);
                heard
                    .iter_mut()
                    .find(|(l, _)| *l == leg)
                    .unwrap()
                    .1
                    .extend(decoded);
            });
        }
        heard
    }

    #[test]
    fn each_party_hears_the_other_two_tones_and_not_its_own() {
        for codecs in [[Codec::Pcmu; 3], [Codec::Pcma, Codec::Pcmu, Codec::Pcma]] {
            let heard = mix_one_second(codecs);
            let own = [(CALLER, 400.0), (SEAT, 1000.0), (LINKED, 1700.0)];
            for (leg, audio) in &heard {
                let steady = &audio[1600..];
                for (other, freq) in own {
                    let power = goertzel_power(steady, freq, 8000.0);
                    if other == *leg {
                        assert!(power < 0.001, "{leg} hears itself at {freq} Hz: {power}");
                    } else {
                        assert!(
                            power > 0.01,
                            "{leg} does not hear {other} at {freq} Hz: {power}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_loud_mix_saturates_instead_of_wrapping() {
        let mut mixer = Mixer::default();
        mixer.add(CALLER, Codec::Pcmu);
        mixer.add(SEAT, Codec::Pcmu);
        mixer.add(LINKED, Codec::Pcmu);
        let mut loud = Vec::new();
        codec::encode(Codec::Pcmu, &[30_000; FRAME], &mut loud);
        for frame_index in 0..4 {
            for leg in [SEAT, LINKED] {
                mixer.push(leg, 0, leg.0 as u32, frame_index * FRAME as u32, &loud);
            }
        }
        let mut caller_heard = Vec::new();
        for _ in 0..4 {
            mixer.tick(|leg, codec, encoded| {
                if leg == CALLER {
                    codec::decode(codec, encoded, &mut caller_heard);
                }
            });
        }
        assert!(
            caller_heard.iter().all(|s| *s > 0),
            "no wrap to negative values"
        );
    }
}
