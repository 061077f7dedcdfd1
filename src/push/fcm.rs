//! FCM through the HTTP v1 API (Google shut the legacy API, the only one the `fcm` crate speaks,
//! in 2024): an OAuth2 access token from a service account (a JWT signed RS256 with its key,
//! exchanged at its `token_uri`), then `messages:send` per device.

use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Check, CheckFuture, Delivery, Outcome, OutcomeFuture, Provider};
use crate::config::PushConfig;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// A cached access token is renewed this long before it expires.
const RENEW_EARLY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum FcmError {
    #[error("service account file: {0}")]
    File(String),
    #[error("service account key: {0}")]
    Key(String),
}

/// The fields of a Firebase service-account JSON file that matter here.
#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

pub struct Fcm {
    account: ServiceAccount,
    key: ring::signature::RsaKeyPair,
    api_base: String,
    http: crate::http::HttpClient,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The DER inside a PEM block.
fn pem_der(pem: &str) -> Result<Vec<u8>, FcmError> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    base64::engine::general_purpose::STANDARD.decode(body).map_err(|e| FcmError::Key(e.to_string()))
}

impl Fcm {
    pub fn from_config(config: &PushConfig) -> Result<Option<Fcm>, FcmError> {
        let Some(path) = &config.fcm_service_account else { return Ok(None) };
        let text = std::fs::read_to_string(path).map_err(|e| FcmError::File(format!("{}: {e}", path.display())))?;
        let account: ServiceAccount = serde_json::from_str(&text).map_err(|e| FcmError::File(e.to_string()))?;
        let key = ring::signature::RsaKeyPair::from_pkcs8(&pem_der(&account.private_key)?)
            .map_err(|e| FcmError::Key(e.to_string()))?;
        Ok(Some(Fcm {
            account,
            key,
            api_base: config.fcm_api_base.trim_end_matches('/').to_string(),
            http: crate::http::client(),
            token: tokio::sync::Mutex::new(None),
        }))
    }

    /// The signed JWT a service account presents for an access token.
    fn assertion(&self) -> Result<String, String> {
        let now = crate::now_secs();
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.account.private_key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({"iss": self.account.client_email, "scope": SCOPE, "aud": self.account.token_uri,
                            "iat": now, "exp": now + 3600});
        let signed =
            format!("{}.{}", base64url(header.to_string().as_bytes()), base64url(claims.to_string().as_bytes()));
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|e| e.to_string())?;
        Ok(format!("{signed}.{}", base64url(&signature)))
    }

    async fn post(
        &self,
        uri: &str,
        content_type: &str,
        auth: Option<&str>,
        body: String,
    ) -> Result<(u16, Value), String> {
        let mut request = hyper::Request::post(uri).header("content-type", content_type);
        if let Some(token) = auth {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
        let response = self.http.request(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// A valid access token, from the cache or Google.
    async fn access_token(&self) -> Result<String, Outcome> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let assertion = self.assertion().map_err(Outcome::Failed)?;
        let form = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}");
        let (status, answer) = self
            .post(&self.account.token_uri, "application/x-www-form-urlencoded", None, form)
            .await
            .map_err(Outcome::Retry)?;
        let token = answer["access_token"].as_str().map(str::to_string);
        match (status, token) {
            (200, Some(token)) => {
                let lifetime = Duration::from_secs(answer["expires_in"].as_u64().unwrap_or(3600));
                *cached = Some((token.clone(), Instant::now() + lifetime.saturating_sub(RENEW_EARLY)));
                Ok(token)
            }
            (429 | 500..=599, _) => Err(Outcome::Retry(format!("token endpoint answered {status}"))),
            _ => Err(Outcome::Failed(format!("token endpoint answered {status}: {answer}"))),
        }
    }

    async fn deliver(&self, delivery: &Delivery) -> Outcome {
        let uri = format!("{}/v1/projects/{}/messages:send", self.api_base, self.account.project_id);
        let body = message(delivery).to_string();
        // A 401 means the cached access token was revoked or expired early: one more try with a
        // fresh one, then it is a refusal like any other 4xx.
        let mut refreshed = false;
        loop {
            let token = match self.access_token().await {
                Ok(token) => token,
                Err(outcome) => return outcome,
            };
            let (status, answer) = match self.post(&uri, "application/json", Some(&token), body.clone()).await {
                Ok(answer) => answer,
                Err(e) => return Outcome::Retry(e),
            };
            if status == 401 && !refreshed {
                *self.token.lock().await = None;
                refreshed = true;
                continue;
            }
            return outcome(status, &answer);
        }
    }
}

impl Provider for Fcm {
    fn send<'a>(&'a self, delivery: &'a Delivery) -> OutcomeFuture<'a> {
        Box::pin(self.deliver(delivery))
    }

    /// An access token granted for the service account proves its key.
    fn check<'a>(&'a self) -> CheckFuture<'a> {
        Box::pin(async move {
            *self.token.lock().await = None;
            match self.access_token().await {
                Ok(_) => Check::Ok(format!("access token granted for {}", self.account.client_email)),
                Err(Outcome::Retry(why) | Outcome::Failed(why) | Outcome::DeadToken(why)) => Check::Refused(why),
                Err(Outcome::Delivered) => Check::Refused("no access token".into()),
            }
        })
    }
}

/// The `messages:send` body of a delivery.
pub fn message(delivery: &Delivery) -> Value {
    let n = &delivery.notification;
    let mut notification = json!({"body": n.body});
    if let Some(title) = &n.title {
        notification["title"] = json!(title);
    }
    let mut android_notification = serde_json::Map::new();
    if let Some(sound) = &n.android_sound {
        android_notification.insert("sound".into(), json!(sound));
    }
    if let Some(channel) = &n.android_channel {
        android_notification.insert("channel_id".into(), json!(channel));
    }
    // Google keeps an undelivered message this long (default four weeks): not past its lifetime.
    let ttl = (delivery.expires_at - crate::now_secs()).max(0);
    let mut android = json!({"priority": "high", "ttl": format!("{ttl}s")});
    if !android_notification.is_empty() {
        android["notification"] = Value::Object(android_notification);
    }
    let mut message = json!({"token": delivery.token, "notification": notification, "android": android});
    if let Some(ext) = &n.ext {
        message["data"] = json!({"ext": ext});
    }
    json!({"message": message})
}

/// What an FCM answer means for the token.
pub fn outcome(status: u16, answer: &Value) -> Outcome {
    let error = &answer["error"];
    let fcm_code = error["details"]
        .as_array()
        .and_then(|details| details.iter().find_map(|d| d["errorCode"].as_str()))
        .unwrap_or_default();
    let status_name = error["status"].as_str().unwrap_or_default();
    let message = error["message"].as_str().unwrap_or_default();
    let why = format!("{status} {status_name} {fcm_code} {message}");
    match status {
        200..=299 => Outcome::Delivered,
        // Only Google's own answer kills a token: a bare 404 (a wrong fcm_api_base, a proxy)
        // must not delete every device's token.
        _ if fcm_code == "UNREGISTERED" || (status == 404 && status_name == "NOT_FOUND") => Outcome::DeadToken(why),
        400 if fcm_code == "INVALID_ARGUMENT" || status_name == "INVALID_ARGUMENT" => {
            // Only a bad token makes the token dead; a bad payload is our own failure.
            if message.to_ascii_lowercase().contains("token") {
                Outcome::DeadToken(why)
            } else {
                Outcome::Failed(why)
            }
        }
        429 | 500..=599 => Outcome::Retry(why),
        _ => Outcome::Failed(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_outcomes() {
        let unregistered = json!({"error": {"code": 404, "status": "NOT_FOUND",
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}});
        assert!(matches!(outcome(404, &unregistered), Outcome::DeadToken(_)));
        let bad_token = json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "The registration token is not a valid FCM registration token"}});
        assert!(matches!(outcome(400, &bad_token), Outcome::DeadToken(_)));
        let bad_payload =
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "Invalid JSON payload"}});
        assert!(matches!(outcome(400, &bad_payload), Outcome::Failed(_)));
        assert_eq!(outcome(200, &json!({"name": "x"})), Outcome::Delivered);
        assert!(matches!(outcome(503, &json!({})), Outcome::Retry(_)));
        assert!(matches!(outcome(429, &json!({})), Outcome::Retry(_)));
        assert!(matches!(outcome(403, &json!({"error": {"status": "PERMISSION_DENIED"}})), Outcome::Failed(_)));
        // A 404 without Google's error body (a wrong fcm_api_base, a proxy) kills no token.
        assert!(matches!(outcome(404, &Value::Null), Outcome::Failed(_)));
        assert!(matches!(outcome(401, &json!({"error": {"status": "UNAUTHENTICATED"}})), Outcome::Failed(_)));
    }
}
