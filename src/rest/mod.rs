//! The `rest` room: Tencent REST API v4 routing. One table maps `service/command` to a room's
//! handler; this module checks the query string, the admin UserSig, the rate limits and the JSON
//! body, and wraps every answer in the envelope (`ActionStatus`, `ErrorCode`, `ErrorInfo`).

pub mod ratelimit;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use crate::app::App;
use crate::failure::Failure;
use ratelimit::RateClass;

/// A checked request: who called and the parsed JSON body.
pub struct Call {
    /// The app admin (REST), or the logged-in user for the commands also served over WebSocket.
    pub identifier: String,
    pub body: Value,
    /// `Admin` over REST; `User` over WebSocket, where `From_Account` is the caller.
    pub access: crate::config::Access,
    /// The WebSocket session that sent the command (it already knows what it sent).
    pub session: Option<crate::presence::SessionId>,
    /// Who called, as the app backend's webhooks name them.
    pub origin: crate::webhook::Origin,
}

/// Endpoint-specific fields of a successful answer (may override `ActionStatus`).
pub type Reply = Map<String, Value>;

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Reply, Failure>>>>;
type Handler = fn(Arc<App>, Call) -> HandlerFuture;

/// Service families differ in their error codes for "not an admin" and "bad JSON", and in
/// whether answers carry `ErrorDisplay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Account,
    OpenIm,
    Profile,
    Sns,
    Group,
    Config,
    RecentContact,
    Archive,
}

impl Family {
    pub fn not_admin_code(self) -> i64 {
        match self {
            Family::Account => 70403,
            Family::OpenIm => 90009,
            Family::Profile => 40004,
            Family::Sns => 30004,
            Family::Group => 10007,
            Family::Config => 60010,
            Family::RecentContact => 50003,
            Family::Archive => 1002,
        }
    }

    pub fn bad_json_code(self) -> i64 {
        match self {
            Family::Account => 60003,
            Family::OpenIm => 90001,
            Family::Profile => 40001,
            Family::Sns => 30001,
            Family::Group => 10011,
            Family::Config => 130001,
            Family::RecentContact => 50002,
            Family::Archive => 1002,
        }
    }

    fn has_error_display(self) -> bool {
        matches!(self, Family::Profile | Family::Sns | Family::RecentContact)
    }
}

pub struct Route {
    pub service: &'static str,
    pub command: &'static str,
    pub family: Family,
    pub rate: RateClass,
    pub handler: Handler,
}

macro_rules! route {
    ($service:literal, $command:literal, $family:ident, $rate:ident, $handler:path) => {
        Route {
            service: $service,
            command: $command,
            family: Family::$family,
            rate: RateClass::$rate,
            handler: |app, call| Box::pin($handler(app, call)),
        }
    };
}

/// Every REST command this server answers.
pub fn routes() -> Vec<Route> {
    use crate::{account::rest as account, message::rest as message, presence::rest as presence};
    use crate::{archive::rest as archive, conversation::rest as conversation, push::all as all_push};
    use crate::{group::rest as group, profile::rest as profile, relation::rest as sns};
    vec![
        route!("im_open_login_svc", "account_import", Account, Normal, account::account_import),
        route!("im_open_login_svc", "multiaccount_import", Account, Bulk, account::multiaccount_import),
        route!("im_open_login_svc", "account_delete", Account, Bulk, account::account_delete),
        route!("im_open_login_svc", "account_check", Account, Bulk, account::account_check),
        route!("im_open_login_svc", "kick", Account, Normal, account::kick),
        route!("openim", "query_online_status", OpenIm, Normal, presence::query_online_status),
        route!("openim", "querystate", OpenIm, Normal, presence::query_online_status),
        route!("openim", "sendmsg", OpenIm, Normal, message::sendmsg),
        route!("openim", "batchsendmsg", OpenIm, Normal, message::batchsendmsg),
        route!("openim", "importmsg", OpenIm, Normal, message::importmsg),
        route!("openim", "admin_getroammsg", OpenIm, Normal, message::admin_getroammsg),
        route!("openim", "admin_msgwithdraw", OpenIm, Normal, message::admin_msgwithdraw),
        route!("openim", "modify_c2c_msg", OpenIm, Normal, message::modify_c2c_msg),
        route!("openim", "admin_set_msg_read", OpenIm, Normal, conversation::admin_set_msg_read),
        route!("openim", "get_c2c_unread_msg_num", OpenIm, Normal, conversation::get_c2c_unread_msg_num),
        route!("recentcontact", "get_list", RecentContact, Normal, conversation::get_list),
        route!("recentcontact", "delete", RecentContact, Normal, conversation::delete),
        route!("open_msg_svc", "get_history", Archive, Archive, archive::get_history),
        // parley extensions: the webhook outbox.
        route!("parley_webhook", "list_pending", Config, Normal, crate::webhook::rest::list_pending),
        route!("parley_webhook", "replay", Config, Normal, crate::webhook::rest::replay),
        route!("parley_webhook", "get_config", Config, Normal, crate::webhook::rest::get_config),
        route!("parley_webhook", "set_config", Config, Normal, crate::webhook::rest::set_config),
        route!("parley_push", "check_credentials", Config, Normal, crate::push::rest::check_credentials),
        route!("parley_call", "list", OpenIm, Normal, crate::call::rest::list),
        route!("all_member_push", "im_push", OpenIm, Normal, all_push::im_push),
        route!("all_member_push", "im_set_attr_name", OpenIm, Normal, all_push::im_set_attr_name),
        route!("all_member_push", "im_get_attr_name", OpenIm, Normal, all_push::im_get_attr_name),
        route!("all_member_push", "im_get_attr", OpenIm, Normal, all_push::im_get_attr),
        route!("all_member_push", "im_set_attr", OpenIm, Normal, all_push::im_set_attr),
        route!("all_member_push", "im_remove_attr", OpenIm, Normal, all_push::im_remove_attr),
        route!("all_member_push", "im_get_tag", OpenIm, Normal, all_push::im_get_tag),
        route!("all_member_push", "im_add_tag", OpenIm, Normal, all_push::im_add_tag),
        route!("all_member_push", "im_remove_tag", OpenIm, Normal, all_push::im_remove_tag),
        route!("all_member_push", "im_remove_all_tags", OpenIm, Normal, all_push::im_remove_all_tags),
        route!("profile", "portrait_set", Profile, Normal, profile::portrait_set),
        route!("profile", "portrait_get", Profile, Normal, profile::portrait_get),
        route!("sns", "friend_add", Sns, Normal, sns::friend_add),
        route!("sns", "friend_import", Sns, Normal, sns::friend_import),
        route!("sns", "friend_response", Sns, Normal, sns::friend_response),
        route!("sns", "friend_get_pendency", Sns, Normal, sns::friend_get_pendency),
        route!("sns", "friend_update", Sns, Normal, sns::friend_update),
        route!("sns", "friend_delete", Sns, Normal, sns::friend_delete),
        route!("sns", "friend_delete_all", Sns, Normal, sns::friend_delete_all),
        route!("sns", "friend_check", Sns, Normal, sns::friend_check),
        route!("sns", "friend_get", Sns, Normal, sns::friend_get),
        route!("sns", "friend_get_list", Sns, Normal, sns::friend_get_list),
        route!("sns", "black_list_add", Sns, Normal, sns::black_list_add),
        route!("sns", "black_list_delete", Sns, Normal, sns::black_list_delete),
        route!("sns", "black_list_get", Sns, Normal, sns::black_list_get),
        route!("sns", "black_list_check", Sns, Normal, sns::black_list_check),
        route!("sns", "group_add", Sns, Normal, sns::group_add),
        route!("sns", "group_delete", Sns, Normal, sns::group_delete),
        route!("sns", "group_get", Sns, Normal, sns::group_get),
        route!("openconfigsvr", "setnospeaking", Config, Normal, account::setnospeaking),
        route!("openconfigsvr", "getnospeaking", Config, Normal, account::getnospeaking),
        route!("openconfigsvr", "getappinfo", Config, Normal, crate::stats::rest::getappinfo),
        // parley extensions: the console's figures and UserSig generator.
        route!("parley_stats", "overview", Config, Normal, crate::stats::rest::overview),
        route!("parley_usersig", "generate", Config, Normal, crate::auth::rest::generate),
        route!("parley_settings", "get", Config, Normal, crate::settings::rest::get),
        route!("parley_settings", "set_multi_device", Config, Normal, crate::settings::rest::set_multi_device),
        route!("parley_settings", "set", Config, Normal, crate::settings::rest::set),
        route!("parley_devices", "list", Config, Normal, crate::presence::rest::list_devices),
        route!("group_open_http_svc", "create_group", Group, Normal, group::create_group),
        route!("group_open_http_svc", "get_group_info", Group, Normal, group::get_group_info),
        route!("group_open_http_svc", "get_group_member_info", Group, Normal, group::get_group_member_info),
        route!("group_open_http_svc", "modify_group_base_info", Group, Normal, group::modify_group_base_info),
        route!("group_open_http_svc", "add_group_member", Group, Normal, group::add_group_member),
        route!("group_open_http_svc", "delete_group_member", Group, Normal, group::delete_group_member),
        route!("group_open_http_svc", "modify_group_member_info", Group, Normal, group::modify_group_member_info),
        route!("group_open_http_svc", "destroy_group", Group, Normal, group::destroy_group),
        route!("group_open_http_svc", "change_group_owner", Group, Normal, group::change_group_owner),
        route!("group_open_http_svc", "forbid_send_msg", Group, Normal, group::forbid_send_msg),
        route!("group_open_http_svc", "get_group_muted_account", Group, Normal, group::get_group_muted_account),
        route!("group_open_http_svc", "get_group_shutted_uin", Group, Normal, group::get_group_shutted_uin),
        route!("group_open_http_svc", "get_role_in_group", Group, Normal, group::get_role_in_group),
        route!("group_open_http_svc", "send_group_msg", Group, Normal, group::send_group_msg),
        route!(
            "group_open_http_svc",
            "send_group_system_notification",
            Group,
            Normal,
            group::send_group_system_notification
        ),
        route!("group_open_http_svc", "group_msg_recall", Group, Normal, group::group_msg_recall),
        route!("group_open_http_svc", "group_msg_get_simple", Group, Normal, group::group_msg_get_simple),
        route!("group_open_http_svc", "get_joined_group_list", Group, Normal, group::get_joined_group_list),
        route!("group_open_http_svc", "get_appid_group_list", Group, Normal, group::get_appid_group_list),
        route!("group_open_http_svc", "get_online_member_num", Group, Normal, group::get_online_member_num),
        route!("group_open_http_svc", "delete_group_msg_by_sender", Group, Normal, group::delete_group_msg_by_sender),
        route!("group_open_http_svc", "import_group", Group, Normal, group::import_group),
        route!("group_open_http_svc", "import_group_member", Group, Normal, group::import_group_member),
        route!("group_open_http_svc", "import_group_msg", Group, Normal, group::import_group_msg),
        route!("group_open_http_svc", "set_unread_msg_num", Group, Normal, group::set_unread_msg_num),
        route!("group_open_attr_http_svc", "get_group_attr", Group, Normal, group::get_group_attr),
        route!("group_open_http_svc", "get_group_attr", Group, Normal, group::get_group_attr),
        route!("group_open_http_svc", "modify_group_attr", Group, Normal, group::modify_group_attr),
        route!("group_open_http_svc", "set_group_attr", Group, Normal, group::set_group_attr),
        route!("group_open_http_svc", "clear_group_attr", Group, Normal, group::clear_group_attr),
        route!("group_open_http_svc", "ban_group_member", Group, Normal, group::ban_group_member),
        route!("group_open_http_svc", "unban_group_member", Group, Normal, group::unban_group_member),
        route!("group_open_http_svc", "get_group_ban_member", Group, Normal, group::get_group_ban_member),
        route!("group_open_avchatroom_http_svc", "get_members", Group, Normal, group::get_members),
        route!("openim", "modify_group_msg", OpenIm, Normal, group::modify_group_msg),
        route!("million_group_open_http_svc", "create_topic", Group, Normal, group::create_topic),
        route!("million_group_open_http_svc", "get_topic", Group, Normal, group::get_topic),
        route!("million_group_open_http_svc", "modify_topic", Group, Normal, group::modify_topic),
        route!("million_group_open_http_svc", "destroy_topic", Group, Normal, group::destroy_topic),
        route!("group_open_http_svc", "import_topic", Group, Normal, group::import_topic),
        route!("group_open_http_svc", "apply_join_group", Group, Normal, group::apply_join_group),
        route!("group_open_http_svc", "quit_group", Group, Normal, group::quit_group),
        route!("group_open_http_svc", "handle_join_request", Group, Normal, group::handle_join_request),
        route!("group_open_http_svc", "get_group_pendency", Group, Normal, group::get_group_pendency),
        route!("group_open_http_svc", "group_msg_read", Group, Normal, group::group_msg_read),
        route!("parley_group", "search", Group, Normal, group::search_groups),
    ]
}

/// Commands only the app admin (REST) may call: migration and app-wide listings.
const ADMIN_ONLY: [&str; 12] = [
    "send_group_system_notification",
    "import_topic",
    "friend_import",
    "get_appid_group_list",
    "get_group_shutted_uin",
    "delete_group_msg_by_sender",
    "import_group",
    "import_group_member",
    "import_group_msg",
    "set_unread_msg_num",
    "get_members",
    "modify_group_msg",
];

/// The commands a logged-in user may also send over WebSocket, as `service/command`: their
/// own profile, relationship chain and groups, with their own rights.
pub fn user_routes() -> HashMap<String, Route> {
    routes()
        .into_iter()
        .filter(|r| matches!(r.family, Family::Profile | Family::Sns | Family::Group))
        .filter(|r| !ADMIN_ONLY.contains(&r.command))
        .map(|r| (format!("{}/{}", r.service, r.command), r))
        .collect()
}

/// The routing table, keyed by `service/command`.
pub struct Router {
    routes: HashMap<(&'static str, &'static str), Route>,
}

impl Router {
    pub fn new() -> Router {
        Router { routes: routes().into_iter().map(|r| ((r.service, r.command), r)).collect() }
    }
}

impl Default for Router {
    fn default() -> Self {
        Router::new()
    }
}

fn envelope(result: Result<Reply, Failure>, family: Option<Family>) -> HttpResponse {
    let mut body = match result {
        Ok(fields) => {
            let mut out = Map::new();
            out.insert("ActionStatus".into(), json!("OK"));
            out.insert("ErrorInfo".into(), json!(""));
            out.insert("ErrorCode".into(), json!(0));
            out.extend(fields);
            out
        }
        Err(f) => {
            let mut out = Map::new();
            out.insert("ActionStatus".into(), json!("FAIL"));
            out.insert("ErrorInfo".into(), json!(f.info));
            out.insert("ErrorCode".into(), json!(f.code));
            out
        }
    };
    if family.is_some_and(Family::has_error_display) {
        body.entry("ErrorDisplay").or_insert(json!(""));
    }
    let body = Value::Object(body);
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .body(body.to_string())
}

/// `POST /v4/{service}/{command}`.
pub async fn dispatch(
    app: web::Data<App>,
    router: web::Data<Router>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let app = app.into_inner();
    crate::stats::Metrics::add(&app.metrics.rest_requests, 1);
    let (service, command) = path.into_inner();
    let Some(route) = router.routes.get(&(service.as_str(), command.as_str())) else {
        return envelope(Err(Failure::new(60009, format!("unknown command {service}/{command}"))), None);
    };
    let result = async {
        let identifier = authenticate(&app, &request, route.family).await?;
        if !app.rest_limits.allow_in(app.cluster.as_deref(), route.rate).await {
            crate::stats::Metrics::add(&app.metrics.rest_rate_limited, 1);
            return Err(Failure::new(60007, "REST call rate exceeded"));
        }
        let body = parse_body(&read_body(payload).await?, route.family)?;
        tracing::debug!(service = route.service, command = route.command, "rest call");
        let client_ip = request.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
        let origin = crate::webhook::Origin::rest(&client_ip);
        let call = Call { identifier, body, access: crate::config::Access::Admin, session: None, origin };
        (route.handler)(app.clone(), call).await
    }
    .await;
    if let Err(f) = &result {
        tracing::info!(service, command, code = f.code, info = %f.info, "rest call failed");
    }
    envelope(result, Some(route.family))
}

/// The largest request body read (batch imports of 100 accounts or 500 recipients fit easily).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The body as a request: many backends send no Content-Type, or a wrong one, so it is read as
/// JSON regardless; only a JSON object is a request. (Public for the fuzz targets.)
pub fn parse_body(body: &[u8], family: Family) -> Result<Value, Failure> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|_| Failure::new(family.bad_json_code(), "Fail to Parse json data of body, Please check it"))?;
    if !body.is_object() {
        return Err(Failure::new(family.bad_json_code(), "body must be a JSON object"));
    }
    Ok(body)
}

/// Reads the body, refusing (with the envelope, as Tencent answers everything) past the limit.
pub async fn read_body(mut payload: web::Payload) -> Result<web::BytesMut, Failure> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| Failure::new(60008, format!("malformed HTTP request: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Failure::new(93000, format!("request body exceeds {MAX_BODY_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Checks `sdkappid`, `identifier` and `usersig` and that the identifier is an app admin.
async fn authenticate(app: &App, request: &HttpRequest, family: Family) -> Result<String, Failure> {
    let query = web::Query::<HashMap<String, String>>::from_query(request.query_string())
        .map_err(|_| Failure::new(60002, "malformed query string"))?;
    let sdkappid = query.get("sdkappid").ok_or_else(|| Failure::new(60012, "sdkappid is missing"))?;
    if sdkappid.parse::<u64>().ok() != Some(app.auth.sdkappid) {
        return Err(Failure::new(60006, "invalid SDKAppID"));
    }
    let identifier = query.get("identifier").ok_or_else(|| Failure::new(60004, "identifier is missing"))?;
    let usersig = query.get("usersig").map(String::as_str).unwrap_or("");
    let ticket = app.auth.verify_from(usersig, identifier, request.peer_addr().map(|a| a.ip()))?;
    if !app.auth.is_admin(identifier) {
        return Err(Failure::new(family.not_admin_code(), "identifier must be an app admin"));
    }
    if !app.accounts.sig_still_valid(identifier, ticket.time).await.map_err(Failure::from)? {
        return Err(crate::auth::UserSigError::Revoked.into());
    }
    Ok(identifier.clone())
}
