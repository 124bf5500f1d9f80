//! Headless Chromium driven over the Chrome DevTools Protocol: open a page, wait until the
//! page itself says it is done, read its DOM and take a screenshot.
//!
//! Waiting happens in real time on the page's own signal (a promise evaluated in the page),
//! not on a virtual-time budget: the media pipeline that loads an audio element's metadata
//! runs outside virtual time, so a budget can run out before the audio is ready.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// A headless Chromium with its own profile and one page, killed when dropped.
pub struct Browser {
    socket: WebSocket<TcpStream>,
    next_id: u64,
    /// Uncaught exceptions and unhandled rejections the page reported.
    errors: Vec<String>,
    child: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium on a blank page of `width` × `height` CSS pixels.
    pub fn start(width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--mute-audio",
                "--hide-scrollbars",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium is installed (Debian package chromium)");

        // Chromium names its DevTools port on stderr; the rest of stderr is drained so the
        // browser never blocks on a full pipe.
        let stderr = child.stderr.take().unwrap();
        let (found, listening) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = found.send(url.trim().to_string());
                }
            }
        });
        let browser_url = match listening.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not open its DevTools port within 30 s");
            }
        };
        let host = browser_url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .expect("a ws:// DevTools address")
            .to_string();

        let page_url = page_target(&host);
        let stream = TcpStream::connect(&host).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let (socket, _) = tungstenite::client(page_url.as_str(), stream)
            .unwrap_or_else(|e| panic!("DevTools handshake with {page_url}: {e}"));
        let mut browser = Browser {
            socket,
            next_id: 0,
            errors: Vec::new(),
            child,
            _profile: profile,
        };
        let metrics = json!({
            "width": width,
            "height": height,
            "deviceScaleFactor": 1,
            "mobile": false,
        });
        browser.call("Emulation.setDeviceMetricsOverride", metrics);
        browser
    }

    /// Loads `url` and returns once its load event has fired.
    pub fn open(&mut self, url: &str) {
        self.call("Page.enable", json!({}));
        self.call("Runtime.enable", json!({}));
        let navigated = self.call("Page.navigate", json!({ "url": url }));
        assert!(
            navigated.get("errorText").is_none(),
            "opening {url}: {navigated}"
        );
        self.event("Page.loadEventFired", Duration::from_secs(30));
    }

    /// Evaluates `expression` in the page, awaiting it when it is a promise, and returns its
    /// value; `None` when it does not settle within `within` or throws.
    pub fn evaluate(&mut self, expression: &str, within: Duration) -> Option<Value> {
        let params = json!({
            "expression": expression,
            "awaitPromise": true,
            "returnByValue": true,
            "timeout": within.as_millis() as u64,
        });
        let result = self.call_within("Runtime.evaluate", params, within)?;
        if result.get("exceptionDetails").is_some() {
            return None;
        }
        result["result"].get("value").cloned()
    }

    /// Waits until `document.body.dataset[key]` equals `value`, watching the page's
    /// attributes rather than polling it.
    pub fn wait_for_body_data(&mut self, key: &str, value: &str, within: Duration) -> bool {
        let expression = format!(
            "new Promise((resolve) => {{
               const done = () => document.body && document.body.dataset[{key:?}] === {value:?};
               if (done()) return resolve(true);
               new MutationObserver((_, watch) => {{
                 if (done()) {{ watch.disconnect(); resolve(true); }}
               }}).observe(document.documentElement, {{ attributes: true, subtree: true }});
             }})"
        );
        self.evaluate(&expression, within) == Some(Value::Bool(true))
    }

    /// The page's DOM as HTML, as it is now.
    pub fn dom(&mut self) -> String {
        let value = self.evaluate(
            "document.documentElement.outerHTML",
            Duration::from_secs(10),
        );
        value
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// What the page's scripts threw and nobody caught, so far.
    pub fn page_errors(&self) -> &[String] {
        &self.errors
    }

    /// A PNG of the whole page.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let params = json!({ "format": "png", "captureBeyondViewport": true });
        let shot = self.call("Page.captureScreenshot", params);
        let data = shot["data"].as_str().expect("screenshot data");
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64 PNG")
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.call_within(method, params, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{method}: no answer from chromium"))
    }

    /// Sends one command and reads until its answer, skipping the events in between.
    fn call_within(&mut self, method: &str, params: Value, within: Duration) -> Option<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let command = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(Message::Text(command.to_string().into()))
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        let deadline = Instant::now() + within + Duration::from_secs(5);
        while Instant::now() < deadline {
            let Some(message) = self.receive() else {
                continue;
            };
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    panic!("{method}: {error}");
                }
                return Some(message["result"].clone());
            }
        }
        None
    }

    /// Reads until the event `method` arrives.
    fn event(&mut self, method: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(message) = self.receive() {
                if message["method"] == method {
                    return message["params"].clone();
                }
            }
        }
        panic!("no {method} within {within:?}");
    }

    /// One message from the page, or `None` when none came within the socket's timeout.
    /// Exceptions the page throws are kept on the way.
    fn receive(&mut self) -> Option<Value> {
        match self.socket.read() {
            Ok(Message::Text(text)) => {
                let message: Value = serde_json::from_str(text.as_str()).ok()?;
                if message["method"] == "Runtime.exceptionThrown" {
                    let details = &message["params"]["exceptionDetails"];
                    let text = details["exception"]["description"]
                        .as_str()
                        .or(details["text"].as_str())
                        .unwrap_or("an exception");
                    self.errors.push(text.to_string());
                }
                Some(message)
            }
            Ok(_) => None,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("DevTools connection: {e}"),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The DevTools address of the browser's one page, once its target list shows it.
fn page_target(host: &str) -> String {
    let mut listed = None;
    let mut page = None;
    let found = super::eventually(Duration::from_secs(10), || {
        listed = ureq::get(&format!("http://{host}/json/list"))
            .timeout(Duration::from_secs(5))
            .call()
            .ok()
            .and_then(|response| response.into_json::<Value>().ok());
        page = listed.as_ref().and_then(|targets| {
            targets.as_array()?.iter().find_map(|target| {
                (target["type"] == "page")
                    .then(|| target["webSocketDebuggerUrl"].as_str().map(String::from))
                    .flatten()
            })
        });
        page.is_some()
    });
    assert!(found, "chromium lists no page: {listed:?}");
    page.expect("found above")
}
