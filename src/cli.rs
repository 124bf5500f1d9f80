//! The operators' and auditors' commands: each opens the database named by the
//! configuration, does one thing, and prints text (or JSON with `--json`).

use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::audit::{export as audit_export, list_text, recordings_text, timeline_text, utc};
use crate::handoff_log::recordings::recordings;
use crate::handoff_log::{HandoffLog, Verdict};
use crate::tickets::store::{self, Feedback, Ticket, STATUSES};

fn open_with_settings(
    config: &Path,
) -> anyhow::Result<(tokio::runtime::Runtime, HandoffLog, crate::config::Settings)> {
    let settings = crate::config::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let log = runtime.block_on(HandoffLog::open(
        &settings.database_url,
        settings.calendar.clone(),
    ))?;
    Ok((runtime, log, settings))
}

pub fn overdue(config: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let (runtime, log, settings) = open_with_settings(config)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let notices = runtime.block_on(crate::tickets::supervision::overdue(
        log.pool(),
        log.calendar(),
        now,
        settings.accept_within.as_millis() as i64,
    ))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&notices)?);
    } else if notices.is_empty() {
        println!("no overdue tickets");
    } else {
        for notice in notices {
            println!(
                "{:<22} due {}  {}",
                notice.ticket,
                utc(notice.deadline_ms),
                notice.reason
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn open(config: &Path) -> anyhow::Result<(tokio::runtime::Runtime, HandoffLog)> {
    let settings = crate::config::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let log = runtime.block_on(HandoffLog::open(&settings.database_url, settings.calendar))?;
    Ok((runtime, log))
}

pub fn audit(
    config: &Path,
    incident: Option<i64>,
    list: bool,
    verify: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (runtime, log, settings) = open_with_settings(config)?;
    let recordings_dir = settings.recordings_dir;
    runtime.block_on(async {
        if verify {
            let verdict = log.verify().await?;
            return Ok(match verdict {
                Verdict::Intact { events } => {
                    if json {
                        println!("{}", serde_json::json!({"intact": true, "events": events}));
                    } else {
                        println!("ok: the chain of {events} events is intact");
                    }
                    ExitCode::SUCCESS
                }
                Verdict::Broken { id, incident, reason } => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"intact": false, "event": id, "incident": incident, "reason": reason})
                        );
                    } else {
                        println!("broken: event {id} (incident {incident}) {reason}");
                    }
                    ExitCode::FAILURE
                }
            });
        }
        if let Some(incident) = incident.filter(|_| !list) {
            let entries = log.timeline(incident).await?;
            if entries.is_empty() {
                eprintln!("no incident {incident} in the handoff log");
                return Ok(ExitCode::FAILURE);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                print!("{}", timeline_text(incident, &entries));
                print!("{}", recordings_text(&recordings(&entries), &recordings_dir));
            }
            return Ok(ExitCode::SUCCESS);
        }
        let incidents = log.incidents(50).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&incidents)?);
        } else {
            print!("{}", list_text(&incidents));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `audit export INCIDENT DIR`.
pub fn export(config: &Path, incident: i64, dir: &Path) -> anyhow::Result<ExitCode> {
    let (runtime, log, settings) = open_with_settings(config)?;
    let (timeline, ticket, verdict, head) = runtime.block_on(async {
        let timeline = log.timeline(incident).await?;
        let ticket = store::number_of(log.pool(), incident).await?;
        let verdict = log.verify().await?;
        let head = log.head().await?;
        anyhow::Ok((timeline, ticket, verdict, head))
    })?;
    if timeline.is_empty() {
        eprintln!("no incident {incident} in the handoff log");
        return Ok(ExitCode::FAILURE);
    }
    let files = recordings(&timeline);
    let exported_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let manifest = audit_export::write(
        dir,
        &audit_export::Incident {
            incident,
            ticket,
            timeline: &timeline,
            recordings: &files,
            recordings_dir: &settings.recordings_dir,
            verdict: &verdict,
            head: &head,
            exported_ms,
        },
    )?;
    println!(
        "exported incident {incident} to {}: {} files, chain {}",
        dir.display(),
        manifest.files.len() + 2,
        manifest.chain
    );
    for missing in &manifest.missing {
        println!("missing: {missing}");
    }
    // The folder is written either way; a script still learns that it does not hold.
    Ok(
        if manifest.missing.is_empty() && manifest.chain == "intact" {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// `audit verify-export DIR`: needs no configuration or database.
pub fn verify_export(dir: &Path) -> anyhow::Result<ExitCode> {
    let problems = audit_export::verify(dir)?;
    if problems.is_empty() {
        println!("ok: {} verifies", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        println!("problem: {problem}");
    }
    Ok(ExitCode::FAILURE)
}

pub fn tickets(
    config: &Path,
    number: Option<String>,
    status: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(status) = &status {
        anyhow::ensure!(
            STATUSES.contains(&status.as_str()),
            "unknown status {status:?}; one of {}",
            STATUSES.join(", ")
        );
    }
    let (runtime, log) = open(config)?;
    runtime.block_on(async {
        if let Some(number) = number {
            let Some((ticket, feedback)) = store::show(log.pool(), &number).await? else {
                eprintln!("no ticket {number}");
                return Ok(ExitCode::FAILURE);
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"ticket": ticket, "feedback": feedback})
                    )?
                );
            } else {
                print!("{}", ticket_text(&ticket, &feedback));
            }
            return Ok(ExitCode::SUCCESS);
        }
        let tickets = store::list(log.pool(), status.as_deref(), 100).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&tickets)?);
        } else {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "{:<22} {:<24} {:<12} {:<14} {:<8} {:<8}",
                "ticket", "received (UTC)", "status", "handoff", "to", "category"
            );
            for t in &tickets {
                let _ = writeln!(
                    out,
                    "{:<22} {:<24} {:<12} {:<14} {:<8} {:<8}",
                    t.number,
                    utc(t.received_ms),
                    t.status,
                    t.handoff_mode,
                    t.handed_to.as_deref().unwrap_or("-"),
                    t.category.as_deref().unwrap_or("-")
                );
            }
            print!("{out}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn feedback(config: &Path, number: &str, kind: &str, text: &str) -> anyhow::Result<ExitCode> {
    let (runtime, log) = open(config)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let ticket = runtime.block_on(store::add_feedback(
        log.pool(),
        log.calendar(),
        number,
        kind,
        text,
        "local",
        now,
    ))?;
    println!(
        "{}: {} recorded; status {}",
        ticket.number, kind, ticket.status
    );
    if let Some(deadline) = ticket.work_log_deadline_ms {
        let estimate = if ticket.deadline_estimated {
            " (estimated: beyond the calendar)"
        } else {
            ""
        };
        println!("work log due by {}{estimate}", utc(deadline));
    }
    Ok(ExitCode::SUCCESS)
}

fn ticket_text(t: &Ticket, feedback: &[Feedback]) -> String {
    let mut out = String::new();
    let kind = if t.platform == "110" {
        "警单 police ticket"
    } else {
        "工单 work order"
    };
    let _ = writeln!(out, "ticket {} ({kind}), incident {}", t.number, t.incident);
    let field = |out: &mut String, name: &str, value: String| {
        let _ = writeln!(out, "  {name:<18} {value}");
    };
    field(&mut out, "status", t.status.clone());
    field(&mut out, "caller", t.caller.clone());
    field(
        &mut out,
        "first receiver",
        format!(
            "{} seat {}",
            t.platform,
            t.first_receiver.as_deref().unwrap_or("-")
        ),
    );
    field(&mut out, "received", utc(t.received_ms));
    field(
        &mut out,
        "answered",
        t.answered_ms.map(utc).unwrap_or_else(|| "-".into()),
    );
    field(
        &mut out,
        "ended",
        t.ended_ms.map(utc).unwrap_or_else(|| "-".into()),
    );
    field(
        &mut out,
        "category",
        t.category.clone().unwrap_or_else(|| "-".into()),
    );
    field(
        &mut out,
        "owner by rule",
        t.owner.clone().unwrap_or_else(|| t.platform.clone()),
    );
    field(
        &mut out,
        "handoff",
        format!(
            "{} to {}",
            t.handoff_mode,
            t.handed_to.as_deref().unwrap_or("-")
        ),
    );
    field(
        &mut out,
        "followed the rule",
        t.followed_rule
            .map(|f| if f { "yes" } else { "no" }.to_string())
            .unwrap_or_else(|| "-".into()),
    );
    field(
        &mut out,
        "dispatch",
        if t.dispatch {
            "local government and departments"
        } else {
            "-"
        }
        .into(),
    );
    field(
        &mut out,
        "peer ticket",
        t.peer_ticket.clone().unwrap_or_else(|| "-".into()),
    );
    if let Some(deadline) = t.work_log_deadline_ms {
        let estimate = if t.deadline_estimated {
            " (estimated)"
        } else {
            ""
        };
        field(
            &mut out,
            "work log due",
            format!("{}{estimate}", utc(deadline)),
        );
    }
    let _ = writeln!(out, "  feedback:");
    for f in feedback {
        let _ = writeln!(
            out,
            "    {} {} {}: {}",
            utc(f.at_ms),
            f.source,
            f.kind,
            f.text
        );
    }
    out
}
