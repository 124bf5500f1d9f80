//! The mixer, the recorder and the G.711 codecs on the media path: one three-party mix
//! tick (decode already done on arrival, sum, minus self, saturate, encode per party), one
//! recorder frame (three parties pushed and taken out as channels and mix), writing that
//! frame to both WAV files, and one frame of each codec.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hotline_bridge::control::{Channel, LegId};
use hotline_bridge::media::codec::{self, FRAME};
use hotline_bridge::media::mixer::Mixer;
use hotline_bridge::media::recorder::{RecordedFrame, Recorder};
use hotline_bridge::media::recording_writer::WavPair;
use hotline_bridge::media::sdp::Codec;
use hotline_bridge::media::tone::Tone;

fn three_party_mix(c: &mut Criterion) {
    let legs = [LegId(1), LegId(2), LegId(3)];
    let codecs = [Codec::Pcmu, Codec::Pcma, Codec::Pcmu];
    let mut mixer = Mixer::default();
    for (leg, codec) in legs.iter().zip(codecs) {
        mixer.add(*leg, codec);
    }
    let mut tone = Tone::new(440.0, 8000.0);
    let mut pcm = [0i16; FRAME];
    let mut payload = Vec::new();
    let mut timestamp = 0u32;
    c.bench_function("mix tick: 3 parties, push 3 frames + mix + encode 3", |b| {
        b.iter(|| {
            for (leg, codec) in legs.iter().zip(codecs) {
                tone.fill(&mut pcm);
                codec::encode(codec, &pcm, &mut payload);
                mixer.push(
                    *leg,
                    codec.payload_type(),
                    leg.0 as u32,
                    timestamp,
                    &payload,
                );
            }
            timestamp = timestamp.wrapping_add(FRAME as u32);
            let mut bytes = 0;
            mixer.tick(|_, _, encoded| bytes += encoded.len());
            black_box(bytes)
        })
    });
}

fn recorder(c: &mut Criterion) {
    let parties = [
        (LegId(1), Channel::Caller),
        (LegId(2), Channel::FirstSeat),
        (LegId(3), Channel::LinkedSeat),
    ];
    let mut recorder = Recorder::default();
    for (leg, channel) in parties {
        recorder.add(leg, channel);
    }
    let mut tone = Tone::new(440.0, 8000.0);
    let mut pcm = [0i16; FRAME];
    let mut payload = Vec::new();
    tone.fill(&mut pcm);
    codec::encode(Codec::Pcma, &pcm, &mut payload);
    let mut timestamp = 0u32;
    let mut frame = RecordedFrame::default();
    c.bench_function("recorder frame: 3 parties pushed + channels and mix", |b| {
        b.iter(|| {
            for (leg, _) in parties {
                let pt = Codec::Pcma.payload_type();
                recorder.push(leg, pt, leg.0 as u32, timestamp, &payload);
            }
            timestamp = timestamp.wrapping_add(FRAME as u32);
            recorder.next_frame(&mut frame);
            black_box(frame.mixed[0])
        })
    });

    // Into a writer that keeps nothing, so the figure is the writer thread's own work (and
    // memory stays flat however many iterations run), not the disk's.
    // A WAV file ends at 4 GiB, so the files start afresh every 100,000 frames (33 min).
    let mut pair = WavPair::new(Discard::default(), Discard::default()).expect("no I/O");
    c.bench_function("recording write: one frame to both WAV files", |b| {
        b.iter(|| {
            if pair.frames() == 100_000 {
                pair = WavPair::new(Discard::default(), Discard::default()).expect("no I/O");
            }
            pair.write(black_box(&frame)).expect("no I/O")
        })
    });
}

/// A seekable writer that keeps only its position and length.
#[derive(Default)]
struct Discard {
    position: u64,
    length: u64,
}

impl std::io::Write for Discard {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.position += buf.len() as u64;
        self.length = self.length.max(self.position);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::io::Seek for Discard {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        self.position = match to {
            std::io::SeekFrom::Start(at) => at,
            std::io::SeekFrom::End(by) => self.length.saturating_add_signed(by),
            std::io::SeekFrom::Current(by) => self.position.saturating_add_signed(by),
        };
        Ok(self.position)
    }
}

fn codecs(c: &mut Criterion) {
    let mut tone = Tone::new(1000.0, 8000.0);
    let mut pcm = [0i16; FRAME];
    tone.fill(&mut pcm);
    for codec in Codec::ALL {
        let mut encoded = Vec::new();
        codec::encode(codec, &pcm, &mut encoded);
        let mut out = Vec::new();
        c.bench_function(&format!("{} encode 20 ms", codec.name()), |b| {
            b.iter(|| codec::encode(codec, black_box(&pcm), &mut out))
        });
        let mut decoded = Vec::new();
        c.bench_function(&format!("{} decode 20 ms", codec.name()), |b| {
            b.iter(|| codec::decode(codec, black_box(&encoded), &mut decoded))
        });
    }
}

criterion_group!(benches, three_party_mix, recorder, codecs);
criterion_main!(benches);
