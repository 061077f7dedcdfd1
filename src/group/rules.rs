//! The per-type rules of REQUIREMENTS §8, as data and pure functions: who may do what in which
//! kind of group. The actor asks here; the table test walks every cell.

use super::GroupError;
use crate::config::{GroupCustomField, GroupFieldScope, GroupLevel};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupType {
    /// Tencent's old name: Private.
    Work,
    Public,
    /// Tencent's old name: ChatRoom.
    Meeting,
    AVChatRoom,
    Community,
}

pub const ALL_TYPES: [GroupType; 5] =
    [GroupType::Work, GroupType::Public, GroupType::Meeting, GroupType::AVChatRoom, GroupType::Community];

impl GroupType {
    pub fn parse(name: &str) -> Option<GroupType> {
        match name {
            "Private" | "Work" => Some(GroupType::Work),
            "Public" => Some(GroupType::Public),
            "ChatRoom" | "Meeting" => Some(GroupType::Meeting),
            "AVChatRoom" => Some(GroupType::AVChatRoom),
            "Community" => Some(GroupType::Community),
            _ => None,
        }
    }

    /// The name the REST API answers with (Tencent's original names).
    pub fn rest_name(self) -> &'static str {
        match self {
            GroupType::Work => "Private",
            GroupType::Public => "Public",
            GroupType::Meeting => "ChatRoom",
            GroupType::AVChatRoom => "AVChatRoom",
            GroupType::Community => "Community",
        }
    }

    /// The name stored in the database.
    pub fn name(self) -> &'static str {
        match self {
            GroupType::Work => "Work",
            GroupType::Public => "Public",
            GroupType::Meeting => "Meeting",
            GroupType::AVChatRoom => "AVChatRoom",
            GroupType::Community => "Community",
        }
    }

    pub fn stores_members(self) -> bool {
        self != GroupType::AVChatRoom
    }

    pub fn stores_history(self) -> bool {
        self != GroupType::AVChatRoom
    }

    /// Members see messages sent before they joined (Work and Public: as configured).
    pub fn history_before_join(self, configured: bool) -> bool {
        match self {
            GroupType::Work | GroupType::Public => configured,
            GroupType::Meeting | GroupType::Community => true,
            GroupType::AVChatRoom => false,
        }
    }

    pub fn counts_unread(self) -> bool {
        matches!(self, GroupType::Work | GroupType::Public | GroupType::Community)
    }

    /// Join, quit and kick tips: (sent, stored).
    pub fn membership_tips(self) -> (bool, bool) {
        match self {
            GroupType::Work | GroupType::Public | GroupType::Community => (true, true),
            GroupType::Meeting => (false, false),
            GroupType::AVChatRoom => (true, false),
        }
    }

    /// Mute and admin tips: (sent, stored).
    pub fn management_tips(self) -> (bool, bool) {
        match self {
            GroupType::Work | GroupType::Public | GroupType::Community => (true, true),
            GroupType::Meeting | GroupType::AVChatRoom => (false, false),
        }
    }

    /// Members see a Work group only after its first message.
    pub fn needs_activation(self) -> bool {
        self == GroupType::Work
    }

    /// Anyone may look the group up by its exact ID.
    pub fn findable(self) -> bool {
        self != GroupType::Work
    }

    pub fn importable(self) -> bool {
        self != GroupType::AVChatRoom
    }

    pub fn recallable(self) -> bool {
        self != GroupType::AVChatRoom
    }

    /// Default member limit, and the most it may be configured to.
    pub fn member_limits(self, default: i64) -> (i64, i64) {
        match self {
            GroupType::Work | GroupType::Public | GroupType::Meeting => (default.min(6000), 6000),
            GroupType::AVChatRoom => (UNLIMITED, UNLIMITED),
            GroupType::Community => (100_000, 100_000),
        }
    }

    /// Messages reach members who chose AcceptAndNotify with offline push by default.
    pub fn pushes_offline_by_default(self) -> bool {
        matches!(self, GroupType::Work | GroupType::Public | GroupType::Community)
    }
}

/// AVChatRoom has no member limit.
pub const UNLIMITED: i64 = 4_294_967_295;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Role {
    /// Not in the group (may still act as the app admin).
    None,
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "Owner" => Some(Role::Owner),
            "Admin" => Some(Role::Admin),
            "Member" => Some(Role::Member),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Member => "Member",
            Role::None => "NotMember",
        }
    }
}

/// Who acts: the app admin (REST, or logged in as an admin identifier) or a user with a role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    AppAdmin,
    User(Role),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Edit name, introduction, notification, face.
    EditBasicProfile,
    /// Edit the other group fields (member limit, join option, mute-all, custom fields).
    EditProfile,
    Dissolve,
    /// Ask to join (the outcome depends on ApplyJoinOption: see `join_outcome`).
    Apply,
    /// Bring others in (a member's invitation; the app admin's add_group_member is always allowed).
    Invite,
    Quit,
    SetAdmin,
    /// Remove a member whose role is given.
    Kick(Role),
    /// Mute a member whose role is given.
    Mute(Role),
    TransferOwner,
    /// Approve or refuse join applications.
    Approve,
}

pub const ALL_ACTIONS: [Action; 15] = [
    Action::EditBasicProfile,
    Action::EditProfile,
    Action::Dissolve,
    Action::Apply,
    Action::Invite,
    Action::Quit,
    Action::SetAdmin,
    Action::Kick(Role::Member),
    Action::Kick(Role::Admin),
    Action::Mute(Role::Member),
    Action::Mute(Role::Admin),
    Action::Mute(Role::Owner),
    Action::TransferOwner,
    Action::Approve,
    Action::Kick(Role::Owner),
];

fn refuse(why: &str) -> Result<(), GroupError> {
    Err(GroupError::NotAllowed(why.to_string()))
}

/// Whether `actor` may do `action` in a group of type `kind`: the REQUIREMENTS §8 table.
pub fn check(kind: GroupType, actor: Actor, action: Action) -> Result<(), GroupError> {
    use GroupType::*;
    let role = match actor {
        // The app admin has every owner right, member or not.
        Actor::AppAdmin => Role::Owner,
        Actor::User(role) => role,
    };
    let app_admin = actor == Actor::AppAdmin;
    match action {
        Action::Apply => match (kind, role) {
            (Work, _) => refuse("Work groups take members by invitation only"),
            (_, Role::None) => Ok(()),
            _ => Err(GroupError::AlreadyMember),
        },
        Action::Quit => match (kind, role) {
            (_, Role::None) => Err(GroupError::NotMember),
            (Work, Role::Owner) => Ok(()),
            (_, Role::Owner) if !app_admin => Err(GroupError::OwnerCannotQuit),
            _ => Ok(()),
        },
        _ if role == Role::None => refuse("not a member of the group"),
        Action::EditBasicProfile => match (kind, role) {
            (Work, _) => Ok(()),
            (Public | Community, Role::Admin | Role::Owner) => Ok(()),
            (Meeting | AVChatRoom, Role::Owner) => Ok(()),
            _ => refuse("no right to edit the group profile"),
        },
        Action::EditProfile => match (kind, role) {
            (Work, Role::Owner) => Ok(()),
            (Public | Community, Role::Admin | Role::Owner) => Ok(()),
            (Meeting | AVChatRoom, Role::Owner) => Ok(()),
            _ => refuse("no right to edit the group profile"),
        },
        Action::Dissolve => match (kind, role) {
            (Work, _) if app_admin => Ok(()),
            (Work, _) => refuse("only the app admin dissolves a Work group"),
            (_, Role::Owner) => Ok(()),
            _ => refuse("only the owner dissolves the group"),
        },
        Action::Invite => match kind {
            Work | Community => Ok(()),
            _ if app_admin => Ok(()),
            _ => refuse("members of this group type cannot invite"),
        },
        Action::SetAdmin => match (kind, role) {
            (Work | AVChatRoom, _) => refuse("this group type has no admins"),
            (_, Role::Owner) => Ok(()),
            _ => refuse("only the owner appoints admins"),
        },
        Action::Kick(target) => match (kind, role) {
            (AVChatRoom, _) => refuse("AVChatRoom members are muted, not kicked"),
            (_, _) if target == Role::Owner => refuse("the owner cannot be removed"),
            (Work, Role::Owner) => Ok(()),
            (Work, _) => refuse("only the owner removes members"),
            (_, Role::Owner) => Ok(()),
            (_, Role::Admin) if target == Role::Member => Ok(()),
            _ => refuse("no right to remove this member"),
        },
        Action::Mute(target) => match (kind, role) {
            (Work, _) => refuse("Work groups have no mute"),
            (_, _) if target == Role::Owner && !app_admin => refuse("the owner cannot be muted"),
            (AVChatRoom, Role::Owner) => Ok(()),
            (AVChatRoom, _) => refuse("only the owner mutes in an AVChatRoom"),
            (_, Role::Owner) => Ok(()),
            (_, Role::Admin) if target == Role::Member => Ok(()),
            _ => refuse("no right to mute this member"),
        },
        Action::TransferOwner => match (kind, role) {
            (AVChatRoom, _) => refuse("AVChatRoom ownership cannot be transferred"),
            (_, Role::Owner) => Ok(()),
            _ => refuse("only the owner transfers the group"),
        },
        Action::Approve => match (kind, role) {
            (Work, _) => refuse("Work groups have no applications"),
            (_, Role::Owner | Role::Admin) => Ok(()),
            _ => refuse("only the owner or an admin answers applications"),
        },
    }
}

/// A caller's level for group custom fields.
pub fn level(actor: Actor) -> GroupLevel {
    match actor {
        Actor::AppAdmin => GroupLevel::AppAdmin,
        Actor::User(Role::Owner) => GroupLevel::Owner,
        Actor::User(Role::Admin) => GroupLevel::Admin,
        Actor::User(Role::Member) => GroupLevel::Member,
        Actor::User(Role::None) => GroupLevel::Anyone,
    }
}

/// Whether a caller at `level` may read the custom field `key`. With no field declared, members
/// read every key.
pub fn custom_readable(fields: &[GroupCustomField], scope: GroupFieldScope, level: GroupLevel, key: &str) -> bool {
    if fields.is_empty() {
        return level >= GroupLevel::Member;
    }
    fields.iter().any(|f| f.scope == scope && f.key == key && level >= f.read)
}

/// Checks writes of custom `keys` by a caller at `level`: declared (when any field is) and
/// writable at that level. With none declared, `open` says whether the caller may write.
pub fn check_custom_writes(
    fields: &[GroupCustomField],
    scope: GroupFieldScope,
    level: GroupLevel,
    keys: &[String],
    open: bool,
) -> Result<(), GroupError> {
    if fields.is_empty() {
        return if open { Ok(()) } else { refuse("no right to write custom fields") };
    }
    for key in keys {
        let Some(field) = fields.iter().find(|f| f.scope == scope && &f.key == key) else {
            return Err(GroupError::BadRequest(format!("custom field {key:?} is not declared")));
        };
        if level < field.write {
            return refuse(&format!("no right to write custom field {key}"));
        }
    }
    Ok(())
}

/// How a join request is settled, per type and ApplyJoinOption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinOutcome {
    Joined,
    Pending,
}

pub fn join_outcome(kind: GroupType, option: &str) -> Result<JoinOutcome, GroupError> {
    match (kind, option) {
        // Community is always free to join.
        (GroupType::Community, _) => Ok(JoinOutcome::Joined),
        (GroupType::Work, _) => Err(GroupError::NotAllowed("Work groups take members by invitation only".into())),
        (_, "DisableApply") => Err(GroupError::NotAllowed("the group accepts no applications".into())),
        (GroupType::Public, "NeedPermission") => Ok(JoinOutcome::Pending),
        // Meeting and AVChatRoom: applying needs no approval.
        _ => Ok(JoinOutcome::Joined),
    }
}

/// ApplyJoinOption of a new group when none is given.
pub fn default_join_option(kind: GroupType) -> &'static str {
    match kind {
        GroupType::Public => "NeedPermission",
        GroupType::Work => "DisableApply",
        _ => "FreeAccess",
    }
}

pub fn valid_join_option(option: &str) -> bool {
    matches!(option, "FreeAccess" | "NeedPermission" | "DisableApply")
}

#[cfg(test)]
mod tests {
    use super::*;
    use GroupType::*;

    /// One row of the table: the roles allowed (owner, admin, member; app admin apart).
    fn allowed(kind: GroupType, action: Action) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (name, actor) in [
            ("app", Actor::AppAdmin),
            ("owner", Actor::User(Role::Owner)),
            ("admin", Actor::User(Role::Admin)),
            ("member", Actor::User(Role::Member)),
        ] {
            if check(kind, actor, action).is_ok() {
                out.push(name);
            }
        }
        out
    }

    #[test]
    fn the_requirements_table_cell_by_cell() {
        // (type, action, who may) — transcribed from REQUIREMENTS §8.
        let expected: Vec<(GroupType, Action, &[&str])> = vec![
            (Work, Action::EditBasicProfile, &["app", "owner", "admin", "member"]),
            (Public, Action::EditBasicProfile, &["app", "owner", "admin"]),
            (Meeting, Action::EditBasicProfile, &["app", "owner"]),
            (AVChatRoom, Action::EditBasicProfile, &["app", "owner"]),
            (Community, Action::EditBasicProfile, &["app", "owner", "admin"]),
            (Work, Action::EditProfile, &["app", "owner"]),
            (Work, Action::Dissolve, &["app"]),
            (Public, Action::Dissolve, &["app", "owner"]),
            (Meeting, Action::Dissolve, &["app", "owner"]),
            (AVChatRoom, Action::Dissolve, &["app", "owner"]),
            (Community, Action::Dissolve, &["app", "owner"]),
            (Work, Action::Invite, &["app", "owner", "admin", "member"]),
            (Public, Action::Invite, &["app"]),
            (Meeting, Action::Invite, &["app"]),
            (AVChatRoom, Action::Invite, &["app"]),
            (Community, Action::Invite, &["app", "owner", "admin", "member"]),
            (Work, Action::Quit, &["app", "owner", "admin", "member"]),
            (Public, Action::Quit, &["app", "admin", "member"]),
            (Meeting, Action::Quit, &["app", "admin", "member"]),
            (AVChatRoom, Action::Quit, &["app", "admin", "member"]),
            (Community, Action::Quit, &["app", "admin", "member"]),
            (Work, Action::SetAdmin, &[]),
            (Public, Action::SetAdmin, &["app", "owner"]),
            (Meeting, Action::SetAdmin, &["app", "owner"]),
            (AVChatRoom, Action::SetAdmin, &[]),
            (Community, Action::SetAdmin, &["app", "owner"]),
            (Work, Action::Kick(Role::Member), &["app", "owner"]),
            (Public, Action::Kick(Role::Member), &["app", "owner", "admin"]),
            (Public, Action::Kick(Role::Admin), &["app", "owner"]),
            (Meeting, Action::Kick(Role::Member), &["app", "owner", "admin"]),
            (AVChatRoom, Action::Kick(Role::Member), &[]),
            (Community, Action::Kick(Role::Admin), &["app", "owner"]),
            (Public, Action::Kick(Role::Owner), &[]),
            (Work, Action::Mute(Role::Member), &[]),
            (Public, Action::Mute(Role::Member), &["app", "owner", "admin"]),
            (Public, Action::Mute(Role::Admin), &["app", "owner"]),
            (Meeting, Action::Mute(Role::Admin), &["app", "owner"]),
            (AVChatRoom, Action::Mute(Role::Member), &["app", "owner"]),
            (Community, Action::Mute(Role::Member), &["app", "owner", "admin"]),
            (Public, Action::TransferOwner, &["app", "owner"]),
            (AVChatRoom, Action::TransferOwner, &[]),
            (Public, Action::Approve, &["app", "owner", "admin"]),
            (Work, Action::Approve, &[]),
        ];
        for (kind, action, who) in expected {
            assert_eq!(allowed(kind, action), who.to_vec(), "{kind:?} {action:?}");
        }
    }

    #[test]
    fn custom_fields_follow_their_levels() {
        let fields = vec![
            GroupCustomField {
                key: "Topic".into(),
                scope: GroupFieldScope::Group,
                read: GroupLevel::Anyone,
                write: GroupLevel::Admin,
            },
            GroupCustomField {
                key: "Secret".into(),
                scope: GroupFieldScope::Group,
                read: GroupLevel::Owner,
                write: GroupLevel::AppAdmin,
            },
        ];
        let keys = |k: &str| vec![k.to_string()];
        assert!(check_custom_writes(&fields, GroupFieldScope::Group, GroupLevel::Admin, &keys("Topic"), false).is_ok());
        assert!(check_custom_writes(&fields, GroupFieldScope::Group, GroupLevel::Member, &keys("Topic"), true).is_err());
        assert!(check_custom_writes(&fields, GroupFieldScope::Group, GroupLevel::Owner, &keys("Secret"), true).is_err());
        assert!(matches!(
            check_custom_writes(&fields, GroupFieldScope::Group, GroupLevel::AppAdmin, &keys("Nope"), true),
            Err(GroupError::BadRequest(_))
        ));
        assert!(
            check_custom_writes(&fields, GroupFieldScope::Member, GroupLevel::AppAdmin, &keys("Topic"), true).is_err()
        );
        assert!(custom_readable(&fields, GroupFieldScope::Group, GroupLevel::Anyone, "Topic"));
        assert!(!custom_readable(&fields, GroupFieldScope::Group, GroupLevel::Admin, "Secret"));
        assert!(custom_readable(&[], GroupFieldScope::Group, GroupLevel::Member, "Any"));
        assert!(!custom_readable(&[], GroupFieldScope::Group, GroupLevel::Anyone, "Any"));
        assert!(check_custom_writes(&[], GroupFieldScope::Group, GroupLevel::Member, &keys("Any"), false).is_err());
    }

    #[test]
    fn joining_follows_the_type_and_the_join_option() {
        assert!(join_outcome(Work, "FreeAccess").is_err());
        assert_eq!(join_outcome(Public, "NeedPermission").ok(), Some(JoinOutcome::Pending));
        assert_eq!(join_outcome(Public, "FreeAccess").ok(), Some(JoinOutcome::Joined));
        assert!(join_outcome(Public, "DisableApply").is_err());
        assert_eq!(join_outcome(Meeting, "NeedPermission").ok(), Some(JoinOutcome::Joined));
        assert_eq!(join_outcome(AVChatRoom, "FreeAccess").ok(), Some(JoinOutcome::Joined));
        assert_eq!(join_outcome(Community, "DisableApply").ok(), Some(JoinOutcome::Joined));
        // Outsiders apply; members are told they already are.
        assert!(check(Public, Actor::User(Role::None), Action::Apply).is_ok());
        assert!(matches!(check(Public, Actor::User(Role::Member), Action::Apply), Err(GroupError::AlreadyMember)));
        assert!(matches!(check(Public, Actor::User(Role::Owner), Action::Quit), Err(GroupError::OwnerCannotQuit)));
        assert!(check(Public, Actor::User(Role::None), Action::EditProfile).is_err());
    }
}
