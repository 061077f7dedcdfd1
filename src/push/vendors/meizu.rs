//! Meizu Flyme Push: `POST /garcia/api/server/push/varnished/pushByPushId` with a form of the
//! AppID, the pushId, the notification as `messageJson`, and `sign`: the MD5 of every other
//! parameter as `key=value`, sorted by key and concatenated, followed by the AppSecret. Meizu
//! answers `{code, message, value}`: code 200 with `value` listing refused pushIds under their
//! reason (110002 not subscribed, 110003 invalid), 1006 bad signature, 1003 and 110010 busy.

use serde_json::{json, Value};

use super::{Body, VendorError, VendorHttp};
use crate::config::PushConfig;
use crate::push::{CheckFuture, Delivery, Outcome, OutcomeFuture, Provider};

/// Meizu keeps an offline notification 1 to 72 hours.
const VALID_HOURS: (i64, i64) = (1, 72);

pub struct Meizu {
    app_id: String,
    app_secret: String,
    api_base: String,
    http: VendorHttp,
}

impl Meizu {
    pub fn from_config(config: &PushConfig) -> Result<Option<Meizu>, VendorError> {
        let keys = [("meizu_app_id", &config.meizu_app_id), ("meizu_app_secret", &config.meizu_app_secret)];
        let Some([app_id, app_secret]) = super::credentials("Meizu", keys)? else { return Ok(None) };
        let api_base = config.meizu_api_base.trim_end_matches('/').to_string();
        Ok(Some(Meizu { app_id, app_secret, api_base, http: VendorHttp::default() }))
    }

    async fn deliver(&self, delivery: &Delivery) -> Outcome {
        let uri = format!("{}/garcia/api/server/push/varnished/pushByPushId", self.api_base);
        let form = signed_form(&self.app_id, &delivery.token, &message(delivery).to_string(), &self.app_secret);
        match self.http.post(&uri, &[], Body::Form(form)).await {
            Ok(answer) => outcome(answer.status, &answer.json, &delivery.token),
            Err(e) => Outcome::Retry(e),
        }
    }
}

impl Provider for Meizu {
    fn send<'a>(&'a self, delivery: &'a Delivery) -> OutcomeFuture<'a> {
        Box::pin(self.deliver(delivery))
    }

    fn check<'a>(&'a self) -> CheckFuture<'a> {
        Box::pin(async move { super::check_by_sending(self.deliver(&super::check_delivery("meizu")).await) })
    }
}

/// The request's signature: `md5(k1=v1k2=v2… + secret)` over the parameters sorted by name.
pub fn sign(params: &[(&str, String)], app_secret: &str) -> String {
    let mut sorted: Vec<&(&str, String)> = params.iter().collect();
    sorted.sort_by_key(|(name, _)| *name);
    let text: String = sorted.iter().map(|(name, value)| format!("{name}={value}")).collect();
    super::md5_hex(&format!("{text}{app_secret}"))
}

fn signed_form(app_id: &str, push_id: &str, message_json: &str, app_secret: &str) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("appId", app_id.to_string()),
        ("pushIds", push_id.to_string()),
        ("messageJson", message_json.to_string()),
    ];
    let signature = sign(&form, app_secret);
    form.push(("sign", signature));
    form
}

/// The `messageJson` of a notification-bar message that opens the app.
pub fn message(delivery: &Delivery) -> Value {
    let n = &delivery.notification;
    let hours = (super::ttl_secs(delivery) / 3600).clamp(VALID_HOURS.0, VALID_HOURS.1);
    let mut click = json!({"clickType": 0});
    if let Some(ext) = &n.ext {
        click["parameters"] = json!({"ext": ext});
    }
    json!({
        "noticeBarInfo": {"noticeBarType": 0, "title": super::title(delivery), "content": n.body},
        "clickTypeInfo": click,
        "pushTimeInfo": {"offLine": 1, "validTime": hours},
    })
}

/// Under which reason code `value` lists the pushId, if it does.
fn refusal(answer: &Value, token: &str) -> Option<i64> {
    let refused = answer["value"].as_object()?;
    refused.iter().find_map(|(code, ids)| {
        let listed = ids.as_array().is_some_and(|ids| ids.iter().any(|id| id.as_str() == Some(token)));
        if listed {
            code.parse().ok()
        } else {
            None
        }
    })
}

/// What a Meizu answer means for the pushId.
pub fn outcome(status: u16, answer: &Value, token: &str) -> Outcome {
    let why = format!("{status} {} {}", answer["code"], answer["message"].as_str().unwrap_or_default());
    match (super::code(&answer["code"]), refusal(answer, token)) {
        (Some(200), Some(110002 | 110003)) => Outcome::DeadToken(format!("{why} (pushId refused)")),
        (Some(200), Some(110010)) => Outcome::Retry(format!("{why} (too fast)")),
        (Some(200), Some(reason)) => Outcome::Failed(format!("{why} (pushId refused: {reason})")),
        (Some(200), None) if status == 200 => Outcome::Delivered,
        (Some(500 | 1001 | 1003 | 110010), _) => Outcome::Retry(why),
        _ if status == 429 || status >= 500 => Outcome::Retry(why),
        _ => Outcome::Failed(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_sorted_parameters_then_the_secret() {
        let params = [("b", "2".to_string()), ("a", "1".to_string())];
        assert_eq!(sign(&params, "s"), super::super::md5_hex("a=1b=2s"));
        let form = signed_form("id", "p", "{}", "s");
        assert_eq!(form[3], ("sign", super::super::md5_hex("appId=idmessageJson={}pushIds=ps")));
    }

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(outcome(200, &json!({"code": "200", "message": "", "value": {}}), "p"), Outcome::Delivered);
        let refused = json!({"code": "200", "value": {"110003": ["p"]}});
        assert!(matches!(outcome(200, &refused, "p"), Outcome::DeadToken(_)));
        assert_eq!(outcome(200, &refused, "q"), Outcome::Delivered);
        let unsubscribed = json!({"code": 200, "value": {"110002": ["p"]}});
        assert!(matches!(outcome(200, &unsubscribed, "p"), Outcome::DeadToken(_)));
        assert!(matches!(outcome(200, &json!({"code": "1003", "message": "busy"}), "p"), Outcome::Retry(_)));
        assert!(matches!(outcome(200, &json!({"code": "1006", "message": "sign"}), "p"), Outcome::Failed(_)));
        assert!(matches!(outcome(502, &Value::Null, "p"), Outcome::Retry(_)));
    }
}
