//! The mixer and the G.711 codecs on the media path: one three-party mix tick (decode
//! already done on arrival, sum, minus self, saturate, encode per party) and one frame of
//! each codec.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hotline_bridge::control::LegId;
use hotline_bridge::media::codec::{self, FRAME};
use hotline_bridge::media::mixer::Mixer;
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

criterion_group!(benches, three_party_mix, codecs);
criterion_main!(benches);
