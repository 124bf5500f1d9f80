//! Tones: the ringback a caller hears while a seat rings for it after answer, and the
//! Goertzel filter that measures one frequency in a block of audio.

use std::f32::consts::TAU;

use super::codec::FRAME;

/// A sine wave at a fixed frequency and level.
pub struct Tone {
    step: f32,
    phase: f32,
    amplitude: f32,
}

impl Tone {
    pub fn new(frequency: f32, sample_rate: f32) -> Self {
        Self {
            step: TAU * frequency / sample_rate,
            phase: 0.0,
            // About -16 dBFS: clearly audible, far from clipping when mixed.
            amplitude: 5000.0,
        }
    }

    pub fn fill(&mut self, out: &mut [i16]) {
        for sample in out {
            *sample = (self.phase.sin() * self.amplitude) as i16;
            self.phase = (self.phase + self.step) % TAU;
        }
    }
}

/// Ringback as Chinese networks play it (YD/T 1024): 450 Hz, one second on, four off.
pub struct Ringback {
    tone: Tone,
    position: usize,
}

const ON: usize = 8000;
const CYCLE: usize = 5 * 8000;

impl Default for Ringback {
    fn default() -> Self {
        Self {
            tone: Tone::new(450.0, 8000.0),
            position: 0,
        }
    }
}

impl Ringback {
    pub fn next_frame(&mut self, out: &mut [i16; FRAME]) {
        if self.position < ON {
            self.tone.fill(out);
        } else {
            out.fill(0);
        }
        self.position = (self.position + FRAME) % CYCLE;
    }
}

/// The power of `frequency` in `samples`, normalised to 1.0 for a full-scale sine
/// (Goertzel's algorithm).
pub fn goertzel_power(samples: &[i16], frequency: f32, sample_rate: f32) -> f32 {
    let coefficient = 2.0 * (TAU * frequency / sample_rate).cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for sample in samples {
        let s0 = f32::from(*sample) / 32768.0 + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    let n = samples.len().max(1) as f32;
    4.0 * power / (n * n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goertzel_finds_the_tone_and_not_its_neighbours() {
        let mut tone = Tone::new(1000.0, 8000.0);
        let mut samples = vec![0i16; 8000];
        tone.fill(&mut samples);
        let at = goertzel_power(&samples, 1000.0, 8000.0);
        assert!(at > 0.015, "{at}");
        assert!(goertzel_power(&samples, 1400.0, 8000.0) < at / 100.0);
    }

    #[test]
    fn ringback_is_one_second_of_450_hz_then_four_of_silence() {
        let mut ringback = Ringback::default();
        let mut frame = [0i16; FRAME];
        let mut audio = Vec::new();
        for _ in 0..250 {
            ringback.next_frame(&mut frame);
            audio.extend_from_slice(&frame);
        }
        assert!(goertzel_power(&audio[..8000], 450.0, 8000.0) > 0.015);
        assert!(audio[8000..].iter().all(|s| *s == 0));
    }
}
