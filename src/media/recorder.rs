//! The audio side of an incident's recording: what each party says, on its channel, on
//! the recording's own 20 ms clock.
//!
//! Parties push their RTP as it arrives; [`Recorder::next_frame`] takes 20 ms from every
//! party's jitter buffer, so a party that is absent or silent leaves silence on its
//! channel and every channel stays on the same timebase. The mixed channel is the sum of
//! the three, saturated to 16 bits.

use super::codec::{self, FRAME};
use super::jitter::JitterBuffer;
use crate::control::{Channel, LegId};

/// Recorded parties are played out 60 ms behind what arrives, to absorb jitter.
const DEPTH_FRAMES: u32 = 3;

/// The parties' channels in the multichannel file's order.
pub const CHANNELS: usize = Channel::ALL.len();

/// 20 ms of the recording: each party's channel and the mix of all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFrame {
    pub channels: [[i16; FRAME]; CHANNELS],
    pub mixed: [i16; FRAME],
}

impl Default for RecordedFrame {
    fn default() -> Self {
        Self {
            channels: [[0; FRAME]; CHANNELS],
            mixed: [0; FRAME],
        }
    }
}

struct Source {
    leg: LegId,
    channel: Channel,
    buffer: JitterBuffer,
}

pub struct Recorder {
    sources: Vec<Source>,
    decoded: Vec<i16>,
    frame: [i16; FRAME],
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            sources: Vec::new(),
            decoded: Vec::new(),
            frame: [0; FRAME],
        }
    }
}

impl Recorder {
    /// Records the leg's party on `channel` from now on (moving it if it was elsewhere).
    pub fn add(&mut self, leg: LegId, channel: Channel) {
        match self.sources.iter_mut().find(|s| s.leg == leg) {
            Some(source) => source.channel = channel,
            None => self.sources.push(Source {
                leg,
                channel,
                buffer: JitterBuffer::new(DEPTH_FRAMES),
            }),
        }
    }

    pub fn remove(&mut self, leg: LegId) {
        self.sources.retain(|s| s.leg != leg);
    }

    pub fn has(&self, leg: LegId) -> bool {
        self.sources.iter().any(|s| s.leg == leg)
    }

    /// An RTP payload from `leg`; payload types other than G.711 are not audio and are
    /// ignored.
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
        let Some(source) = self.sources.iter_mut().find(|s| s.leg == leg) else {
            return;
        };
        codec::decode(codec, payload, &mut self.decoded);
        source.buffer.push(ssrc, timestamp, &self.decoded);
    }

    /// The next 20 ms of every channel and of the mix.
    pub fn next_frame(&mut self, out: &mut RecordedFrame) {
        out.channels = [[0; FRAME]; CHANNELS];
        for source in &mut self.sources {
            source.buffer.pop(&mut self.frame);
            let channel = &mut out.channels[source.channel.index()];
            for (slot, sample) in channel.iter_mut().zip(self.frame.iter()) {
                *slot = slot.saturating_add(*sample);
            }
        }
        for (i, slot) in out.mixed.iter_mut().enumerate() {
            let sum: i32 = out.channels.iter().map(|c| i32::from(c[i])).sum();
            *slot = sum.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::sdp::Codec;
    use crate::media::tone::{goertzel_power, Tone};

    const CALLER: LegId = LegId(1);
    const SEAT: LegId = LegId(2);
    const LINKED: LegId = LegId(3);

    fn send(recorder: &mut Recorder, leg: LegId, tone: &mut Tone, index: u32) {
        let mut pcm = [0i16; FRAME];
        let mut payload = Vec::new();
        tone.fill(&mut pcm);
        codec::encode(Codec::Pcma, &pcm, &mut payload);
        recorder.push(
            leg,
            Codec::Pcma.payload_type(),
            leg.0 as u32,
            index * FRAME as u32,
            &payload,
        );
    }

    #[test]
    fn each_party_lands_on_its_channel_and_all_in_the_mix() {
        let mut recorder = Recorder::default();
        recorder.add(CALLER, Channel::Caller);
        recorder.add(SEAT, Channel::FirstSeat);
        recorder.add(LINKED, Channel::LinkedSeat);
        let mut tones = [
            Tone::new(400.0, 8000.0),
            Tone::new(1000.0, 8000.0),
            Tone::new(1700.0, 8000.0),
        ];
        let mut channels: [Vec<i16>; CHANNELS] = Default::default();
        let mut mixed = Vec::new();
        let mut frame = RecordedFrame::default();
        for index in 0..50 {
            for (leg, tone) in [CALLER, SEAT, LINKED].into_iter().zip(&mut tones) {
                send(&mut recorder, leg, tone, index);
            }
            recorder.next_frame(&mut frame);
            for (all, part) in channels.iter_mut().zip(&frame.channels) {
                all.extend_from_slice(part);
            }
            mixed.extend_from_slice(&frame.mixed);
        }
        for (channel, own) in channels.iter().zip([400.0, 1000.0, 1700.0]) {
            let tail = &channel[4000..];
            for other in [400.0, 1000.0, 1700.0] {
                let power = goertzel_power(tail, other, 8000.0);
                if other == own {
                    assert!(power > 0.01, "{own} Hz missing: {power}");
                } else {
                    assert!(
                        power < 1e-4,
                        "{other} Hz leaked onto the {own} Hz channel: {power}"
                    );
                }
            }
        }
        for frequency in [400.0, 1000.0, 1700.0] {
            assert!(goertzel_power(&mixed[4000..], frequency, 8000.0) > 0.01);
        }
    }

    #[test]
    fn an_absent_party_is_silence_and_a_removed_one_stops() {
        let mut recorder = Recorder::default();
        recorder.add(CALLER, Channel::Caller);
        recorder.add(SEAT, Channel::FirstSeat);
        let mut tone = Tone::new(1000.0, 8000.0);
        let mut frame = RecordedFrame::default();
        for index in 0..10 {
            send(&mut recorder, SEAT, &mut tone, index);
            recorder.next_frame(&mut frame);
        }
        assert!(frame.channels[0].iter().all(|s| *s == 0));
        assert!(frame.channels[2].iter().all(|s| *s == 0));
        assert!(frame.channels[1].iter().any(|s| *s != 0));

        recorder.remove(SEAT);
        send(&mut recorder, SEAT, &mut tone, 10);
        recorder.next_frame(&mut frame);
        assert_eq!(frame, RecordedFrame::default());
    }

    #[test]
    fn telephone_events_are_not_recorded_as_audio() {
        let mut recorder = Recorder::default();
        recorder.add(SEAT, Channel::FirstSeat);
        let mut frame = RecordedFrame::default();
        for index in 0..5 {
            recorder.push(SEAT, 101, 7, index * FRAME as u32, &[1, 0x8a, 0, 160]);
            recorder.next_frame(&mut frame);
        }
        assert_eq!(frame, RecordedFrame::default());
    }
}
