//! One after-event callback waiting for the app backend (the webhook outbox).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_event")]
pub struct Model {
    /// Also the event's stable `EventId`: a backend de-duplicates redeliveries by it.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The CallbackCommand.
    pub command: String,
    /// Events with the same key (a user, a group) are delivered in id order.
    pub ordering_key: String,
    /// The JSON body, without `EventId` (added when sent).
    pub body: String,
    /// `ClientIP` and `OptPlatform` of the callback's query string.
    pub client_ip: String,
    pub platform: String,
    pub created_ms: i64,
    /// Failed deliveries so far, and when the next one may be tried (Unix ms).
    pub attempts: i32,
    pub next_try_ms: i64,
    /// When the backend took it (Unix ms); 0 while undelivered.
    pub delivered_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
