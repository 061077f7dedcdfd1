//! parley's REST extensions for settings changed at run time (the console's), besides the
//! webhook's own (`parley_webhook/set_config`): the multi-device rules.

use std::sync::Arc;

use serde_json::json;

use super::live::DEVICES;
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
/// `Runtime` once changed here).
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
    Ok(reply)
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
