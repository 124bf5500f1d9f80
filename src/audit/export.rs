//! Taking an incident away: `audit export` writes its timeline (JSON and text), its
//! recordings and a manifest of digests into a folder; `audit verify-export` checks such a
//! folder anywhere, without the service or its database.
//!
//! The folder holds:
//! - `timeline.json`: the incident's log entries, each with its place in the hash chain;
//! - `timeline.txt`: the same, for reading;
//! - `recordings/`: the incident's WAV files;
//! - `manifest.json`: every file above with its SHA-256, the digests the log holds for the
//!   recordings, and what the chain check said at export time;
//! - `SHA256SUMS`: the digests in the format `sha256sum -c` reads, manifest included.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::handoff_log::recordings::{is_plain_file_name, RecordingFile};
use crate::handoff_log::{Entry, Stored, Verdict};
use crate::media::recording_writer::digest_file;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0} exists and is not empty; export into a new folder")]
    NotEmpty(PathBuf),
    #[error("{0}: {1}")]
    Io(PathBuf, io::Error),
    #[error("{0}: {1}")]
    Manifest(PathBuf, String),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ExportError + '_ {
    move |error| ExportError::Io(path.to_path_buf(), error)
}

/// What is exported for one incident.
pub struct Incident<'a> {
    pub incident: i64,
    pub ticket: Option<String>,
    pub timeline: &'a [Stored],
    pub recordings: &'a [RecordingFile],
    pub recordings_dir: &'a Path,
    /// The check of the whole log's chain at export time.
    pub verdict: &'a Verdict,
    /// The hash of the log's newest entry at export time.
    pub head: &'a str,
    pub exported_ms: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub incident: i64,
    pub ticket: Option<String>,
    pub exported_ms: i64,
    /// `intact`, or why the chain did not hold, when exported.
    pub chain: String,
    pub chain_head: String,
    pub files: Vec<ManifestFile>,
    /// Recordings named in the log that could not be exported, with the reason.
    pub missing: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Relative to the export folder, with `/` separators.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    /// For a recording: the digest the handoff log holds for it, if the file was closed.
    pub logged_sha256: Option<String>,
}

/// Writes the export of one incident into `dir`, which must be new or empty.
pub fn write(dir: &Path, incident: &Incident) -> Result<Manifest, ExportError> {
    if fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(ExportError::NotEmpty(dir.to_path_buf()));
    }
    let recordings = dir.join("recordings");
    fs::create_dir_all(&recordings).map_err(io_error(&recordings))?;

    let json = serde_json::to_string_pretty(incident.timeline).unwrap_or_default();
    write_file(&dir.join("timeline.json"), json.as_bytes())?;
    let text = super::timeline_text(incident.incident, incident.timeline);
    write_file(&dir.join("timeline.txt"), text.as_bytes())?;

    let mut files = Vec::new();
    for name in ["timeline.json", "timeline.txt"] {
        files.push(describe(dir, name, None)?);
    }
    let mut missing = Vec::new();
    for recording in incident.recordings {
        if !is_plain_file_name(&recording.file) {
            missing.push(format!("{}: not a plain file name", recording.file));
            continue;
        }
        let source = incident.recordings_dir.join(&recording.file);
        let target = recordings.join(&recording.file);
        if let Err(error) = fs::copy(&source, &target) {
            missing.push(format!("{}: {error}", source.display()));
            continue;
        }
        let relative = format!("recordings/{}", recording.file);
        files.push(describe(dir, &relative, recording.sha256.clone())?);
    }
    let chain = match incident.verdict {
        Verdict::Intact { .. } => "intact".to_string(),
        Verdict::Broken {
            id,
            incident,
            reason,
        } => format!("broken at event {id} (incident {incident}): {reason}"),
    };
    let manifest = Manifest {
        incident: incident.incident,
        ticket: incident.ticket.clone(),
        exported_ms: incident.exported_ms,
        chain,
        chain_head: incident.head.to_string(),
        files,
        missing,
    };
    let json = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    write_file(&dir.join("manifest.json"), json.as_bytes())?;

    let mut sums = String::new();
    for file in &manifest.files {
        let _ = writeln!(sums, "{}  {}", file.sha256, file.path);
    }
    let (digest, _) = digest_file(&dir.join("manifest.json")).map_err(io_error(dir))?;
    let _ = writeln!(sums, "{digest}  manifest.json");
    write_file(&dir.join("SHA256SUMS"), sums.as_bytes())?;
    Ok(manifest)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    fs::write(path, bytes).map_err(io_error(path))
}

fn describe(
    dir: &Path,
    relative: &str,
    logged_sha256: Option<String>,
) -> Result<ManifestFile, ExportError> {
    let path = dir.join(relative);
    let (sha256, bytes) = digest_file(&path).map_err(io_error(&path))?;
    Ok(ManifestFile {
        path: relative.to_string(),
        sha256,
        bytes,
        logged_sha256,
    })
}

/// Checks an export folder; returns what does not hold (empty when everything does).
pub fn verify(dir: &Path) -> Result<Vec<String>, ExportError> {
    let manifest_path = dir.join("manifest.json");
    let text = fs::read_to_string(&manifest_path).map_err(io_error(&manifest_path))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| ExportError::Manifest(manifest_path.clone(), e.to_string()))?;
    let mut problems = Vec::new();

    problems.extend(check_sums(dir, &manifest)?);
    for reason in &manifest.missing {
        problems.push(format!("not exported: {reason}"));
    }
    for file in &manifest.files {
        if !inside_export(&file.path) {
            problems.push(format!("{}: not a path inside the export", file.path));
            continue;
        }
        match digest_file(&dir.join(&file.path)) {
            Ok((digest, _)) if digest == file.sha256 => {}
            Ok(_) => problems.push(format!("{}: contents changed (SHA-256 differs)", file.path)),
            Err(error) => problems.push(format!("{}: {error}", file.path)),
        }
        if let Some(logged) = &file.logged_sha256 {
            if *logged != file.sha256 {
                problems.push(format!(
                    "{}: differs from the digest in the handoff log",
                    file.path
                ));
            }
        }
    }

    let timeline_path = dir.join("timeline.json");
    let text = fs::read_to_string(&timeline_path).map_err(io_error(&timeline_path))?;
    let entries: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| ExportError::Manifest(timeline_path.clone(), e.to_string()))?;
    for (index, value) in entries.iter().enumerate() {
        if let Some(problem) = check_entry(value) {
            problems.push(format!("timeline.json entry {}: {problem}", index + 1));
        }
    }
    for pair in entries.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let next = before["id"].as_i64().map(|id| id + 1);
        if next.is_some() && after["id"].as_i64() == next && after["prev_hash"] != before["hash"] {
            problems.push(format!(
                "timeline.json: event {} does not follow event {} in the chain",
                after["id"], before["id"]
            ));
        }
    }
    problems.extend(check_logged_digests(&entries, &manifest));
    Ok(problems)
}

/// A relative path that stays inside the export folder.
fn inside_export(path: &str) -> bool {
    !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// Every line of `SHA256SUMS` against the file it names; it must name the manifest's files
/// and the manifest, and nothing else.
fn check_sums(dir: &Path, manifest: &Manifest) -> Result<Vec<String>, ExportError> {
    let path = dir.join("SHA256SUMS");
    let text = fs::read_to_string(&path).map_err(io_error(&path))?;
    let mut problems = Vec::new();
    let mut named = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((digest, name)) = line.split_once("  ") else {
            problems.push(format!("SHA256SUMS: unreadable line {line:?}"));
            continue;
        };
        named.push(name);
        if !inside_export(name) {
            problems.push(format!(
                "SHA256SUMS: {name} is not a path inside the export"
            ));
            continue;
        }
        if name != "manifest.json" && !manifest.files.iter().any(|f| f.path == name) {
            problems.push(format!("SHA256SUMS: {name} is not in manifest.json"));
        }
        match digest_file(&dir.join(name)) {
            Ok((actual, _)) if actual == digest => {}
            Ok(_) => problems.push(format!("{name}: does not match SHA256SUMS")),
            Err(error) => problems.push(format!("{name}: {error}")),
        }
    }
    for file in &manifest.files {
        if !named.contains(&file.path.as_str()) {
            problems.push(format!("SHA256SUMS: {} is missing", file.path));
        }
    }
    if !named.contains(&"manifest.json") {
        problems.push("SHA256SUMS: manifest.json is missing".into());
    }
    Ok(problems)
}

/// Recomputes one entry's chain hash from its fields and the hash before it.
fn check_entry(value: &serde_json::Value) -> Option<String> {
    let text = |key: &str| value[key].as_str().map(String::from);
    let number = |key: &str| value[key].as_i64();
    let entry = Entry {
        incident: number("incident")?,
        at_ms: number("at_ms")?,
        offset_ms: number("offset_ms")?,
        actor: text("actor")?,
        event: text("event")?,
        details: value["details"].to_string(),
        hotline: text("hotline")?,
        category: text("category"),
    };
    let (Some(prev), Some(hash)) = (text("prev_hash"), text("hash")) else {
        return Some("no place in the chain".into());
    };
    (entry.chain_hash(&prev) != hash).then(|| format!("{} was altered", entry.event))
}

/// The recordings' digests in the manifest against those in the exported timeline, and
/// every recording the timeline names present in the manifest.
fn check_logged_digests(entries: &[serde_json::Value], manifest: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    let saved = entries.iter().find(|e| e["event"] == "recording_saved");
    let logged = saved
        .and_then(|e| e["details"]["files"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|f| f["file"].as_str());
    for name in logged {
        let path = format!("recordings/{name}");
        let known_missing = manifest.missing.iter().any(|m| m.contains(name));
        if !known_missing && !manifest.files.iter().any(|f| f.path == path) {
            problems.push(format!("{path}: in the log but not in the export"));
        }
    }
    for file in manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("recordings/"))
    {
        let name = file.path.trim_start_matches("recordings/");
        let in_log = saved.and_then(|e| {
            e["details"]["files"]
                .as_array()?
                .iter()
                .find(|f| f["file"] == name)?["sha256"]
                .as_str()
                .map(String::from)
        });
        match in_log {
            Some(digest) if digest != file.sha256 => problems.push(format!(
                "{}: differs from the digest in timeline.json",
                file.path
            )),
            Some(_) => {}
            None if file.logged_sha256.is_some() => problems.push(format!(
                "{}: timeline.json lost the recording's digest",
                file.path
            )),
            None => {}
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff_log::GENESIS;

    fn entry(event: &str, details: &str) -> Entry {
        Entry {
            incident: 1,
            at_ms: 1_700_000_000_000,
            offset_ms: 0,
            actor: "system".into(),
            event: event.into(),
            details: details.into(),
            hotline: "12345".into(),
            category: None,
        }
    }

    fn chained(entries: Vec<Entry>) -> Vec<Stored> {
        let mut prev = GENESIS.to_string();
        let mut stored = Vec::new();
        for (id, entry) in (5..).zip(entries) {
            let hash = entry.chain_hash(&prev);
            stored.push(Stored {
                id,
                entry,
                prev_hash: std::mem::replace(&mut prev, hash.clone()),
                hash,
            });
        }
        stored
    }

    fn export(timeline: &[Stored]) -> (tempfile::TempDir, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let incident = Incident {
            incident: 1,
            ticket: None,
            timeline,
            recordings: &[],
            recordings_dir: dir.path(),
            verdict: &Verdict::Intact { events: 2 },
            head: &timeline.last().unwrap().hash,
            exported_ms: 0,
        };
        let folder = dir.path().join("export");
        write(&folder, &incident).unwrap();
        let problems = verify(&folder).unwrap();
        (dir, problems)
    }

    #[test]
    fn an_entry_rewritten_with_a_fresh_hash_breaks_the_link_to_the_next() {
        let honest = chained(vec![
            entry("call_received", r#"{"caller":"13800000000"}"#),
            entry("call_ended", r#"{"reason":"caller_hung_up"}"#),
        ]);
        let (_dir, problems) = export(&honest);
        assert!(problems.is_empty(), "{problems:?}");

        let mut forged = honest.clone();
        forged[0].entry.details = r#"{"caller":"13900000000"}"#.into();
        forged[0].hash = forged[0].entry.chain_hash(GENESIS);
        let (_dir, problems) = export(&forged);
        assert_eq!(
            problems,
            ["timeline.json: event 6 does not follow event 5 in the chain"]
        );
    }

    #[test]
    fn only_relative_paths_inside_the_folder_are_accepted() {
        for good in ["manifest.json", "recordings/12345-00001.wav"] {
            assert!(inside_export(good), "{good}");
        }
        for bad in [
            "/etc/passwd",
            "../x",
            "recordings/../../x",
            "a//b",
            "./x",
            "",
        ] {
            assert!(!inside_export(bad), "{bad}");
        }
    }
}
