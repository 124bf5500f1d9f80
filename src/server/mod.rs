//! The tokio driver: sockets and timers around the sans-IO engine.
//!
//! One task owns the engine. Received SIP messages and media events reach it through
//! channels; it sleeps until the engine's next deadline, and after every step it sends what
//! the engine produced and hands media commands to the relay.

mod transport;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use tracing::Span;

use crate::api::ApiState;
use crate::b2bua::{Engine, Output};
use crate::config::Settings;
use crate::control::{IncidentId, IncidentRecord, RecordKind};
use crate::handoff_log::{spawn_writer, Entry, HandoffLog};
use crate::media::relay::Relay;
pub use transport::{Received, Transport};

/// Runs the service until `shutdown` resolves, then stops taking calls and lets calls in
/// progress end (or the grace time run out). `ready` receives the bound SIP address.
pub async fn serve(
    mut settings: Settings,
    shutdown: impl Future<Output = ()>,
    ready: Option<oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    settings.engine.secret = rand::random();
    let log = HandoffLog::open(&settings.database_url, settings.calendar.clone())
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open the handoff log at {}: {e}",
                settings.database_url
            )
        })?;
    let last_incident = log.last_incident().await?;
    let (log_sender, log_writer) =
        spawn_writer(log.clone(), log.head().await?, Duration::from_secs(5));
    let clock = WallClock::now();
    let (inbox_tx, mut inbox) = mpsc::channel::<Received>(4096);
    let transport = Transport::bind(settings.sip_listen, inbox_tx)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for SIP on {}: {e}", settings.sip_listen))?;
    let bound = transport.local_addr()?;
    if settings.engine.sip_addr.port() == 0 {
        settings.engine.sip_addr = bound;
    }
    let (media_tx, mut media_events) = mpsc::unbounded_channel();
    let mut relay = Relay::new(
        settings.engine.media_addr,
        settings.rtp_timeout,
        settings.recordings_dir.clone(),
        media_tx,
    );
    let http = tokio::net::TcpListener::bind(settings.http_listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for HTTP on {}: {e}", settings.http_listen))?;
    let (stop_api, mut api_stopped) = tokio::sync::watch::channel(false);
    let api_state = ApiState {
        log: log.clone(),
        tokens: Arc::new(settings.api_tokens.clone()),
        accept_within: settings.accept_within,
        recordings_dir: settings.recordings_dir.clone(),
    };
    let deliverer = settings
        .peer
        .clone()
        .map(|peer| crate::tickets::outbox::spawn_deliverer(log.pool().clone(), peer));
    let api = tokio::spawn(crate::api::serve(http, api_state, async move {
        let _ = api_stopped.changed().await;
    }));
    let mut engine = Engine::new(settings.engine.clone(), Instant::now());
    engine.continue_incidents_after(last_incident);
    let mut spans: HashMap<IncidentId, Span> = HashMap::new();
    tracing::info!(sip = %bound, "hotline-bridge is taking calls");
    if let Some(ready) = ready {
        let _ = ready.send(bound);
    }

    tokio::pin!(shutdown);
    let mut draining: Option<tokio::time::Instant> = None;
    loop {
        let deadline = engine
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + std::time::Duration::from_secs(3600));
        tokio::select! {
            received = inbox.recv() => {
                let Some(received) = received else { break };
                engine.handle_message(received.from, &received.bytes, Instant::now());
                // Take whatever else is already waiting before flushing, to batch work.
                for _ in 0..64 {
                    match inbox.try_recv() {
                        Ok(more) => engine.handle_message(more.from, &more.bytes, Instant::now()),
                        Err(_) => break,
                    }
                }
            }
            Some(event) = media_events.recv() => engine.handle_media_event(event, Instant::now()),
            _ = tokio::time::sleep_until(deadline) => engine.handle_timeout(Instant::now()),
            _ = &mut shutdown, if draining.is_none() => {
                tracing::info!(calls = engine.active_incidents(), "shutting down: no new calls");
                engine.stop_accepting();
                draining = Some(tokio::time::Instant::now() + settings.shutdown_grace);
            }
            _ = sleep_until_opt(draining) => {
                tracing::warn!(
                    calls = engine.active_incidents(),
                    recordings = engine.recordings_closing(),
                    "grace time over; exiting with calls up or recordings unsaved"
                );
                break;
            }
        }

        while let Some(output) = engine.poll_output() {
            match output {
                Output::Transmit { to, bytes } => transport.send(to, bytes),
                Output::Media(command) => relay.apply(command),
            }
        }
        while let Some(record) = engine.poll_record() {
            log_record(&mut spans, &record);
            let _ = log_sender.send(Entry::from_record(&record, clock.unix_ms(record.at)));
        }
        // The last recordings' digests go into the log before the exit.
        if draining.is_some() && engine.active_incidents() == 0 && engine.recordings_closing() == 0
        {
            tracing::info!("all calls ended and their recordings saved; exiting");
            break;
        }
    }
    let (received, relayed, generated) = relay.totals();
    tracing::info!(received, relayed, generated, "RTP packets since start");
    let _ = stop_api.send(true);
    let _ = api.await;
    if let Some(deliverer) = deliverer {
        deliverer.abort();
    }
    drop(log_sender);
    let _ = log_writer.await;
    Ok(())
}

/// Turns the monotonic instants of records into UTC wall-clock time.
struct WallClock {
    instant: Instant,
    unix_ms: i64,
}

impl WallClock {
    fn now() -> Self {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        Self {
            instant: Instant::now(),
            unix_ms,
        }
    }

    fn unix_ms(&self, at: Instant) -> i64 {
        if at >= self.instant {
            self.unix_ms + (at - self.instant).as_millis() as i64
        } else {
            self.unix_ms - (self.instant - at).as_millis() as i64
        }
    }
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Writes a handoff record to the log inside its incident's span.
fn log_record(spans: &mut HashMap<IncidentId, Span>, record: &IncidentRecord) {
    let span = spans
        .entry(record.incident)
        .or_insert_with(|| tracing::info_span!("incident", incident = %record.incident))
        .clone();
    let _entered = span.enter();
    let leg = record.leg.map(|l| l.to_string()).unwrap_or_default();
    let offset_ms = record.offset.as_millis() as u64;
    tracing::info!(%leg, offset_ms, actor = ?record.actor, event = ?record.kind, "incident event");
    if let RecordKind::CallEnded { reason } = &record.kind {
        tracing::info!(offset_ms, ?reason, "incident: call ended");
        drop(_entered);
        spans.remove(&record.incident);
    }
}
