//! A buffered writer for files that grow by appending, as recordings do.

use std::io::{self, Seek, SeekFrom, Write};

/// The file system's block size, which every write but the header refresh's ends on.
const BLOCK: u64 = 4096;

/// Bytes held per file before they go to the file system.
const HELD: usize = 8192;

/// A buffered writer that hands the file system whole blocks: a write ending inside a new
/// block makes the kernel zero the rest of that block first, which with thousands of
/// files growing at once costs as much as copying the audio. Seeking (the header refresh)
/// and flushing write out everything held, so a crash still loses only what came after
/// the last refresh.
pub struct BlockWriter<W: Write + Seek> {
    inner: W,
    held: Vec<u8>,
    /// The file position of `held[0]`.
    position: u64,
}

impl<W: Write + Seek> BlockWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            held: Vec::with_capacity(HELD),
            position: 0,
        }
    }

    /// Writes out the first `len` held bytes; on an error, what did reach the file is
    /// dropped from `held` and the rest stays.
    fn write_out(&mut self, len: usize) -> io::Result<()> {
        let mut done = 0;
        let result = loop {
            if done == len {
                break Ok(());
            }
            match self.inner.write(&self.held[done..len]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => break Err(error),
            }
        };
        self.held.drain(..done);
        self.position += done as u64;
        result
    }
}

impl<W: Write + Seek> Write for BlockWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.held.len() + buf.len() > HELD {
            let end = self.position + self.held.len() as u64;
            let whole = (end - end % BLOCK).saturating_sub(self.position);
            self.write_out(whole as usize)?;
        }
        self.held.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_out(self.held.len())?;
        self.inner.flush()
    }
}

impl<W: Write + Seek> Seek for BlockWriter<W> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.write_out(self.held.len())?;
        self.position = self.inner.seek(to)?;
        Ok(self.position)
    }
}

impl<W: Write + Seek> Drop for BlockWriter<W> {
    fn drop(&mut self) {
        let _ = self.write_out(self.held.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::FRAME;
    use crate::media::recorder::{RecordedFrame, CHANNELS};
    use crate::media::recording_writer::{WavPair, FLUSH_EVERY};
    use std::cell::RefCell;
    use std::io::Cursor;
    use std::rc::Rc;

    fn frame(value: i16) -> RecordedFrame {
        RecordedFrame {
            channels: [[value; FRAME]; CHANNELS],
            mixed: [value; FRAME],
        }
    }

    /// A file that remembers where each write started and how long it was; clones share
    /// the file.
    #[derive(Clone, Default)]
    struct WatchedFile {
        bytes: Rc<RefCell<Cursor<Vec<u8>>>>,
        writes: Rc<RefCell<Vec<(u64, usize)>>>,
    }

    impl WatchedFile {
        fn contents(&self) -> Vec<u8> {
            self.bytes.borrow().get_ref().clone()
        }
    }

    impl Write for WatchedFile {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut bytes = self.bytes.borrow_mut();
            self.writes.borrow_mut().push((bytes.position(), buf.len()));
            bytes.write(buf)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for WatchedFile {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.bytes.borrow_mut().seek(to)
        }
    }

    #[test]
    fn whole_blocks_reach_the_file_until_the_header_refresh_and_the_bytes_are_the_same() {
        let mut plain_parties = Cursor::new(Vec::new());
        let mut plain_mixed = Cursor::new(Vec::new());
        let parties = WatchedFile::default();
        let mixed = WatchedFile::default();
        {
            let mut plain = WavPair::new(&mut plain_parties, &mut plain_mixed).unwrap();
            let mut blocked = WavPair::new(
                BlockWriter::new(parties.clone()),
                BlockWriter::new(mixed.clone()),
            )
            .unwrap();
            for n in 0..FLUSH_EVERY as i16 - 1 {
                plain.write(&frame(n)).unwrap();
                blocked.write(&frame(n)).unwrap();
            }
            for file in [&parties, &mixed] {
                let writes = file.writes.borrow();
                assert!(!writes.is_empty());
                for (start, len) in writes.iter() {
                    assert_eq!((start + *len as u64) % BLOCK, 0, "{writes:?}");
                }
            }
            for n in 0..2 * FLUSH_EVERY as i16 + 7 {
                plain.write(&frame(n)).unwrap();
                blocked.write(&frame(n)).unwrap();
            }
            plain.finish().unwrap();
            blocked.finish().unwrap();
        }
        assert_eq!(&parties.contents(), plain_parties.get_ref());
        assert_eq!(&mixed.contents(), plain_mixed.get_ref());
    }

    #[test]
    fn a_dropped_block_writer_writes_out_what_it_held() {
        let file = WatchedFile::default();
        let mut writer = BlockWriter::new(file.clone());
        writer.write_all(&[7; 100]).unwrap();
        assert!(file.contents().is_empty());
        drop(writer);
        assert_eq!(file.contents(), vec![7; 100]);
    }
}
