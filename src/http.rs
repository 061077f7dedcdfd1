//! The outgoing HTTP client every room that calls out shares the shape of (push providers, the
//! app backend's webhooks): hyper over rustls with webpki roots, http and https, HTTP/1.1 and
//! HTTP/2, keep-alive connections pooled per host.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub type Https = hyper_rustls::HttpsConnector<HttpConnector>;
pub type HttpClient = Client<Https, Full<Bytes>>;

pub fn client() -> HttpClient {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}
