//! A baresip softphone as a fixed seat: answers by itself, sends a 440 Hz tone, and reports
//! call events over `ctrl_tcp`.
//!
//! baresip 1.0.0 from Debian 12 does not send REGISTER here ("Register: Function not
//! implemented" before anything reaches the wire), so it is configured in the service as a
//! fixed seat by its SIP URI; registration with digest is exercised with SIPp instead.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

pub struct Baresip {
    /// Where the phone answers, for the seat profile.
    pub uri: String,
    child: Child,
    _dir: tempfile::TempDir,
    control: TcpStream,
    buffer: Vec<u8>,
    /// Every event type seen so far, in order.
    pub events: Vec<String>,
}

impl Baresip {
    /// Starts baresip as `seat`, listening on a free port. A start that fails (a port
    /// taken between choosing and binding it) is tried again with other ports.
    pub fn seat(seat: &str) -> Baresip {
        for _ in 0..3 {
            if let Some(phone) = Self::try_start(seat) {
                return phone;
            }
        }
        panic!("baresip did not start in three attempts");
    }

    fn try_start(seat: &str) -> Option<Baresip> {
        let dir = tempfile::tempdir().unwrap();
        // baresip listens for TLS on the SIP port + 1, so both must be free.
        let sip_port = loop {
            let port = free_port();
            if std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
                break port;
            }
        };
        let control_port = free_port();
        let console_port = free_port();
        // 2000-9999, in turn within a test binary: clear of the services' RTP
        // (10000-29999), SIPp's media (30000-32767) and the kernel's ephemeral ports.
        static NEXT_BLOCK: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
        let block = (NEXT_BLOCK.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + sip_port) % 400;
        let rtp_min = 2_000 + block * 20;
        let config = [
            ("poll_method", "epoll".to_string()),
            ("sip_listen", format!("127.0.0.1:{sip_port}")),
            ("call_max_calls", "4".into()),
            ("audio_player", "aubridge,nil".into()),
            ("audio_alert", "aubridge,nil".into()),
            ("audio_source", "ausine,440".into()),
            ("ausrc_srate", "48000".into()),
            ("ausrc_channels", "2".into()),
            ("rtp_ports", format!("{}-{}", rtp_min, rtp_min + 19)),
            ("rtcp_mux", "no".into()),
            ("net_interface", "127.0.0.1".into()),
            ("dns_server", "127.0.0.1:53".into()),
            ("module_path", "/usr/lib/baresip/modules".into()),
            ("module", "g711.so".into()),
            ("module", "aubridge.so".into()),
            ("module", "ausine.so".into()),
            ("module", "cons.so".into()),
            ("module_tmp", "uuid.so".into()),
            ("module_tmp", "account.so".into()),
            ("module_app", "menu.so".into()),
            ("module_app", "ctrl_tcp.so".into()),
            ("cons_listen", format!("127.0.0.1:{console_port}")),
            ("ctrl_tcp_listen", format!("127.0.0.1:{control_port}")),
        ]
        .iter()
        .map(|(k, v)| format!("{k}\t{v}\n"))
        .collect::<String>();
        std::fs::write(dir.path().join("config"), config).unwrap();
        std::fs::write(
            dir.path().join("accounts"),
            format!(
                "<sip:{seat}@127.0.0.1:{sip_port}>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("contacts"), "").unwrap();

        let mut child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start baresip (apt-get install baresip-core)");
        let deadline = Instant::now() + Duration::from_secs(8);
        let control = loop {
            match TcpStream::connect(("127.0.0.1", control_port)) {
                Ok(stream) => break stream,
                Err(_) if Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
        };
        control
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Some(Baresip {
            uri: format!("sip:{seat}@127.0.0.1:{sip_port}"),
            child,
            _dir: dir,
            control,
            buffer: Vec::new(),
            events: Vec::new(),
        })
    }

    /// Sends a command such as `hangup` or `sndcode *`.
    pub fn command(&mut self, line: &str) {
        let (command, params) = line.split_once(' ').unwrap_or((line, ""));
        let body =
            serde_json::json!({"command": command, "params": params, "token": "t"}).to_string();
        let frame = format!("{}:{},", body.len(), body);
        self.control.write_all(frame.as_bytes()).unwrap();
    }

    /// Presses keys one after another (RFC 4733), a third of a second apart as a person
    /// would; baresip drops a key sent while the previous one still sounds.
    pub fn press(&mut self, keys: &str) {
        for key in keys.chars() {
            self.command(&format!("sndcode {key}"));
            std::thread::sleep(Duration::from_millis(350));
        }
    }

    /// Waits for an event of `kind` (for example `CALL_ESTABLISHED`).
    pub fn wait_for(&mut self, kind: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.events.iter().any(|e| e == kind) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            self.pump();
        }
    }

    fn pump(&mut self) {
        let mut chunk = [0u8; 4096];
        match self.control.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
            Err(_) => return,
        }
        while let Some(colon) = self.buffer.iter().position(|b| *b == b':') {
            let Ok(len) = std::str::from_utf8(&self.buffer[..colon])
                .unwrap_or("x")
                .parse::<usize>()
            else {
                self.buffer.clear();
                return;
            };
            if self.buffer.len() < colon + 1 + len + 1 {
                return;
            }
            let message: serde_json::Value =
                serde_json::from_slice(&self.buffer[colon + 1..colon + 1 + len])
                    .unwrap_or_default();
            self.buffer.drain(..colon + 1 + len + 1);
            if let Some(kind) = message.get("type").and_then(|t| t.as_str()) {
                self.events.push(kind.to_string());
            }
        }
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
