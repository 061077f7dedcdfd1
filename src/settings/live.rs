//! The settings the console changes at run time, and the rooms that put each in force: the
//! webhook configuration (`webhook`), the multi-device rules (`devices`) and the configuration
//! keys of `CHANGEABLE` (`config.<key>`, read by their rooms from the configuration in force). A
//! change is stored, put in force here, then on every other node (the cluster's acknowledged
//! invalidation carries it) before the command answers; at start and after a lost subscription
//! each node reads them.

use std::sync::Arc;

use sea_orm::DbErr;
use serde_json::Value;

use super::{Live, Settings};
use crate::cluster::{Bus, Cache};
use crate::config::Config;
use crate::presence::{DeviceRules, Presence};
use crate::webhook::Webhooks;

/// The multi-device rules' setting.
pub const DEVICES: &str = "devices";

/// Every setting's name besides the configuration keys.
const ALL: [&str; 2] = [crate::webhook::SETTING, DEVICES];

/// The configuration keys the console may change at run time, each stored as the setting
/// `config.<key>` holding the value the file would. The rooms read them from the configuration
/// in force (`App::in_force`) when they use them: a retention period for the messages sent from
/// then on, a limit or permission at the next command that checks it.
pub const CHANGEABLE: [&str; 12] = [
    "history_retention_secs",
    "c2c_friends_only",
    "rest_send_checks_relations",
    "profile_custom_fields",
    "friend_custom_fields",
    "group_custom_fields",
    "group_max_members",
    "group_history_before_join",
    "group_msg_rate",
    "group_max_per_user",
    "group_max_created_per_day",
    "recall_window_secs",
];

const CONFIG_PREFIX: &str = "config.";

/// Why a configuration change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigChangeError {
    #[error("{0} cannot be changed at run time")]
    NotChangeable(String),
    #[error("{0}")]
    Invalid(String),
    #[error("settings unavailable: {0}")]
    Store(#[from] DbErr),
}

/// `base` with `changes` made (a None value: the file's), checked as a configuration file is.
fn patched(base: &Config, file: &Config, changes: &[(&str, Option<&Value>)]) -> Result<Config, String> {
    let mut whole = serde_json::to_value(base).map_err(|e| e.to_string())?;
    let file = serde_json::to_value(file).map_err(|e| e.to_string())?;
    for (key, value) in changes {
        let value = value.cloned().unwrap_or_else(|| file[*key].clone());
        whole[*key] = value;
    }
    let config: Config = serde_json::from_value(whole).map_err(|e| {
        let keys: Vec<&str> = changes.iter().map(|(key, _)| *key).collect();
        format!("{}: {e}", keys.join(", "))
    })?;
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

#[derive(Clone)]
pub struct Tunables {
    pub settings: Settings,
    webhooks: Arc<Webhooks>,
    presence: Presence,
    /// The configuration file's device rules, in force again when the setting is cleared.
    file_rules: DeviceRules,
    /// The configuration file's, and the one in force (the file's with the changed keys).
    file: Arc<Config>,
    in_force: Live<Config>,
    /// Each configuration key's version in force: a change heard late is not undone by an
    /// older one heard after it.
    versions: Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
}

impl Tunables {
    pub fn new(
        settings: Settings,
        webhooks: Arc<Webhooks>,
        presence: Presence,
        file_rules: DeviceRules,
        in_force: Live<Config>,
    ) -> Tunables {
        let file = in_force.get();
        Tunables { settings, webhooks, presence, file_rules, file, in_force, versions: Arc::default() }
    }

    /// Puts `value` of setting `name` (None: the file's) in force on this node; a `version`
    /// older than the one in force is ignored where the room keeps versions.
    fn apply(&self, name: &str, value: Option<Value>, version: Option<i64>) {
        match name {
            crate::webhook::SETTING => match value.map(serde_json::from_value).transpose() {
                Ok(config) => self.webhooks.apply(config, version),
                Err(e) => tracing::warn!(error = %e, "unreadable webhook setting; ignored"),
            },
            DEVICES => match value.map(serde_json::from_value::<DeviceRules>).transpose() {
                Ok(rules) => self.presence.set_rules(rules.unwrap_or(self.file_rules)),
                Err(e) => tracing::warn!(error = %e, "unreadable device setting; ignored"),
            },
            other => match other.strip_prefix(CONFIG_PREFIX).filter(|key| CHANGEABLE.contains(key)) {
                Some(key) => {
                    if let Some(version) = version {
                        let mut versions = self.versions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                        if versions.get(key).is_some_and(|newer| *newer > version) {
                            return;
                        }
                        versions.insert(key.to_string(), version);
                    }
                    self.in_force.update(|current| match patched(current, &self.file, &[(key, value.as_ref())]) {
                        Ok(config) => Some(config),
                        Err(e) => {
                            tracing::warn!(setting = other, error = %e, "unusable configuration setting; ignored");
                            None
                        }
                    });
                }
                None => tracing::warn!(setting = other, "unknown setting; ignored"),
            },
        }
    }

    /// Reads every stored setting and puts it in force (at start, after a resync).
    pub async fn load(&self) -> Result<(), DbErr> {
        for name in ALL {
            let value: Option<Value> = self.settings.get(name).await?;
            self.apply(name, value, None);
        }
        for key in CHANGEABLE {
            let name = format!("{CONFIG_PREFIX}{key}");
            let value: Option<Value> = self.settings.get(&name).await?;
            self.apply(&name, value, None);
        }
        Ok(())
    }

    /// Changes configuration keys (a None value: back to the file's) everywhere before
    /// answering; all or none: the configuration they make is checked first.
    pub async fn change_config(
        &self,
        bus: &dyn Bus,
        changes: &[(String, Option<Value>)],
    ) -> Result<(), ConfigChangeError> {
        if let Some((key, _)) = changes.iter().find(|(key, _)| !CHANGEABLE.contains(&key.as_str())) {
            return Err(ConfigChangeError::NotChangeable(key.clone()));
        }
        let asked: Vec<(&str, Option<&Value>)> = changes.iter().map(|(k, v)| (k.as_str(), v.as_ref())).collect();
        patched(&self.in_force.get(), &self.file, &asked).map_err(ConfigChangeError::Invalid)?;
        let names: Vec<String> = changes.iter().map(|(key, _)| format!("{CONFIG_PREFIX}{key}")).collect();
        let stored: Vec<(&str, Option<&Value>)> =
            names.iter().zip(changes).map(|(name, (_, value))| (name.as_str(), value.as_ref())).collect();
        let version = self.settings.put_all(&stored).await?;
        for (name, (_, value)) in names.iter().zip(changes) {
            self.apply(name, value.clone(), Some(version));
        }
        for (name, (_, value)) in names.iter().zip(changes) {
            let keys = super::change_keys(name, version, value.as_ref().unwrap_or(&Value::Null));
            bus.invalidated(Cache::Settings, keys).await;
        }
        Ok(())
    }

    /// The changeable keys' values in force, and those set at run time (not the file's).
    pub async fn config_in_force(&self) -> Result<(serde_json::Map<String, Value>, Vec<&'static str>), DbErr> {
        let whole = serde_json::to_value(&*self.in_force.get()).unwrap_or_default();
        let mut values = serde_json::Map::new();
        let mut runtime = Vec::new();
        for key in CHANGEABLE {
            values.insert(key.to_string(), whole[key].clone());
            if self.is_stored(&format!("{CONFIG_PREFIX}{key}")).await? {
                runtime.push(key);
            }
        }
        Ok((values, runtime))
    }

    /// Changes setting `name` (None: back to the file's) everywhere before answering.
    pub async fn change(&self, bus: &dyn Bus, name: &str, value: Option<Value>) -> Result<(), DbErr> {
        let version = self.settings.put(name, value.as_ref()).await?;
        self.apply(name, value.clone(), Some(version));
        let keys = super::change_keys(name, version, &value.unwrap_or(Value::Null));
        bus.invalidated(Cache::Settings, keys).await;
        Ok(())
    }

    /// Whether setting `name` was set at run time (stored), rather than the file's.
    pub async fn is_stored(&self, name: &str) -> Result<bool, DbErr> {
        Ok(self.settings.get::<Value>(name).await?.is_some())
    }

    /// The device rules in force.
    pub fn device_rules(&self) -> DeviceRules {
        self.presence.rules()
    }

    /// Another node changed a setting: the change it carries, or (keys None: a resync, changes
    /// may have been missed) every setting read again.
    pub fn heard(&self, keys: Option<&[String]>) {
        if let Some([name, version, value]) = keys {
            let value = super::decode_change(value).filter(|v| !v.is_null());
            self.apply(name, value, version.parse().ok());
            return;
        }
        let tunables = self.clone();
        actix_web::rt::spawn(async move {
            if let Err(e) = tunables.load().await {
                tracing::warn!(error = %e, "run-time settings not reloaded");
            }
        });
    }
}
