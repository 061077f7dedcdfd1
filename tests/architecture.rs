//! The rules of ARCHITECTURE.md ("Rooms") that the compiler does not check, checked on the
//! source: each table is read and written only by the room that owns it; no room's core sees
//! the whole `App` (only the composition layer — wiring, routing, sessions, REST faces — does);
//! and the rooms' cores depend on each other without a cycle, so each owner is one place.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which room owns each table (entities/src/<table>.rs).
const OWNERS: &[(&str, &str)] = &[
    ("account", "account"),
    ("account_mute", "account"),
    ("app_setting", "settings"),
    ("blacklist", "relation"),
    ("call_party", "call"),
    ("call_record", "call"),
    ("c2c_conversation", "message"),
    ("c2c_message", "message"),
    ("c2c_sequence", "message"),
    ("conversation_state", "conversation"),
    ("device", "presence"),
    ("friend", "relation"),
    ("friend_list", "relation"),
    ("friend_request", "relation"),
    ("group_ban", "group"),
    ("group_info", "group"),
    ("group_member", "group"),
    ("group_message", "group"),
    ("group_mute", "group"),
    ("group_request", "group"),
    ("group_topic", "group"),
    ("profile_field", "profile"),
    ("push_attr_name", "push"),
    ("relation_sequence", "relation"),
    ("stat_day", "stats"),
    ("stat_minute", "stats"),
    ("stat_seen", "stats"),
    ("state_event", "presence"),
    ("user_attr", "push"),
    ("user_tag", "push"),
    ("webhook_event", "webhook"),
];

/// The composition layer: it wires the rooms together and faces the wire, so it may see `App`
/// and call any room. Everything else is a room's core.
fn is_composition(relative: &str) -> bool {
    const FILES: &[&str] =
        &["app.rs", "lib.rs", "main.rs", "retention.rs", "message/ws.rs", "push/all.rs", "call/ws.rs"];
    FILES.contains(&relative)
        || relative.starts_with("rest/")
        || relative.starts_with("gateway/")
        || relative.ends_with("/rest.rs")
}

struct Source {
    /// Path below src/, with forward slashes.
    relative: String,
    /// The room: the top-level module the file belongs to.
    room: String,
    /// The text without its unit tests (tests may set up any table).
    text: String,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            let room = relative.split('/').next().unwrap().trim_end_matches(".rs").to_string();
            let full = std::fs::read_to_string(&path).unwrap();
            let text = match full.find("#[cfg(test)]\nmod tests") {
                Some(at) => full[..at].to_string(),
                None => full,
            };
            Source { relative, room, text }
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The tables a file names through the `entities` crate.
fn tables_named(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("entities::") {
        let rest = &text[at + "entities::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(list) => list[..list.find('}').unwrap_or(0)].split(',').collect(),
            None => vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("")],
        };
        found.extend(names.into_iter().map(str::trim).filter(|n| !n.is_empty()).map(str::to_string));
    }
    found
}

/// The rooms a file refers to as `crate::<room>` or `crate::{<room>, …}`.
fn rooms_used(text: &str, rooms: &BTreeSet<String>) -> BTreeSet<String> {
    let first_segment =
        |path: &str| path.trim().split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("").to_string();
    let mut used = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(list) => used.extend(list[..list.find('}').unwrap_or(0)].split(',').map(first_segment)),
            None => {
                used.insert(first_segment(rest));
            }
        }
    }
    used.retain(|name| rooms.contains(name));
    used
}

#[test]
fn every_table_has_one_owner_and_only_it_touches_the_table() {
    let tables: BTreeSet<String> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("entities/src"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".rs").to_string())
        .filter(|name| name != "lib")
        .collect();
    let owners: BTreeMap<&str, &str> = OWNERS.iter().copied().collect();
    let unowned: Vec<&String> = tables.iter().filter(|t| !owners.contains_key(t.as_str())).collect();
    assert!(unowned.is_empty(), "tables without an owning room in OWNERS: {unowned:?}");
    let mut trespasses = Vec::new();
    for source in sources() {
        for table in tables_named(&source.text) {
            match owners.get(table.as_str()) {
                Some(owner) if *owner == source.room => {}
                Some(owner) => trespasses.push(format!("src/{} uses {table} (owned by {owner})", source.relative)),
                None => trespasses.push(format!("src/{} names unknown table {table}", source.relative)),
            }
        }
    }
    assert!(trespasses.is_empty(), "a room touches another room's table:\n{}", trespasses.join("\n"));
}

#[test]
fn no_room_core_takes_the_whole_app() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|s| !is_composition(&s.relative) && s.text.contains("crate::app"))
        .map(|s| format!("src/{}", s.relative))
        .collect();
    assert!(offenders.is_empty(), "room cores that use crate::app (give them what they use instead): {offenders:?}");
}

#[test]
fn the_rooms_cores_depend_on_each_other_without_a_cycle() {
    let sources = sources();
    let rooms: BTreeSet<String> = sources.iter().map(|s| s.room.clone()).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in sources.iter().filter(|s| !is_composition(&s.relative)) {
        let used = rooms_used(&source.text, &rooms);
        edges.entry(source.room.clone()).or_default().extend(used.into_iter().filter(|r| *r != source.room));
    }
    // The composition layer is above every room: no core may call up into it.
    for (room, used) in &edges {
        for up in ["app", "rest", "gateway", "retention"] {
            assert!(!used.contains(up), "room {room} uses the composition layer's {up}");
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        panic!("the rooms' cores depend on each other in a cycle: {}", cycle.join(" -> "));
    }
}

/// A cycle of the graph, if it has one (depth-first search, path kept for the message).
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph = |pairs: &[(&str, &str)]| {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in pairs {
            edges.entry(a.to_string()).or_default().insert(b.to_string());
        }
        edges
    };
    assert_eq!(find_cycle(&graph(&[("a", "b"), ("b", "c")])), None);
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        tables_named("use entities::{device, state_event};"),
        ["device", "state_event"].map(String::from).into()
    );
    assert_eq!(tables_named("entities::group_topic::Model"), ["group_topic"].map(String::from).into());
    let rooms: BTreeSet<String> = ["app", "group", "message"].map(String::from).into();
    let used = rooms_used("use crate::{group::rest as g, message::x};\nlet a = crate::app::App;", &rooms);
    assert_eq!(used, rooms);
}
