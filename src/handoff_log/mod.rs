//! The handoff log: every incident event appended to the database, never changed, and
//! hash-chained so that an auditor can tell whether any entry was altered, removed or
//! reordered.
//!
//! The same code serves SQLite and PostgreSQL through sqlx's `Any` driver; each backend has
//! its own migrations under `migrations/`.

mod entry;
pub mod recordings;
pub mod search;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, Row};

pub use entry::{actor_name, Entry, Stored, GENESIS};

use crate::tickets::calendar::Calendar;
use crate::tickets::store::apply_event;
pub use writer::{spawn_writer, LogSender};

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("database URL {0:?} is neither sqlite:// nor postgres://")]
    Scheme(String),
    #[error("cannot create the database folder {0}: {1}")]
    Folder(String, std::io::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

/// What a chain check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        events: u64,
    },
    /// The first entry that does not hold, with the reason.
    Broken {
        id: i64,
        incident: i64,
        reason: String,
    },
}

/// Begins a transaction that will write. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`): a deferred transaction that reads first fails with "database is locked" when
/// it tries to upgrade while another connection writes, instead of waiting its turn.
pub async fn begin_write(
    pool: &AnyPool,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    let statement = if pool.connect_options().database_url.scheme() == "sqlite" {
        "BEGIN IMMEDIATE"
    } else {
        "BEGIN"
    };
    pool.begin_with(statement).await
}

#[derive(Clone)]
pub struct HandoffLog {
    pool: AnyPool,
    /// Tickets are dated and given deadlines by this calendar.
    calendar: Arc<Calendar>,
}

/// One incident as listed by `audit --list`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IncidentSummary {
    pub incident: i64,
    pub hotline: String,
    pub started_ms: i64,
    pub events: i64,
    pub last_event: String,
}

impl HandoffLog {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    pub async fn open(url: &str, calendar: Calendar) -> Result<Self, LogError> {
        sqlx::any::install_default_drivers();
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
            if let Some(parent) = Path::new(options.get_filename()).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| LogError::Folder(parent.display().to_string(), e))?;
                }
            }
            // Create the file through the SQLite driver, which knows the options, then use
            // the same URL through `Any`.
            let created = sqlx::SqlitePool::connect_with(options).await?;
            sqlx::migrate!("./migrations/sqlite").run(&created).await?;
            created.close().await;
            AnyPoolOptions::new()
                .max_connections(4)
                .connect(url)
                .await?
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = AnyPoolOptions::new()
                .max_connections(8)
                .connect(url)
                .await?;
            let pg = sqlx::PgPool::connect(url).await?;
            sqlx::migrate!("./migrations/postgres").run(&pg).await?;
            pg.close().await;
            pool
        } else {
            return Err(LogError::Scheme(url.to_string()));
        };
        Ok(Self {
            pool,
            calendar: Arc::new(calendar),
        })
    }

    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The hash of the newest entry, which the next one must follow.
    pub async fn head(&self) -> Result<String, LogError> {
        let row = sqlx::query("SELECT hash FROM handoff_events ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.get::<String, _>("hash"))
            .unwrap_or_else(|| GENESIS.to_string()))
    }

    /// The highest incident number written so far, so numbering goes on after a restart.
    pub async fn last_incident(&self) -> Result<u64, LogError> {
        let row = sqlx::query("SELECT COALESCE(MAX(incident), 0) AS last FROM handoff_events")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.get::<i64, _>("last").max(0) as u64)
    }

    /// Appends entries in one transaction, chained after `prev_hash`; returns the new head.
    pub async fn append(&self, prev_hash: &str, entries: &[Entry]) -> Result<String, LogError> {
        let mut tx = begin_write(&self.pool).await?;
        let mut head = prev_hash.to_string();
        for entry in entries {
            let hash = entry.chain_hash(&head);
            sqlx::query(
                "INSERT INTO handoff_events \
                 (incident, at_ms, offset_ms, actor, event, details, hotline, category, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(entry.incident)
            .bind(entry.at_ms)
            .bind(entry.offset_ms)
            .bind(&entry.actor)
            .bind(&entry.event)
            .bind(&entry.details)
            .bind(&entry.hotline)
            .bind(entry.category.clone())
            .bind(&head)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
            apply_event(&mut tx, entry, &self.calendar).await?;
            head = hash;
        }
        tx.commit().await?;
        Ok(head)
    }

    pub async fn timeline(&self, incident: i64) -> Result<Vec<Stored>, LogError> {
        let rows = sqlx::query(
            "SELECT id, incident, at_ms, offset_ms, actor, event, details, hotline, category, \
             prev_hash, hash FROM handoff_events WHERE incident = $1 ORDER BY id",
        )
        .bind(incident)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(stored).collect())
    }

    pub async fn incidents(&self, limit: i64) -> Result<Vec<IncidentSummary>, LogError> {
        let rows = sqlx::query(
            "SELECT incident, MIN(hotline) AS hotline, MIN(at_ms) AS started, COUNT(*) AS events, \
             MAX(id) AS last_id FROM handoff_events GROUP BY incident ORDER BY incident DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for row in rows {
            let last_id: i64 = row.get("last_id");
            let last = sqlx::query("SELECT event FROM handoff_events WHERE id = $1")
                .bind(last_id)
                .fetch_one(&self.pool)
                .await?;
            out.push(IncidentSummary {
                incident: row.get("incident"),
                hotline: row.get("hotline"),
                started_ms: row.get("started"),
                events: row.get("events"),
                last_event: last.get("event"),
            });
        }
        Ok(out)
    }

    /// Walks the whole chain in order and names the first entry that does not hold.
    pub async fn verify(&self) -> Result<Verdict, LogError> {
        let rows = sqlx::query(
            "SELECT id, incident, at_ms, offset_ms, actor, event, details, hotline, category, \
             prev_hash, hash FROM handoff_events ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut head = GENESIS.to_string();
        let mut count = 0u64;
        for row in &rows {
            let stored = stored(row);
            if stored.prev_hash != head {
                return Ok(Verdict::Broken {
                    id: stored.id,
                    incident: stored.entry.incident,
                    reason: "does not follow the entry before it: an entry was removed, inserted or reordered".into(),
                });
            }
            let computed = stored.entry.chain_hash(&stored.prev_hash);
            if computed != stored.hash {
                return Ok(Verdict::Broken {
                    id: stored.id,
                    incident: stored.entry.incident,
                    reason: "its content does not match its hash: the entry was altered".into(),
                });
            }
            head = stored.hash;
            count += 1;
        }
        Ok(Verdict::Intact { events: count })
    }
}

fn stored(row: &sqlx::any::AnyRow) -> Stored {
    Stored {
        id: row.get("id"),
        entry: Entry {
            incident: row.get("incident"),
            at_ms: row.get("at_ms"),
            offset_ms: row.get("offset_ms"),
            actor: row.get("actor"),
            event: row.get("event"),
            details: row.get("details"),
            hotline: row.get("hotline"),
            category: row.get("category"),
        },
        prev_hash: row.get("prev_hash"),
        hash: row.get("hash"),
    }
}
