//! REST `open_msg_svc/get_history` and the download of the files it links to.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{ArchiveError, Chat};
use crate::app::App;
use crate::failure::Failure;
use crate::fields::Fields;
use crate::rest::{Call, Reply};

pub async fn get_history(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let bad = |e: crate::fields::FieldError| ArchiveError::BadParam(e.to_string());
    let chat_name = f.str("ChatType").map_err(bad)?;
    let chat = Chat::parse(chat_name)
        .ok_or_else(|| ArchiveError::BadParam(format!("ChatType {chat_name:?}: C2C or Group")))?;
    let hour = f.str("MsgTime").map_err(bad)?;
    let start =
        super::parse_hour(hour).ok_or_else(|| ArchiveError::BadParam(format!("MsgTime {hour:?}: YYYYMMDDHH")))?;
    let now = crate::now_secs();
    if start + 3600 > now {
        return Err(ArchiveError::NotReady.into());
    }
    if start + 3600 + super::KEPT_SECS <= now {
        return Err(ArchiveError::Expired.into());
    }
    let summary = app.archives.archive(chat, start).await?;
    if summary.messages == 0 {
        return Err(ArchiveError::NotReady.into());
    }
    let expires = now + super::LINK_SECS;
    let signature = super::sign_link(&app.link_key, chat, hour, expires);
    let base = app.public_url.get().map_or("", String::as_str);
    let url = format!("{base}/archive/{}/{hour}.json.gz?expires={expires}&sign={signature}", chat.name());
    let file = json!({
        "URL": url,
        "ExpireTime": super::date_time(expires),
        "FileSize": summary.file_size,
        "FileMD5": summary.file_md5,
        "GzipSize": summary.gzip_size,
        "GzipMD5": summary.gzip_md5,
    });
    let mut reply = Reply::new();
    reply.insert("File".into(), json!([file]));
    Ok(reply)
}

#[derive(serde::Deserialize)]
pub struct LinkQuery {
    expires: i64,
    sign: String,
}

/// `GET /archive/{chat}/{hour}.json.gz?expires=…&sign=…`: a link `get_history` handed out.
pub async fn download(
    app: web::Data<App>,
    path: web::Path<(String, String)>,
    query: Option<web::Query<LinkQuery>>,
) -> HttpResponse {
    let (chat_name, file) = path.into_inner();
    let hour = file.strip_suffix(".json.gz").unwrap_or_default();
    let (Some(chat), Some(query)) = (Chat::parse(&chat_name), query) else {
        return HttpResponse::NotFound().finish();
    };
    let Some(start) = super::parse_hour(hour) else {
        return HttpResponse::Forbidden().body("invalid or expired link");
    };
    if !super::link_valid(&app.link_key, chat, hour, query.expires, &query.sign) {
        return HttpResponse::Forbidden().body("invalid or expired link");
    }
    let path = app.archives.gzip_path(chat, hour);
    if tokio::fs::metadata(&path).await.is_err() {
        // Made by another node of a cluster (each keeps its own data dir): built here, from the
        // database, the same way.
        if let Err(e) = app.archives.archive(chat, start).await {
            tracing::warn!(error = %e, "archive not built for a download");
        }
    }
    // Sent as it is read, a chunk at a time (an hour's file can be large). The open file is the
    // one sent even if the hour is made again meanwhile.
    let Ok(file) = tokio::fs::File::open(&path).await else {
        return HttpResponse::NotFound().finish();
    };
    let Ok(meta) = file.metadata().await else {
        return HttpResponse::NotFound().finish();
    };
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt;
        let mut file = file?;
        let mut chunk = vec![0; DOWNLOAD_CHUNK];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok(bytes::Bytes::from(chunk)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    HttpResponse::Ok().content_type("application/gzip").body(actix_web::body::SizedStream::new(meta.len(), chunks))
}

/// How much of an archive file is read and sent at a time.
const DOWNLOAD_CHUNK: usize = 16 * 1024;
