//! The relay's side of recording: each incident's recording on its own 20 ms clock, the
//! parties put on and taken off its channels, and the frames handed to the writer thread.

use std::sync::{Arc, Mutex};

use rtp_rs::RtpReader;

use super::{ticker, MediaEvent, Relay};
use crate::control::{Channel, IncidentId, LegId};
use crate::media::recorder::{RecordedFrame, Recorder};
use crate::media::recording_writer::WriterHandle;

/// An incident's recording on the media side: the parties' audio on the recording's clock.
pub(super) struct Recording {
    incident: IncidentId,
    started: tokio::time::Instant,
    state: Mutex<RecordingClock>,
}

struct RecordingClock {
    recorder: Recorder,
    /// Frames handed to the writer (or dropped) since the start.
    frames: u64,
    lost: u64,
    frame: RecordedFrame,
}

impl Recording {
    fn add_party(&self, leg: LegId, channel: Channel) {
        self.state
            .lock()
            .expect("recording")
            .recorder
            .add(leg, channel);
    }

    /// An RTP packet the leg's party sent.
    pub(super) fn hear(&self, leg: LegId, packet: &RtpReader) {
        self.state.lock().expect("recording").recorder.push(
            leg,
            packet.payload_type(),
            packet.ssrc(),
            packet.timestamp(),
            packet.payload(),
        );
    }

    pub(super) fn remove_party(&self, leg: LegId) {
        self.state.lock().expect("recording").recorder.remove(leg);
    }

    /// Hands the writer every frame due by now, so the files keep to wall-clock time even
    /// when a tick comes late.
    fn catch_up(&self, writer: &WriterHandle) {
        let due = (self.started.elapsed().as_millis() / 20) as u64;
        let mut clock = self.state.lock().expect("recording");
        let clock = &mut *clock;
        while clock.frames < due {
            clock.recorder.next_frame(&mut clock.frame);
            if !writer.frame(self.incident, clock.frames, &clock.frame) {
                clock.lost += 1;
            }
            clock.frames += 1;
        }
    }
}

impl Relay {
    pub(super) fn start_recording(&mut self, incident: IncidentId, files: [String; 2]) {
        if self.writer.is_none() {
            match WriterHandle::spawn(self.events.clone()) {
                Ok(writer) => self.writer = Some(writer),
                Err(error) => {
                    let reason = format!("cannot start the recording writer: {error}");
                    let _ = self
                        .events
                        .send(MediaEvent::RecordingFailed { incident, reason });
                    return;
                }
            }
        }
        let writer = self.writer.clone().expect("set above");
        if !writer.start(incident, self.recordings_dir.clone(), files) {
            // The writer thread died; the next recording starts a new one.
            self.writer = None;
            let reason = "the recording writer has stopped".to_string();
            let _ = self
                .events
                .send(MediaEvent::RecordingFailed { incident, reason });
            return;
        }
        let recording = Arc::new(Recording {
            incident,
            started: tokio::time::Instant::now(),
            state: Mutex::new(RecordingClock {
                recorder: Recorder::default(),
                frames: 0,
                lost: 0,
                frame: RecordedFrame::default(),
            }),
        });
        let task = tokio::spawn(run_recording(recording.clone(), writer));
        self.recordings.insert(incident, (recording, task));
    }

    pub(super) fn record_party(&mut self, incident: IncidentId, leg: LegId, channel: Channel) {
        let (Some((recording, _)), Some((media, _))) =
            (self.recordings.get(&incident), self.legs.get(&leg))
        else {
            return;
        };
        let previous = media
            .state
            .lock()
            .expect("relay state")
            .recording
            .replace(recording.clone());
        if let Some(previous) = previous.filter(|p| !Arc::ptr_eq(p, recording)) {
            previous.remove_party(leg);
        }
        recording.add_party(leg, channel);
    }

    pub(super) fn forget_party(&mut self, incident: IncidentId, leg: LegId) {
        let (Some((recording, _)), Some((media, _))) =
            (self.recordings.get(&incident), self.legs.get(&leg))
        else {
            return;
        };
        let mut state = media.state.lock().expect("relay state");
        if state
            .recording
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(r, recording))
        {
            state.recording = None;
            recording.remove_party(leg);
        }
    }

    pub(super) fn stop_recording(&mut self, incident: IncidentId) {
        let Some((recording, task)) = self.recordings.remove(&incident) else {
            return;
        };
        task.abort();
        let Some(writer) = &self.writer else {
            return;
        };
        recording.catch_up(writer);
        for (media, _) in self.legs.values() {
            let mut state = media.state.lock().expect("relay state");
            if state
                .recording
                .as_ref()
                .is_some_and(|r| Arc::ptr_eq(r, &recording))
            {
                state.recording = None;
            }
        }
        let clock = recording.state.lock().expect("recording");
        if !writer.stop(incident, clock.frames, clock.lost) {
            let reason = "the recording writer stopped before the files were closed".to_string();
            let _ = self
                .events
                .send(MediaEvent::RecordingFailed { incident, reason });
        }
    }
}

/// Keeps an incident's recording on its clock until the recording is stopped.
async fn run_recording(recording: Arc<Recording>, writer: WriterHandle) {
    let mut interval = ticker();
    loop {
        interval.tick().await;
        recording.catch_up(&writer);
    }
}
