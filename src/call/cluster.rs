//! Calls in a cluster. A call lives on the node its caller invited from: its CallID is
//! `call_<node>_<random>`. A command for a call of another node is forwarded there over the
//! node-to-node channel (`RedisBus::ask_owner`, the one groups use) and its answer carried back;
//! events reach the parties' sessions on any node through the bus. Who is busy is a Redis claim
//! per user naming the call, set when they are invited or join, freed when they leave, renewed
//! by the owner while the call lives and expiring a lease after the owner dies
//! (ARCHITECTURE.md, "Calls"). Forwarded commands are served by `ws::serve_cluster`, where the
//! whole app is at hand (a join checks group membership).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::desk::Action;
use super::CallError;
use crate::cluster::redis::{Owned, RedisBus};
use crate::failure::Failure;
use crate::presence::SessionId;

/// A call command as it travels to the call's owner node.
#[derive(Serialize, Deserialize)]
pub struct Forwarded {
    pub user: String,
    pub session: SessionId,
    pub call_id: String,
    pub action: Action,
}

/// Sends the command to the call's owner `node` and answers what it answered. An owner that is
/// gone or silent has no live call any more: its calls ended with it.
pub async fn forward(cluster: &RedisBus, node: &str, forwarded: Forwarded) -> Result<Value, CallError> {
    let call_id = forwarded.call_id.clone();
    let body = serde_json::to_string(&forwarded).map_err(|e| CallError::Internal(e.to_string()))?;
    match cluster.ask_owner(node, Owned::Call, body).await {
        Ok(answer) => match serde_json::from_str::<Result<Value, Failure>>(&answer) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(failure)) => Err(CallError::Remote(failure)),
            Err(e) => Err(CallError::Internal(format!("malformed answer from the call's node: {e}"))),
        },
        Err(e) => {
            tracing::warn!(call = %call_id, node, error = %e, "call owner did not answer");
            Err(CallError::UnknownCall(call_id))
        }
    }
}
