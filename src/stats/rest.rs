//! The figures over REST: Tencent's `openconfigsvr/getappinfo` (per day, the last 30 days, every
//! value a string) and parley's `parley_stats/overview` for the console (real-time figures, the
//! per-day and per-minute series, numbers as numbers). Both first write what this node has
//! counted, so a single node answers exactly; other nodes' last interval may be missing.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::daily::{day_of, minute_of, Count, MAX_ONLINE, ONLINE};
use crate::app::App;
use crate::failure::Failure;
use crate::fields::Fields;
use crate::rest::{Call, Reply};

fn bad(why: impl Into<String>) -> Failure {
    Failure::new(130001, why)
}

fn unreadable(e: sea_orm::DbErr) -> Failure {
    tracing::error!(error = %e, "statistics unreadable");
    Failure::new(130011, "the statistics could not be read; retry")
}

/// getappinfo's figures, in its order, computed from one day's stored values.
const FIELDS: [&str; 28] = [
    "ActiveUserNum",
    "RegistUserNumOneDay",
    "RegistUserNumTotal",
    "LoginTimes",
    "LoginUserNum",
    "UpMsgNum",
    "SendMsgUserNum",
    "APNSMsgNum",
    "C2CUpMsgNum",
    "C2CDownMsgNum",
    "C2CSendMsgUserNum",
    "C2CAPNSMsgNum",
    "MaxOnlineNum",
    "DownMsgNum",
    "ChainIncrease",
    "ChainDecrease",
    "GroupUpMsgNum",
    "GroupDownMsgNum",
    "GroupSendMsgUserNum",
    "GroupAPNSMsgNum",
    "GroupSendMsgGroupNum",
    "GroupJoinGroupTimes",
    "GroupQuitGroupTimes",
    "GroupNewGroupNum",
    "GroupAllGroupNum",
    "GroupDestroyGroupNum",
    "CallBackReq",
    "CallBackRsp",
];

/// Every figure of a day by its getappinfo name (plus parley's split of group messages).
fn figures(stored: &BTreeMap<String, i64>) -> BTreeMap<&'static str, i64> {
    let get = |name: &str| stored.get(name).copied().unwrap_or(0);
    let group_up = get(Count::GroupUp.name()) + get(Count::LiveUp.name());
    let mut out: BTreeMap<&'static str, i64> = BTreeMap::new();
    for name in FIELDS {
        let value = match name {
            "UpMsgNum" => get(Count::C2cUp.name()) + group_up,
            "DownMsgNum" => get(Count::C2cDown.name()) + get(Count::GroupDown.name()),
            "APNSMsgNum" => get(Count::C2cPushes.name()) + get(Count::GroupPushes.name()),
            "GroupUpMsgNum" => group_up,
            other => get(other),
        };
        out.insert(name, value);
    }
    // The console shows live rooms apart (REQUIREMENTS §10).
    out.insert("GroupUpMsgNumWithoutAVChatRoom", get(Count::GroupUp.name()));
    out.insert("AVChatRoomUpMsgNum", get(Count::LiveUp.name()));
    out
}

/// `openconfigsvr/getappinfo {RequestField?}`: the last 30 days (today included) that have
/// figures, oldest first.
pub async fn getappinfo(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let wanted: Option<Vec<String>> = match call.body.get("RequestField") {
        None | Some(Value::Null) => None,
        Some(Value::Array(names)) => Some(
            names
                .iter()
                .map(|n| match n.as_str() {
                    Some(name) if FIELDS.contains(&name) || ["AppName", "AppId", "Company"].contains(&name) => {
                        Ok(name.to_string())
                    }
                    _ => Err(bad(format!("RequestField: unknown field {n}"))),
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => return Err(bad("RequestField must be an array of field names")),
    };
    app.statistics.flush().await.map_err(unreadable)?;
    let today = day_of(crate::now_secs());
    let days = app.statistics.days(today - 29, today).await.map_err(unreadable)?;
    let app_id = app.auth.sdkappid.to_string();
    let result: Vec<Value> = days
        .iter()
        .map(|(&day, stored)| {
            let mut entry = Map::new();
            let mut put = |name: &str, value: String| {
                if wanted.as_ref().is_none_or(|w| w.iter().any(|n| n == name)) {
                    entry.insert(name.to_string(), Value::String(value));
                }
            };
            put("AppName", app.config.app_name.clone());
            put("AppId", app_id.clone());
            put("Company", app.config.company.clone());
            let figures = figures(stored);
            for name in FIELDS {
                put(name, figures.get(name).copied().unwrap_or(0).to_string());
            }
            entry.insert("Date".into(), Value::String(crate::archive::day_name(day)));
            Value::Object(entry)
        })
        .collect();
    let mut reply = Reply::new();
    reply.insert("Result".into(), Value::Array(result));
    Ok(reply)
}

/// `parley_stats/overview {Days?, Minutes?}`: what the console draws. `Now` has the real-time
/// figures; `Days` the per-day figures of the last `Days` days (30; at most 400) that have any;
/// `Minutes` the traffic of each minute of the last `Minutes` (1,440; at most 2,880) that had any.
pub async fn overview(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let days_asked = f.opt_i64("Days").map_err(|e| bad(e.to_string()))?.unwrap_or(30);
    let minutes_asked = f.opt_i64("Minutes").map_err(|e| bad(e.to_string()))?.unwrap_or(1440);
    if !(1..=400).contains(&days_asked) {
        return Err(bad("Days is 1 to 400"));
    }
    if !(1..=2880).contains(&minutes_asked) {
        return Err(bad("Minutes is 1 to 2880"));
    }
    let stats = &app.statistics;
    stats.flush().await.map_err(unreadable)?;
    let now = crate::now_secs();
    let (today, this_minute) = (day_of(now), minute_of(now));
    let days = stats.days(today - days_asked + 1, today).await.map_err(unreadable)?;
    let minutes = stats.minutes(this_minute - minutes_asked + 1, this_minute).await.map_err(unreadable)?;
    let online = stats.online_now().await.map_err(unreadable)?;
    let today_figures = days.get(&today).map(figures).unwrap_or_else(|| figures(&BTreeMap::new()));
    let figure = |name: &str| today_figures.get(name).copied().unwrap_or(0);
    let now_json = json!({
        "Time": now,
        "OnlineUserNum": online,
        "C2CMsgNumToday": figure("C2CUpMsgNum"),
        "GroupMsgNumToday": figure("GroupUpMsgNumWithoutAVChatRoom"),
        "AVChatRoomMsgNumToday": figure("AVChatRoomUpMsgNum"),
        "ActiveUserNumToday": figure("ActiveUserNum"),
        "MaxOnlineNumToday": figure(MAX_ONLINE),
    });
    let day_list: Vec<Value> = days
        .iter()
        .map(|(&day, stored)| {
            let mut entry: Map<String, Value> =
                figures(stored).into_iter().map(|(name, n)| (name.to_string(), json!(n))).collect();
            entry.insert("Date".into(), json!(crate::archive::day_name(day)));
            Value::Object(entry)
        })
        .collect();
    let minute_list: Vec<Value> = minutes
        .iter()
        .map(|(&minute, stored)| {
            let get = |name: &str| stored.get(name).copied().unwrap_or(0);
            json!({
                "Time": minute * 60,
                "C2CUpMsgNum": get(Count::C2cUp.name()),
                "GroupUpMsgNum": get(Count::GroupUp.name()),
                "AVChatRoomUpMsgNum": get(Count::LiveUp.name()),
                "LoginTimes": get(Count::Logins.name()),
                "OnlineUserNum": get(ONLINE),
                "APNSMsgNum": get(Count::C2cPushes.name()) + get(Count::GroupPushes.name()),
                "CallBackReq": get(Count::CallbackRequests.name()),
            })
        })
        .collect();
    let mut reply = Reply::new();
    reply.insert("Now".into(), now_json);
    reply.insert("Days".into(), Value::Array(day_list));
    reply.insert("Minutes".into(), Value::Array(minute_list));
    Ok(reply)
}
