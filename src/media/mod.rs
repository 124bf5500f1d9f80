//! Media: SDP offer/answer, RTP port allocation and the RTP relay that anchors each call's
//! audio in the service.

pub mod ports;
pub mod relay;
pub mod sdp;
pub mod stream;
