//! Honor Push: an OAuth 2.0 client-credentials token from Honor's identity service, then
//! `POST /api/v1/{appId}/sendMessage` with a `timestamp` header. Honor answers
//! `{code, message, data: {sendResult, failTokens, expireTokens}}`: code 200 with the token among
//! `expireTokens` means it is gone; its other codes follow Huawei's Push Kit (80300007 invalid
//! token, 80200003 expired access token).

use serde_json::{json, Value};

use super::{Grant, Sent, TokenCache, TokenVendor, VendorError, VendorHttp};
use crate::config::PushConfig;
use crate::push::{CheckFuture, Delivery, Outcome, OutcomeFuture, Provider};

pub struct Honor {
    app_id: String,
    client_id: String,
    client_secret: String,
    token_url: String,
    api_base: String,
    http: VendorHttp,
    tokens: TokenCache,
}

impl Honor {
    pub fn from_config(config: &PushConfig) -> Result<Option<Honor>, VendorError> {
        let keys = [
            ("honor_app_id", &config.honor_app_id),
            ("honor_client_id", &config.honor_client_id),
            ("honor_client_secret", &config.honor_client_secret),
        ];
        let Some([app_id, client_id, client_secret]) = super::credentials("Honor", keys)? else { return Ok(None) };
        Ok(Some(Honor {
            app_id,
            client_id,
            client_secret,
            token_url: config.honor_token_url.clone(),
            api_base: config.honor_api_base.trim_end_matches('/').to_string(),
            http: VendorHttp::default(),
            tokens: TokenCache::default(),
        }))
    }
}

impl TokenVendor for Honor {
    fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    async fn fetch_token(&self) -> Result<Grant, Outcome> {
        super::client_credentials(&self.http, &self.token_url, &self.client_id, &self.client_secret).await
    }

    async fn send_with(&self, token: &str, delivery: &Delivery) -> Sent {
        let uri = format!("{}/api/v1/{}/sendMessage", self.api_base, self.app_id);
        let authorization = format!("Bearer {token}");
        let timestamp = (crate::now_secs() * 1000).to_string();
        let headers = [("authorization", authorization.as_str()), ("timestamp", timestamp.as_str())];
        match self.http.post(&uri, &headers, super::Body::Json(message(delivery))).await {
            Ok(answer) if answer.status == 401 || super::code(&answer.json["code"]) == Some(80200003) => {
                Sent::TokenRefused(format!("{} {}", answer.status, answer.json))
            }
            Ok(answer) => Sent::Done(outcome(answer.status, &answer.json, &delivery.token)),
            Err(e) => Sent::Done(Outcome::Retry(e)),
        }
    }
}

impl Provider for Honor {
    fn send<'a>(&'a self, delivery: &'a Delivery) -> OutcomeFuture<'a> {
        Box::pin(super::deliver_with_token(self, delivery))
    }

    fn check<'a>(&'a self) -> CheckFuture<'a> {
        Box::pin(async move { super::check_token(self).await })
    }
}

/// The `sendMessage` body: a notification that opens the app, the ext as data.
pub fn message(delivery: &Delivery) -> Value {
    let n = &delivery.notification;
    let notification = json!({"title": super::title(delivery), "body": n.body, "clickAction": {"type": 3}});
    let android = json!({"ttl": format!("{}s", super::ttl_secs(delivery)), "notification": notification});
    let mut message = json!({"android": android, "token": [delivery.token]});
    if let Some(ext) = &n.ext {
        message["data"] = json!(ext);
    }
    message
}

fn lists(answer: &Value, list: &str, token: &str) -> bool {
    answer["data"][list].as_array().is_some_and(|tokens| tokens.iter().any(|t| t.as_str() == Some(token)))
}

/// What an Honor answer means for the token.
pub fn outcome(status: u16, answer: &Value, token: &str) -> Outcome {
    let why = format!("{status} {} {}", answer["code"], answer["message"].as_str().unwrap_or_default());
    match super::code(&answer["code"]) {
        Some(200) if lists(answer, "expireTokens", token) => Outcome::DeadToken(format!("{why} (expired token)")),
        Some(200) if lists(answer, "failTokens", token) => Outcome::Failed(format!("{why} (failed token)")),
        Some(200) if status == 200 => Outcome::Delivered,
        Some(80300007) => Outcome::DeadToken(why),
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
        let sent = json!({"code": 200, "message": "success", "data": {"sendResult": true, "expireTokens": []}});
        assert_eq!(outcome(200, &sent, "t"), Outcome::Delivered);
        let expired = json!({"code": 200, "data": {"sendResult": false, "expireTokens": ["t"]}});
        assert!(matches!(outcome(200, &expired, "t"), Outcome::DeadToken(_)));
        let failed = json!({"code": 200, "data": {"sendResult": false, "failTokens": ["t"]}});
        assert!(matches!(outcome(200, &failed, "t"), Outcome::Failed(_)));
        assert!(matches!(outcome(200, &json!({"code": 80300007}), "t"), Outcome::DeadToken(_)));
        assert!(matches!(outcome(503, &Value::Null, "t"), Outcome::Retry(_)));
        assert!(matches!(outcome(429, &Value::Null, "t"), Outcome::Retry(_)));
        assert!(matches!(outcome(404, &Value::Null, "t"), Outcome::Failed(_)));
    }
}
