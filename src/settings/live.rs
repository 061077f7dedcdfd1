//! The settings the console changes at run time, and the rooms that put each in force: the
//! webhook configuration (`webhook`) and the multi-device rules (`devices`). A change is stored,
//! put in force here, then on every other node (the cluster's acknowledged invalidation carries
//! it) before the command answers; at start and after a lost subscription each node reads them.

use std::sync::Arc;

use sea_orm::DbErr;
use serde_json::Value;

use super::Settings;
use crate::cluster::{Bus, Cache};
use crate::presence::{DeviceRules, Presence};
use crate::webhook::Webhooks;

/// The multi-device rules' setting.
pub const DEVICES: &str = "devices";

/// Every setting's name.
const ALL: [&str; 2] = [crate::webhook::SETTING, DEVICES];

#[derive(Clone)]
pub struct Tunables {
    pub settings: Settings,
    webhooks: Arc<Webhooks>,
    presence: Presence,
    /// The configuration file's device rules, in force again when the setting is cleared.
    file_rules: DeviceRules,
}

impl Tunables {
    pub fn new(settings: Settings, webhooks: Arc<Webhooks>, presence: Presence, file_rules: DeviceRules) -> Tunables {
        Tunables { settings, webhooks, presence, file_rules }
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
            other => tracing::warn!(setting = other, "unknown setting; ignored"),
        }
    }

    /// Reads every stored setting and puts it in force (at start, after a resync).
    pub async fn load(&self) -> Result<(), DbErr> {
        for name in ALL {
            let value: Option<Value> = self.settings.get(name).await?;
            self.apply(name, value, None);
        }
        Ok(())
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
