//! Audio the tests send and measure: paced G.711 tones and a Goertzel filter, written here
//! apart from the service's own code so that the service is judged by an independent ruler.

use std::f64::consts::TAU;
use std::net::{SocketAddr, UdpSocket};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use audio_codec_algorithms::{decode_alaw, decode_ulaw, encode_alaw};

/// Sends `seconds` of a sine at `frequency` as A-law RTP, one 20 ms packet every 20 ms.
pub fn send_tone(
    socket: &UdpSocket,
    to: SocketAddr,
    frequency: f64,
    seconds: f64,
) -> JoinHandle<()> {
    let socket = socket.try_clone().expect("clone socket");
    std::thread::spawn(move || {
        let packets = (seconds * 50.0) as u32;
        let ssrc: u32 = (frequency as u32) << 8;
        let start = Instant::now();
        let mut phase = 0.0f64;
        for n in 0..packets {
            let mut packet = vec![0x80, 8];
            packet.extend_from_slice(&(n as u16).to_be_bytes());
            packet.extend_from_slice(&(n * 160).to_be_bytes());
            packet.extend_from_slice(&ssrc.to_be_bytes());
            for _ in 0..160 {
                packet.push(encode_alaw((phase.sin() * 8000.0) as i16));
                phase = (phase + TAU * frequency / 8000.0) % TAU;
            }
            let _ = socket.send_to(&packet, to);
            // Pacing, not waiting: packets leave on the 20 ms grid a phone would use.
            let due = start + Duration::from_millis(20 * u64::from(n + 1));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    })
}

/// Receives RTP for `window` and decodes what arrived, in order of arrival.
pub fn receive_audio(socket: &UdpSocket, window: Duration) -> Vec<i16> {
    let deadline = Instant::now() + window;
    let mut samples = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        if n < 12 {
            continue;
        }
        let payload_type = buf[1] & 0x7f;
        let payload = &buf[12..n];
        match payload_type {
            0 => samples.extend(payload.iter().map(|b| decode_ulaw(*b))),
            8 => samples.extend(payload.iter().map(|b| decode_alaw(*b))),
            _ => {}
        }
    }
    samples
}

/// Relative power of `frequency` in `samples` (1.0 for a full-scale sine).
pub fn power(samples: &[i16], frequency: f64) -> f64 {
    let k = 2.0 * (TAU * frequency / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for sample in samples {
        let s0 = f64::from(*sample) / 32768.0 + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let n = samples.len().max(1) as f64;
    4.0 * (s1 * s1 + s2 * s2 - k * s1 * s2) / (n * n)
}
