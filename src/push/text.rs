//! Offline-push text: what a push notification says for a message, and the per-message push options
//! (REQUIREMENTS §7, spec §3.3/§3.4). Pure: from the message body, its `OfflinePushInfo`, the sender's
//! nick and the chat it was sent in, builds the alert text and the APNs/FCM settings, or decides the
//! message is not pushed at all.
//!
//! The message was validated when it was sent, but nothing here trusts that: a field of the wrong type
//! counts as absent, so a malformed message at worst goes unpushed, never panics the push worker.

use serde_json::{Map, Value};

/// Offline push text of a TIMLocationElem (the seed's English wording).
const LOCATION_TEXT: &str = "[Location]";
/// Offline push text of a TIMFaceElem (the seed's English wording).
const FACE_TEXT: &str = "[Face]";

/// Where the message was sent: a group's alert names the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chat<'a> {
    C2c,
    /// `mentioned`: the recipient is @-mentioned (or @all) in it.
    Group {
        name: &'a str,
        mentioned: bool,
    },
}

/// What a mentioned member's alert starts with.
pub const MENTION_PREFIX: &str = "[Someone @you]";

/// Everything the push text depends on.
#[derive(Clone, Copy, Debug)]
pub struct PushSource<'a> {
    pub chat: Chat<'a>,
    /// The sender's nick; `None` or `Some("")` means no nick.
    pub sender_nick: Option<&'a str>,
    /// `MsgBody`: an array of `{MsgType, MsgContent}`.
    pub body: &'a Value,
    /// The message's `OfflinePushInfo` object, if it had one.
    pub offline_push_info: Option<&'a Value>,
}

/// One message's notification, provider-neutral; the APNs and FCM adapters pick their fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Notification {
    /// `OfflinePushInfo.Title`.
    pub title: Option<String>,
    /// `ApnsInfo.Title`, else `OfflinePushInfo.Title`.
    pub apns_title: Option<String>,
    /// `ApnsInfo.SubTitle`.
    pub subtitle: Option<String>,
    /// `ApnsInfo.Image`.
    pub image: Option<String>,
    /// The alert text: prefix ("Nick:", "Nick(Group):", "(Group):") and the message text.
    pub body: String,
    /// `OfflinePushInfo.Ext`, else (no `OfflinePushInfo`) `TIMCustomElem.Ext`.
    pub ext: Option<String>,
    /// APNs sound: `ApnsInfo.Sound`, else (no `OfflinePushInfo`) `TIMCustomElem.Sound`.
    pub sound: Option<String>,
    /// `AndroidInfo.Sound`.
    pub android_sound: Option<String>,
    /// `AndroidInfo.GoogleChannelID`.
    pub android_channel: Option<String>,
    /// `ApnsInfo.MutableContent == 1`.
    pub mutable_content: bool,
    /// `ApnsInfo.BadgeMode != 1`: whether this message counts in the APNs badge.
    pub count_badge: bool,
    /// The Android vendors' own `AndroidInfo` settings.
    pub vendor: VendorSettings,
}

/// `AndroidInfo` fields only one Android vendor reads (spec §3.4).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct VendorSettings {
    /// `AndroidInfo.HuaWeiChannelID`.
    pub huawei_channel: Option<String>,
    /// `AndroidInfo.HuaWeiImportance`: `LOW` or `NORMAL`.
    pub huawei_importance: Option<String>,
    /// `AndroidInfo.HuaWeiCategory`.
    pub huawei_category: Option<String>,
    /// `AndroidInfo.ExtAsHuaweiIntentParam == 1`: the ext opens an intent instead of riding as data.
    pub ext_as_huawei_intent: bool,
    /// `AndroidInfo.XiaoMiChannelID`.
    pub xiaomi_channel: Option<String>,
    /// `AndroidInfo.OPPOChannelID`.
    pub oppo_channel: Option<String>,
    /// `AndroidInfo.VIVOClassification`: 0 operational, 1 system.
    pub vivo_classification: Option<i64>,
}

/// The notification for a message, or `None` when it is not pushed: `OfflinePushInfo.PushFlag` is 1, or
/// the text is empty (which covers a lone TIMCustomElem with neither `Desc` nor `OfflinePushInfo.Desc`,
/// and a message of only sound/image/file/video/relay elements).
pub fn render(source: &PushSource) -> Option<Notification> {
    // A non-object OfflinePushInfo (null included) is treated as absent, like every other mistyped field.
    let info = source.offline_push_info.and_then(Value::as_object);
    if info.and_then(|info| info.get("PushFlag")).and_then(Value::as_i64) == Some(1) {
        return None;
    }
    let elements: &[Value] = source.body.as_array().map(Vec::as_slice).unwrap_or_default();
    // OfflinePushInfo given: the custom element's push settings (Desc, Ext, Sound) are ignored.
    let custom_settings = info.is_none();

    let text = match info.and_then(|info| string(info, "Desc")) {
        Some(desc) => desc.to_owned(),
        None => elements.iter().map(|element| element_text(element, custom_settings)).collect(),
    };
    if text.is_empty() {
        return None;
    }

    let apns = info.and_then(|info| object(info, "ApnsInfo"));
    let android = info.and_then(|info| object(info, "AndroidInfo"));
    let title = info.and_then(|info| string(info, "Title"));
    // Read only when there is no OfflinePushInfo (see `ext` and `sound`).
    let custom_field = |key: &str| elements.iter().filter_map(custom_content).find_map(|content| string(content, key));
    let ext = match info {
        Some(info) => string(info, "Ext"),
        None => custom_field("Ext"),
    };
    let sound = match info {
        Some(_) => apns.and_then(|apns| string(apns, "Sound")),
        None => custom_field("Sound"),
    };

    Some(Notification {
        title: title.map(str::to_owned),
        apns_title: apns.and_then(|apns| string(apns, "Title")).or(title).map(str::to_owned),
        subtitle: apns.and_then(|apns| string(apns, "SubTitle")).map(str::to_owned),
        image: apns.and_then(|apns| string(apns, "Image")).map(str::to_owned),
        body: alert(source.chat, source.sender_nick, &text),
        ext: ext.map(str::to_owned),
        sound: sound.map(str::to_owned),
        android_sound: android.and_then(|android| string(android, "Sound")).map(str::to_owned),
        android_channel: android.and_then(|android| string(android, "GoogleChannelID")).map(str::to_owned),
        mutable_content: apns.and_then(|apns| apns.get("MutableContent")).and_then(Value::as_i64) == Some(1),
        count_badge: apns.and_then(|apns| apns.get("BadgeMode")).and_then(Value::as_i64) != Some(1),
        vendor: android.map(vendor_settings).unwrap_or_default(),
    })
}

fn vendor_settings(android: &Map<String, Value>) -> VendorSettings {
    let text = |key: &str| string(android, key).map(str::to_owned);
    VendorSettings {
        huawei_channel: text("HuaWeiChannelID"),
        huawei_importance: text("HuaWeiImportance"),
        huawei_category: text("HuaWeiCategory"),
        ext_as_huawei_intent: android.get("ExtAsHuaweiIntentParam").and_then(Value::as_i64) == Some(1),
        xiaomi_channel: text("XiaoMiChannelID"),
        oppo_channel: text("OPPOChannelID"),
        vivo_classification: android.get("VIVOClassification").and_then(Value::as_i64).filter(|c| matches!(c, 0 | 1)),
    }
}

/// "Nick:text" or "text" in C2C; "Nick(Group):text" or "(Group):text" in a group.
fn alert(chat: Chat, nick: Option<&str>, text: &str) -> String {
    let nick = nick.unwrap_or_default();
    match chat {
        Chat::C2c if nick.is_empty() => text.to_owned(),
        Chat::C2c => format!("{nick}:{text}"),
        Chat::Group { name, mentioned: false } => format!("{nick}({name}):{text}"),
        Chat::Group { name, mentioned: true } => format!("{MENTION_PREFIX}{nick}({name}):{text}"),
    }
}

/// One element's share of the text; the seed gives text only to these four types, so any other
/// (sound, image, file, video, relay, unknown) adds nothing.
fn element_text(element: &Value, custom_settings: bool) -> &str {
    let content = element.get("MsgContent").and_then(Value::as_object);
    let field = |key: &str| content.and_then(|content| content.get(key)).and_then(Value::as_str).unwrap_or_default();
    match element.get("MsgType").and_then(Value::as_str) {
        Some("TIMTextElem") => field("Text"),
        Some("TIMLocationElem") => LOCATION_TEXT,
        Some("TIMFaceElem") => FACE_TEXT,
        Some("TIMCustomElem") if custom_settings => field("Desc"),
        _ => "",
    }
}

/// The `MsgContent` of a TIMCustomElem, when it is an object.
fn custom_content(element: &Value) -> Option<&Map<String, Value>> {
    match element.get("MsgType").and_then(Value::as_str) {
        Some("TIMCustomElem") => element.get("MsgContent").and_then(Value::as_object),
        _ => None,
    }
}

/// A string field; empty counts as absent, since an empty title, sound or ext says nothing.
fn string<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    map.get(key).and_then(Value::as_str).filter(|value| !value.is_empty())
}

fn object<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v Map<String, Value>> {
    map.get(key).and_then(Value::as_object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GROUP: Chat<'static> = Chat::Group { name: "Group", mentioned: false };

    fn element(msg_type: &str, content: Value) -> Value {
        json!({"MsgType": msg_type, "MsgContent": content})
    }

    fn text(text: &str) -> Value {
        element("TIMTextElem", json!({"Text": text}))
    }

    fn location() -> Value {
        element("TIMLocationElem", json!({"Desc": "someinfo", "Latitude": 29.34, "Longitude": 116.77}))
    }

    fn face() -> Value {
        element("TIMFaceElem", json!({"Index": 1, "Data": "abc"}))
    }

    fn custom(content: Value) -> Value {
        element("TIMCustomElem", content)
    }

    /// The seed's custom element: Desc, Ext and Sound all set.
    fn seed_custom(desc: &str) -> Value {
        custom(json!({"Data": "message", "Desc": desc, "Ext": "www.qq.com", "Sound": "dingdong.aiff"}))
    }

    fn sound() -> Value {
        element(
            "TIMSoundElem",
            json!({"Url": "https://x/s.mp3", "UUID": "u", "Size": 1, "Second": 1, "Download_Flag": 2}),
        )
    }

    fn image() -> Value {
        let info = json!([{"Type": 1, "Size": 1, "Width": 1, "Height": 1, "URL": "https://x/i.jpg"}]);
        element("TIMImageElem", json!({"UUID": "u", "ImageFormat": 1, "ImageInfoArray": info}))
    }

    fn file() -> Value {
        element(
            "TIMFileElem",
            json!({"Url": "https://x/f", "UUID": "u", "FileSize": 1, "FileName": "f", "Download_Flag": 2}),
        )
    }

    fn video() -> Value {
        element(
            "TIMVideoFileElem",
            json!({"VideoUrl": "https://x/v.mp4", "VideoUUID": "u", "VideoSize": 1, "VideoSecond": 1,
                "VideoFormat": "mp4", "VideoDownloadFlag": 2, "ThumbUrl": "https://x/t.jpg", "ThumbUUID": "t",
                "ThumbSize": 1, "ThumbWidth": 1, "ThumbHeight": 1, "ThumbFormat": "JPG", "ThumbDownloadFlag": 2}),
        )
    }

    fn relay() -> Value {
        element(
            "TIMRelayElem",
            json!({"Title": "Chat history", "MsgNum": 1, "CompatibleText": "upgrade",
                "AbstractList": ["a: hi"], "MsgList": []}),
        )
    }

    /// A pushed notification with the given alert and every default.
    fn pushed(body: &str) -> Option<Notification> {
        Some(Notification { body: body.to_owned(), count_badge: true, ..Notification::default() })
    }

    fn with(body: &str, change: impl FnOnce(&mut Notification)) -> Option<Notification> {
        let mut notification = Notification { body: body.to_owned(), count_badge: true, ..Notification::default() };
        change(&mut notification);
        Some(notification)
    }

    struct Case {
        name: &'static str,
        chat: Chat<'static>,
        nick: Option<&'static str>,
        body: Value,
        info: Option<Value>,
        want: Option<Notification>,
    }

    fn case(name: &'static str, body: Value, want: Option<Notification>) -> Case {
        Case { name, chat: Chat::C2c, nick: None, body, info: None, want }
    }

    impl Case {
        fn nick(self, nick: Option<&'static str>) -> Case {
            Case { nick, ..self }
        }
        fn group(self) -> Case {
            Case { chat: GROUP, ..self }
        }
        fn info(self, info: Value) -> Case {
            Case { info: Some(info), ..self }
        }
    }

    fn cases() -> Vec<Case> {
        vec![
            // Each element type alone.
            case("text", json!([text("hello")]), pushed("hello")),
            case("location", json!([location()]), pushed("[Location]")),
            case("face", json!([face()]), pushed("[Face]")),
            case(
                "custom with Desc, Ext and Sound",
                json!([seed_custom("notification")]),
                with("notification", |n| {
                    n.ext = Some("www.qq.com".into());
                    n.sound = Some("dingdong.aiff".into());
                }),
            ),
            case("custom without Desc", json!([custom(json!({"Data": "d", "Ext": "e", "Sound": "s"}))]), None),
            case("custom with empty Desc", json!([custom(json!({"Data": "d", "Desc": ""}))]), None),
            case("sound", json!([sound()]), None),
            case("image", json!([image()]), None),
            case("file", json!([file()]), None),
            case("video", json!([video()]), None),
            case("relay", json!([relay()]), None),
            case("unknown type", json!([{"MsgType": "TIMFooElem", "MsgContent": {"Text": "x"}}]), None),
            case("empty text", json!([text("")]), None),
            case("empty body", json!([]), None),
            // Concatenation without separators.
            case(
                "seed: text + custom, nick",
                json!([text("hello"), seed_custom("world")]),
                with("Nickname:helloworld", |n| {
                    n.ext = Some("www.qq.com".into());
                    n.sound = Some("dingdong.aiff".into());
                }),
            )
            .nick(Some("Nickname")),
            case("custom + text", json!([custom(json!({"Desc": "hello"})), text("world")]), pushed("helloworld")),
            case(
                "text, face, location, text",
                json!([text("a "), face(), location(), text(" b")]),
                pushed("a [Face][Location] b"),
            ),
            case("text + image adds nothing", json!([text("look"), image(), sound(), file()]), pushed("look")),
            case("image + custom without Desc", json!([image(), custom(json!({"Data": "d"}))]), None),
            // Nick and chat.
            case("C2C nick", json!([text("hello")]), pushed("Nick:hello")).nick(Some("Nick")),
            case("C2C empty nick", json!([text("hello")]), pushed("hello")).nick(Some("")),
            case("group nick", json!([text("hello")]), pushed("Nick(Group):hello")).nick(Some("Nick")).group(),
            case("group no nick", json!([text("hello")]), pushed("(Group):hello")).group(),
            case("group empty nick", json!([text("hello")]), pushed("(Group):hello")).nick(Some("")).group(),
            case("group nothing to say", json!([image()]), None).nick(Some("Nick")).group(),
            // OfflinePushInfo.
            case("PushFlag 1", json!([text("hello")]), None).info(json!({"PushFlag": 1})),
            case("PushFlag 1 beats Desc", json!([text("hello")]), None).info(json!({"PushFlag": 1, "Desc": "d"})),
            case("PushFlag 0", json!([text("hello")]), pushed("hello")).info(json!({"PushFlag": 0})),
            case("Desc replaces the text", json!([text("hello"), face()]), pushed("Nick:override"))
                .nick(Some("Nick"))
                .info(json!({"Desc": "override"})),
            case("Desc in a group", json!([text("hello")]), pushed("Nick(Group):override"))
                .nick(Some("Nick"))
                .group()
                .info(json!({"Desc": "override"})),
            case("empty Desc replaces nothing", json!([text("hello")]), pushed("hello")).info(json!({"Desc": ""})),
            case("Desc pushes an image", json!([image()]), pushed("a picture")).info(json!({"Desc": "a picture"})),
            case("lone custom without Desc, OfflinePushInfo.Desc", json!([custom(json!({"Data": "d"}))]), pushed("d2"))
                .info(json!({"Desc": "d2"})),
            case("OfflinePushInfo.Desc beats custom Desc", json!([seed_custom("mine")]), pushed("theirs"))
                .info(json!({"Desc": "theirs"})),
            case("custom Desc ignored with OfflinePushInfo", json!([text("hi"), seed_custom("x")]), pushed("hi"))
                .info(json!({})),
            case("lone custom with Desc, OfflinePushInfo without Desc", json!([seed_custom("x")]), None)
                .info(json!({"Title": "t"})),
            case(
                "Title",
                json!([text("hello")]),
                with("hello", |n| {
                    n.title = Some("T".into());
                    n.apns_title = Some("T".into());
                }),
            )
            .info(json!({"Title": "T"})),
            case(
                "ApnsInfo.Title overrides Title for APNs",
                json!([text("hello")]),
                with("hello", |n| {
                    n.title = Some("T".into());
                    n.apns_title = Some("A".into());
                }),
            )
            .info(json!({"Title": "T", "ApnsInfo": {"Title": "A"}})),
            case("ApnsInfo.Title alone", json!([text("hello")]), with("hello", |n| n.apns_title = Some("A".into())))
                .info(json!({"ApnsInfo": {"Title": "A"}})),
            case(
                "SubTitle and Image",
                json!([text("hello")]),
                with("hello", |n| {
                    n.subtitle = Some("S".into());
                    n.image = Some("https://x/i.png".into());
                }),
            )
            .info(json!({"ApnsInfo": {"SubTitle": "S", "Image": "https://x/i.png"}})),
            case(
                "ApnsInfo.Sound over custom Sound",
                json!([seed_custom("x"), text("hello")]),
                with("hello", |n| n.sound = Some("apns.caf".into())),
            )
            .info(json!({"ApnsInfo": {"Sound": "apns.caf"}})),
            case(
                "custom Sound ignored with OfflinePushInfo",
                json!([seed_custom("x"), text("hello")]),
                pushed("hello"),
            )
            .info(json!({"ApnsInfo": {}})),
            case(
                "OfflinePushInfo.Ext over custom Ext",
                json!([seed_custom("x"), text("hello")]),
                with("hello", |n| n.ext = Some("{\"k\":1}".into())),
            )
            .info(json!({"Ext": "{\"k\":1}"})),
            case("custom Ext ignored with OfflinePushInfo", json!([seed_custom("x"), text("hello")]), pushed("hello"))
                .info(json!({"Title": ""})),
            case(
                "AndroidInfo",
                json!([text("hello")]),
                with("hello", |n| {
                    n.android_sound = Some("/raw/ding".into());
                    n.android_channel = Some("chan".into());
                    n.vendor.huawei_channel = Some("hw".into());
                }),
            )
            .info(json!({"AndroidInfo": {"Sound": "/raw/ding", "GoogleChannelID": "chan", "HuaWeiChannelID": "hw"}})),
            case(
                "vendor AndroidInfo",
                json!([text("hello")]),
                with("hello", |n| {
                    n.vendor = VendorSettings {
                        huawei_channel: Some("hw".into()),
                        huawei_importance: Some("LOW".into()),
                        huawei_category: Some("IM".into()),
                        ext_as_huawei_intent: true,
                        xiaomi_channel: Some("mi".into()),
                        oppo_channel: Some("op".into()),
                        vivo_classification: Some(0),
                    };
                }),
            )
            .info(json!({"AndroidInfo": {"HuaWeiChannelID": "hw", "HuaWeiImportance": "LOW", "HuaWeiCategory": "IM",
                "ExtAsHuaweiIntentParam": 1, "XiaoMiChannelID": "mi", "OPPOChannelID": "op", "VIVOClassification": 0}})),
            case("VIVOClassification out of range", json!([text("hello")]), pushed("hello"))
                .info(json!({"AndroidInfo": {"VIVOClassification": 7, "ExtAsHuaweiIntentParam": "1"}})),
            case("MutableContent 1", json!([text("hello")]), with("hello", |n| n.mutable_content = true))
                .info(json!({"ApnsInfo": {"MutableContent": 1}})),
            case("MutableContent 0", json!([text("hello")]), pushed("hello"))
                .info(json!({"ApnsInfo": {"MutableContent": 0}})),
            case("BadgeMode 1", json!([text("hello")]), with("hello", |n| n.count_badge = false))
                .info(json!({"ApnsInfo": {"BadgeMode": 1}})),
            case("BadgeMode 0", json!([text("hello")]), pushed("hello")).info(json!({"ApnsInfo": {"BadgeMode": 0}})),
            case(
                "everything",
                json!([text("hello")]),
                Some(Notification {
                    title: Some("T".into()),
                    apns_title: Some("A".into()),
                    subtitle: Some("S".into()),
                    image: Some("I".into()),
                    body: "Nick(Group):D".into(),
                    ext: Some("E".into()),
                    sound: Some("snd".into()),
                    android_sound: Some("asnd".into()),
                    android_channel: Some("ch".into()),
                    mutable_content: true,
                    count_badge: false,
                    vendor: VendorSettings::default(),
                }),
            )
            .nick(Some("Nick"))
            .group()
            .info(json!({"PushFlag": 0, "Title": "T", "Desc": "D", "Ext": "E",
                "AndroidInfo": {"Sound": "asnd", "GoogleChannelID": "ch"},
                "ApnsInfo": {"Sound": "snd", "BadgeMode": 1, "Title": "A", "SubTitle": "S", "Image": "I",
                    "MutableContent": 1}})),
            // Malformed values count as absent.
            case("MsgContent not an object", json!([{"MsgType": "TIMTextElem", "MsgContent": "hello"}]), None),
            case("Text not a string", json!([element("TIMTextElem", json!({"Text": 5})), text("ok")]), pushed("ok")),
            case("MsgType not a string", json!([{"MsgType": 1, "MsgContent": {"Text": "x"}}]), None),
            case("element not an object", json!(["hello", 3, null, [], text("ok")]), pushed("ok")),
            case("custom Desc not a string", json!([custom(json!({"Desc": ["x"], "Ext": 1, "Sound": {}}))]), None),
            case("custom MsgContent not an object", json!([custom(json!("x")), text("ok")]), pushed("ok")),
            case("body not an array", json!({"MsgType": "TIMTextElem"}), None),
            case("body null, OfflinePushInfo.Desc", Value::Null, pushed("d")).info(json!({"Desc": "d"})),
            case(
                "OfflinePushInfo not an object counts as absent",
                json!([seed_custom("x")]),
                with("x", |n| {
                    n.ext = Some("www.qq.com".into());
                    n.sound = Some("dingdong.aiff".into());
                }),
            )
            .info(json!("PushFlag")),
            case("OfflinePushInfo null", json!([text("hello")]), pushed("hello")).info(Value::Null),
            case("PushFlag a string", json!([text("hello")]), pushed("hello")).info(json!({"PushFlag": "1"})),
            case("PushFlag a float", json!([text("hello")]), pushed("hello")).info(json!({"PushFlag": 1.5})),
            case("Desc not a string", json!([text("hello")]), pushed("hello")).info(json!({"Desc": 7})),
            case("Title and Ext wrong types", json!([text("hello")]), pushed("hello"))
                .info(json!({"Title": 1, "Ext": {"k": 1}})),
            case("ApnsInfo not an object", json!([text("hello")]), pushed("hello")).info(json!({"ApnsInfo": "x"})),
            case("AndroidInfo not an object", json!([text("hello")]), pushed("hello"))
                .info(json!({"AndroidInfo": [1]})),
            case("ApnsInfo fields wrong types", json!([text("hello")]), pushed("hello")).info(json!({"ApnsInfo": {
                "Sound": 1, "BadgeMode": "1", "Title": [], "SubTitle": {}, "Image": true, "MutableContent": "1"}})),
            case("AndroidInfo fields wrong types", json!([text("hello")]), pushed("hello"))
                .info(json!({"AndroidInfo": {"Sound": 1, "GoogleChannelID": null}})),
            case("large integer PushFlag", json!([text("hello")]), pushed("hello")).info(json!({"PushFlag": u64::MAX})),
        ]
    }

    #[test]
    fn every_rule() {
        for case in cases() {
            let source = PushSource {
                chat: case.chat,
                sender_nick: case.nick,
                body: &case.body,
                offline_push_info: case.info.as_ref(),
            };
            assert_eq!(render(&source), case.want, "case: {}", case.name);
        }
    }

    #[test]
    fn any_json_is_safe() {
        let shapes = [
            Value::Null,
            json!(true),
            json!(1),
            json!(-1.5),
            json!("s"),
            json!([]),
            json!({}),
            json!([null, {}, [], {"MsgType": null}, {"MsgContent": null}]),
        ];
        for body in &shapes {
            for info in &shapes {
                for chat in [Chat::C2c, GROUP] {
                    let source = PushSource { chat, sender_nick: Some("n"), body, offline_push_info: Some(info) };
                    assert_eq!(render(&source), None, "body {body}, info {info}");
                }
            }
        }
    }

    #[test]
    fn notification_serializes_every_field() {
        let json = serde_json::to_value(pushed("hi").unwrap()).unwrap();
        assert_eq!(json["body"], "hi");
        assert_eq!(json["count_badge"], true);
        assert_eq!(json.as_object().unwrap().len(), 12);
    }
}
