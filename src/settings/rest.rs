//! parley's REST extensions for settings changed at run time (the console's), besides the
//! webhook's own (`parley_webhook/set_config`): the multi-device rules and the configuration keys
//! of `live::CHANGEABLE` (retention, friends-only C2C, group defaults and limits, custom fields).

use std::sync::Arc;

use serde_json::json;

use super::live::{ConfigChangeError, DEVICES};
use crate::app::App;
use crate::config::MultiDevicePolicy;
use crate::failure::Failure;
use crate::fields::Fields;
use crate::rest::{Call, Reply};

fn bad(why: impl Into<String>) -> Failure {
    Failure::new(130001, why)
}

fn stored(e: sea_orm::DbErr) -> Failure {
    tracing::error!(error = %e, "settings unavailable");
    Failure::new(130002, "the settings could not be read or stored; retry")
}

const POLICIES: [(&str, MultiDevicePolicy); 4] = [
    ("Single", MultiDevicePolicy::Single),
    ("Dual", MultiDevicePolicy::Dual),
    ("Triple", MultiDevicePolicy::Triple),
    ("Multi", MultiDevicePolicy::Multi),
];

/// `parley_settings/get {}`: the settings in force and where each comes from (`File`, or
/// `Runtime` once changed here): `MultiDevice`, `Config` (each changeable key's value, named
/// as in the configuration file) and `ConfigRuntime` (the keys changed at run time).
pub async fn get(app: Arc<App>, _call: Call) -> Result<Reply, Failure> {
    let rules = app.tunables.device_rules();
    let runtime = app.tunables.is_stored(DEVICES).await.map_err(stored)?;
    let policy = POLICIES.iter().find(|(_, p)| *p == rules.policy).map_or("Dual", |(name, _)| name);
    let mut reply = Reply::new();
    reply.insert(
        "MultiDevice".into(),
        json!({"Policy": policy, "InstancesPerPlatform": rules.instances_per_platform,
               "WebInstances": rules.web_instances, "Source": if runtime { "Runtime" } else { "File" }}),
    );
    let (values, changed) = app.tunables.config_in_force().await.map_err(stored)?;
    reply.insert("Config".into(), values.into());
    reply.insert("ConfigRuntime".into(), json!(changed));
    Ok(reply)
}

/// `parley_settings/set {Config: {<key>: value, …}}`: changes configuration keys on every node
/// before answering (a null value: back to the file's), all or none — values are checked as the
/// configuration file's are (130001 names the key or the rule). Answers as get.
pub async fn set(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let Some(asked) = call.body.get("Config").and_then(serde_json::Value::as_object) else {
        return Err(bad("Config is an object of configuration keys and their new values"));
    };
    if asked.is_empty() {
        return Err(bad("Config names no key"));
    }
    let changes: Vec<(String, Option<serde_json::Value>)> =
        asked.iter().map(|(key, value)| (key.clone(), Some(value.clone()).filter(|v| !v.is_null()))).collect();
    app.tunables.change_config(app.bus.as_ref(), &changes).await.map_err(|e| match e {
        ConfigChangeError::Store(e) => stored(e),
        refused => bad(refused.to_string()),
    })?;
    get(app, call).await
}

/// `parley_settings/set_multi_device {Policy?, InstancesPerPlatform?, WebInstances?, Reset?}`:
/// who may be logged in at once, from the next login on, on every node; `Reset: 1` puts the
/// configuration file's back. Answers as get.
pub async fn set_multi_device(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let wrong = |e: crate::fields::FieldError| bad(e.to_string());
    let value = if f.opt_i64("Reset").map_err(wrong)? == Some(1) {
        None
    } else {
        let mut rules = app.tunables.device_rules();
        if let Some(name) = f.opt_str("Policy").map_err(wrong)? {
            rules.policy = POLICIES
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(name))
                .map(|(_, policy)| *policy)
                .ok_or_else(|| bad("Policy is Single, Dual, Triple or Multi"))?;
        }
        for (field, slot) in
            [("InstancesPerPlatform", &mut rules.instances_per_platform), ("WebInstances", &mut rules.web_instances)]
        {
            if let Some(n) = f.opt_i64(field).map_err(wrong)? {
                if !(1..=10).contains(&n) {
                    return Err(bad(format!("{field} is 1 to 10")));
                }
                *slot = n as usize;
            }
        }
        Some(serde_json::to_value(rules).map_err(|e| bad(e.to_string()))?)
    };
    app.tunables.change(app.bus.as_ref(), DEVICES, value).await.map_err(stored)?;
    get(app, call).await
}
