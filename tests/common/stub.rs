//! A local HTTP server that plays a remote service (a push vendor): every request is recorded
//! and answered by the test's handler with a status and a JSON body.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;

/// One request as the stub received it.
#[derive(Clone, Debug)]
pub struct StubRequest {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl StubRequest {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    /// The body as `application/x-www-form-urlencoded` pairs (Err: badly escaped).
    pub fn form(&self) -> Result<Vec<(String, String)>, String> {
        parse_form(&self.body)
    }

    pub fn form_value(&self, name: &str) -> Option<String> {
        self.form().ok()?.into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The body as JSON (Null when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// `application/x-www-form-urlencoded` decoding of one name or value.
pub fn form_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or_else(|| format!("bad escape in {s:?}"))?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape in {s:?}"))?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("not UTF-8: {s:?}"))
}

/// A form body's pairs, decoded.
pub fn parse_form(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut form = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        form.push((form_decode(name)?, form_decode(value)?));
    }
    Ok(form)
}

type Handler = dyn Fn(&StubRequest) -> (u16, Value) + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    /// Every request with the status answered.
    seen: Mutex<Vec<(StubRequest, u16)>>,
}

pub struct StubServer {
    port: u16,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl StubServer {
    pub fn start(handler: impl Fn(&StubRequest) -> (u16, Value) + Send + Sync + 'static) -> StubServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared { handler: Box::new(handler), seen: Mutex::new(Vec::new()) });
        let data = web::Data::from(shared.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server =
                    HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(answer)))
                        .workers(2)
                        .disable_signals()
                        .shutdown_timeout(0)
                        .listen(listener)
                        .unwrap()
                        .run();
                tx.send(server.handle()).unwrap();
                let _ = server.await;
            });
        });
        let handle = rx.recv_timeout(Duration::from_secs(10)).expect("stub server started");
        StubServer { port, shared, handle }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far with the status answered.
    pub fn requests(&self) -> Vec<(StubRequest, u16)> {
        self.shared.seen.lock().unwrap().clone()
    }

    pub fn matching(&self, matches: impl Fn(&StubRequest) -> bool) -> Vec<(StubRequest, u16)> {
        self.requests().into_iter().filter(|(r, _)| matches(r)).collect()
    }

    /// Waits until at least `n` requests match; those requests.
    pub async fn wait_for(
        &self,
        n: usize,
        what: &str,
        matches: impl Fn(&StubRequest) -> bool,
    ) -> Vec<(StubRequest, u16)> {
        let deadline = Instant::now() + super::WAIT;
        loop {
            let found = self.matching(&matches);
            if found.len() >= n {
                return found;
            }
            assert!(Instant::now() < deadline, "{what}: expected {n} requests, got {}\n{}", found.len(), self.dump());
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything received, for failure messages.
    pub fn dump(&self) -> String {
        let lines: Vec<String> = self
            .requests()
            .iter()
            .map(|(r, status)| format!("  [{status}] {} {} {}", r.method, r.path, r.body))
            .collect();
        lines.join("\n")
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        // Sends the stop command now; the stub's own thread finishes it.
        drop(self.handle.stop(false));
    }
}

async fn answer(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let request = StubRequest {
        method: req.method().to_string(),
        path: req.path().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_ascii_lowercase(), value.to_str().unwrap_or("").to_string()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (status, reply) = (shared.handler)(&request);
    shared.seen.lock().unwrap().push((request, status));
    HttpResponse::build(StatusCode::from_u16(status).unwrap()).json(reply)
}
