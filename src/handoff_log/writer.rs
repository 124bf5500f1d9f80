//! Writing the handoff log off the call path: entries queue in memory and are appended in
//! batches; while the database is unavailable they wait and are written, in order, when it
//! returns. Calls never wait for the disk.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Entry, HandoffLog};

/// Where the driver sends entries to be written.
pub type LogSender = mpsc::UnboundedSender<Entry>;

/// Starts the writer; it ends after the sender is dropped and everything queued is written
/// (or, with the database down, after `give_up` of retrying).
pub fn spawn_writer(
    log: HandoffLog,
    head: String,
    give_up: Duration,
) -> (LogSender, JoinHandle<()>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let task = tokio::spawn(write_loop(log, head, receiver, give_up));
    (sender, task)
}

async fn write_loop(
    log: HandoffLog,
    mut head: String,
    mut receiver: mpsc::UnboundedReceiver<Entry>,
    give_up: Duration,
) {
    let mut batch: Vec<Entry> = Vec::new();
    let mut closed = false;
    loop {
        if batch.is_empty() {
            match receiver.recv().await {
                Some(entry) => batch.push(entry),
                None => return,
            }
        }
        while batch.len() < 512 {
            match receiver.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }

        let mut delay = Duration::from_millis(100);
        let mut waited = Duration::ZERO;
        loop {
            match log.append(&head, &batch).await {
                Ok(new_head) => {
                    head = new_head;
                    batch.clear();
                    break;
                }
                Err(error) => {
                    if closed && waited >= give_up {
                        tracing::error!(lost = batch.len(), %error, "handoff log unwritable at shutdown");
                        return;
                    }
                    tracing::warn!(queued = batch.len(), %error, "handoff log write failed; retrying");
                    tokio::time::sleep(delay).await;
                    waited += delay;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    // Keep taking entries while waiting, so nothing is dropped on the floor.
                    while let Ok(entry) = receiver.try_recv() {
                        batch.push(entry);
                    }
                }
            }
        }
        if closed && receiver.is_empty() {
            return;
        }
    }
}
