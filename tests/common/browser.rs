//! Headless Chromium driven over the DevTools protocol (a WebSocket per page), for the tests of
//! the console and the demo chat: open a page, evaluate JavaScript in it, wait for a condition,
//! take a screenshot. Debian's `chromium` package (.ci/run installs it); `Browser::start` is None
//! where it is missing, and the caller skips with a printed reason.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use awc::ws;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

pub struct Browser {
    child: Child,
    /// http://127.0.0.1:<port> of the DevTools endpoint.
    endpoint: String,
    _profile: tempdir::Profile,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

mod tempdir {
    /// A throwaway profile directory, removed with the browser.
    pub struct Profile(pub std::path::PathBuf);

    impl Drop for Profile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"].into_iter().find(|name| {
        Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

impl Browser {
    pub fn start() -> Option<Browser> {
        let binary = chromium()?;
        let profile =
            std::env::temp_dir().join(format!("parley-chromium-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&profile).ok()?;
        let mut child = Command::new(binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        let stderr = child.stderr.take()?;
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let endpoint = loop {
            let line = lines.next()?.ok()?;
            if let Some(url) = line.strip_prefix("DevTools listening on ws://") {
                let host = url.split('/').next()?;
                break format!("http://{host}");
            }
            if Instant::now() > deadline {
                return None;
            }
        };
        // Keep draining stderr so the browser never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Some(Browser { child, endpoint, _profile: tempdir::Profile(profile) })
    }

    /// A new tab showing `url`, loaded.
    pub async fn open(&self, url: &str) -> Page {
        let mut response = awc::Client::new()
            .put(format!("{}/json/new?about:blank", self.endpoint))
            .send()
            .await
            .expect("DevTools /json/new");
        let target: Value = response.json().await.expect("a target");
        let socket = target["webSocketDebuggerUrl"].as_str().expect("a page socket").to_string();
        let (_, connection) = awc::Client::builder()
            .max_http_version(awc::http::Version::HTTP_11)
            .finish()
            .ws(socket)
            .max_frame_size(64 << 20)
            .connect()
            .await
            .expect("DevTools page socket");
        let mut page = Page { connection, next_id: 0 };
        page.call("Page.enable", json!({})).await;
        page.call("Runtime.enable", json!({})).await;
        // Errors of the page's scripts are kept where a failed wait shows them.
        let source = "window.__errors = []; addEventListener('error', e => __errors.push(String(e.message))); \
                      addEventListener('unhandledrejection', e => __errors.push(String(e.reason)));";
        page.call("Page.addScriptToEvaluateOnNewDocument", json!({"source": source})).await;
        // Navigated rather than opened with the URL: a fragment in /json/new's query is lost.
        page.goto(url).await;
        page
    }
}

pub struct Page {
    connection: actix_codec::Framed<awc::BoxedSocket, ws::Codec>,
    next_id: u64,
}

impl Page {
    /// One DevTools command; its result (events in between are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({"id": id, "method": method, "params": params}).to_string();
        self.connection.send(ws::Message::Text(request.into())).await.expect("DevTools send");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(left, self.connection.next())
                .await
                .unwrap_or_else(|_| panic!("DevTools {method}: no answer"))
                .expect("DevTools socket open")
                .expect("DevTools frame");
            let text = match frame {
                ws::Frame::Text(bytes) => bytes,
                ws::Frame::Continuation(_) => panic!("fragmented DevTools frame"),
                _ => continue,
            };
            let value: Value = serde_json::from_slice(&text).expect("DevTools JSON");
            if value["id"] == id {
                assert!(value.get("error").is_none(), "DevTools {method}: {value}");
                return value["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page (promises awaited); its value.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call("Runtime.evaluate", json!({"expression": expression, "awaitPromise": true, "returnByValue": true}))
            .await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until `condition` (a JavaScript expression) is true.
    pub async fn wait_for(&mut self, condition: &str, wait: Duration) {
        let deadline = Instant::now() + wait;
        loop {
            let expression = format!("(() => {{ try {{ return !!({condition}); }} catch (e) {{ return false; }} }})()");
            if self.eval(&expression).await == Value::Bool(true) {
                return;
            }
            if Instant::now() >= deadline {
                let shown = self
                    .eval("(document.body ? document.body.innerText.slice(0, 600) : '') + ' | errors: ' + (window.__errors || []).join('; ')")
                    .await;
                panic!("waited {wait:?} for {condition}; the page shows: {shown}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Navigates and waits for the load.
    pub async fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.wait_for("document.readyState === 'complete'", Duration::from_secs(20)).await;
    }

    /// Sets an input's value as a user typing it would (the page's input events fire).
    pub async fn fill(&mut self, id: &str, value: &str) {
        let script = format!(
            "(() => {{ const el = document.getElementById({id}); el.value = {value}; \
             el.dispatchEvent(new Event('input', {{bubbles: true}})); \
             el.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()",
            id = json!(id),
            value = json!(value)
        );
        self.eval(&script).await;
    }

    pub async fn click(&mut self, id: &str) {
        self.eval(&format!("document.getElementById({}).click(), true", json!(id))).await;
    }

    /// A PNG of the page, written to `path` (directories made).
    pub async fn screenshot(&mut self, path: &std::path::Path) {
        use base64::Engine;
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"})).await;
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap_or_default()).unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}
