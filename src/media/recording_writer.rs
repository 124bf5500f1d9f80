//! Writes recordings to disk on a thread of its own, so that a slow disk never delays
//! audio: the media tasks hand over 20 ms frames and never wait for the file system.
//!
//! Each incident gets two WAV files, 8 kHz 16-bit PCM: one channel per party, and the mix
//! in mono. The headers are rewritten every second, so a crash leaves readable files that
//! miss at most the last second or so. Frames dropped because the disk fell behind are
//! written as silence, so that what follows stays at its time. A write that fails (a full disk) ends that
//! recording with [`MediaEvent::RecordingFailed`]; calls are not touched.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use hound::{SampleFormat, WavSpec, WavWriter};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::UnboundedSender;

use super::block_writer::BlockWriter;
use super::codec::FRAME;
use super::recorder::{RecordedFrame, CHANNELS};
use super::relay::MediaEvent;
use crate::control::{IncidentId, SavedFile};

/// Frames waiting for the disk, over all recordings, before new ones are dropped: about
/// 40 MB, ten minutes of one call or fifteen seconds of two thousand.
const MAX_QUEUED: usize = 30_000;

/// Headers are brought up to date every 50 frames (one second of audio).
pub(crate) const FLUSH_EVERY: u64 = 50;

const SAMPLE_RATE: u32 = 8000;

enum Message {
    Start {
        incident: IncidentId,
        dir: PathBuf,
        files: [String; 2],
    },
    /// The recording's frame number `index` (counted from 0 on the recording's clock).
    Frame {
        incident: IncidentId,
        index: u64,
        frame: Box<RecordedFrame>,
    },
    /// The recording ends after `frames` frames, `lost_frames` of which were dropped.
    Stop {
        incident: IncidentId,
        frames: u64,
        lost_frames: u64,
    },
}

/// The media tasks' side of the writer thread.
#[derive(Clone)]
pub struct WriterHandle {
    sender: mpsc::Sender<Message>,
    queued: Arc<AtomicUsize>,
}

impl WriterHandle {
    /// Starts the writer thread; it reports saved and failed recordings on `events`.
    pub fn spawn(events: UnboundedSender<MediaEvent>) -> io::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let counter = queued.clone();
        std::thread::Builder::new()
            .name("recording-writer".into())
            .spawn(move || run(receiver, counter, events))?;
        Ok(Self { sender, queued })
    }

    /// False when the writer thread is gone.
    pub fn start(&self, incident: IncidentId, dir: PathBuf, files: [String; 2]) -> bool {
        let message = Message::Start {
            incident,
            dir,
            files,
        };
        self.sender.send(message).is_ok()
    }

    /// Queues the recording's frame number `index`; false when the disk is so far behind
    /// that the frame was dropped (the file gets silence in its place).
    pub fn frame(&self, incident: IncidentId, index: u64, frame: &RecordedFrame) -> bool {
        if self.queued.load(Ordering::Relaxed) >= MAX_QUEUED {
            return false;
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
        let message = Message::Frame {
            incident,
            index,
            frame: Box::new(frame.clone()),
        };
        self.sender.send(message).is_ok()
    }

    /// False when the writer thread is gone.
    pub fn stop(&self, incident: IncidentId, frames: u64, lost_frames: u64) -> bool {
        let message = Message::Stop {
            incident,
            frames,
            lost_frames,
        };
        self.sender.send(message).is_ok()
    }
}

/// An incident's two files while they are written.
pub struct WavPair<W: Write + Seek> {
    parties: WavWriter<W>,
    mixed: WavWriter<W>,
    frames: u64,
}

fn spec(channels: u16) -> WavSpec {
    WavSpec {
        channels,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: SampleFormat::Int,
    }
}

impl<W: Write + Seek> WavPair<W> {
    pub fn new(parties: W, mixed: W) -> hound::Result<Self> {
        Ok(Self {
            parties: WavWriter::new(parties, spec(CHANNELS as u16))?,
            mixed: WavWriter::new(mixed, spec(1))?,
            frames: 0,
        })
    }

    pub fn write(&mut self, frame: &RecordedFrame) -> hound::Result<()> {
        let mut parties = self.parties.get_i16_writer((FRAME * CHANNELS) as u32);
        for i in 0..FRAME {
            for channel in &frame.channels {
                parties.write_sample(channel[i]);
            }
        }
        parties.flush()?;
        let mut mixed = self.mixed.get_i16_writer(FRAME as u32);
        for sample in frame.mixed {
            mixed.write_sample(sample);
        }
        mixed.flush()?;
        self.frames += 1;
        if self.frames.is_multiple_of(FLUSH_EVERY) {
            self.parties.flush()?;
            self.mixed.flush()?;
        }
        Ok(())
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Writes silence until the files hold `frames` frames, so that audio after frames
    /// that were dropped stays at its time.
    pub fn pad_to(&mut self, frames: u64) -> hound::Result<()> {
        let silence = RecordedFrame::default();
        while self.frames < frames {
            self.write(&silence)?;
        }
        Ok(())
    }

    pub fn finish(self) -> hound::Result<()> {
        self.parties.finalize()?;
        self.mixed.finalize()
    }
}

/// One recording on the writer thread.
struct Open {
    paths: [PathBuf; 2],
    names: [String; 2],
    /// None once writing failed (or the files could not be created).
    pair: Option<WavPair<BlockWriter<File>>>,
    /// Whether this recording created its files; when it could not, whatever is at its
    /// paths belongs to somebody else and is not reported as saved.
    owned: bool,
    frames: u64,
}

fn create(path: &Path) -> io::Result<BlockWriter<File>> {
    // An existing file is never overwritten: it is somebody's evidence.
    let file = OpenOptions::new().write(true).create_new(true).open(path)?;
    Ok(BlockWriter::new(file))
}

/// Creates both files of a recording, or neither: when the second cannot be created, the
/// first is removed again.
fn create_pair(paths: &[PathBuf; 2]) -> Result<[BlockWriter<File>; 2], String> {
    let dir = paths[0].parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let parties =
        create(&paths[0]).map_err(|e| format!("cannot create {}: {e}", paths[0].display()))?;
    match create(&paths[1]) {
        Ok(mixed) => Ok([parties, mixed]),
        Err(error) => {
            drop(parties);
            let _ = std::fs::remove_file(&paths[0]);
            Err(format!("cannot create {}: {error}", paths[1].display()))
        }
    }
}

/// SHA-256 of a file, lowercase hex, and its length.
pub fn digest_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((hex, bytes))
}

fn run(
    receiver: mpsc::Receiver<Message>,
    queued: Arc<AtomicUsize>,
    events: UnboundedSender<MediaEvent>,
) {
    let mut open: HashMap<IncidentId, Open> = HashMap::new();
    while let Ok(message) = receiver.recv() {
        match message {
            Message::Start {
                incident,
                dir,
                files,
            } => {
                let paths = [dir.join(&files[0]), dir.join(&files[1])];
                let (owned, opened) = match create_pair(&paths) {
                    Ok([parties, mixed]) => (
                        true,
                        WavPair::new(parties, mixed)
                            .map_err(|e| format!("cannot write {}: {e}", paths[0].display())),
                    ),
                    Err(reason) => (false, Err(reason)),
                };
                let pair = match opened {
                    Ok(pair) => Some(pair),
                    Err(reason) => {
                        let _ = events.send(MediaEvent::RecordingFailed { incident, reason });
                        None
                    }
                };
                let recording = Open {
                    paths,
                    names: files,
                    pair,
                    owned,
                    frames: 0,
                };
                open.insert(incident, recording);
            }
            Message::Frame {
                incident,
                index,
                frame,
            } => {
                queued.fetch_sub(1, Ordering::Relaxed);
                let Some(recording) = open.get_mut(&incident) else {
                    continue;
                };
                let Some(pair) = recording.pair.as_mut() else {
                    continue;
                };
                if let Err(error) = pair.pad_to(index).and_then(|()| pair.write(&frame)) {
                    let reason = format!("cannot write {}: {error}", recording.paths[0].display());
                    recording.frames = pair.frames();
                    // What reached the disk stays; finishing may fail too on a full disk.
                    let _ = recording.pair.take().map(WavPair::finish);
                    let _ = events.send(MediaEvent::RecordingFailed { incident, reason });
                }
            }
            Message::Stop {
                incident,
                frames,
                lost_frames,
            } => {
                let Some(mut recording) = open.remove(&incident) else {
                    continue;
                };
                if let Some(mut pair) = recording.pair.take() {
                    let padded = pair.pad_to(frames);
                    recording.frames = pair.frames();
                    if let Err(error) = padded.and(pair.finish()) {
                        let reason =
                            format!("cannot finish {}: {error}", recording.paths[0].display());
                        let _ = events.send(MediaEvent::RecordingFailed { incident, reason });
                    }
                }
                let files = saved_files(&recording);
                let _ = events.send(MediaEvent::RecordingSaved {
                    incident,
                    files,
                    duration_ms: recording.frames * 20,
                    lost_ms: lost_frames * 20,
                });
            }
        }
    }
}

/// The files of a stopped recording that exist, with their digests.
fn saved_files(recording: &Open) -> Vec<SavedFile> {
    let mut saved = Vec::new();
    if !recording.owned {
        return saved;
    }
    for (path, name) in recording.paths.iter().zip(&recording.names) {
        match digest_file(path) {
            Ok((sha256, bytes)) => saved.push(SavedFile {
                file: name.clone(),
                path: path.display().to_string(),
                sha256,
                bytes,
            }),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "recording file unreadable")
            }
        }
    }
    saved
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn frame(value: i16) -> RecordedFrame {
        RecordedFrame {
            channels: [[value; FRAME], [value + 1; FRAME], [value + 2; FRAME]],
            mixed: [value * 3 + 3; FRAME],
        }
    }

    #[test]
    fn frames_read_back_interleaved_and_mixed() {
        let mut parties = Cursor::new(Vec::new());
        let mut mixed = Cursor::new(Vec::new());
        {
            let mut pair = WavPair::new(&mut parties, &mut mixed).unwrap();
            pair.write(&frame(10)).unwrap();
            pair.write(&frame(20)).unwrap();
            pair.finish().unwrap();
        }
        parties.set_position(0);
        mixed.set_position(0);
        let mut reader = hound::WavReader::new(parties).unwrap();
        assert_eq!(reader.spec().channels, 3);
        assert_eq!(reader.spec().sample_rate, 8000);
        let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(samples.len(), 2 * FRAME * 3);
        assert_eq!(&samples[..3], &[10, 11, 12]);
        assert_eq!(&samples[FRAME * 3..FRAME * 3 + 3], &[20, 21, 22]);
        let mut reader = hound::WavReader::new(mixed).unwrap();
        assert_eq!(reader.spec().channels, 1);
        let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(samples.len(), 2 * FRAME);
        assert_eq!(samples[0], 33);
    }

    fn names(incident: u64) -> [String; 2] {
        [
            format!("r-{incident}.wav"),
            format!("r-{incident}-mixed.wav"),
        ]
    }

    #[test]
    fn frames_dropped_on_the_way_become_silence_so_later_audio_keeps_its_time() {
        let dir = tempfile::tempdir().unwrap();
        let (events, mut reports) = tokio::sync::mpsc::unbounded_channel();
        let writer = WriterHandle::spawn(events).unwrap();
        let incident = IncidentId(1);
        writer.start(incident, dir.path().to_path_buf(), names(1));
        assert!(writer.frame(incident, 0, &frame(10)));
        assert!(writer.frame(incident, 3, &frame(20)));
        writer.stop(incident, 5, 3);
        let MediaEvent::RecordingSaved {
            files,
            duration_ms,
            lost_ms,
            ..
        } = reports.blocking_recv().unwrap()
        else {
            panic!("not saved");
        };
        assert_eq!((files.len(), duration_ms, lost_ms), (2, 100, 60));
        let mut reader = hound::WavReader::open(dir.path().join("r-1-mixed.wav")).unwrap();
        let mixed: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(mixed.len(), 5 * FRAME);
        let first_of = |n: usize| mixed[n * FRAME];
        assert_eq!([0, 1, 2, 3, 4].map(first_of), [33, 0, 0, 63, 0]);
    }

    #[test]
    fn files_it_could_not_create_are_not_reported_as_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let [parties, mixed] = names(2).map(|name| dir.path().join(name));
        std::fs::write(&mixed, b"somebody else's evidence").unwrap();
        let (events, mut reports) = tokio::sync::mpsc::unbounded_channel();
        let writer = WriterHandle::spawn(events).unwrap();
        let incident = IncidentId(2);
        writer.start(incident, dir.path().to_path_buf(), names(2));
        writer.frame(incident, 0, &frame(1));
        writer.stop(incident, 1, 0);
        let MediaEvent::RecordingFailed { reason, .. } = reports.blocking_recv().unwrap() else {
            panic!("no failure reported");
        };
        assert!(reason.contains("cannot create") && reason.contains("r-2-mixed.wav"));
        let MediaEvent::RecordingSaved { files, .. } = reports.blocking_recv().unwrap() else {
            panic!("not ended");
        };
        assert!(files.is_empty(), "{files:?}");
        assert!(!parties.exists(), "the half-made pair is removed");
        assert_eq!(std::fs::read(&mixed).unwrap(), b"somebody else's evidence");
    }

    /// A disk that takes `room` bytes and then reports itself full.
    struct SmallDisk {
        inner: std::rc::Rc<std::cell::RefCell<Cursor<Vec<u8>>>>,
        room: usize,
    }

    impl Write for SmallDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut inner = self.inner.borrow_mut();
            let end = inner.position() as usize + buf.len();
            if end > self.room {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "No space left on device",
                ));
            }
            inner.write(buf)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for SmallDisk {
        fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
            self.inner.borrow_mut().seek(pos)
        }
    }

    #[test]
    fn a_full_disk_is_an_error_not_a_panic_and_what_was_flushed_reads_back() {
        let stored = std::rc::Rc::new(std::cell::RefCell::new(Cursor::new(Vec::new())));
        let disk = |room| SmallDisk {
            inner: stored.clone(),
            room,
        };
        let mixed = SmallDisk {
            inner: Default::default(),
            room: 1 << 20,
        };
        // Room for the header and a little over one second of three channels. The file is
        // small enough that the buffered writer sits in front of the same bytes.
        let mut pair = WavPair::new(disk(100 + 60 * FRAME * 6), mixed).unwrap();
        let mut written = 0;
        let error = loop {
            match pair.write(&frame(1)) {
                Ok(()) => written += 1,
                Err(error) => break error,
            }
            assert!(written < 1000, "the full disk was never reported");
        };
        assert!(error.to_string().contains("No space left"), "{error}");
        assert!(written >= FLUSH_EVERY as usize);

        drop(pair);
        let bytes = stored.borrow().get_ref().clone();
        let reader = hound::WavReader::new(Cursor::new(bytes)).unwrap();
        assert!(reader.len() as usize >= FLUSH_EVERY as usize * FRAME * 3);
    }
}
