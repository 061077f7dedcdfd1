//! OPPO Push (HeyTap): `POST /server/v1/auth` with the AppKey, a millisecond timestamp and
//! `sign = sha256(app_key + timestamp + master_secret)` grants an `auth_token` (valid 24 hours),
//! then `POST /server/v1/message/notification/unicast` with the token and a `message` JSON naming
//! the registration ID. OPPO answers `{code, message, data}`: 0 sent, 10000 invalid
//! registration ID, 11 invalid auth_token, 13 and -1/-2 busy.

use std::time::Duration;

use serde_json::{json, Value};

use super::{Body, Grant, Sent, TokenCache, TokenVendor, VendorError, VendorHttp};
use crate::config::PushConfig;
use crate::push::{CheckFuture, Delivery, Outcome, OutcomeFuture, Provider};

/// OPPO's auth_token lives 24 hours; renewed well before.
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// OPPO keeps an offline message at most 10 days.
const MAX_OFFLINE_TTL: i64 = 10 * 24 * 3600;

pub struct Oppo {
    app_key: String,
    master_secret: String,
    api_base: String,
    http: VendorHttp,
    tokens: TokenCache,
}

impl Oppo {
    pub fn from_config(config: &PushConfig) -> Result<Option<Oppo>, VendorError> {
        let keys = [("oppo_app_key", &config.oppo_app_key), ("oppo_master_secret", &config.oppo_master_secret)];
        let Some([app_key, master_secret]) = super::credentials("OPPO", keys)? else { return Ok(None) };
        Ok(Some(Oppo {
            app_key,
            master_secret,
            api_base: config.oppo_api_base.trim_end_matches('/').to_string(),
            http: VendorHttp::default(),
            tokens: TokenCache::default(),
        }))
    }
}

/// The auth request's signature.
pub fn sign(app_key: &str, timestamp_ms: &str, master_secret: &str) -> String {
    super::sha256_hex(&format!("{app_key}{timestamp_ms}{master_secret}"))
}

impl TokenVendor for Oppo {
    fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    async fn fetch_token(&self) -> Result<Grant, Outcome> {
        let timestamp = (crate::now_secs() * 1000).to_string();
        let form = vec![
            ("app_key", self.app_key.clone()),
            ("sign", sign(&self.app_key, &timestamp, &self.master_secret)),
            ("timestamp", timestamp),
        ];
        let uri = format!("{}/server/v1/auth", self.api_base);
        let answer = self.http.post(&uri, &[], Body::Form(form)).await.map_err(Outcome::Retry)?;
        let token = answer.json["data"]["auth_token"].as_str().filter(|t| !t.is_empty());
        match (super::code(&answer.json["code"]), token) {
            (Some(0), Some(token)) => Ok(Grant { token: token.to_string(), lifetime: TOKEN_LIFETIME }),
            _ if answer.transient() => Err(Outcome::Retry(format!("auth answered {}", answer.status))),
            _ => Err(Outcome::Failed(format!(
                "auth answered {} {} {}",
                answer.status,
                answer.json["code"],
                answer.json["message"].as_str().unwrap_or_default()
            ))),
        }
    }

    async fn send_with(&self, token: &str, delivery: &Delivery) -> Sent {
        let uri = format!("{}/server/v1/message/notification/unicast", self.api_base);
        let form = vec![("message", message(delivery).to_string()), ("auth_token", token.to_string())];
        match self.http.post(&uri, &[("auth_token", token)], Body::Form(form)).await {
            Ok(answer) if super::code(&answer.json["code"]) == Some(11) => {
                Sent::TokenRefused(format!("{} {}", answer.status, answer.json))
            }
            Ok(answer) => Sent::Done(outcome(answer.status, &answer.json)),
            Err(e) => Sent::Done(Outcome::Retry(e)),
        }
    }
}

impl Provider for Oppo {
    fn send<'a>(&'a self, delivery: &'a Delivery) -> OutcomeFuture<'a> {
        Box::pin(super::deliver_with_token(self, delivery))
    }

    fn check<'a>(&'a self) -> CheckFuture<'a> {
        Box::pin(async move { super::check_token(self).await })
    }
}

/// The unicast `message`: target type 2 (registration ID) and a notification that opens the app.
pub fn message(delivery: &Delivery) -> Value {
    let n = &delivery.notification;
    let mut notification = json!({
        "title": super::title(delivery),
        "content": n.body,
        "click_action_type": 0,
        "off_line": true,
        "off_line_ttl": super::ttl_secs(delivery).min(MAX_OFFLINE_TTL),
    });
    if let Some(channel) = &n.vendor.oppo_channel {
        notification["channel_id"] = json!(channel);
    }
    if let Some(ext) = &n.ext {
        notification["action_parameters"] = json!(ext);
    }
    json!({"target_type": 2, "target_value": delivery.token, "notification": notification})
}

/// What an OPPO answer means for the registration ID.
pub fn outcome(status: u16, answer: &Value) -> Outcome {
    let why = format!("{status} {} {}", answer["code"], answer["message"].as_str().unwrap_or_default());
    match super::code(&answer["code"]) {
        Some(0) if status == 200 => Outcome::Delivered,
        Some(10000) => Outcome::DeadToken(why),
        Some(-1 | -2 | 13) => Outcome::Retry(why),
        _ if status == 429 || status >= 500 => Outcome::Retry(why),
        _ => Outcome::Failed(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auth_signature_is_the_sha256_of_key_time_and_secret() {
        assert_eq!(sign("k", "1", "s"), super::super::sha256_hex("k1s"));
        assert_eq!(sign("k", "1", "s").len(), 64);
    }

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(
            outcome(200, &json!({"code": 0, "message": "Success", "data": {"messageId": "m"}})),
            Outcome::Delivered
        );
        assert!(matches!(
            outcome(200, &json!({"code": 10000, "message": "Invalid RegistrationId"})),
            Outcome::DeadToken(_)
        ));
        assert!(matches!(outcome(200, &json!({"code": -1, "message": "Service Busy"})), Outcome::Retry(_)));
        assert!(matches!(outcome(503, &Value::Null), Outcome::Retry(_)));
        assert!(matches!(outcome(200, &json!({"code": 14, "message": "Invalid Param"})), Outcome::Failed(_)));
        assert!(matches!(outcome(404, &Value::Null), Outcome::Failed(_)));
    }
}
