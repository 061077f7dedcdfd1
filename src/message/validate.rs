//! Checks a message's content against REQUIREMENTS §5 and spec §3: every element type with its
//! fields, at most one TIMCustomElem, OfflinePushInfo's shape, and the size limit.

use serde_json::{Map, Value};

use super::MessageError;

/// Content that passed validation, as the JSON text that is stored and delivered.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Content {
    pub body: String,
    pub cloud_custom_data: Option<String>,
    pub offline_push_info: Option<String>,
}

/// Most messages merged into one TIMRelayElem.
const MAX_RELAYED: usize = 300;
/// TIMImageElem carries at most original, large and thumbnail.
const MAX_IMAGE_INFOS: usize = 3;

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Num,
    Arr,
}

/// (field, kind, required) per element type.
fn schema(msg_type: &str) -> Option<&'static [(&'static str, Kind, bool)]> {
    use Kind::*;
    Some(match msg_type {
        "TIMTextElem" => &[("Text", Str, true)],
        "TIMLocationElem" => &[("Desc", Str, false), ("Latitude", Num, true), ("Longitude", Num, true)],
        "TIMFaceElem" => &[("Index", Int, true), ("Data", Str, false)],
        "TIMCustomElem" => &[("Data", Str, false), ("Desc", Str, false), ("Ext", Str, false), ("Sound", Str, false)],
        "TIMSoundElem" => &[
            ("Url", Str, true),
            ("UUID", Str, false),
            ("Size", Int, false),
            ("Second", Int, false),
            ("Download_Flag", Int, false),
        ],
        "TIMImageElem" => &[("UUID", Str, true), ("ImageFormat", Int, false), ("ImageInfoArray", Arr, true)],
        "TIMFileElem" => &[
            ("Url", Str, true),
            ("UUID", Str, false),
            ("FileSize", Int, false),
            ("FileName", Str, false),
            ("Download_Flag", Int, false),
        ],
        "TIMVideoFileElem" => &[
            ("VideoUrl", Str, true),
            ("VideoUUID", Str, false),
            ("VideoSize", Int, false),
            ("VideoSecond", Int, false),
            ("VideoFormat", Str, false),
            ("VideoDownloadFlag", Int, false),
            ("ThumbUrl", Str, true),
            ("ThumbUUID", Str, false),
            ("ThumbSize", Int, false),
            ("ThumbWidth", Int, false),
            ("ThumbHeight", Int, false),
            ("ThumbFormat", Str, false),
            ("ThumbDownloadFlag", Int, false),
        ],
        "TIMRelayElem" => &[
            ("Title", Str, false),
            ("MsgNum", Int, true),
            ("CompatibleText", Str, false),
            ("AbstractList", Arr, false),
            ("MsgList", Arr, false),
            ("JsonMsgKey", Str, false),
        ],
        _ => return None,
    })
}

fn check_fields(
    content: &Map<String, Value>,
    fields: &[(&'static str, Kind, bool)],
    what: &str,
) -> Result<(), MessageError> {
    for &(name, kind, required) in fields {
        match content.get(name) {
            None | Some(Value::Null) if required => {
                return Err(MessageError::InvalidBody(format!("{what}.{name} is required")))
            }
            None | Some(Value::Null) => {}
            Some(v) => {
                let ok = match kind {
                    Kind::Str => v.is_string(),
                    Kind::Int => v.is_i64() || v.is_u64(),
                    Kind::Num => v.is_number(),
                    Kind::Arr => v.is_array(),
                };
                if !ok {
                    return Err(MessageError::InvalidBody(format!("{what}.{name} has the wrong type")));
                }
            }
        }
    }
    Ok(())
}

fn check_element(element: &Value, customs: &mut usize) -> Result<(), MessageError> {
    let obj = element.as_object().ok_or_else(|| MessageError::InvalidBody("an element is not an object".into()))?;
    let msg_type = obj
        .get("MsgType")
        .and_then(Value::as_str)
        .ok_or_else(|| MessageError::InvalidBody("MsgType is missing".into()))?;
    let fields = schema(msg_type).ok_or_else(|| MessageError::InvalidBody(format!("unknown MsgType {msg_type:?}")))?;
    let content = obj
        .get("MsgContent")
        .and_then(Value::as_object)
        .ok_or_else(|| MessageError::InvalidBody(format!("{msg_type}.MsgContent must be an object")))?;
    check_fields(content, fields, msg_type)?;
    match msg_type {
        "TIMCustomElem" => {
            *customs += 1;
            if *customs > 1 {
                return Err(MessageError::InvalidBody("at most one TIMCustomElem per message".into()));
            }
        }
        "TIMImageElem" => {
            let infos = content.get("ImageInfoArray").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            if infos.is_empty() || infos.len() > MAX_IMAGE_INFOS {
                return Err(MessageError::InvalidBody("ImageInfoArray holds 1 to 3 entries".into()));
            }
            for info in infos {
                let info = info
                    .as_object()
                    .ok_or_else(|| MessageError::InvalidBody("ImageInfoArray entries are objects".into()))?;
                use Kind::*;
                check_fields(
                    info,
                    &[
                        ("Type", Int, true),
                        ("Size", Int, false),
                        ("Width", Int, true),
                        ("Height", Int, true),
                        ("URL", Str, true),
                    ],
                    "ImageInfoArray",
                )?;
            }
        }
        "TIMRelayElem" => {
            let relayed = content.get("MsgList").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
            if relayed > MAX_RELAYED {
                return Err(MessageError::InvalidBody(format!("TIMRelayElem merges at most {MAX_RELAYED} messages")));
            }
        }
        _ => {}
    }
    Ok(())
}

/// OfflinePushInfo: an object whose known fields have their documented types.
fn check_offline_push(info: &Value) -> Result<(), MessageError> {
    use Kind::*;
    let obj = info.as_object().ok_or(MessageError::BadOfflinePushInfo)?;
    check_fields(
        obj,
        &[("PushFlag", Int, false), ("Title", Str, false), ("Desc", Str, false), ("Ext", Str, false)],
        "",
    )
    .map_err(|_| MessageError::BadOfflinePushInfo)?;
    for (name, spec) in [
        ("AndroidInfo", &[("Sound", Str, false), ("VIVOClassification", Int, false)][..]),
        (
            "ApnsInfo",
            &[("Sound", Str, false), ("BadgeMode", Int, false), ("Title", Str, false), ("MutableContent", Int, false)]
                [..],
        ),
    ] {
        match obj.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Object(sub)) => check_fields(sub, spec, name).map_err(|_| MessageError::BadOfflinePushInfo)?,
            Some(_) => return Err(MessageError::BadOfflinePushInfo),
        }
    }
    Ok(())
}

/// Validates MsgBody, CloudCustomData and OfflinePushInfo; `max_bytes` bounds them together.
pub fn content(
    body: Option<&Value>,
    cloud_custom_data: Option<&Value>,
    offline_push_info: Option<&Value>,
    max_bytes: usize,
) -> Result<Content, MessageError> {
    let body = body.ok_or(MessageError::MissingBody)?;
    let elements = body.as_array().ok_or(MessageError::BodyNotArray)?;
    if elements.is_empty() {
        return Err(MessageError::InvalidBody("MsgBody is empty".into()));
    }
    let mut customs = 0;
    for element in elements {
        check_element(element, &mut customs)?;
    }
    let cloud_custom_data = match cloud_custom_data {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(MessageError::InvalidBody("CloudCustomData must be a string".into())),
    };
    let offline_push_info = match offline_push_info {
        None | Some(Value::Null) => None,
        Some(v) => {
            check_offline_push(v)?;
            Some(v.to_string())
        }
    };
    let body = body.to_string();
    let size = body.len()
        + cloud_custom_data.as_ref().map_or(0, String::len)
        + offline_push_info.as_ref().map_or(0, String::len);
    if size > max_bytes {
        return Err(MessageError::TooLarge { size, max: max_bytes });
    }
    Ok(Content { body, cloud_custom_data, offline_push_info })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(body: Value) -> Result<Content, MessageError> {
        content(Some(&body), None, None, 12 * 1024)
    }

    #[test]
    fn every_element_type_is_accepted_with_its_fields() {
        let body = json!([
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}},
            {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "x", "Latitude": 29.3, "Longitude": 116.7}},
            {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": "abc\u{0}"}},
            {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "d", "Desc": "n", "Ext": "e", "Sound": "s.aiff"}},
            {"MsgType": "TIMSoundElem", "MsgContent": {"Url": "http://a/s", "UUID": "u", "Size": 1, "Second": 2, "Download_Flag": 2}},
            {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "u", "ImageFormat": 1, "ImageInfoArray": [
                {"Type": 1, "Size": 10, "Width": 5, "Height": 5, "URL": "http://a/i"}]}},
            {"MsgType": "TIMFileElem", "MsgContent": {"Url": "http://a/f", "UUID": "u", "FileSize": 3, "FileName": "f", "Download_Flag": 2}},
            {"MsgType": "TIMVideoFileElem", "MsgContent": {"VideoUrl": "http://a/v", "VideoUUID": "v", "VideoSize": 1, "VideoSecond": 1,
                "VideoFormat": "mp4", "VideoDownloadFlag": 2, "ThumbUrl": "http://a/t", "ThumbUUID": "t", "ThumbSize": 1,
                "ThumbWidth": 1, "ThumbHeight": 1, "ThumbFormat": "JPG", "ThumbDownloadFlag": 2}},
            {"MsgType": "TIMRelayElem", "MsgContent": {"Title": "t", "MsgNum": 1, "CompatibleText": "c", "AbstractList": ["a"],
                "MsgList": [{"From_Account": "a", "MsgBody": []}]}}
        ]);
        assert!(check(body).is_ok());
    }

    #[test]
    fn bad_bodies_are_refused_with_their_reason() {
        assert!(matches!(check(json!({"MsgType": "TIMTextElem"})), Err(MessageError::BodyNotArray)));
        assert!(matches!(check(json!([])), Err(MessageError::InvalidBody(_))));
        assert!(matches!(
            check(json!([{"MsgType": "TIMMagicElem", "MsgContent": {}}])),
            Err(MessageError::InvalidBody(_))
        ));
        assert!(matches!(
            check(json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": 5}}])),
            Err(MessageError::InvalidBody(_))
        ));
        assert!(matches!(
            check(json!([{"MsgType": "TIMTextElem", "MsgContent": {}}])),
            Err(MessageError::InvalidBody(_))
        ));
        let two_custom = json!([{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "a"}}, {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "b"}}]);
        assert!(matches!(check(two_custom), Err(MessageError::InvalidBody(_))));
        let relay: Vec<Value> = (0..301).map(|_| json!({})).collect();
        let relay = json!([{"MsgType": "TIMRelayElem", "MsgContent": {"MsgNum": 301, "MsgList": relay}}]);
        assert!(matches!(check(relay), Err(MessageError::InvalidBody(_))));
    }

    #[test]
    fn size_counts_body_custom_data_and_push_info() {
        let text = "x".repeat(12 * 1024);
        assert!(matches!(
            check(json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}])),
            Err(MessageError::TooLarge { .. })
        ));
        let body = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]);
        let custom = json!("y".repeat(12 * 1024));
        assert!(matches!(content(Some(&body), Some(&custom), None, 12 * 1024), Err(MessageError::TooLarge { .. })));
    }

    #[test]
    fn offline_push_info_shape_is_checked() {
        let body = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]);
        let good = json!({"PushFlag": 0, "Desc": "d", "ApnsInfo": {"BadgeMode": 1, "Sound": "a"}, "AndroidInfo": {"Sound": "b"}});
        assert!(content(Some(&body), None, Some(&good), 12 * 1024).is_ok());
        for bad in
            [json!("x"), json!({"PushFlag": "no"}), json!({"ApnsInfo": 3}), json!({"ApnsInfo": {"BadgeMode": "1"}})]
        {
            assert!(matches!(content(Some(&body), None, Some(&bad), 12 * 1024), Err(MessageError::BadOfflinePushInfo)));
        }
    }
}
