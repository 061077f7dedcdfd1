//! APNs through the a2 crate: token (.p8) or certificate authentication, production and sandbox
//! endpoints, the payload of REQUIREMENTS §7 (alert, badge, sound, mutable-content, top-level
//! `ext`) within Apple's 4 KB, and what each APNs answer means for the token.
//!
//! a2 talks to Apple's fixed hosts with webpki roots, so it cannot be pointed at a local test
//! server: the payload, the headers and the answer mapping are tested here, through this seam.

use std::io::Cursor;

use a2::request::notification::{DefaultNotificationBuilder, NotificationBuilder, NotificationOptions};
use a2::request::payload::PayloadLike;
use a2::{ClientConfig, CollapseId, Endpoint, ErrorReason, Priority, PushType};

use super::{Check, CheckFuture, Delivery, Outcome, OutcomeFuture, Provider};
use crate::config::PushConfig;

/// Apple's payload limit.
pub const MAX_PAYLOAD: usize = 4096;
/// `apns-collapse-id` is at most 64 bytes.
const MAX_COLLAPSE_ID: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum ApnsError {
    #[error("{0}: {1}")]
    File(String, std::io::Error),
    #[error("APNs credentials: {0}")]
    Credentials(String),
    #[error("APNs needs apns_key_file + apns_key_id + apns_team_id, or apns_cert_file + apns_cert_key_file")]
    Incomplete,
}

pub struct Apns {
    client: a2::Client,
    default_topic: Option<String>,
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, ApnsError> {
    std::fs::read(path).map_err(|e| ApnsError::File(path.display().to_string(), e))
}

impl Apns {
    /// (production, sandbox) clients, when APNs is configured.
    pub fn from_config(config: &PushConfig) -> Result<Option<(Apns, Apns)>, ApnsError> {
        let client = |endpoint: Endpoint| -> Result<Option<a2::Client>, ApnsError> {
            let settings = ClientConfig::new(endpoint);
            match (&config.apns_key_file, &config.apns_key_id, &config.apns_team_id, &config.apns_cert_file) {
                (Some(key), Some(key_id), Some(team_id), _) => {
                    let pem = read(key)?;
                    a2::Client::token(Cursor::new(pem), key_id, team_id, settings)
                        .map(Some)
                        .map_err(|e| ApnsError::Credentials(e.to_string()))
                }
                (_, _, _, Some(cert)) => {
                    let key = config.apns_cert_key_file.as_ref().ok_or(ApnsError::Incomplete)?;
                    a2::Client::certificate_parts(&read(cert)?, &read(key)?, settings)
                        .map(Some)
                        .map_err(|e| ApnsError::Credentials(e.to_string()))
                }
                (None, None, None, None) => Ok(None),
                _ => Err(ApnsError::Incomplete),
            }
        };
        let (Some(production), Some(sandbox)) = (client(Endpoint::Production)?, client(Endpoint::Sandbox)?) else {
            return Ok(None);
        };
        let topic = config.apns_topic.clone();
        Ok(Some((
            Apns { client: production, default_topic: topic.clone() },
            Apns { client: sandbox, default_topic: topic },
        )))
    }

    async fn deliver(&self, delivery: &Delivery) -> Outcome {
        let Some(topic) = delivery.bundle.as_deref().or(self.default_topic.as_deref()) else {
            return Outcome::Failed("no apns-topic: the device registered no BundleID and apns_topic is unset".into());
        };
        let body = match fitted_body(delivery, topic) {
            Ok(body) => body,
            Err(e) => return Outcome::Failed(e),
        };
        let payload = match build(delivery, topic, &body) {
            Ok(payload) => payload,
            Err(e) => return Outcome::Failed(e),
        };
        match self.client.send(payload).await {
            Ok(_) => Outcome::Delivered,
            Err(a2::Error::ResponseError(response)) => {
                let reason = response.error.as_ref().map(|e| &e.reason);
                // A wrong app-wide apns_topic must not kill every token: only a token refused for
                // the device's own bundle ID is dead.
                if matches!(reason, Some(ErrorReason::DeviceTokenNotForTopic)) && delivery.bundle.is_none() {
                    return Outcome::Failed(format!("{} DeviceTokenNotForTopic (check apns_topic)", response.code));
                }
                outcome(response.code, reason)
            }
            Err(e @ (a2::Error::ConnectionError(_) | a2::Error::ClientError(_) | a2::Error::RequestTimeout(_))) => {
                Outcome::Retry(e.to_string())
            }
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

impl Provider for Apns {
    fn send<'a>(&'a self, delivery: &'a Delivery) -> OutcomeFuture<'a> {
        Box::pin(self.deliver(delivery))
    }

    /// A push to a device token no device has: Apple refusing the token (not the key or
    /// certificate) means the credentials are good.
    fn check<'a>(&'a self) -> CheckFuture<'a> {
        Box::pin(async move {
            let topic = self.default_topic.as_deref().unwrap_or(CHECK_TOPIC);
            let token = "0".repeat(64);
            let payload = DefaultNotificationBuilder::new()
                .set_body("credentials check")
                .build(&token, NotificationOptions { apns_topic: Some(topic), ..NotificationOptions::default() });
            match self.client.send(payload).await {
                Ok(_) => Check::Ok("APNs accepted a test push".into()),
                Err(a2::Error::ResponseError(response)) => {
                    check_answer(response.code, response.error.as_ref().map(|e| &e.reason))
                }
                Err(e) => Check::Refused(e.to_string()),
            }
        })
    }
}

/// The apns-topic of a credentials check when apns_topic is unset.
const CHECK_TOPIC: &str = "parley.credentials.check";

/// What APNs' answer to a push to a made-up token says of the credentials.
pub fn check_answer(status: u16, reason: Option<&ErrorReason>) -> Check {
    let why = format!("{status} {}", reason.map(|r| r.to_string()).unwrap_or_default());
    match reason {
        Some(ErrorReason::BadDeviceToken | ErrorReason::DeviceTokenNotForTopic | ErrorReason::Unregistered) => {
            Check::Ok(format!("credentials accepted (the test token was refused: {why})"))
        }
        _ => Check::Refused(why),
    }
}

/// The collapse ID within APNs' 64 bytes: a longer one (a topic's ID and seq) becomes its
/// SHA-256 in hex, so two messages never share one by truncation.
pub fn collapse_id(id: &str) -> String {
    if id.len() <= MAX_COLLAPSE_ID {
        return id.to_string();
    }
    use sha2::Digest;
    crate::hex(&sha2::Sha256::digest(id.as_bytes()))
}

/// The headers of a delivery.
pub fn options<'a>(delivery: &'a Delivery, topic: &'a str) -> Result<NotificationOptions<'a>, String> {
    Ok(NotificationOptions {
        apns_id: None,
        apns_push_type: Some(PushType::Alert),
        apns_expiration: Some(delivery.expires_at.max(0) as u64),
        apns_priority: Some(Priority::High),
        apns_topic: Some(topic),
        apns_collapse_id: Some(CollapseId::new(&delivery.collapse_id).map_err(|e| e.to_string())?),
    })
}

fn build<'a>(
    delivery: &'a Delivery,
    topic: &'a str,
    body: &'a str,
) -> Result<a2::request::payload::Payload<'a>, String> {
    let n = &delivery.notification;
    let mut builder = DefaultNotificationBuilder::new().set_body(body);
    if let Some(title) = n.apns_title.as_deref() {
        builder = builder.set_title(title);
    }
    if let Some(subtitle) = n.subtitle.as_deref() {
        builder = builder.set_subtitle(subtitle);
    }
    if let Some(badge) = delivery.badge {
        builder = builder.set_badge(badge);
    }
    if let Some(sound) = n.sound.as_deref() {
        builder = builder.set_sound(sound);
    }
    if n.mutable_content {
        builder = builder.set_mutable_content();
    }
    let mut payload = builder.build(&delivery.token, options(delivery, topic)?);
    if let Some(ext) = &n.ext {
        payload.add_custom_data("ext", ext).map_err(|e| e.to_string())?;
    }
    if let Some(image) = &n.image {
        payload.add_custom_data("image", image).map_err(|e| e.to_string())?;
    }
    Ok(payload)
}

/// The payload JSON of a delivery, as APNs receives it.
pub fn payload_json(delivery: &Delivery, topic: &str) -> Result<String, String> {
    let body = fitted_body(delivery, topic)?;
    build(delivery, topic, &body)?.to_json_string().map_err(|e| e.to_string())
}

/// The alert text that keeps the payload within 4 KB: when too large it is shortened (on a
/// character boundary, ending with "…"); the JSON itself is never cut.
pub fn fitted_body(delivery: &Delivery, topic: &str) -> Result<String, String> {
    let body = delivery.notification.body.as_str();
    let size = |text: &str| -> Result<usize, String> {
        Ok(build(delivery, topic, text)?.to_json_string().map_err(|e| e.to_string())?.len())
    };
    let over = size(body)?.saturating_sub(MAX_PAYLOAD);
    if over == 0 {
        return Ok(body.to_string());
    }
    // Cut the excess plus room for the ellipsis and the escapes of what remains.
    let mut keep = body.len().saturating_sub(over + 16);
    loop {
        while !body.is_char_boundary(keep) {
            keep -= 1;
        }
        let candidate = format!("{}…", &body[..keep]);
        if size(&candidate)? <= MAX_PAYLOAD {
            return Ok(candidate);
        }
        if keep == 0 {
            // Title, ext or image alone are over the limit: Apple would refuse it (413).
            return Err(format!("payload over {MAX_PAYLOAD} bytes even without alert text"));
        }
        keep = keep.saturating_sub(64);
    }
}

/// What an APNs answer means for the token.
pub fn outcome(status: u16, reason: Option<&ErrorReason>) -> Outcome {
    let why = format!("{status} {}", reason.map(|r| r.to_string()).unwrap_or_default());
    match (status, reason) {
        (200, _) => Outcome::Delivered,
        (410, _)
        | (_, Some(ErrorReason::Unregistered | ErrorReason::BadDeviceToken | ErrorReason::DeviceTokenNotForTopic)) => {
            Outcome::DeadToken(why)
        }
        (429 | 500 | 503, _) => Outcome::Retry(why),
        _ => Outcome::Failed(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::text::{render, Chat, PushSource};
    use serde_json::{json, Value};

    fn delivery(body: Value, info: Option<Value>, chat: Chat, nick: Option<&str>, badge: Option<u32>) -> Delivery {
        let source = PushSource { chat, sender_nick: nick, body: &body, offline_push_info: info.as_ref() };
        let notification = render(&source).expect("pushed");
        Delivery {
            user: "bob".into(),
            instance: "phone".into(),
            provider: "apns".into(),
            token: "0f".repeat(32),
            bundle: None,
            badge: if notification.count_badge { badge } else { None },
            notification,
            collapse_id: "1_2_3".into(),
            expires_at: 1_700_000_000,
        }
    }

    fn json_of(d: &Delivery) -> Value {
        serde_json::from_str(&payload_json(d, "com.example.app").unwrap()).unwrap()
    }

    fn text(t: &str) -> Value {
        json!({"MsgType": "TIMTextElem", "MsgContent": {"Text": t}})
    }

    #[test]
    fn payloads_follow_the_push_text_table() {
        // a2 always writes "mutable-content" (0 = off), which APNs accepts.
        let custom = json!({"MsgType": "TIMCustomElem",
                            "MsgContent": {"Data": "d", "Desc": "world", "Ext": "www.qq.com", "Sound": "dingdong.aiff"}});
        let location =
            json!({"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "x", "Latitude": 1.0, "Longitude": 2.0}});
        let cases: Vec<(&str, Delivery, Value)> = vec![
            (
                "seed example: text + custom, nick, badge",
                delivery(json!([text("hello"), custom.clone()]), None, Chat::C2c, Some("Nickname"), Some(5)),
                json!({"aps": {"alert": "Nickname:helloworld", "badge": 5, "sound": "dingdong.aiff", "mutable-content": 0},
                       "ext": "www.qq.com"}),
            ),
            (
                "no nick",
                delivery(json!([text("hi")]), None, Chat::C2c, None, Some(1)),
                json!({"aps": {"alert": "hi", "badge": 1, "mutable-content": 0}}),
            ),
            (
                "group with nick",
                delivery(
                    json!([text("hi")]),
                    None,
                    Chat::Group { name: "Team", mentioned: false },
                    Some("Ann"),
                    Some(2),
                ),
                json!({"aps": {"alert": "Ann(Team):hi", "badge": 2, "mutable-content": 0}}),
            ),
            (
                "group without nick, a location",
                delivery(json!([location]), None, Chat::Group { name: "Team", mentioned: false }, None, None),
                json!({"aps": {"alert": "(Team):[Location]", "mutable-content": 0}}),
            ),
            (
                "OfflinePushInfo: title, subtitle, sound, mutable content, ext, image, no badge",
                delivery(
                    json!([text("hi")]),
                    Some(json!({"Title": "T", "Desc": "custom desc", "Ext": "{\"k\":1}",
                                "ApnsInfo": {"Sound": "a.caf", "BadgeMode": 1, "Title": "Apple title",
                                             "SubTitle": "sub", "Image": "https://i", "MutableContent": 1}})),
                    Chat::C2c,
                    Some("Ann"),
                    Some(9),
                ),
                json!({"aps": {"alert": {"title": "Apple title", "subtitle": "sub", "body": "Ann:custom desc"},
                               "sound": "a.caf", "mutable-content": 1},
                       "ext": "{\"k\":1}", "image": "https://i"}),
            ),
        ];
        for (what, d, expected) in cases {
            assert_eq!(json_of(&d), expected, "{what}");
        }
    }

    #[test]
    fn headers_name_topic_type_priority_expiry_and_collapse_id() {
        let mut d = delivery(json!([text("hi")]), None, Chat::C2c, None, None);
        d.collapse_id = collapse_id(&format!("{}:17", "@TGS#_@TGS#cABCDEFGH@TOPIC#_".repeat(3)));
        assert_ne!(d.collapse_id, collapse_id(&format!("{}:18", "@TGS#_@TGS#cABCDEFGH@TOPIC#_".repeat(3))));
        let options = options(&d, "com.example.app").unwrap();
        assert_eq!(options.apns_topic, Some("com.example.app"));
        assert!(matches!(options.apns_push_type, Some(PushType::Alert)));
        assert!(matches!(options.apns_priority, Some(Priority::High)));
        assert_eq!(options.apns_expiration, Some(1_700_000_000));
        assert_eq!(options.apns_collapse_id.map(|c| c.value.len()), Some(64));
    }

    #[test]
    fn oversized_alerts_are_cut_never_the_json() {
        let long = "é".repeat(5000);
        let d = delivery(json!([text(&long)]), Some(json!({"Ext": "e"})), Chat::C2c, Some("Ann"), Some(3));
        let text = payload_json(&d, "com.example.app").unwrap();
        assert!(text.len() <= MAX_PAYLOAD, "{}", text.len());
        let value: Value = serde_json::from_str(&text).unwrap();
        let alert = value["aps"]["alert"].as_str().unwrap();
        assert!(alert.starts_with("Ann:éé") && alert.ends_with('…'), "{alert}");
        assert!(text.len() > MAX_PAYLOAD - 200, "cut far more than needed: {}", text.len());
        assert_eq!(value["ext"], "e");
        assert_eq!(value["aps"]["badge"], 3);
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    #[actix_rt::test]
    async fn token_and_certificate_credentials_both_make_clients() {
        let token = PushConfig {
            apns_key_file: Some(fixture("apns-test-key.p8")),
            apns_key_id: Some("ABC123DEFG".into()),
            apns_team_id: Some("TEAM123456".into()),
            apns_topic: Some("com.example.app".into()),
            ..PushConfig::default()
        };
        assert!(Apns::from_config(&token).unwrap().is_some(), "token (.p8) auth");
        let certificate = PushConfig {
            apns_cert_file: Some(fixture("apns-test-cert.pem")),
            apns_cert_key_file: Some(fixture("apns-test-cert.key.pem")),
            ..PushConfig::default()
        };
        assert!(Apns::from_config(&certificate).unwrap().is_some(), "certificate auth");
        assert!(Apns::from_config(&PushConfig::default()).unwrap().is_none(), "not configured");
        let half = PushConfig { apns_key_id: Some("ABC123DEFG".into()), ..PushConfig::default() };
        assert!(matches!(Apns::from_config(&half), Err(ApnsError::Incomplete)));
        let missing = PushConfig { apns_key_file: Some(fixture("nope.p8")), ..token.clone() };
        assert!(matches!(Apns::from_config(&missing), Err(ApnsError::File(..))));
        let bad_key = PushConfig { apns_key_file: Some(fixture("usersig_vectors.json")), ..token };
        assert!(Apns::from_config(&bad_key).is_err(), "a file that is no key");
    }

    #[test]
    fn a_refused_test_token_means_good_credentials() {
        assert!(matches!(check_answer(400, Some(&ErrorReason::BadDeviceToken)), Check::Ok(_)));
        assert!(matches!(check_answer(403, Some(&ErrorReason::InvalidProviderToken)), Check::Refused(_)));
        assert!(matches!(check_answer(403, Some(&ErrorReason::BadCertificate)), Check::Refused(_)));
        assert!(matches!(check_answer(500, None), Check::Refused(_)));
    }

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(outcome(200, None), Outcome::Delivered);
        assert!(matches!(outcome(410, Some(&ErrorReason::Unregistered)), Outcome::DeadToken(_)));
        assert!(matches!(outcome(400, Some(&ErrorReason::BadDeviceToken)), Outcome::DeadToken(_)));
        assert!(matches!(outcome(400, Some(&ErrorReason::DeviceTokenNotForTopic)), Outcome::DeadToken(_)));
        assert!(matches!(outcome(429, Some(&ErrorReason::TooManyRequests)), Outcome::Retry(_)));
        assert!(matches!(outcome(500, Some(&ErrorReason::InternalServerError)), Outcome::Retry(_)));
        assert!(matches!(outcome(503, Some(&ErrorReason::ServiceUnavailable)), Outcome::Retry(_)));
        assert!(matches!(outcome(403, Some(&ErrorReason::ExpiredProviderToken)), Outcome::Failed(_)));
        assert!(matches!(outcome(413, Some(&ErrorReason::PayloadTooLarge)), Outcome::Failed(_)));
    }
}
