//! Xiaomi MiPush: `POST /v3/message/regid` with `Authorization: key=<AppSecret>` and a form
//! naming the device's regId and the app's package. Xiaomi answers
//! `{result, code, data: {id, bad_regids}, reason}`: code 0 sent (unless the regId is among
//! `bad_regids`), 20301 the regId is invalid, 21301 the AppSecret is wrong.

use serde_json::Value;

use super::{Body, VendorError, VendorHttp};
use crate::config::PushConfig;
use crate::push::{CheckFuture, Delivery, Outcome, OutcomeFuture, Provider};

pub struct Xiaomi {
    app_secret: String,
    package: String,
    api_base: String,
    http: VendorHttp,
}

impl Xiaomi {
    pub fn from_config(config: &PushConfig) -> Result<Option<Xiaomi>, VendorError> {
        let keys = [("xiaomi_app_secret", &config.xiaomi_app_secret), ("xiaomi_package", &config.xiaomi_package)];
        let Some([app_secret, package]) = super::credentials("Xiaomi", keys)? else { return Ok(None) };
        let api_base = config.xiaomi_api_base.trim_end_matches('/').to_string();
        Ok(Some(Xiaomi { app_secret, package, api_base, http: VendorHttp::default() }))
    }

    async fn deliver(&self, delivery: &Delivery) -> Outcome {
        let uri = format!("{}/v3/message/regid", self.api_base);
        let authorization = format!("key={}", self.app_secret);
        let form = Body::Form(form(delivery, &self.package));
        match self.http.post(&uri, &[("authorization", &authorization)], form).await {
            Ok(answer) => outcome(answer.status, &answer.json, &delivery.token),
            Err(e) => Outcome::Retry(e),
        }
    }
}

impl Provider for Xiaomi {
    fn send<'a>(&'a self, delivery: &'a Delivery) -> OutcomeFuture<'a> {
        Box::pin(self.deliver(delivery))
    }

    fn check<'a>(&'a self) -> CheckFuture<'a> {
        Box::pin(async move { super::check_by_sending(self.deliver(&super::check_delivery("xiaomi")).await) })
    }
}

/// The form of a notification-bar message (`pass_through` 0) to one regId.
pub fn form(delivery: &Delivery, package: &str) -> Vec<(&'static str, String)> {
    let n = &delivery.notification;
    let mut form = vec![
        ("registration_id", delivery.token.clone()),
        ("restricted_package_name", package.to_string()),
        ("title", super::title(delivery).to_string()),
        ("description", n.body.clone()),
        ("pass_through", "0".into()),
        // -1: the default sound, vibration and light.
        ("notify_type", "-1".into()),
        ("time_to_live", (super::ttl_secs(delivery) * 1000).to_string()),
    ];
    if let Some(ext) = &n.ext {
        form.push(("payload", ext.clone()));
    }
    if let Some(channel) = &n.vendor.xiaomi_channel {
        form.push(("extra.channel_id", channel.clone()));
    }
    if let Some(sound) = &n.android_sound {
        form.push(("extra.sound_uri", sound.clone()));
    }
    form
}

/// What a Xiaomi answer means for the regId.
pub fn outcome(status: u16, answer: &Value, token: &str) -> Outcome {
    let reason = answer["reason"].as_str().or(answer["description"].as_str()).unwrap_or_default();
    let why = format!("{status} {} {reason}", answer["code"]);
    let bad = answer["data"]["bad_regids"].as_str().is_some_and(|bad| bad.split(',').any(|id| id.trim() == token));
    match super::code(&answer["code"]) {
        Some(0) if bad => Outcome::DeadToken(format!("{why} (bad_regids)")),
        Some(0) if status == 200 => Outcome::Delivered,
        Some(20301) => Outcome::DeadToken(why),
        // Xiaomi's busy and rate-limit codes, as clients retry them.
        Some(10002 | 10003 | 10027 | 10037) => Outcome::Retry(why),
        _ if status == 429 || status >= 500 => Outcome::Retry(why),
        _ => Outcome::Failed(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_map_to_outcomes() {
        let sent = json!({"result": "ok", "code": 0, "data": {"id": "m1"}, "description": "成功"});
        assert_eq!(outcome(200, &sent, "r1"), Outcome::Delivered);
        let bad = json!({"result": "ok", "code": 0, "data": {"id": "m1", "bad_regids": "r0,r1"}});
        assert!(matches!(outcome(200, &bad, "r1"), Outcome::DeadToken(_)));
        assert_eq!(outcome(200, &bad, "r2"), Outcome::Delivered);
        let invalid = json!({"result": "error", "code": 20301, "reason": "Invalid regId"});
        assert!(matches!(outcome(200, &invalid, "r1"), Outcome::DeadToken(_)));
        let auth = json!({"result": "error", "code": 21301, "reason": "Authentication failed"});
        assert!(matches!(outcome(200, &auth, "r1"), Outcome::Failed(_)));
        assert!(matches!(outcome(503, &Value::Null, "r1"), Outcome::Retry(_)));
        assert!(matches!(outcome(404, &Value::Null, "r1"), Outcome::Failed(_)));
    }
}
