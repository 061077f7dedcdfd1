//! Client platforms and the multi-device policy (REQUIREMENTS §2): which live sessions a new login
//! displaces.

use serde::{Deserialize, Serialize};

use crate::config::MultiDevicePolicy;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Platform {
    #[serde(alias = "IPhone", alias = "iOS")]
    #[allow(non_camel_case_types)]
    iPhone,
    Android,
    #[allow(non_camel_case_types)]
    iPad,
    #[serde(alias = "PC")]
    Windows,
    Mac,
    Linux,
    Web,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Mobile,
    Desktop,
    Web,
}

impl Platform {
    pub fn parse(name: &str) -> Option<Platform> {
        serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
    }

    pub fn class(self) -> Class {
        match self {
            Platform::iPhone | Platform::Android | Platform::iPad => Class::Mobile,
            Platform::Windows | Platform::Mac | Platform::Linux => Class::Desktop,
            Platform::Web => Class::Web,
        }
    }

    /// The name Tencent's REST API uses in `query_online_status` details.
    pub fn rest_name(self) -> &'static str {
        match self {
            Platform::Windows | Platform::Linux => "PC",
            other => other.name(),
        }
    }

    /// The platform as webhooks' `OptPlatform` names it (spec §4.1).
    pub fn callback_name(self) -> &'static str {
        match self {
            Platform::iPhone => "iOS",
            Platform::Mac => "macOS",
            Platform::Linux => "Unknown",
            other => other.name(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Platform::iPhone => "iPhone",
            Platform::Android => "Android",
            Platform::iPad => "iPad",
            Platform::Windows => "Windows",
            Platform::Mac => "Mac",
            Platform::Linux => "Linux",
            Platform::Web => "Web",
        }
    }
}

/// The device rules in force (the file's, or set at run time: stored as the `devices` setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceRules {
    pub policy: MultiDevicePolicy,
    pub instances_per_platform: usize,
    pub web_instances: usize,
}

/// Given the live sessions (oldest first) and a new login, the indexes of sessions to kick.
pub fn displaced(rules: DeviceRules, live: &[Platform], new: Platform) -> Vec<usize> {
    let conflicts = |old: Platform| -> bool {
        match rules.policy {
            MultiDevicePolicy::Single => true,
            MultiDevicePolicy::Dual => (old.class() == Class::Web) == (new.class() == Class::Web) && old != new,
            MultiDevicePolicy::Triple => old.class() == new.class() && old != new,
            MultiDevicePolicy::Multi => false,
        }
    };
    let mut kicked: Vec<usize> = (0..live.len()).filter(|&i| conflicts(live[i])).collect();
    // Within one platform, keep the newest `limit - 1` others.
    let limit = if new == Platform::Web { rules.web_instances } else { rules.instances_per_platform }.max(1);
    let same: Vec<usize> = (0..live.len()).filter(|&i| live[i] == new && !kicked.contains(&i)).collect();
    if same.len() >= limit {
        kicked.extend_from_slice(&same[..same.len() + 1 - limit]);
    }
    if rules.policy == MultiDevicePolicy::Single {
        kicked = (0..live.len()).collect();
    }
    kicked.sort_unstable();
    kicked
}

#[cfg(test)]
mod tests {
    use super::*;
    use Platform::*;

    fn rules(policy: MultiDevicePolicy) -> DeviceRules {
        DeviceRules { policy, instances_per_platform: 1, web_instances: 1 }
    }

    #[test]
    fn dual_keeps_one_device_plus_web() {
        let r = rules(MultiDevicePolicy::Dual);
        assert_eq!(displaced(r, &[Android, Web], iPhone), vec![0]);
        assert_eq!(displaced(r, &[Android, Web], Web), vec![1]);
        assert_eq!(displaced(r, &[Web], Mac), Vec::<usize>::new());
        assert_eq!(displaced(r, &[Android], Android), vec![0]);
    }

    #[test]
    fn single_triple_and_multi() {
        assert_eq!(displaced(rules(MultiDevicePolicy::Single), &[Android, Web], Web), vec![0, 1]);
        let t = rules(MultiDevicePolicy::Triple);
        assert_eq!(displaced(t, &[Android, Mac, Web], iPhone), vec![0]);
        assert_eq!(displaced(t, &[Android, Mac, Web], Windows), vec![1]);
        assert_eq!(displaced(rules(MultiDevicePolicy::Multi), &[Android, Mac, Web, iPad], iPhone), Vec::<usize>::new());
    }

    #[test]
    fn per_platform_instance_limits() {
        let r = DeviceRules { policy: MultiDevicePolicy::Multi, instances_per_platform: 2, web_instances: 3 };
        assert_eq!(displaced(r, &[Android], Android), Vec::<usize>::new());
        assert_eq!(displaced(r, &[Android, Android], Android), vec![0]);
        assert_eq!(displaced(r, &[Web, Web], Web), Vec::<usize>::new());
        assert_eq!(displaced(r, &[Web, Web, Web], Web), vec![0]);
    }

    #[test]
    fn platform_names_parse() {
        assert_eq!(Platform::parse("iPhone"), Some(iPhone));
        assert_eq!(Platform::parse("IPhone"), Some(iPhone));
        assert_eq!(Platform::parse("PC"), Some(Windows));
        assert_eq!(Platform::parse("Toaster"), None);
    }
}
