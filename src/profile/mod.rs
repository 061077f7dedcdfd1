//! The `profile` room: each user's standard (`Tag_Profile_IM_*`) and custom
//! (`Tag_Profile_Custom_*`) fields with their types, limits and read/write permissions. The
//! sender's nick and portrait, asked on every message, are cached.

pub mod rest;

use std::collections::HashMap;
use std::sync::Arc;

use entities::profile_field;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::cluster::{Bus, Cache};
use crate::config::{Access, Config};
use crate::failure::Failure;
use crate::settings::Live;
use crate::store::cache::EpochCache;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{0}")]
    BadRequest(String),
    #[error("To_Account is missing")]
    NoTargets,
    #[error("account {0:?} does not exist")]
    UnknownAccount(String),
    #[error("profile tag {0:?} does not exist")]
    UnknownTag(String),
    #[error("no permission to read {0}")]
    NotReadable(String),
    #[error("no permission to write {0}")]
    NotWritable(String),
    #[error("{0}: value exceeds {1} bytes")]
    TooLong(String, usize),
    #[error("{0}: invalid value")]
    InvalidValue(String),
    #[error("{0}: wrong value type")]
    WrongType(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("internal error")]
    Db(#[from] DbErr),
}

impl From<ProfileError> for Failure {
    fn from(e: ProfileError) -> Failure {
        let code = match &e {
            ProfileError::BadRequest(_) => 40001,
            ProfileError::NoTargets => 40002,
            ProfileError::UnknownAccount(_) => 40003,
            ProfileError::UnknownTag(_) => 40009,
            ProfileError::NotReadable(_) => 40007,
            ProfileError::NotWritable(_) => 40008,
            // 40601 is the 500-byte limit; a shorter field's limit makes the value invalid.
            ProfileError::TooLong(_, max) if *max >= MAX_VALUE_BYTES => 40601,
            ProfileError::TooLong(..) => 40605,
            ProfileError::InvalidValue(_) => 40605,
            ProfileError::WrongType(_) => 40610,
            ProfileError::Internal(_) => 40006,
            ProfileError::Db(err) => {
                tracing::error!(error = %err, "profile store failed");
                40006
            }
        };
        Failure::new(code, e.to_string())
    }
}

pub const NICK: &str = "Tag_Profile_IM_Nick";
pub const IMAGE: &str = "Tag_Profile_IM_Image";
pub const ALLOW_TYPE: &str = "Tag_Profile_IM_AllowType";
pub const ADMIN_FORBID_TYPE: &str = "Tag_Profile_IM_AdminForbidType";

/// Every profile value (string or bytes) is at most this long (REQUIREMENTS §3).
pub const MAX_VALUE_BYTES: usize = 500;

/// How the target of a friend request wants requests handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllowType {
    NeedConfirm,
    AllowAny,
    DenyAny,
}

#[derive(Clone, Debug)]
enum Kind {
    Text { max: usize },
    Choice(&'static [&'static str]),
    U32,
}

#[derive(Clone, Debug)]
struct FieldSpec {
    kind: Kind,
    /// Shown when the user never set the field.
    default: Value,
    read: Access,
    write: Access,
}

/// The sender identity carried with every message.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Card {
    pub nick: Option<String>,
    pub face_url: Option<String>,
}

/// One validated `{Tag, Value}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub tag: String,
    pub value: Value,
}

impl Item {
    pub fn json(&self) -> Value {
        json!({"Tag": self.tag, "Value": self.value})
    }
}

pub struct Profiles {
    db: DatabaseConnection,
    /// The standard fields; the custom ones are the configuration's in force (they change at
    /// run time).
    fields: HashMap<String, FieldSpec>,
    in_force: Live<Config>,
    cards: EpochCache<String, Card>,
    bus: Arc<dyn Bus>,
    webhooks: Arc<crate::webhook::Webhooks>,
}

fn standard_fields() -> Vec<(&'static str, Kind, Value, Access)> {
    use Access::{Admin, User};
    let text = |max| Kind::Text { max };
    vec![
        (NICK, text(MAX_VALUE_BYTES), json!(""), User),
        (
            "Tag_Profile_IM_Gender",
            Kind::Choice(&["Gender_Type_Unknown", "Gender_Type_Female", "Gender_Type_Male"]),
            json!("Gender_Type_Unknown"),
            User,
        ),
        ("Tag_Profile_IM_BirthDay", Kind::U32, json!(0), User),
        ("Tag_Profile_IM_Location", text(16), json!(""), User),
        ("Tag_Profile_IM_SelfSignature", text(MAX_VALUE_BYTES), json!(""), User),
        (
            ALLOW_TYPE,
            Kind::Choice(&["AllowType_Type_NeedConfirm", "AllowType_Type_AllowAny", "AllowType_Type_DenyAny"]),
            // Tencent's default: requests need the target's confirmation.
            json!("AllowType_Type_NeedConfirm"),
            User,
        ),
        ("Tag_Profile_IM_Language", Kind::U32, json!(0), User),
        (IMAGE, text(MAX_VALUE_BYTES), json!(""), User),
        ("Tag_Profile_IM_MsgSettings", Kind::U32, json!(0), User),
        // Set by the app admin to stop a user sending friend requests: the user cannot undo it.
        (
            ADMIN_FORBID_TYPE,
            Kind::Choice(&["AdminForbid_Type_None", "AdminForbid_Type_SendOut"]),
            json!("AdminForbid_Type_None"),
            Admin,
        ),
        ("Tag_Profile_IM_Level", Kind::U32, json!(0), User),
        ("Tag_Profile_IM_Role", Kind::U32, json!(0), User),
    ]
}

impl Profiles {
    pub fn new(
        db: DatabaseConnection,
        in_force: Live<Config>,
        bus: Arc<dyn Bus>,
        webhooks: Arc<crate::webhook::Webhooks>,
    ) -> Profiles {
        let mut fields = HashMap::new();
        for (tag, kind, default, write) in standard_fields() {
            fields.insert(tag.to_string(), FieldSpec { kind, default, read: Access::User, write });
        }
        Profiles { db, fields, in_force, cards: EpochCache::default(), bus, webhooks }
    }

    /// A standard field, or a custom one declared in the configuration in force (checked by
    /// `Config::validate`).
    fn field(&self, tag: &str) -> Option<FieldSpec> {
        if let Some(spec) = self.fields.get(tag) {
            return Some(spec.clone());
        }
        let config = self.in_force.get();
        let custom = config.profile_custom_fields.iter().find(|f| f.tag == tag)?;
        Some(FieldSpec {
            kind: Kind::Text { max: MAX_VALUE_BYTES },
            default: json!(""),
            read: custom.read,
            write: custom.write,
        })
    }

    fn spec(&self, tag: &str) -> Result<FieldSpec, ProfileError> {
        self.field(tag).ok_or_else(|| ProfileError::UnknownTag(tag.to_string()))
    }

    /// Checks that every tag exists and that `by` may read it.
    pub fn check_readable(&self, tags: &[&str], by: Access) -> Result<(), ProfileError> {
        for tag in tags {
            let spec = self.spec(tag)?;
            if by == Access::User && spec.read == Access::Admin {
                return Err(ProfileError::NotReadable(tag.to_string()));
            }
        }
        Ok(())
    }

    /// Checks one `{Tag, Value}` for `by` to write.
    pub fn validate(&self, tag: &str, value: &Value, by: Access) -> Result<Item, ProfileError> {
        let spec = self.spec(tag)?;
        if by == Access::User && spec.write == Access::Admin {
            return Err(ProfileError::NotWritable(tag.to_string()));
        }
        let wrong = || ProfileError::WrongType(tag.to_string());
        match &spec.kind {
            Kind::Text { max } => {
                let text = value.as_str().ok_or_else(wrong)?;
                if text.len() > *max {
                    return Err(ProfileError::TooLong(tag.to_string(), *max));
                }
            }
            Kind::Choice(allowed) => {
                let text = value.as_str().ok_or_else(wrong)?;
                if !allowed.contains(&text) {
                    return Err(ProfileError::InvalidValue(tag.to_string()));
                }
            }
            Kind::U32 => {
                value.as_u64().filter(|n| u32::try_from(*n).is_ok()).ok_or_else(wrong)?;
            }
        }
        Ok(Item { tag: tag.to_string(), value: value.clone() })
    }

    /// Stores validated items in one transaction — with `Profile.CallbackPortraitSet` when `by`
    /// (the operator and where they called from) says who set them; answers the standard ones
    /// (pushed to friends).
    pub async fn set(
        &self,
        user: &str,
        items: &[Item],
        by: Option<(&str, &crate::webhook::Origin)>,
    ) -> Result<Vec<Item>, ProfileError> {
        // One row per tag, the last value winning (PostgreSQL refuses to upsert a row twice).
        let mut latest: Vec<&Item> = Vec::with_capacity(items.len());
        for item in items {
            match latest.iter_mut().find(|i| i.tag == item.tag) {
                Some(slot) => *slot = item,
                None => latest.push(item),
            }
        }
        if latest.is_empty() {
            return Ok(Vec::new());
        }
        let rows = latest.iter().map(|item| profile_field::ActiveModel {
            user_id: Set(user.to_string()),
            tag: Set(item.tag.clone()),
            value: Set(item.value.to_string()),
        });
        let txn = crate::store::begin_write(&self.db).await?;
        profile_field::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([profile_field::Column::UserId, profile_field::Column::Tag])
                    .update_column(profile_field::Column::Value)
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        use crate::webhook::command::PORTRAIT_SET;
        let recorded = match by {
            Some((operator, origin)) if self.webhooks.fires(PORTRAIT_SET) => {
                let body = json!({
                    "CallbackCommand": PORTRAIT_SET,
                    "Operator_Account": operator,
                    "From_Account": user,
                    "EventTime": crate::now_millis(),
                    "ProfileItem": latest.iter().map(|i| i.json()).collect::<Vec<_>>(),
                });
                let event = crate::webhook::outbox::Event {
                    command: PORTRAIT_SET,
                    key: user.to_string(),
                    body,
                    origin: origin.clone(),
                };
                self.webhooks.record(&txn, vec![event]).await?;
                true
            }
            _ => false,
        };
        txn.commit().await?;
        if recorded {
            self.webhooks.committed();
        }
        self.cards.invalidate([&user.to_string()]);
        self.bus.invalidated(Cache::Cards, vec![user.to_string()]).await;
        Ok(latest.into_iter().filter(|i| self.fields.contains_key(&i.tag)).cloned().collect())
    }

    /// The values of `tags` for each of `users` (defaults for unset fields), in tag order.
    /// Tags must exist (see `check_readable`).
    pub async fn get(&self, users: &[&str], tags: &[&str]) -> Result<HashMap<String, Vec<Item>>, ProfileError> {
        let rows = profile_field::Entity::find()
            .filter(profile_field::Column::UserId.is_in(users.iter().copied()))
            .filter(profile_field::Column::Tag.is_in(tags.iter().copied()))
            .all(&self.db)
            .await?;
        let mut stored: HashMap<(String, String), Value> = HashMap::new();
        for row in rows {
            let value = serde_json::from_str(&row.value).unwrap_or(Value::Null);
            stored.insert((row.user_id, row.tag), value);
        }
        let mut out = HashMap::new();
        for user in users {
            let items = tags
                .iter()
                .map(|tag| {
                    let value = stored
                        .get(&(user.to_string(), tag.to_string()))
                        .cloned()
                        .or_else(|| self.field(tag).map(|s| s.default));
                    Item { tag: tag.to_string(), value: value.unwrap_or(Value::Null) }
                })
                .collect();
            out.insert(user.to_string(), items);
        }
        Ok(out)
    }

    async fn one(&self, user: &str, tag: &str) -> Result<Value, ProfileError> {
        let items = self.get(&[user], &[tag]).await?;
        Ok(items.get(user).and_then(|items| items.first()).map(|i| i.value.clone()).unwrap_or(Value::Null))
    }

    pub async fn allow_type(&self, user: &str) -> Result<AllowType, ProfileError> {
        Ok(match self.one(user, ALLOW_TYPE).await?.as_str() {
            Some("AllowType_Type_AllowAny") => AllowType::AllowAny,
            Some("AllowType_Type_DenyAny") => AllowType::DenyAny,
            _ => AllowType::NeedConfirm,
        })
    }

    /// The app admin forbade `user` to send friend requests.
    pub async fn may_not_request(&self, user: &str) -> Result<bool, ProfileError> {
        Ok(self.one(user, ADMIN_FORBID_TYPE).await?.as_str() == Some("AdminForbid_Type_SendOut"))
    }

    /// Nick and portrait of a message sender (cached).
    pub async fn card(&self, user: &str) -> Result<Arc<Card>, ProfileError> {
        self.cards
            .get_or_load(&user.to_string(), async {
                let items = self.get(&[user], &[NICK, IMAGE]).await?;
                let text = |tag: &str| {
                    items
                        .get(user)
                        .and_then(|items| items.iter().find(|i| i.tag == tag))
                        .and_then(|i| i.value.as_str())
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                };
                Ok(Card { nick: text(NICK), face_url: text(IMAGE) })
            })
            .await
    }

    /// Removes a deleted account's profile.
    pub async fn forget(&self, user: &str) -> Result<(), ProfileError> {
        profile_field::Entity::delete_many().filter(profile_field::Column::UserId.eq(user)).exec(&self.db).await?;
        self.cards.invalidate([&user.to_string()]);
        self.bus.invalidated(Cache::Cards, vec![user.to_string()]).await;
        Ok(())
    }

    /// Drops cached cards another node invalidated (`None`: all of them).
    pub fn drop_cached(&self, keys: Option<&[String]>) {
        match keys {
            Some(keys) => self.cards.invalidate(keys),
            None => self.cards.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn profiles() -> Profiles {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let custom = vec![crate::config::CustomProfileField {
            tag: "Tag_Profile_Custom_Secret".into(),
            read: Access::Admin,
            write: Access::Admin,
        }];
        let metrics = Arc::new(crate::stats::Metrics::default());
        let webhooks = crate::webhook::Webhooks::new(&Default::default(), 1, db.clone(), metrics);
        let config = Config { profile_custom_fields: custom, ..Config::default() };
        Profiles::new(db, Live::new(config), Arc::new(crate::cluster::tests::NoOtherNodes), webhooks)
    }

    #[actix_rt::test]
    async fn values_are_checked_against_their_field() {
        let p = profiles().await;
        let code = |tag: &str, value: Value, by| p.validate(tag, &value, by).map_err(|e| Failure::from(e).code);
        assert!(code(NICK, json!("x"), Access::User).is_ok());
        assert_eq!(code(NICK, json!(5), Access::User), Err(40610));
        assert_eq!(code(NICK, json!("x".repeat(501)), Access::User), Err(40601));
        assert_eq!(code("Tag_Profile_IM_Location", json!("x".repeat(17)), Access::User), Err(40605));
        assert_eq!(code("Tag_Profile_IM_Gender", json!("Gender_Type_Other"), Access::User), Err(40605));
        assert_eq!(code("Tag_Profile_IM_BirthDay", json!("20190419"), Access::User), Err(40610));
        assert_eq!(code("Tag_Profile_IM_BirthDay", json!(1u64 << 32), Access::User), Err(40610));
        assert_eq!(code("Tag_Profile_IM_Nope", json!(""), Access::User), Err(40009));
        assert_eq!(code(ADMIN_FORBID_TYPE, json!("AdminForbid_Type_SendOut"), Access::User), Err(40008));
        assert!(code(ADMIN_FORBID_TYPE, json!("AdminForbid_Type_SendOut"), Access::Admin).is_ok());
        assert_eq!(code("Tag_Profile_Custom_Secret", json!("x"), Access::User), Err(40008));
        assert_eq!(
            p.check_readable(&["Tag_Profile_Custom_Secret"], Access::User).map_err(|e| Failure::from(e).code),
            Err(40007)
        );
    }
}
