//! parley's REST extension for push credentials (the app admin's): `parley_push/check_credentials`
//! asks every provider a device may register with whether its credentials in `[push]` work now.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{Check, Loaded};
use crate::app::App;
use crate::failure::Failure;
use crate::presence::devices::PROVIDERS;
use crate::rest::{Call, Reply};

/// `parley_push/check_credentials {}`: per provider, whether it is configured and, if so,
/// whether it accepts its credentials now (`Detail`: what proved it, or the provider's refusal).
/// The providers are built afresh from the configuration, so no cached access token answers for
/// the credentials.
pub async fn check_credentials(app: Arc<App>, _call: Call) -> Result<Reply, Failure> {
    let loaded = super::load(&app.config.push);
    let timeout = Duration::from_millis(app.config.push.timeout_ms.max(1));
    let checks = PROVIDERS.iter().map(|name| {
        let entry = loaded.iter().find(|l| l.name == *name);
        async move { row(name, entry, timeout).await }
    });
    let rows: Vec<Value> = futures_util::future::join_all(checks).await;
    let mut reply = Reply::new();
    reply.insert("Providers".into(), Value::Array(rows));
    Ok(reply)
}

async fn row(name: &str, loaded: Option<&Loaded>, timeout: Duration) -> Value {
    let (configured, ok, detail) = match loaded.map(|l| &l.provider) {
        None => (0, 0, "not configured".to_string()),
        Some(Err(e)) => (1, 0, format!("credentials did not load: {e}")),
        Some(Ok(provider)) => match tokio::time::timeout(timeout, provider.check()).await {
            Ok(Check::Ok(detail)) => (1, 1, detail),
            Ok(Check::Refused(detail)) => (1, 0, detail),
            Ok(Check::NotCheckable) => (1, 0, "this provider cannot be checked".to_string()),
            Err(_) => (1, 0, format!("no answer within {} ms", timeout.as_millis())),
        },
    };
    if configured == 1 && ok == 0 {
        tracing::warn!(provider = name, detail, "push credentials check failed");
    }
    json!({"Provider": name, "Configured": configured, "Ok": ok, "Detail": detail})
}
