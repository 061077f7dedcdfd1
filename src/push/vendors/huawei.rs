//! Huawei Push Kit (HMS Core), API v1: an OAuth 2.0 client-credentials token for the app's App ID
//! and App Secret, then `POST /v1/{appId}/messages:send` with the device token. Huawei answers
//! `{code, msg, requestId}`: 80000000 sent, 80300007 the token is invalid, 80100000 some tokens
//! failed (listed in `msg`), 80200001/80200003 the access token is wrong or expired.

use serde_json::{json, Value};

use super::{Grant, Sent, TokenCache, TokenVendor, VendorError, VendorHttp};
use crate::config::PushConfig;
use crate::push::{CheckFuture, Delivery, Outcome, OutcomeFuture, Provider};

pub struct Huawei {
    app_id: String,
    app_secret: String,
    token_url: String,
    api_base: String,
    http: VendorHttp,
    tokens: TokenCache,
}

impl Huawei {
    pub fn from_config(config: &PushConfig) -> Result<Option<Huawei>, VendorError> {
        let keys = [("huawei_app_id", &config.huawei_app_id), ("huawei_app_secret", &config.huawei_app_secret)];
        let Some([app_id, app_secret]) = super::credentials("Huawei", keys)? else { return Ok(None) };
        Ok(Some(Huawei {
            app_id,
            app_secret,
            token_url: config.huawei_token_url.clone(),
            api_base: config.huawei_api_base.trim_end_matches('/').to_string(),
            http: VendorHttp::default(),
            tokens: TokenCache::default(),
        }))
    }
}

impl TokenVendor for Huawei {
    fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    async fn fetch_token(&self) -> Result<Grant, Outcome> {
        super::client_credentials(&self.http, &self.token_url, &self.app_id, &self.app_secret).await
    }

    async fn send_with(&self, token: &str, delivery: &Delivery) -> Sent {
        let uri = format!("{}/v1/{}/messages:send", self.api_base, self.app_id);
        let authorization = format!("Bearer {token}");
        let body = super::Body::Json(message(delivery));
        match self.http.post(&uri, &[("authorization", &authorization)], body).await {
            Ok(answer) if answer.status == 401 || matches!(code(&answer.json), Some(80200001 | 80200003)) => {
                Sent::TokenRefused(format!("{} {}", answer.status, answer.json))
            }
            Ok(answer) => Sent::Done(outcome(answer.status, &answer.json, &delivery.token)),
            Err(e) => Sent::Done(Outcome::Retry(e)),
        }
    }
}

impl Provider for Huawei {
    fn send<'a>(&'a self, delivery: &'a Delivery) -> OutcomeFuture<'a> {
        Box::pin(super::deliver_with_token(self, delivery))
    }

    fn check<'a>(&'a self) -> CheckFuture<'a> {
        Box::pin(async move { super::check_token(self).await })
    }
}

fn code(answer: &Value) -> Option<i64> {
    super::code(&answer["code"])
}

/// The `messages:send` body: a notification message, with the `AndroidInfo` Huawei reads.
pub fn message(delivery: &Delivery) -> Value {
    let n = &delivery.notification;
    let vendor = &n.vendor;
    // ExtAsHuaweiIntentParam 1: the ext is the intent the tap opens; else it rides as data and
    // the tap opens the app.
    let ext_as_intent = vendor.ext_as_huawei_intent && n.ext.is_some();
    let click_action = match (&n.ext, ext_as_intent) {
        (Some(ext), true) => json!({"type": 1, "intent": ext}),
        _ => json!({"type": 3}),
    };
    let mut notification = json!({"title": super::title(delivery), "body": n.body, "click_action": click_action});
    if let Some(channel) = &vendor.huawei_channel {
        notification["channel_id"] = json!(channel);
    }
    if let Some(importance) = &vendor.huawei_importance {
        notification["importance"] = json!(importance);
    }
    if let Some(sound) = &n.android_sound {
        notification["sound"] = json!(sound);
    }
    let mut android =
        json!({"urgency": "HIGH", "ttl": format!("{}s", super::ttl_secs(delivery)), "notification": notification});
    if let Some(category) = &vendor.huawei_category {
        android["category"] = json!(category);
    }
    let mut message = json!({"token": [delivery.token], "android": android});
    if let (Some(ext), false) = (&n.ext, ext_as_intent) {
        message["data"] = json!(ext);
    }
    json!({"validate_only": false, "message": message})
}

/// What a Huawei answer means for the token.
pub fn outcome(status: u16, answer: &Value, token: &str) -> Outcome {
    let msg = answer["msg"].as_str().unwrap_or_default();
    let why = format!("{status} {} {msg}", answer["code"]);
    match code(answer) {
        Some(80000000) if status == 200 => Outcome::Delivered,
        Some(80300007) => Outcome::DeadToken(why),
        // With one token sent, a partial failure naming it is that token refused.
        Some(80100000) if msg.contains(token) => Outcome::DeadToken(why),
        Some(81000001) => Outcome::Retry(why),
        _ if status == 429 || status >= 500 => Outcome::Retry(why),
        _ => Outcome::Failed(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(outcome(200, &json!({"code": "80000000", "msg": "Success"}), "t"), Outcome::Delivered);
        let invalid = json!({"code": "80300007", "msg": "All the tokens are invalid"});
        assert!(matches!(outcome(400, &invalid, "t"), Outcome::DeadToken(_)));
        let partial =
            json!({"code": "80100000", "msg": "{\"success\":0,\"failure\":1,\"illegal_tokens\":[\"tok-1\"]}"});
        assert!(matches!(outcome(200, &partial, "tok-1"), Outcome::DeadToken(_)));
        assert!(matches!(outcome(200, &partial, "tok-2"), Outcome::Failed(_)));
        assert!(matches!(outcome(503, &Value::Null, "t"), Outcome::Retry(_)));
        assert!(matches!(outcome(500, &json!({"code": "81000001"}), "t"), Outcome::Retry(_)));
        assert!(matches!(outcome(400, &json!({"code": "80100003", "msg": "bad"}), "t"), Outcome::Failed(_)));
        // A 404 from a wrong api base kills no token.
        assert!(matches!(outcome(404, &Value::Null, "t"), Outcome::Failed(_)));
    }
}
