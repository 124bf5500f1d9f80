//! G.711 (ITU-T G.711) frames: µ-law and A-law to linear PCM and back, through the
//! `audio-codec-algorithms` crate.

use audio_codec_algorithms::{decode_alaw, decode_ulaw, encode_alaw, encode_ulaw};

use super::sdp::Codec;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;

pub fn decode(codec: Codec, payload: &[u8], out: &mut Vec<i16>) {
    out.clear();
    match codec {
        Codec::Pcmu => out.extend(payload.iter().map(|b| decode_ulaw(*b))),
        Codec::Pcma => out.extend(payload.iter().map(|b| decode_alaw(*b))),
    }
}

pub fn encode(codec: Codec, samples: &[i16], out: &mut Vec<u8>) {
    out.clear();
    match codec {
        Codec::Pcmu => out.extend(samples.iter().map(|s| encode_ulaw(*s))),
        Codec::Pcma => out.extend(samples.iter().map(|s| encode_alaw(*s))),
    }
}

/// The codec of a static payload type.
pub fn codec_of(payload_type: u8) -> Option<Codec> {
    match payload_type {
        0 => Some(Codec::Pcmu),
        8 => Some(Codec::Pcma),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference points of G.711 Table 1 and Table 2: silence and full scale.
    const ULAW_SILENCE: u8 = 0xff;
    const ALAW_SILENCE: u8 = 0xd5;

    #[test]
    fn silence_and_full_scale_follow_the_tables() {
        let mut out = Vec::new();
        encode(Codec::Pcmu, &[0, i16::MAX, i16::MIN], &mut out);
        assert_eq!(out, [ULAW_SILENCE, 0x80, 0x00]);
        encode(Codec::Pcma, &[0, i16::MAX, i16::MIN], &mut out);
        assert_eq!(out, [ALAW_SILENCE, 0xaa, 0x2a]);
    }

    #[test]
    fn every_code_survives_a_decode_and_encode() {
        for codec in Codec::ALL {
            let codes: Vec<u8> = (0..=255).collect();
            let (mut linear, mut back) = (Vec::new(), Vec::new());
            decode(codec, &codes, &mut linear);
            encode(codec, &linear, &mut back);
            for (code, again) in codes.iter().zip(&back) {
                // µ-law has two codes for zero (0x7f and 0xff).
                let same = code == again || (codec == Codec::Pcmu && linear[*code as usize] == 0);
                assert!(same, "{codec:?} code {code:#04x} came back as {again:#04x}");
            }
        }
    }
}
