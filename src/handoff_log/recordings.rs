//! Where an incident's recording is, read from its log entries: the files named when the
//! recording started, and their digests once they were saved.

use serde::Serialize;

use super::Stored;

/// One recording file of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingFile {
    /// The file's name in the recordings directory.
    pub file: String,
    /// `parties` (one channel per party) or `mixed` (mono).
    pub kind: &'static str,
    pub channels: Vec<String>,
    /// SHA-256 logged when the file was closed; none if it never was (a crash).
    pub sha256: Option<String>,
    pub bytes: Option<u64>,
    /// When the recording's first sample was taken, from the incident's start.
    pub started_offset_ms: i64,
    pub started_ms: i64,
    pub duration_ms: Option<i64>,
}

/// The recording files of an incident, from its timeline.
pub fn recordings(timeline: &[Stored]) -> Vec<RecordingFile> {
    let Some(started) = timeline
        .iter()
        .find(|s| s.entry.event == "recording_started")
    else {
        return Vec::new();
    };
    let details = json(started);
    let saved = timeline
        .iter()
        .find(|s| s.entry.event == "recording_saved")
        .map(json)
        .unwrap_or_default();
    let names: Vec<String> = details["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let party_channels: Vec<String> = details["channels"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    names
        .into_iter()
        .enumerate()
        .map(|(index, file)| {
            let logged = saved["files"]
                .as_array()
                .and_then(|files| files.iter().find(|f| f["file"] == file.as_str()));
            let (kind, channels) = if index == 0 {
                ("parties", party_channels.clone())
            } else {
                ("mixed", vec!["mixed".to_string()])
            };
            RecordingFile {
                kind,
                channels,
                sha256: logged.and_then(|f| f["sha256"].as_str().map(String::from)),
                bytes: logged.and_then(|f| f["bytes"].as_u64()),
                started_offset_ms: started.entry.offset_ms,
                started_ms: started.entry.at_ms,
                duration_ms: saved["duration_ms"].as_i64(),
                file,
            }
        })
        .collect()
}

fn json(stored: &Stored) -> serde_json::Value {
    serde_json::from_str(&stored.entry.details).unwrap_or_default()
}

/// Whether `name` can only be a file directly inside the recordings directory.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.ends_with(".wav")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_wav_names_are_file_names() {
        assert!(is_plain_file_name("12345-00017.wav"));
        assert!(is_plain_file_name("110-00003-mixed.wav"));
        for bad in [
            "../db.wav",
            "a/b.wav",
            ".hidden.wav",
            "x.db",
            "",
            "a\\b.wav",
            "%2e%2e.wav",
        ] {
            assert!(!is_plain_file_name(bad), "{bad}");
        }
    }
}
