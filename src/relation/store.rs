//! One relation command's transaction: the reads and writes of the relation tables, the change
//! sequences they bump, and the events they send once committed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytestring::ByteString;
use entities::{blacklist, friend, friend_list, friend_request, relation_sequence};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect,
};
use serde_json::{json, Map, Value};

use super::{event, Code, Direction, FriendChange, Limit, NewFriend, MAX_FRIENDS, MAX_LISTS, MAX_PENDING};

/// What a committed command changed.
pub struct Done {
    /// Friendships (one per direction) added and deleted.
    pub friends_added: usize,
    pub friends_deleted: usize,
    pub friends_changed: BTreeSet<String>,
    pub blacklists_changed: BTreeSet<String>,
    pub events: Vec<(String, ByteString)>,
}

pub struct Work {
    txn: DatabaseTransaction,
    now: i64,
    friend_counts: HashMap<String, usize>,
    list_cache: HashMap<String, Vec<String>>,
    friends_changed: BTreeSet<String>,
    lists_changed: BTreeSet<String>,
    blacklists_changed: BTreeSet<String>,
    /// Events in the order they happened, then the per-owner summaries below.
    events: Vec<(String, ByteString)>,
    added: BTreeMap<String, Vec<String>>,
    deleted: BTreeMap<String, Vec<String>>,
    blocked: BTreeMap<String, Vec<String>>,
    unblocked: BTreeMap<String, Vec<String>>,
    lists_added: BTreeMap<String, Vec<String>>,
    lists_deleted: BTreeMap<String, Vec<String>>,
}

/// The friend lists a friend row is in.
pub fn list_names_of(row: &friend::Model) -> Vec<String> {
    serde_json::from_str(&row.lists).unwrap_or_default()
}

/// The custom fields of a friend row.
pub fn custom_of(row: &friend::Model) -> Map<String, Value> {
    serde_json::from_str(&row.custom).unwrap_or_default()
}

/// The change sequences of `owner` (zeros before any change).
pub async fn sequences(db: &DatabaseConnection, owner: &str) -> Result<relation_sequence::Model, DbErr> {
    Ok(relation_sequence::Entity::find_by_id(owner.to_string()).one(db).await?.unwrap_or(relation_sequence::Model {
        owner: owner.to_string(),
        friend_seq: 0,
        list_seq: 0,
        black_seq: 0,
    }))
}

fn push(map: &mut BTreeMap<String, Vec<String>>, owner: &str, item: &str) {
    map.entry(owner.to_string()).or_default().push(item.to_string());
}

/// The class of the PostgreSQL advisory lock that serialises relation writes.
const RELATION_LOCK_CLASS: i32 = 0x7265_6c00;

impl Work {
    pub async fn begin(db: &DatabaseConnection) -> Result<Work, DbErr> {
        let txn = crate::store::begin_write(db).await?;
        // One relation write at a time in the whole cluster: limits (friends, pending requests)
        // are counted and rows written with no one between. Within a node the room's mutex
        // queues writers first; SQLite's write lock, taken above, is the same guarantee.
        use sea_orm::ConnectionTrait;
        if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
            txn.execute(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1, 0)",
                [RELATION_LOCK_CLASS.into()],
            ))
            .await?;
        }
        Ok(Work {
            txn,
            now: crate::now_secs(),
            friend_counts: HashMap::new(),
            list_cache: HashMap::new(),
            friends_changed: BTreeSet::new(),
            lists_changed: BTreeSet::new(),
            blacklists_changed: BTreeSet::new(),
            events: Vec::new(),
            added: BTreeMap::new(),
            deleted: BTreeMap::new(),
            blocked: BTreeMap::new(),
            unblocked: BTreeMap::new(),
            lists_added: BTreeMap::new(),
            lists_deleted: BTreeMap::new(),
        })
    }

    pub fn notify(&mut self, user: &str, frame: ByteString) {
        self.events.push((user.to_string(), frame));
    }

    /// The after-event webhooks of what this work changed (spec §4.4 `Sns.*`), caused by `cause`.
    fn callbacks(&self, cause: &super::Cause) -> Vec<crate::webhook::outbox::Event> {
        use crate::webhook::command::{BLACKLIST_ADD, BLACKLIST_DELETE, FRIEND_ADD, FRIEND_DELETE};
        let pairs = |changed: &BTreeMap<String, Vec<String>>, initiator: bool| -> Vec<Value> {
            let mut list = Vec::new();
            for (owner, targets) in changed {
                for target in targets {
                    let mut pair = json!({"From_Account": owner, "To_Account": target});
                    if initiator {
                        pair["Initiator_Account"] = json!(cause.initiator);
                    }
                    list.push(pair);
                }
            }
            list
        };
        let mut events = Vec::new();
        let mut event = |command: &'static str, mut body: Value| {
            body["CallbackCommand"] = json!(command);
            body["EventTime"] = json!(crate::now_millis());
            let key = cause.initiator.clone();
            events.push(crate::webhook::outbox::Event { command, key, body, origin: cause.origin.clone() });
        };
        if !self.added.is_empty() {
            event(
                FRIEND_ADD,
                json!({
                    "PairList": pairs(&self.added, true),
                    "ClientCmd": cause.client_cmd,
                    "Admin_Account": cause.admin.clone().unwrap_or_default(),
                    "ForceFlag": i32::from(cause.force),
                }),
            );
        }
        for (command, changed) in
            [(FRIEND_DELETE, &self.deleted), (BLACKLIST_ADD, &self.blocked), (BLACKLIST_DELETE, &self.unblocked)]
        {
            if !changed.is_empty() {
                event(command, json!({"PairList": pairs(changed, false)}));
            }
        }
        events
    }

    /// Bumps the sequences of what changed, writes the webhooks of the change (when it has a
    /// cause that fires them) in the same transaction, commits, and hands back what to tell whom.
    pub async fn commit(self, hooks: &crate::webhook::Webhooks, cause: Option<&super::Cause>) -> Result<Done, DbErr> {
        if let Some(cause) = cause {
            hooks.record(&self.txn, self.callbacks(cause)).await?;
        }
        let owners: BTreeSet<&String> =
            self.friends_changed.iter().chain(&self.lists_changed).chain(&self.blacklists_changed).collect();
        for owner in owners {
            let current = relation_sequence::Entity::find_by_id(owner.clone()).one(&self.txn).await?;
            let bump = |changed: &BTreeSet<String>| i64::from(changed.contains(owner));
            let (friend_seq, list_seq, black_seq) =
                current.as_ref().map_or((0, 0, 0), |c| (c.friend_seq, c.list_seq, c.black_seq));
            let row = relation_sequence::ActiveModel {
                owner: Set(owner.clone()),
                friend_seq: Set(friend_seq + bump(&self.friends_changed)),
                list_seq: Set(list_seq + bump(&self.lists_changed)),
                black_seq: Set(black_seq + bump(&self.blacklists_changed)),
            };
            if current.is_some() {
                relation_sequence::Entity::update(row).exec(&self.txn).await?;
            } else {
                relation_sequence::Entity::insert(row).exec_without_returning(&self.txn).await?;
            }
        }
        self.txn.commit().await?;
        let count = |map: &BTreeMap<String, Vec<String>>| map.values().map(Vec::len).sum();
        let (friends_added, friends_deleted) = (count(&self.added), count(&self.deleted));
        let mut events = self.events;
        let summaries = [
            ("friend_added", &self.added),
            ("friend_deleted", &self.deleted),
            ("black_list_added", &self.blocked),
            ("black_list_deleted", &self.unblocked),
        ];
        for (name, map) in summaries {
            for (owner, users) in map {
                events.push((owner.clone(), event(name, json!({"From_Account": owner, "To_Account": users}))));
            }
        }
        let list_owners: BTreeSet<&String> = self.lists_added.keys().chain(self.lists_deleted.keys()).collect();
        for owner in list_owners {
            let data = json!({
                "From_Account": owner,
                "Added": self.lists_added.get(owner).cloned().unwrap_or_default(),
                "Deleted": self.lists_deleted.get(owner).cloned().unwrap_or_default(),
            });
            events.push((owner.clone(), event("friend_list_changed", data)));
        }
        Ok(Done {
            friends_added,
            friends_deleted,
            friends_changed: self.friends_changed,
            blacklists_changed: self.blacklists_changed,
            events,
        })
    }

    // ----- friends -----

    pub async fn find_friend(&self, owner: &str, target: &str) -> Result<Option<friend::Model>, DbErr> {
        friend::Entity::find_by_id((owner.to_string(), target.to_string())).one(&self.txn).await
    }

    pub async fn has_friend(&self, owner: &str, target: &str) -> Result<bool, DbErr> {
        Ok(self.find_friend(owner, target).await?.is_some())
    }

    pub async fn friend_count(&mut self, owner: &str) -> Result<usize, DbErr> {
        if let Some(n) = self.friend_counts.get(owner) {
            return Ok(*n);
        }
        let n = friend::Entity::find().filter(friend::Column::Owner.eq(owner)).count(&self.txn).await? as usize;
        self.friend_counts.insert(owner.to_string(), n);
        Ok(n)
    }

    pub async fn friend_ids(&self, owner: &str) -> Result<Vec<String>, DbErr> {
        friend::Entity::find()
            .select_only()
            .column(friend::Column::Friend)
            .filter(friend::Column::Owner.eq(owner))
            .into_tuple()
            .all(&self.txn)
            .await
    }

    /// Why `owner` cannot take one more friend put in `lists`, if a limit stops it.
    pub async fn cannot_befriend(&mut self, owner: &str, lists: &[String]) -> Result<Option<Limit>, DbErr> {
        if self.friend_count(owner).await? >= MAX_FRIENDS {
            return Ok(Some(Limit::Friends));
        }
        if !self.lists_fit(owner, lists).await? {
            return Ok(Some(Limit::Lists));
        }
        Ok(None)
    }

    /// Puts `item.to` in `owner`'s list, creating its lists (checked by `cannot_befriend`); a
    /// request `owner` had sent for it is fulfilled.
    pub async fn befriend(&mut self, owner: &str, item: &NewFriend) -> Result<(), DbErr> {
        self.ensure_lists(owner, &item.lists).await?;
        self.insert_friend(owner, item).await?;
        self.drop_request(owner, &item.to).await
    }

    async fn insert_friend(&mut self, owner: &str, item: &NewFriend) -> Result<(), DbErr> {
        let add_time = if item.add_time > 0 { item.add_time } else { self.now };
        let remark_time = match (item.remark.is_empty(), item.remark_time) {
            (true, _) => 0,
            (false, 0) => self.now,
            (false, t) => t,
        };
        let row = friend::ActiveModel {
            owner: Set(owner.to_string()),
            friend: Set(item.to.clone()),
            remark: Set(item.remark.clone()),
            remark_time: Set(remark_time),
            add_source: Set(item.source.clone()),
            add_wording: Set(item.wording.clone()),
            add_time: Set(add_time),
            lists: Set(json!(super::distinct(item.lists.iter().cloned())).to_string()),
            custom: Set(Value::Object(item.custom.clone()).to_string()),
        };
        friend::Entity::insert(row).exec_without_returning(&self.txn).await?;
        if let Some(n) = self.friend_counts.get_mut(owner) {
            *n += 1;
        }
        self.friends_changed.insert(owner.to_string());
        push(&mut self.added, owner, &item.to);
        Ok(())
    }

    /// Takes `target` out of `owner`'s list; false when it was not there.
    pub async fn remove_friend(&mut self, owner: &str, target: &str) -> Result<bool, DbErr> {
        let result = friend::Entity::delete_many()
            .filter(friend::Column::Owner.eq(owner))
            .filter(friend::Column::Friend.eq(target))
            .exec(&self.txn)
            .await?;
        if result.rows_affected == 0 {
            return Ok(false);
        }
        if let Some(n) = self.friend_counts.get_mut(owner) {
            *n = n.saturating_sub(1);
        }
        self.friends_changed.insert(owner.to_string());
        push(&mut self.deleted, owner, target);
        Ok(true)
    }

    pub async fn update_friend(&mut self, owner: &str, target: &str, changes: &[FriendChange]) -> Result<Code, DbErr> {
        let Some(row) = self.find_friend(owner, target).await? else {
            return Ok(Code::NOT_FRIEND_ITEM);
        };
        // All lists named by the changes must fit together before any is created.
        let named: Vec<String> = changes
            .iter()
            .filter_map(|c| if let FriendChange::Lists(names) = c { Some(names.clone()) } else { None })
            .flatten()
            .collect();
        if !self.lists_fit(owner, &named).await? {
            return Ok(Code::TOO_MANY_LISTS);
        }
        self.ensure_lists(owner, &named).await?;
        let mut custom = custom_of(&row);
        let mut update = friend::ActiveModel {
            owner: sea_orm::ActiveValue::Unchanged(owner.to_string()),
            friend: sea_orm::ActiveValue::Unchanged(target.to_string()),
            ..Default::default()
        };
        let mut items = Vec::with_capacity(changes.len());
        for change in changes {
            match change {
                FriendChange::Remark(remark) => {
                    update.remark = Set(remark.clone());
                    update.remark_time = Set(self.now);
                    items.push(json!({"Tag": "Tag_SNS_IM_Remark", "Value": remark}));
                }
                FriendChange::Lists(names) => {
                    let names = super::distinct(names.iter().cloned());
                    update.lists = Set(json!(names).to_string());
                    items.push(json!({"Tag": "Tag_SNS_IM_Group", "Value": names}));
                }
                FriendChange::Custom(tag, value) => {
                    custom.insert(tag.clone(), value.clone());
                    items.push(json!({"Tag": tag, "Value": value}));
                }
            }
        }
        update.custom = Set(Value::Object(custom).to_string());
        friend::Entity::update(update).exec(&self.txn).await?;
        self.friends_changed.insert(owner.to_string());
        let data = json!({"From_Account": owner, "To_Account": target, "SnsItem": items});
        self.notify(owner, event("friend_updated", data));
        Ok(Code::OK)
    }

    // ----- friend lists -----

    pub async fn list_names(&mut self, owner: &str) -> Result<Vec<String>, DbErr> {
        if let Some(names) = self.list_cache.get(owner) {
            return Ok(names.clone());
        }
        let names: Vec<String> = friend_list::Entity::find()
            .select_only()
            .column(friend_list::Column::Name)
            .filter(friend_list::Column::Owner.eq(owner))
            .into_tuple()
            .all(&self.txn)
            .await?;
        self.list_cache.insert(owner.to_string(), names.clone());
        Ok(names)
    }

    /// Lists of `names` that `owner` does not have yet.
    async fn missing_lists(&mut self, owner: &str, names: &[String]) -> Result<(usize, Vec<String>), DbErr> {
        let existing = self.list_names(owner).await?;
        let missing = super::distinct(names.iter().filter(|n| !existing.contains(n)).cloned());
        Ok((existing.len(), missing))
    }

    /// Whether creating the missing lists of `names` stays within the limit.
    pub async fn lists_fit(&mut self, owner: &str, names: &[String]) -> Result<bool, DbErr> {
        let (existing, missing) = self.missing_lists(owner, names).await?;
        Ok(existing + missing.len() <= MAX_LISTS)
    }

    /// Creates the lists `owner` does not have yet; false (nothing created) past the limit.
    pub async fn ensure_lists(&mut self, owner: &str, names: &[String]) -> Result<bool, DbErr> {
        let (existing, new) = self.missing_lists(owner, names).await?;
        if new.is_empty() {
            return Ok(true);
        }
        if existing + new.len() > MAX_LISTS {
            return Ok(false);
        }
        let rows = new.iter().map(|name| friend_list::ActiveModel {
            owner: Set(owner.to_string()),
            name: Set(name.clone()),
            created_at: Set(self.now),
        });
        friend_list::Entity::insert_many(rows).exec_without_returning(&self.txn).await?;
        self.list_cache.entry(owner.to_string()).or_default().extend(new.iter().cloned());
        self.lists_changed.insert(owner.to_string());
        for name in &new {
            push(&mut self.lists_added, owner, name);
        }
        Ok(true)
    }

    pub async fn add_to_lists(&mut self, owner: &str, target: &str, names: &[String]) -> Result<(), DbErr> {
        let Some(row) = self.find_friend(owner, target).await? else {
            return Ok(());
        };
        let lists = super::distinct(list_names_of(&row).into_iter().chain(names.iter().cloned()));
        self.set_lists(owner, target, &lists).await
    }

    async fn set_lists(&mut self, owner: &str, target: &str, lists: &[String]) -> Result<(), DbErr> {
        let update = friend::ActiveModel {
            owner: sea_orm::ActiveValue::Unchanged(owner.to_string()),
            friend: sea_orm::ActiveValue::Unchanged(target.to_string()),
            lists: Set(json!(lists).to_string()),
            ..Default::default()
        };
        friend::Entity::update(update).exec(&self.txn).await?;
        self.friends_changed.insert(owner.to_string());
        Ok(())
    }

    /// Deletes lists (they exist) and takes every friend out of them.
    pub async fn delete_lists(&mut self, owner: &str, names: &[String]) -> Result<(), DbErr> {
        friend_list::Entity::delete_many()
            .filter(friend_list::Column::Owner.eq(owner))
            .filter(friend_list::Column::Name.is_in(names.iter().cloned()))
            .exec(&self.txn)
            .await?;
        let rows = friend::Entity::find().filter(friend::Column::Owner.eq(owner)).all(&self.txn).await?;
        for row in rows {
            let lists = list_names_of(&row);
            if lists.iter().any(|l| names.contains(l)) {
                let kept: Vec<String> = lists.into_iter().filter(|l| !names.contains(l)).collect();
                self.set_lists(owner, &row.friend, &kept).await?;
            }
        }
        self.list_cache.remove(owner);
        self.lists_changed.insert(owner.to_string());
        for name in names {
            push(&mut self.lists_deleted, owner, name);
        }
        Ok(())
    }

    /// The list sequence `owner` will have once this command commits.
    pub async fn list_sequence_after(&self, owner: &str) -> Result<i64, DbErr> {
        let current =
            relation_sequence::Entity::find_by_id(owner.to_string()).one(&self.txn).await?.map_or(0, |s| s.list_seq);
        Ok(current + i64::from(self.lists_changed.contains(owner)))
    }

    // ----- friend requests -----

    pub async fn find_request(&self, requester: &str, target: &str) -> Result<Option<friend_request::Model>, DbErr> {
        friend_request::Entity::find_by_id((requester.to_string(), target.to_string())).one(&self.txn).await
    }

    /// Leaves a pending request (a repeated request replaces the earlier one).
    pub async fn request(&mut self, from: &str, item: &NewFriend, direction: Direction) -> Result<Code, DbErr> {
        let repeated = self.find_request(from, &item.to).await?.is_some();
        if !repeated {
            let outgoing = friend_request::Entity::find()
                .filter(friend_request::Column::Requester.eq(from))
                .count(&self.txn)
                .await?;
            let incoming = friend_request::Entity::find()
                .filter(friend_request::Column::Target.eq(item.to.as_str()))
                .count(&self.txn)
                .await?;
            if outgoing as usize >= MAX_PENDING || incoming as usize >= MAX_PENDING {
                return Ok(Code::TOO_MANY_PENDING);
            }
        }
        let row = friend_request::ActiveModel {
            requester: Set(from.to_string()),
            target: Set(item.to.clone()),
            add_type: Set(direction.add_type().to_string()),
            add_source: Set(item.source.clone()),
            add_wording: Set(item.wording.clone()),
            remark: Set(item.remark.clone()),
            list_name: Set(item.lists.first().cloned().unwrap_or_default()),
            created_at: Set(self.now),
        };
        if repeated {
            friend_request::Entity::update(row).exec(&self.txn).await?;
        } else {
            friend_request::Entity::insert(row).exec_without_returning(&self.txn).await?;
        }
        let data = json!({
            "From_Account": from,
            "To_Account": item.to,
            "AddSource": item.source,
            "AddWording": item.wording,
            "AddType": direction.add_type(),
            "AddTime": self.now,
        });
        let frame = event("friend_request", data);
        self.notify(&item.to, frame.clone());
        self.notify(from, frame);
        Ok(Code::PENDING)
    }

    pub async fn drop_request(&mut self, requester: &str, target: &str) -> Result<(), DbErr> {
        friend_request::Entity::delete_many()
            .filter(friend_request::Column::Requester.eq(requester))
            .filter(friend_request::Column::Target.eq(target))
            .exec(&self.txn)
            .await?;
        Ok(())
    }

    // ----- blacklist -----

    pub async fn blocks(&self, owner: &str, target: &str) -> Result<bool, DbErr> {
        Ok(blacklist::Entity::find_by_id((owner.to_string(), target.to_string())).one(&self.txn).await?.is_some())
    }

    pub async fn blacklist_count(&self, owner: &str) -> Result<usize, DbErr> {
        Ok(blacklist::Entity::find().filter(blacklist::Column::Owner.eq(owner)).count(&self.txn).await? as usize)
    }

    pub async fn block(&mut self, owner: &str, target: &str) -> Result<(), DbErr> {
        let row = blacklist::ActiveModel {
            owner: Set(owner.to_string()),
            target: Set(target.to_string()),
            added_at: Set(self.now),
        };
        blacklist::Entity::insert(row).exec_without_returning(&self.txn).await?;
        self.blacklists_changed.insert(owner.to_string());
        push(&mut self.blocked, owner, target);
        Ok(())
    }

    pub async fn unblock(&mut self, owner: &str, target: &str) -> Result<bool, DbErr> {
        let result = blacklist::Entity::delete_many()
            .filter(blacklist::Column::Owner.eq(owner))
            .filter(blacklist::Column::Target.eq(target))
            .exec(&self.txn)
            .await?;
        if result.rows_affected == 0 {
            return Ok(false);
        }
        self.blacklists_changed.insert(owner.to_string());
        push(&mut self.unblocked, owner, target);
        Ok(true)
    }

    // ----- account deletion -----

    /// Removes every row that names `user`, on either side.
    pub async fn forget(&mut self, user: &str) -> Result<(), DbErr> {
        let had_user: Vec<String> = friend::Entity::find()
            .select_only()
            .column(friend::Column::Owner)
            .filter(friend::Column::Friend.eq(user))
            .into_tuple()
            .all(&self.txn)
            .await?;
        for owner in had_user {
            self.remove_friend(&owner, user).await?;
        }
        let blocked_user: Vec<String> = blacklist::Entity::find()
            .select_only()
            .column(blacklist::Column::Owner)
            .filter(blacklist::Column::Target.eq(user))
            .into_tuple()
            .all(&self.txn)
            .await?;
        for owner in blocked_user {
            self.unblock(&owner, user).await?;
        }
        friend::Entity::delete_many().filter(friend::Column::Owner.eq(user)).exec(&self.txn).await?;
        friend_list::Entity::delete_many().filter(friend_list::Column::Owner.eq(user)).exec(&self.txn).await?;
        blacklist::Entity::delete_many().filter(blacklist::Column::Owner.eq(user)).exec(&self.txn).await?;
        friend_request::Entity::delete_many()
            .filter(
                sea_orm::Condition::any()
                    .add(friend_request::Column::Requester.eq(user))
                    .add(friend_request::Column::Target.eq(user)),
            )
            .exec(&self.txn)
            .await?;
        relation_sequence::Entity::delete_by_id(user.to_string()).exec(&self.txn).await?;
        // No sequence row is written again for the deleted user (the caller drops their caches).
        self.friends_changed.remove(user);
        self.blacklists_changed.remove(user);
        self.lists_changed.remove(user);
        Ok(())
    }
}
