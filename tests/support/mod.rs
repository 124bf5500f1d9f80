//! Shared pieces of the interop tests: the service under test on free ports, SIPp and
//! baresip processes that are killed when dropped, and RTP endpoints owned by the test.

#![allow(dead_code)]

pub mod audio;
pub mod baresip;
pub mod browser;
pub mod http;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const SIPP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp");

/// A port free for both UDP and TCP on loopback right now.
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A port free for both UDP and TCP for a service's own SIP or HTTP listener, from
/// 6000-9999: below the services' RTP ranges and below the kernel's ephemeral ports, so
/// that while a service is down for a restart no other process is given its port. Handed
/// out in turn within a test binary; binaries run one after another.
pub fn service_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(u16::MAX);
    let _ = NEXT.compare_exchange(
        u16::MAX,
        rand_u16() % 4000,
        std::sync::atomic::Ordering::SeqCst,
        std::sync::atomic::Ordering::SeqCst,
    );
    loop {
        let port = 6_000 + NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 4000;
        let free = UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free {
            return port;
        }
    }
}

/// An even port with the odd one above it free, for a test's own RTP endpoint.
pub fn rtp_endpoint() -> RtpEndpoint {
    loop {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        if socket.local_addr().unwrap().port().is_multiple_of(2) {
            socket
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            return RtpEndpoint { socket };
        }
    }
}

/// The first port of 20 for a service's RTP, from 10000-29999, handed out in turn within a
/// test binary so that services running side by side never share a range.
fn service_rtp_block() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(u16::MAX);
    let _ = NEXT.compare_exchange(
        u16::MAX,
        rand_u16() % 1000,
        std::sync::atomic::Ordering::SeqCst,
        std::sync::atomic::Ordering::SeqCst,
    );
    10_000 + (NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 1000) * 20
}

/// A free even port for SIPp's own media sockets: it binds the port and the three above
/// it (RTCP, and video with its RTCP), so all four must be free. These come from
/// 30000-32767, below the kernel's ephemeral ports (which [`free_port`] hands out) and above
/// the services' RTP ranges (10000-29999), so no other test can be given them meanwhile.
/// Blocks are handed out in turn within a test binary (whose tests run in parallel), so two
/// tests never race for the same block; binaries run one after another.
fn rtp_endpoint_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(u16::MAX);
    let _ = NEXT.compare_exchange(
        u16::MAX,
        rand_u16() % 690,
        std::sync::atomic::Ordering::SeqCst,
        std::sync::atomic::Ordering::SeqCst,
    );
    loop {
        let block = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 690;
        let port = 30_000 + 4 * block;
        let all_free = (port..port + 4).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return port;
        }
    }
}

/// A little randomness without another dependency: the low bits of a fresh ephemeral port
/// and the clock.
fn rand_u16() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    free_port() ^ (nanos as u16)
}

/// Waits until `check` holds or `within` passes; returns whether it held.
pub fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Clone)]
pub struct Options {
    pub ring_secs: u64,
    pub queue_secs: u64,
    pub rtp_timeout_secs: u64,
    /// Trunk ACL entries; by default all of loopback.
    pub trunk_sources: Vec<String>,
    /// Seats given by SIP URI instead of registering: (number, hotline, uri).
    pub fixed_seats: Vec<(String, String, String)>,
    /// Fixed ports instead of free ones, for services that must know each other.
    pub sip_port: Option<u16>,
    pub http_port: Option<u16>,
    /// Hotlines routed to a trunk towards another switch: (hotline, SIP URI).
    pub hotline_trunks: Vec<(String, String)>,
    /// The other platform's API URL; the peer token is [`PEER_TOKEN`].
    pub peer_url: Option<String>,
    /// Minutes the other platform has to accept a handoff.
    pub accept_minutes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            ring_secs: 20,
            queue_secs: 20,
            rtp_timeout_secs: 30,
            trunk_sources: vec!["127.0.0.1".into()],
            fixed_seats: Vec::new(),
            sip_port: None,
            http_port: None,
            hotline_trunks: Vec::new(),
            peer_url: None,
            accept_minutes: 1,
        }
    }
}

type LogLines = Arc<(Mutex<Vec<String>>, Condvar)>;

/// The database each service under test gets: a SQLite file in its folder, or, when
/// `HOTLINE_TEST_POSTGRES` names a PostgreSQL server (scripts/test.sh starts one), a fresh
/// database on it.
fn test_database(dir: &Path) -> String {
    let Ok(admin) = std::env::var("HOTLINE_TEST_POSTGRES") else {
        return format!("sqlite://{}", dir.join("hotline.db").display());
    };
    let name = format!("hb_{}_{}", std::process::id(), free_port());
    run_sql(&admin, &[&format!("CREATE DATABASE {name}")]).expect("create a test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

/// Runs statements on a database through sqlx's `Any` driver, in order, on one connection.
pub fn run_sql(url: &str, statements: &[&str]) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut connection = sqlx::AnyConnection::connect(url)
            .await
            .map_err(|e| e.to_string())?;
        for statement in statements {
            let statement = sqlx::AssertSqlSafe(statement.to_string());
            sqlx::query(statement)
                .execute(&mut connection)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

/// The service under test, with its own configuration in a temporary folder.
pub const OPERATOR_TOKEN: &str = "test-operator-token-1";
pub const AUDITOR_TOKEN: &str = "test-auditor-token-1";
pub const PEER_TOKEN: &str = "test-peer-token-00001";
pub const ADMIN_TOKEN: &str = "test-admin-token-0001";

pub struct Service {
    child: Child,
    pub sip: SocketAddr,
    /// The HTTP API's address.
    pub http: SocketAddr,
    pub dir: tempfile::TempDir,
    /// The service's database URL (SQLite or PostgreSQL).
    pub database: String,
    log: LogLines,
}

impl Service {
    pub fn start(options: Options) -> Service {
        let dir = tempfile::tempdir().expect("temp dir");
        let trunk_line = |hotline: &str| {
            options
                .hotline_trunks
                .iter()
                .find(|(h, _)| h == hotline)
                .map(|_| format!("trunk = \"to-{hotline}\"\n"))
                .unwrap_or_default()
        };
        let sip_port = options.sip_port.unwrap_or_else(service_port);
        let http_port = options.http_port.unwrap_or_else(service_port);
        let rtp_min = service_rtp_block();
        let database = test_database(dir.path());
        let profiles = dir.path().join("profiles");
        std::fs::create_dir_all(&profiles).unwrap();
        let sources: Vec<String> = options
            .trunk_sources
            .iter()
            .map(|s| format!("{s:?}"))
            .collect();
        std::fs::write(
            dir.path().join("hotline-bridge.toml"),
            format!(
                r#"
[sip]
listen = "127.0.0.1:{sip_port}"
profiles = "{profiles}"

[http]
listen = "127.0.0.1:{http_port}"

[[http.token]]
name = "console"
role = "operator"
token = "{OPERATOR_TOKEN}"

[[http.token]]
name = "auditors"
role = "auditor"
token = "{AUDITOR_TOKEN}"

[[http.token]]
name = "other-platform"
role = "peer"
token = "{PEER_TOKEN}"

[[http.token]]
name = "admin"
role = "admin"
token = "{ADMIN_TOKEN}"

[media]
address = "127.0.0.1"
rtp_port_min = {rtp_min}
rtp_port_max = {rtp_max}
rtp_timeout_secs = {rtp_timeout}

[database]
url = "{database}"

[recordings]
dir = "{recordings}"

[timeouts]
ring_secs = {ring}
queue_secs = {queue}
shutdown_grace_secs = 5

[[hotline]]
name = "12345"
numbers = ["12345"]
linked = "110"
{trunk_12345}
[[hotline]]
name = "110"
numbers = ["110"]
linked = "12345"
{trunk_110}
{peer}
"#,
                trunk_12345 = trunk_line("12345"),
                trunk_110 = trunk_line("110"),
                peer = options
                    .peer_url
                    .as_ref()
                    .map(|url| {
                        format!(
                            "[peer]\nurl = \"{url}\"\ntoken = \"{PEER_TOKEN}\"\naccept_minutes = {}\n",
                            options.accept_minutes
                        )
                    })
                    .unwrap_or_default(),
                profiles = profiles.display(),
                rtp_max = rtp_min + 19,
                rtp_timeout = options.rtp_timeout_secs,
                recordings = dir.path().join("recordings").display(),
                ring = options.ring_secs,
                queue = options.queue_secs,
            ),
        )
        .unwrap();
        let mut trunks = format!(
            "[[trunk]]\nname = \"pbx\"\nsources = [{}]\n",
            sources.join(", ")
        );
        for (hotline, uri) in &options.hotline_trunks {
            trunks +=
                &format!("\n[[trunk]]\nname = \"to-{hotline}\"\nuri = \"{uri}\"\nchannels = 10\n");
        }
        std::fs::write(profiles.join("trunks.toml"), trunks).unwrap();
        let mut seats: String = [
            ("1001", "12345"),
            ("1002", "12345"),
            ("2001", "110"),
            ("2002", "110"),
        ]
        .iter()
        .filter(|(n, _)| !options.fixed_seats.iter().any(|(f, _, _)| f == n))
        .map(|(n, h)| {
            format!("[[seat]]\nnumber = \"{n}\"\nhotline = \"{h}\"\npassword = \"secret-{n}\"\n\n")
        })
        .collect();
        for (number, hotline, uri) in &options.fixed_seats {
            seats += &format!(
                "[[seat]]\nnumber = \"{number}\"\nhotline = \"{hotline}\"\nuri = \"{uri}\"\n\n"
            );
        }
        std::fs::write(profiles.join("seats.toml"), seats).unwrap();

        let log: LogLines = Arc::default();
        let child = spawn_service(&dir.path().join("hotline-bridge.toml"), &log);
        let service = Service {
            child,
            sip: SocketAddr::from(([127, 0, 0, 1], sip_port)),
            http: SocketAddr::from(([127, 0, 0, 1], http_port)),
            dir,
            database,
            log,
        };
        assert!(
            service.wait_for_log("hotline-bridge is taking calls", Duration::from_secs(10)),
            "the service did not start:\n{}",
            service.log_text()
        );
        service
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("hotline-bridge.toml")
    }

    pub fn is_postgres(&self) -> bool {
        self.database.starts_with("postgres")
    }

    /// Runs statements on the service's database, as somebody with access to it could.
    pub fn sql(&self, statements: &[&str]) -> Result<(), String> {
        run_sql(&self.database, statements)
    }

    /// Drops the schema's guards against changing the handoff log, as an attacker would.
    pub fn drop_log_guards(&self) {
        let statements: &[&str] = if self.is_postgres() {
            &["DROP TRIGGER handoff_events_no_change ON handoff_events"]
        } else {
            &[
                "DROP TRIGGER handoff_events_no_update",
                "DROP TRIGGER handoff_events_no_delete",
            ]
        };
        self.sql(statements).expect("drop the guards");
    }

    /// Runs `hotline-bridge audit ARGS` on this service's configuration.
    pub fn audit(&self, args: &[&str]) -> (i32, String) {
        self.command("audit", args)
    }

    /// Runs `hotline-bridge COMMAND ARGS` on this service's configuration; returns the exit
    /// code and everything printed.
    pub fn command(&self, command: &str, args: &[&str]) -> (i32, String) {
        let (code, stdout, stderr) = self.run_command(command, args);
        (code, stdout + &stderr)
    }

    /// Like [`Service::command`], with standard output alone (for JSON).
    pub fn command_stdout(&self, command: &str, args: &[&str]) -> (i32, String) {
        let (code, stdout, _) = self.run_command(command, args);
        (code, stdout)
    }

    fn run_command(&self, command: &str, args: &[&str]) -> (i32, String, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_hotline-bridge"))
            .arg("--config")
            .arg(self.config_path())
            .arg(command)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .expect("run hotline-bridge");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    }

    /// The event names of an incident's timeline, once it is complete (see [`timeline`]).
    pub fn timeline_events(&self, incident: u64) -> Vec<String> {
        self.timeline(incident)
            .iter()
            .filter_map(|e| e["event"].as_str().map(String::from))
            .filter(|e| !e.starts_with("recording_"))
            .collect()
    }

    /// An incident's log entries as `audit --json` prints them, once its `call_ended` is
    /// written and, when it was recorded, the recording's files are saved.
    pub fn timeline(&self, incident: u64) -> Vec<serde_json::Value> {
        let mut entries = Vec::new();
        let done = eventually(Duration::from_secs(10), || {
            let (code, text) = self.command_stdout("audit", &[&incident.to_string(), "--json"]);
            if code != 0 {
                return false;
            }
            let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            entries = json.as_array().cloned().unwrap_or_default();
            let has = |name: &str| entries.iter().any(|e| e["event"] == name);
            has("call_ended") && (!has("recording_started") || has("recording_saved"))
        });
        let events: Vec<_> = entries.iter().map(|e| e["event"].clone()).collect();
        assert!(
            done,
            "incident {incident} never ended in the log: {events:?}"
        );
        entries
    }

    /// Waits for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, within: Duration) -> bool {
        self.wait_for_logs(needle, 1, within)
    }

    /// Waits until `count` log lines contain `needle`.
    pub fn wait_for_logs(&self, needle: &str, count: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let (lines, changed) = &*self.log;
        let mut guard = lines.lock().unwrap();
        loop {
            if guard.iter().filter(|l| l.contains(needle)).count() >= count {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = changed.wait_timeout(guard, left).unwrap().0;
        }
    }

    pub fn log_text(&self) -> String {
        self.log.0.lock().unwrap().join("\n")
    }

    pub fn count_logs(&self, needle: &str) -> usize {
        self.log
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Sends a signal (by name, such as "TERM") to the service.
    pub fn signal(&self, name: &str) {
        send_signal(self.child.id(), name);
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Registers `seat` with its demo password, its contact at `contact_port`, through SIPp.
    pub fn register_seat(&self, seat: &str, contact_port: u16) {
        let register = || {
            Sipp::client(self, "seat_register.xml", seat)
                .args(["-au", seat, "-ap", &format!("secret-{seat}")])
                .key("contact_port", &contact_port.to_string())
                .key("expires", "600")
                .run()
                .wait(Duration::from_secs(15))
        };
        // A port found free can be taken by a parallel test before SIPp binds it: try
        // another one.
        let mut result = register();
        for _ in 0..3 {
            if !result.port_taken() {
                break;
            }
            result = register();
        }
        assert!(
            result.success(),
            "registration of {seat} failed: {result:?}"
        );
        assert!(self.wait_for_log(
            &format!("seat registered seat={seat}"),
            Duration::from_secs(5)
        ));
    }
}

/// Starts the binary on `config`, collecting its log lines into `log`.
fn spawn_service(config: &Path, log: &LogLines) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotline-bridge"))
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info,hotline_bridge=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hotline-bridge");
    let stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let (lines, changed) = &*sink;
            lines.lock().unwrap().push(line);
            changed.notify_all();
        }
    });
    child
}

impl Service {
    /// Kills the process (as a crash would) and leaves it down.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the process again on the same configuration, database and ports.
    pub fn restart(&mut self) {
        let started = self.count_logs("hotline-bridge is taking calls");
        self.child = spawn_service(&self.config_path(), &self.log);
        assert!(
            self.wait_for_logs(
                "hotline-bridge is taking calls",
                started + 1,
                Duration::from_secs(10)
            ),
            "the service did not start again:\n{}",
            self.log_text()
        );
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// A SIPp seat answering on a fresh port with `scenario`, already registered as `seat`.
pub fn sipp_seat(service: &Service, seat: &str, scenario: &str, rtp_port: u16) -> Sipp {
    seat_phone(service, seat, |port| {
        Sipp::server(scenario, port).key("rtp_port", &rtp_port.to_string())
    })
}

/// Starts the seat's phone on a fresh port and registers it there. A port found free can be
/// taken by a parallel test before SIPp binds it; then the phone starts again elsewhere.
fn seat_phone(service: &Service, seat: &str, phone: impl Fn(u16) -> SippBuilder) -> Sipp {
    for _ in 0..4 {
        let port = free_port();
        let mut running = phone(port).run();
        service.register_seat(seat, port);
        if !running.could_not_bind() {
            return running;
        }
    }
    panic!("no port for seat {seat}'s phone");
}

/// A SIPp seat that presses keys [k1][k2] (and later [k3][k4]) as its scenario says,
/// registered as `seat`, with its RTP at `rtp_port`.
pub fn keyed_seat(
    service: &Service,
    seat: &str,
    scenario: &str,
    rtp_port: u16,
    keys: [&str; 4],
) -> Sipp {
    seat_phone(service, seat, |port| {
        Sipp::server(scenario, port)
            .key("rtp_port", &rtp_port.to_string())
            .key("k1", keys[0])
            .key("k2", keys[1])
            .key("k3", keys[2])
            .key("k4", keys[3])
    })
}

/// A SIPp run being prepared: scenario, role and arguments.
pub struct SippBuilder {
    args: Vec<String>,
    pause: Option<u32>,
    dir: tempfile::TempDir,
    name: String,
}

impl SippBuilder {
    pub fn args<const N: usize>(mut self, args: [&str; N]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn key(mut self, name: &str, value: &str) -> Self {
        self.args.extend(["-key".into(), name.into(), value.into()]);
        self
    }

    /// Sets `<pause/>` (without a length) to `ms`: how long a seat rings, or how long a
    /// call of pbx_call_long.xml lasts. 200 ms unless set.
    pub fn pause_ms(mut self, ms: u32) -> Self {
        self.pause = Some(ms);
        self
    }

    pub fn run(self) -> Sipp {
        let pause = self.pause.unwrap_or(200).to_string();
        let child = Command::new("sipp")
            .args(&self.args)
            .args(["-d", &pause])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sipp (apt-get install sip-tester)");
        Sipp {
            child: Some(child),
            dir: self.dir,
            name: self.name,
        }
    }
}

/// A running SIPp process; killed if dropped before it ends.
pub struct Sipp {
    child: Option<Child>,
    dir: tempfile::TempDir,
    name: String,
}

#[derive(Debug)]
pub struct SippResult {
    pub code: Option<i32>,
    pub log: String,
    pub errors: String,
}

/// What SIPp logs when its port was taken between [`free_port`] and its start.
const PORT_TAKEN: &str = "Unable to bind";

impl SippResult {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn port_taken(&self) -> bool {
        self.errors.contains(PORT_TAKEN)
    }

    /// The final status logged by pbx_refused.xml or pbx_malformed.xml.
    pub fn final_status(&self) -> Option<u16> {
        self.log
            .lines()
            .find_map(|l| l.split("final=").nth(1))
            .and_then(|s| s.trim().parse().ok())
    }
}

impl Sipp {
    /// SIPp as a UAC towards the service, calling or registering `service`.
    pub fn client(target: &Service, scenario: &str, service: &str) -> SippBuilder {
        Self::client_from(target, scenario, service, free_port())
    }

    pub fn client_from(target: &Service, scenario: &str, service: &str, port: u16) -> SippBuilder {
        let dir = tempfile::tempdir().unwrap();
        let args = common_args(&dir, scenario, port)
            .into_iter()
            .chain([target.sip.to_string(), "-s".into(), service.into()])
            .collect();
        SippBuilder {
            args,
            pause: None,
            dir,
            name: scenario.into(),
        }
    }

    /// SIPp as a UAS listening on `port` (a seat phone).
    pub fn server(scenario: &str, port: u16) -> SippBuilder {
        let dir = tempfile::tempdir().unwrap();
        SippBuilder {
            args: common_args(&dir, scenario, port),
            pause: None,
            dir,
            name: scenario.into(),
        }
    }

    /// Whether SIPp already gave up because its port was taken.
    fn could_not_bind(&mut self) -> bool {
        let exited = self
            .child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))));
        exited
            && std::fs::read_to_string(self.dir.path().join("errors.log"))
                .is_ok_and(|errors| errors.contains(PORT_TAKEN))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("sipp.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The service's RTP port as logged by the scenario ("service_rtp=N").
    pub fn wait_for_service_rtp(&self, within: Duration) -> Option<SocketAddr> {
        let mut port = None;
        eventually(within, || {
            port = self
                .log()
                .lines()
                .find_map(|l| l.split("service_rtp=").nth(1))
                .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok());
            port.is_some()
        });
        port.map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
    }

    pub fn wait(mut self, within: Duration) -> SippResult {
        let mut child = self.child.take().unwrap();
        let pid = child.id();
        let (exited, exit) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = exited.send(child.wait().ok().and_then(|status| status.code()));
        });
        let code = match exit.recv_timeout(within) {
            Ok(code) => code,
            Err(_) => {
                send_signal(pid, "KILL");
                let _ = exit.recv();
                None
            }
        };
        SippResult {
            code,
            log: self.log(),
            errors: std::fs::read_to_string(self.dir.path().join("errors.log")).unwrap_or_default(),
        }
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn common_args(dir: &tempfile::TempDir, scenario: &str, port: u16) -> Vec<String> {
    let path = Path::new(SIPP_DIR).join(scenario);
    [
        "-sf",
        path.to_str().unwrap(),
        "-i",
        "127.0.0.1",
        "-mi",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        "40s",
        "-timeout_error",
        "-trace_logs",
        "-log_file",
        dir.path().join("sipp.log").to_str().unwrap(),
        "-trace_err",
        "-error_file",
        dir.path().join("errors.log").to_str().unwrap(),
        "-mp",
        &rtp_endpoint_port().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// An RTP endpoint owned by the test: sends numbered G.711 packets and counts arrivals.
pub struct RtpEndpoint {
    pub socket: UdpSocket,
}

impl RtpEndpoint {
    pub fn port(&self) -> u16 {
        self.socket.local_addr().unwrap().port()
    }

    /// Sends `count` 20 ms PCMA packets of silence to `to`.
    pub fn send(&self, to: SocketAddr, count: u16, ssrc: u32) {
        for seq in 0..count {
            let mut packet = vec![0x80, 8];
            packet.extend_from_slice(&seq.to_be_bytes());
            packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
            packet.extend_from_slice(&ssrc.to_be_bytes());
            packet.extend(std::iter::repeat_n(0xd5u8, 160));
            self.socket.send_to(&packet, to).unwrap();
        }
    }

    /// Counts RTP packets arriving until none comes for 500 ms, up to `within`.
    pub fn receive(&self, within: Duration) -> Vec<(SocketAddr, Vec<u8>)> {
        let deadline = Instant::now() + within;
        let mut packets = Vec::new();
        let mut quiet_since = Instant::now();
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    packets.push((from, buf[..n].to_vec()));
                    quiet_since = Instant::now();
                }
                Err(_) => {
                    if !packets.is_empty() && quiet_since.elapsed() > Duration::from_millis(500) {
                        break;
                    }
                }
            }
        }
        packets
    }
}
