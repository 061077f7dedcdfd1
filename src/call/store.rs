//! Tables `call_record` and `call_party`: ended calls, and each party's outcome.

use std::collections::HashMap;

use entities::{call_party, call_record};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{json, Value};

use super::desk::Ended;
use super::CallDeps;
use crate::presence::frame;

/// The after-event of every ended call.
pub const AFTER_CALL_END: &str = "Call.CallbackAfterCallEnd";

/// Stores the ended call with its after-event in one transaction, then tells every party's
/// sessions `call_ended`. A failed write is logged; the call is over either way.
pub async fn finish(deps: &CallDeps, ended: Ended) {
    match write(deps, &ended).await {
        Ok(()) => deps.webhooks.committed(),
        Err(e) => tracing::error!(call = %ended.call_id, error = %e, "call record not stored"),
    }
    let data = json!({"CallID": ended.call_id, "Reason": ended.reason.name()});
    let frame = frame("call_ended", data);
    for (user, _) in &ended.outcomes {
        deps.bus.deliver(user, frame.clone(), None);
    }
}

async fn write(deps: &CallDeps, ended: &Ended) -> Result<(), DbErr> {
    let txn = crate::store::begin_write(&deps.db).await?;
    call_record::Entity::insert(call_record::ActiveModel {
        call_id: Set(ended.call_id.clone()),
        caller: Set(ended.caller.clone()),
        group_id: Set(ended.group.clone()),
        media_type: Set(ended.media.name().to_string()),
        created_ms: Set(ended.created_ms),
        answered_ms: Set(ended.answered_ms),
        ended_ms: Set(ended.ended_ms),
        end_reason: Set(ended.reason.name().to_string()),
    })
    .exec_without_returning(&txn)
    .await?;
    let parties = ended.outcomes.iter().map(|(user, outcome)| call_party::ActiveModel {
        call_id: Set(ended.call_id.clone()),
        user_id: Set(user.clone()),
        outcome: Set(outcome.to_string()),
        ended_ms: Set(ended.ended_ms),
    });
    call_party::Entity::insert_many(parties).exec_without_returning(&txn).await?;
    let event = crate::webhook::outbox::Event {
        command: AFTER_CALL_END,
        key: ended.call_id.clone(),
        body: describe(
            &ended.call_id,
            &ended.caller,
            ended.group.as_deref(),
            ended.media.name(),
            [ended.created_ms, ended.answered_ms.unwrap_or(0), ended.ended_ms],
            ended.reason.name(),
            ended.outcomes.iter().map(|(user, outcome)| (user.as_str(), *outcome)),
        ),
        origin: Default::default(),
    };
    deps.webhooks.record(&txn, vec![event]).await?;
    txn.commit().await
}

/// A call as the list and the after-event show it (times in ms; `AnswerTime` 0: never answered).
fn describe<'a>(
    call_id: &str,
    caller: &str,
    group: Option<&str>,
    media: &str,
    [created, answered, ended]: [i64; 3],
    reason: &str,
    outcomes: impl Iterator<Item = (&'a str, &'a str)>,
) -> Value {
    let outcomes: Vec<Value> = outcomes.map(|(user, outcome)| json!({"UserID": user, "Outcome": outcome})).collect();
    json!({"CallID": call_id, "Caller": caller, "GroupID": group, "Type": media, "CreateTime": created,
        "AnswerTime": answered, "EndTime": ended, "EndReason": reason, "Outcomes": outcomes})
}

/// `user`'s ended calls, newest first.
pub async fn list(
    db: &DatabaseConnection,
    user: &str,
    limit: u64,
    before_ms: Option<i64>,
) -> Result<Vec<Value>, DbErr> {
    let mut mine = call_party::Entity::find().filter(call_party::Column::UserId.eq(user));
    if let Some(before) = before_ms {
        mine = mine.filter(call_party::Column::EndedMs.lt(before));
    }
    let mine = mine.order_by_desc(call_party::Column::EndedMs).limit(limit).all(db).await?;
    let ids: Vec<String> = mine.into_iter().map(|p| p.call_id).collect();
    let records: HashMap<String, call_record::Model> = call_record::Entity::find()
        .filter(call_record::Column::CallId.is_in(ids.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.call_id.clone(), r))
        .collect();
    let mut parties: HashMap<String, Vec<call_party::Model>> = HashMap::new();
    for party in call_party::Entity::find().filter(call_party::Column::CallId.is_in(ids.clone())).all(db).await? {
        parties.entry(party.call_id.clone()).or_default().push(party);
    }
    let mut calls = Vec::new();
    for id in ids {
        let Some(r) = records.get(&id) else { continue };
        let mut of_call = parties.remove(&id).unwrap_or_default();
        // The caller first, then the others by name.
        of_call.sort_by_key(|p| (p.user_id != r.caller, p.user_id.clone()));
        calls.push(describe(
            &r.call_id,
            &r.caller,
            r.group_id.as_deref(),
            &r.media_type,
            [r.created_ms, r.answered_ms.unwrap_or(0), r.ended_ms],
            &r.end_reason,
            of_call.iter().map(|p| (p.user_id.as_str(), p.outcome.as_str())),
        ));
    }
    Ok(calls)
}
