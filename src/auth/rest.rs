//! parley's REST extension for the console's UserSig generator: the server mints a UserSig for
//! the app admin who asks, so the secret key never leaves the server.

use std::sync::Arc;

use serde_json::json;

use crate::app::App;
use crate::failure::Failure;
use crate::fields::Fields;
use crate::rest::{Call, Reply};

/// Longest validity the generator gives (Tencent's generators allow years; ten is plenty).
const MAX_EXPIRE_SECS: i64 = 10 * 365 * 86_400;

/// `parley_usersig/generate {UserID, Expire?}` (seconds, default 180 days) → `{UserSig, Expire}`.
pub async fn generate(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let bad = |why: String| Failure::new(130001, why);
    let user = f.str("UserID").map_err(|e| bad(e.to_string()))?;
    if !crate::valid_user_id(user) {
        return Err(bad(format!("UserID {user:?}: 1–32 bytes of letters, digits, _ and -")));
    }
    let expire = f.opt_i64("Expire").map_err(|e| bad(e.to_string()))?.unwrap_or(super::usersig::DEFAULT_EXPIRE_SECS);
    if !(60..=MAX_EXPIRE_SECS).contains(&expire) {
        return Err(bad(format!("Expire is 60 to {MAX_EXPIRE_SECS} seconds")));
    }
    let mut reply = Reply::new();
    reply.insert("UserSig".into(), json!(app.auth.generate(user, expire)));
    reply.insert("Expire".into(), json!(expire));
    Ok(reply)
}
