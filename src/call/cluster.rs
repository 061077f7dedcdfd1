//! Calls in a cluster. A call lives on the node its caller invited from: its CallID is
//! `call_<node>_<random>`. A command for a call of another node is forwarded there over the
//! node-to-node channel (`RedisBus::ask_owner`, the one groups use) and its answer carried back;
//! events reach the parties' sessions on any node through the bus. Who is busy is a Redis claim
//! per user naming the call, set when they are invited or join, freed when they leave, renewed
//! by the owner while the call lives and expiring a lease after the owner dies
//! (ARCHITECTURE.md, "Calls").

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::desk::Action;
use super::CallError;
use crate::app::App;
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

/// Serves a command another node forwarded to this node, the call's owner.
async fn answer(app: Arc<App>, body: String) -> String {
    let answered: Result<Value, Failure> = match serde_json::from_str::<Forwarded>(&body) {
        Ok(Forwarded { user, session, call_id, action }) => {
            super::ws::act_here(&app, &user, session, &call_id, action).await.map_err(Failure::from)
        }
        Err(e) => Err(CallError::Internal(format!("malformed forwarded call command: {e}")).into()),
    };
    serde_json::to_string(&answered).unwrap_or_default()
}

/// In a cluster: answers the call commands other nodes forward here, and renews the busy
/// claims of this node's calls a third of a lease apart.
pub fn serve(cluster: &Arc<RedisBus>, app: &Arc<App>) {
    let weak = Arc::downgrade(app);
    cluster.set_answerer(
        Owned::Call,
        Arc::new(move |body: String| {
            let app = weak.upgrade();
            Box::pin(async move {
                match app {
                    Some(app) => answer(app, body).await,
                    None => String::new(),
                }
            })
        }),
    );
    let weak = Arc::downgrade(app);
    let cluster = cluster.clone();
    actix_web::rt::spawn(async move {
        let mut every = tokio::time::interval(cluster.lease() / 3);
        loop {
            every.tick().await;
            let Some(app) = weak.upgrade() else {
                return;
            };
            if let Err(e) = cluster.renew_busy(&app.calls.held().await).await {
                tracing::warn!(error = %e, "busy claims of calls not renewed");
            }
        }
    });
}
