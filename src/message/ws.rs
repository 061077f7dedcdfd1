//! C2C commands of a logged-in user over WebSocket beyond sending: recall, modify, typing.

use std::sync::Arc;

use serde_json::{json, Value};

use super::edit::Change;
use super::{event, MessageError};
use crate::app::App;
use crate::failure::Failure;
use crate::fields::Fields;
use crate::webhook::Origin;

/// `recall_msg {Peer_Account, MsgKey}`: the sender recalls their own message within the window.
pub async fn recall_msg(app: Arc<App>, user: String, data: Value, origin: Origin) -> Result<Value, Failure> {
    let f = Fields::of(&data);
    let peer = f.str("Peer_Account").map_err(MessageError::from)?;
    let key = f.str("MsgKey").map_err(|_| MessageError::BadMsgKey)?;
    // The app admin recalls without a time limit, as over REST.
    let window = (!app.accounts.is_admin(&user)).then_some(app.in_force.get().recall_window_secs);
    app.messages.edit(&user, peer, key, Change::Recall { operator: user.clone(), window }, origin).await?;
    Ok(json!({}))
}

/// `modify_msg {Peer_Account, MsgKey, MsgBody?, CloudCustomData?}`: the sender edits their own message.
pub async fn modify_msg(app: Arc<App>, user: String, data: Value, origin: Origin) -> Result<Value, Failure> {
    let f = Fields::of(&data);
    let peer = f.str("Peer_Account").map_err(MessageError::from)?;
    let key = f.str("MsgKey").map_err(|_| MessageError::BadMsgKey)?;
    let change = super::rest::parse_modification(&f, app.messages.max_message_bytes)?;
    app.messages.edit(&user, peer, key, change, origin).await?;
    Ok(json!({}))
}

/// `typing {To_Account}`: shown to the peer's live sessions, never stored. A sender the peer
/// does not accept messages from is answered OK and nothing is sent.
pub async fn typing(app: Arc<App>, user: String, data: Value, _: Origin) -> Result<Value, Failure> {
    let f = Fields::of(&data);
    let to = f.str("To_Account").map_err(MessageError::from)?;
    if !app.accounts.exists(to).await? {
        return Err(MessageError::UnknownRecipient(to.to_string()).into());
    }
    let refused = app.relations.may_message(&user, to).await.map_err(|e| {
        tracing::error!(error = %e, "relation check failed");
        MessageError::Internal
    })?;
    if refused.is_none() {
        app.bus.deliver(to, event::frame("typing", json!({"From_Account": user})), None);
    }
    Ok(json!({}))
}
