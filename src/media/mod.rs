//! Media: SDP offer/answer, RTP port allocation, G.711, DTMF, the jitter buffer, the mixer,
//! tones, the recorder, and the RTP relay that anchors each call's audio in the service.

pub mod block_writer;
pub mod codec;
pub mod dtmf;
pub mod jitter;
pub mod mixer;
pub mod ports;
pub mod recorder;
pub mod recording_writer;
pub mod relay;
pub mod sdp;
pub mod stream;
pub mod tone;
