//! vivo Push: `POST /message/auth` with the AppID, AppKey, a millisecond timestamp and
//! `sign = md5(appId + appKey + timestamp + appSecret)` (lower-case hex) grants an `authToken`
//! (valid a day), then `POST /message/send` with it in the `authToken` header and the regId in
//! the JSON. vivo answers `{result, desc}`: 0 sent, 10302 invalid regId, 10000 the authToken is
//! refused, 10072 too frequent.

use std::time::Duration;

use serde_json::{json, Value};

use super::{Body, Grant, Sent, TokenCache, TokenVendor, VendorError, VendorHttp};
use crate::config::PushConfig;
use crate::push::{CheckFuture, Delivery, Outcome, OutcomeFuture, Provider};

/// vivo's authToken lives a day; vivo asks senders to renew it every hour or two.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// vivo keeps an offline message at least 15 minutes and at most 7 days.
const TTL_RANGE: (i64, i64) = (900, 7 * 24 * 3600);
/// `classification` when the message names none: a system message (spec §3.4).
const SYSTEM_MESSAGE: i64 = 1;

pub struct Vivo {
    app_id: String,
    app_key: String,
    app_secret: String,
    api_base: String,
    http: VendorHttp,
    tokens: TokenCache,
}

impl Vivo {
    pub fn from_config(config: &PushConfig) -> Result<Option<Vivo>, VendorError> {
        let keys = [
            ("vivo_app_id", &config.vivo_app_id),
            ("vivo_app_key", &config.vivo_app_key),
            ("vivo_app_secret", &config.vivo_app_secret),
        ];
        let Some([app_id, app_key, app_secret]) = super::credentials("vivo", keys)? else { return Ok(None) };
        Ok(Some(Vivo {
            app_id,
            app_key,
            app_secret,
            api_base: config.vivo_api_base.trim_end_matches('/').to_string(),
            http: VendorHttp::default(),
            tokens: TokenCache::default(),
        }))
    }
}

/// The auth request's signature.
pub fn sign(app_id: &str, app_key: &str, timestamp_ms: i64, app_secret: &str) -> String {
    super::md5_hex(&format!("{app_id}{app_key}{timestamp_ms}{app_secret}"))
}

impl TokenVendor for Vivo {
    fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    async fn fetch_token(&self) -> Result<Grant, Outcome> {
        let timestamp = crate::now_secs() * 1000;
        let body = json!({"appId": self.app_id, "appKey": self.app_key, "timestamp": timestamp,
                          "sign": sign(&self.app_id, &self.app_key, timestamp, &self.app_secret)});
        let uri = format!("{}/message/auth", self.api_base);
        let answer = self.http.post(&uri, &[], Body::Json(body)).await.map_err(Outcome::Retry)?;
        let token = answer.json["authToken"].as_str().filter(|t| !t.is_empty());
        match (super::code(&answer.json["result"]), token) {
            (Some(0), Some(token)) => Ok(Grant { token: token.to_string(), lifetime: TOKEN_LIFETIME }),
            _ if answer.transient() => Err(Outcome::Retry(format!("auth answered {}", answer.status))),
            _ => Err(Outcome::Failed(format!(
                "auth answered {} {} {}",
                answer.status,
                answer.json["result"],
                answer.json["desc"].as_str().unwrap_or_default()
            ))),
        }
    }

    async fn send_with(&self, token: &str, delivery: &Delivery) -> Sent {
        let uri = format!("{}/message/send", self.api_base);
        match self.http.post(&uri, &[("authToken", token)], Body::Json(message(delivery, &self.app_id))).await {
            Ok(answer) if super::code(&answer.json["result"]) == Some(10000) => {
                Sent::TokenRefused(format!("{} {}", answer.status, answer.json))
            }
            Ok(answer) => Sent::Done(outcome(answer.status, &answer.json)),
            Err(e) => Sent::Done(Outcome::Retry(e)),
        }
    }
}

impl Provider for Vivo {
    fn send<'a>(&'a self, delivery: &'a Delivery) -> OutcomeFuture<'a> {
        Box::pin(super::deliver_with_token(self, delivery))
    }

    fn check<'a>(&'a self) -> CheckFuture<'a> {
        Box::pin(async move { super::check_token(self).await })
    }
}

/// The `/message/send` body. `requestId` is what vivo deduplicates on: one per message and
/// device, the same on a retry.
pub fn message(delivery: &Delivery, app_id: &str) -> Value {
    let n = &delivery.notification;
    let request_id = &super::sha256_hex(&format!("{}\n{}", delivery.collapse_id, delivery.token))[..32];
    let mut message = json!({
        "appId": app_id,
        "regId": delivery.token,
        // 4: sound and vibration.
        "notifyType": 4,
        "title": super::title(delivery),
        "content": n.body,
        "timeToLive": super::ttl_secs(delivery).clamp(TTL_RANGE.0, TTL_RANGE.1),
        // 1: the tap opens the app.
        "skipType": 1,
        "classification": n.vendor.vivo_classification.unwrap_or(SYSTEM_MESSAGE),
        "requestId": request_id,
    });
    if let Some(ext) = &n.ext {
        message["clientCustomMap"] = json!({"ext": ext});
    }
    message
}

/// What a vivo answer means for the regId.
pub fn outcome(status: u16, answer: &Value) -> Outcome {
    let why = format!("{status} {} {}", answer["result"], answer["desc"].as_str().unwrap_or_default());
    match super::code(&answer["result"]) {
        Some(0) if status == 200 => Outcome::Delivered,
        Some(10302) => Outcome::DeadToken(why),
        Some(10072) => Outcome::Retry(why),
        _ if status == 429 || status >= 500 => Outcome::Retry(why),
        _ => Outcome::Failed(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auth_signature_is_the_md5_of_id_key_time_and_secret() {
        assert_eq!(sign("1", "k", 2, "s"), super::super::md5_hex("1k2s"));
        assert_eq!(sign("1", "k", 2, "s"), sign("1", "k", 2, "s").to_lowercase());
    }

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(outcome(200, &json!({"result": 0, "desc": "请求成功", "taskId": "1"})), Outcome::Delivered);
        assert!(matches!(outcome(200, &json!({"result": 10302, "desc": "regId不合法"})), Outcome::DeadToken(_)));
        assert!(matches!(outcome(200, &json!({"result": 10072, "desc": "超频"})), Outcome::Retry(_)));
        assert!(matches!(outcome(500, &Value::Null), Outcome::Retry(_)));
        assert!(matches!(outcome(200, &json!({"result": 10070, "desc": "total over limit"})), Outcome::Failed(_)));
    }
}
