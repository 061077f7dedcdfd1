//! The Android vendors' own push services — Huawei, Honor, Xiaomi, OPPO, vivo and Meizu — each in
//! its module, sharing what they have in common here: one POST helper over the shared hyper
//! client, form encoding, the cached access token with its one refresh when a vendor refuses it,
//! the OAuth client-credentials grant (Huawei, Honor), and a credentials check.
//!
//! Each module follows its vendor's published request and answer formats; none has been run
//! against a real vendor account, only against local stubs built from those formats.

pub mod honor;
pub mod huawei;
pub mod meizu;
pub mod oppo;
pub mod vivo;
pub mod xiaomi;

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use super::{Check, Delivery, Outcome};

/// A cached access token is renewed this long before it expires.
const RENEW_EARLY: Duration = Duration::from_secs(60);
/// The device token a credentials check sends to: no device has it, so a vendor that accepts the
/// credentials refuses the token.
pub const CHECK_TOKEN: &str = "parley-credentials-check";

#[derive(Debug, thiserror::Error)]
pub enum VendorError {
    #[error("{vendor} push needs {missing}")]
    Incomplete { vendor: &'static str, missing: String },
}

/// The vendor's credentials from `[push]`: all given (Some), none (None: not configured), or
/// some only (an error naming the missing keys).
pub fn credentials<const N: usize>(
    vendor: &'static str,
    keys: [(&str, &Option<String>); N],
) -> Result<Option<[String; N]>, VendorError> {
    let missing: Vec<&str> = keys.iter().filter(|(_, value)| value.is_none()).map(|(key, _)| *key).collect();
    if missing.len() == N {
        return Ok(None);
    }
    if !missing.is_empty() {
        return Err(VendorError::Incomplete { vendor, missing: missing.join(", ") });
    }
    Ok(Some(keys.map(|(_, value)| value.clone().unwrap_or_default())))
}

pub enum Body {
    /// `application/x-www-form-urlencoded`.
    Form(Vec<(&'static str, String)>),
    Json(Value),
}

/// What a vendor answered: the HTTP status and the JSON body (Null when it was not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub json: Value,
}

impl Answer {
    /// 429 and 5xx: the vendor is busy or down, not refusing this push.
    pub fn transient(&self) -> bool {
        self.status == 429 || self.status >= 500
    }
}

pub struct VendorHttp {
    client: crate::http::HttpClient,
}

impl Default for VendorHttp {
    fn default() -> VendorHttp {
        VendorHttp { client: crate::http::client() }
    }
}

impl VendorHttp {
    /// A POST; Err is a transport failure (connection, TLS), worth retrying.
    pub async fn post(&self, uri: &str, headers: &[(&str, &str)], body: Body) -> Result<Answer, String> {
        let (content_type, bytes) = match body {
            Body::Form(pairs) => ("application/x-www-form-urlencoded;charset=UTF-8", form_encode(&pairs)),
            Body::Json(value) => ("application/json;charset=UTF-8", value.to_string()),
        };
        let mut request = hyper::Request::post(uri).header("content-type", content_type);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(bytes))).map_err(|e| e.to_string())?;
        let response = self.client.request(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Answer { status, json: serde_json::from_slice(&body).unwrap_or(Value::Null) })
    }
}

/// `name=value&…`, each side percent-encoded (everything but RFC 3986's unreserved characters).
pub fn form_encode(pairs: &[(&str, String)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs.iter().map(|(name, value)| format!("{}={}", encode(name), encode(value))).collect::<Vec<_>>().join("&")
}

pub fn md5_hex(text: &str) -> String {
    use md5::{Digest, Md5};
    crate::hex(&Md5::digest(text.as_bytes()))
}

pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    crate::hex(&Sha256::digest(text.as_bytes()))
}

/// Seconds the push is still worth delivering.
pub fn ttl_secs(delivery: &Delivery) -> i64 {
    (delivery.expires_at - crate::now_secs()).max(0)
}

/// The notification title: the message's `Title`, else its text (the vendors below require one).
pub fn title(delivery: &Delivery) -> &str {
    delivery.notification.title.as_deref().unwrap_or(&delivery.notification.body)
}

/// An access token and how long it stays valid.
pub struct Grant {
    pub token: String,
    pub lifetime: Duration,
}

/// The access token in use, shared by a provider's deliveries.
#[derive(Default)]
pub struct TokenCache(tokio::sync::Mutex<Option<(String, Instant)>>);

impl TokenCache {
    async fn get<F: Future<Output = Result<Grant, Outcome>>>(&self, fetch: F) -> Result<String, Outcome> {
        let mut cached = self.0.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let grant = fetch.await?;
        *cached = Some((grant.token.clone(), Instant::now() + grant.lifetime.saturating_sub(RENEW_EARLY)));
        Ok(grant.token)
    }

    async fn forget(&self) {
        *self.0.lock().await = None;
    }
}

/// One send as a vendor with access tokens sees it.
pub enum Sent {
    Done(Outcome),
    /// The vendor refused the access token (expired or revoked early).
    TokenRefused(String),
}

/// A vendor whose pushes carry an access token it grants first.
pub trait TokenVendor: Send + Sync {
    fn tokens(&self) -> &TokenCache;
    fn fetch_token(&self) -> impl Future<Output = Result<Grant, Outcome>> + Send;
    fn send_with(&self, token: &str, delivery: &Delivery) -> impl Future<Output = Sent> + Send;
}

/// A delivery with the cached token; a refused token is fetched again once, then it is a refusal.
pub async fn deliver_with_token<V: TokenVendor>(vendor: &V, delivery: &Delivery) -> Outcome {
    let mut refreshed = false;
    loop {
        let token = match vendor.tokens().get(vendor.fetch_token()).await {
            Ok(token) => token,
            Err(outcome) => return outcome,
        };
        match vendor.send_with(&token, delivery).await {
            Sent::Done(outcome) => return outcome,
            Sent::TokenRefused(why) if refreshed => return Outcome::Failed(format!("access token refused: {why}")),
            Sent::TokenRefused(_) => {
                vendor.tokens().forget().await;
                refreshed = true;
            }
        }
    }
}

/// Credentials check of a token vendor: a fresh grant (never the cached one) proves them.
pub async fn check_token<V: TokenVendor>(vendor: &V) -> Check {
    match vendor.fetch_token().await {
        Ok(_) => Check::Ok("access token granted".into()),
        Err(Outcome::Retry(why) | Outcome::Failed(why) | Outcome::DeadToken(why)) => Check::Refused(why),
        Err(Outcome::Delivered) => Check::Refused("no access token".into()),
    }
}

/// Credentials check of a vendor without a token step: a push to a token no device has. The
/// vendor refusing that token (not the credentials) means they are good.
pub fn check_by_sending(outcome: Outcome) -> Check {
    match outcome {
        Outcome::DeadToken(why) => Check::Ok(format!("credentials accepted (the test token was refused: {why})")),
        Outcome::Delivered => Check::Ok("credentials accepted".into()),
        Outcome::Retry(why) | Outcome::Failed(why) => Check::Refused(why),
    }
}

/// A token check's delivery: a throwaway message to `CHECK_TOKEN`.
pub fn check_delivery(provider: &str) -> Delivery {
    Delivery {
        user: String::new(),
        instance: String::new(),
        provider: provider.into(),
        token: CHECK_TOKEN.into(),
        bundle: None,
        notification: super::Notification { body: "credentials check".into(), ..Default::default() },
        badge: None,
        collapse_id: "parley-credentials-check".into(),
        expires_at: crate::now_secs() + 60,
    }
}

/// OAuth 2.0 client-credentials grant (Huawei, Honor): a form POST answered with
/// `{access_token, expires_in}`, or an error with a description.
pub async fn client_credentials(
    http: &VendorHttp,
    token_url: &str,
    client_id: &str,
    client_secret: &str,
) -> Result<Grant, Outcome> {
    let form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", client_id.to_string()),
        ("client_secret", client_secret.to_string()),
    ];
    let answer = http.post(token_url, &[], Body::Form(form)).await.map_err(Outcome::Retry)?;
    let token = answer.json["access_token"].as_str().filter(|t| !t.is_empty());
    match (answer.status, token) {
        (200, Some(token)) => Ok(Grant {
            token: token.to_string(),
            lifetime: Duration::from_secs(answer.json["expires_in"].as_u64().unwrap_or(3600)),
        }),
        _ if answer.transient() => Err(Outcome::Retry(format!("token endpoint answered {}", answer.status))),
        _ => {
            let json = &answer.json;
            let why = json["error_description"].as_str().or(json["error"].as_str()).unwrap_or_default().to_string();
            let why = if why.is_empty() { json.to_string() } else { why };
            Err(Outcome::Failed(format!("token endpoint answered {}: {why}", answer.status)))
        }
    }
}

/// A JSON number or numeric string as an integer (vendors send codes both ways).
pub fn code(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_encode_everything_but_unreserved_characters() {
        let form = form_encode(&[("a b", "x&y=z/é~".to_string()), ("k", String::new())]);
        assert_eq!(form, "a%20b=x%26y%3Dz%2F%C3%A9~&k=");
    }

    #[test]
    fn credentials_are_all_or_nothing() {
        let (some, none) = (Some("v".to_string()), None);
        assert!(matches!(credentials("x", [("a", &none), ("b", &none)]), Ok(None)));
        assert!(matches!(credentials("x", [("a", &some), ("b", &some)]), Ok(Some(_))));
        let half = credentials("x", [("a", &some), ("b", &none)]);
        assert!(matches!(half, Err(VendorError::Incomplete { ref missing, .. }) if missing == "b"), "{half:?}");
    }

    #[test]
    fn codes_are_read_as_numbers_or_strings() {
        assert_eq!(code(&serde_json::json!(20301)), Some(20301));
        assert_eq!(code(&serde_json::json!("200")), Some(200));
        assert_eq!(code(&Value::Null), None);
    }
}
