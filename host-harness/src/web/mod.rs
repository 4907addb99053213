//! The host's web side: the OAuth redirect endpoint (`setup sign-in` waits
//! on it once; `serve --listen` keeps it up) and, under `serve --listen`,
//! the web page (setup, email-logging policy, contacts with their entries,
//! job queue), served on
//! this machine only and protected by a random token.

mod pages;

use crate::erp::Erp;
use anyhow::Context as _;
use axum::extract::{Query, RawQuery, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// Whether a redirect URL points at this machine, so the host can receive it.
pub fn is_local(redirect: &Url) -> bool {
    redirect.scheme() == "http"
        && matches!(
            redirect.host_str(),
            Some("localhost" | "127.0.0.1" | "[::1]")
        )
}

/// Waits for one browser redirect to `redirect` and returns its query string.
///
/// Listens on the redirect URL's port on loopback; any other path gets 404.
pub async fn wait_for_redirect(redirect: &Url, timeout: Duration) -> anyhow::Result<String> {
    let port = redirect
        .port_or_known_default()
        .context("the redirect URL has no port")?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| {
            format!("cannot listen on port {port} of this machine for the sign-in redirect")
        })?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(1);
    let path = redirect.path().to_string();
    let app = axum::Router::new().route(
        &path,
        get(move |RawQuery(q): RawQuery| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(q.unwrap_or_default()).await;
                Html("<!doctype html><title>Email Logging</title><p>Sign-in received. You can close this window and return to the terminal.</p>")
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let got = tokio::time::timeout(timeout, rx.recv()).await;
    server.abort();
    match got {
        Ok(Some(q)) => Ok(q),
        _ => anyhow::bail!(
            "no sign-in arrived within {} s; start the sign-in again",
            timeout.as_secs()
        ),
    }
}

/// Shared state of the web endpoints.
struct Web {
    erp: Arc<Erp>,
    /// Sign-ins under way: OAuth `state` → company.
    pending: Mutex<HashMap<String, i64>>,
    /// The token that opens the page.
    token: String,
}

/// The cookie that carries the token after the first visit.
const COOKIE: &str = "email_logging_token";

/// A new random token for the web page (256 bits, URL-safe).
pub fn new_token() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The web page and the sign-in routes. Everything but the OAuth callback
/// (protected by the sign-in's `state`) needs the token: as `?token=` once,
/// then as a cookie. `GET /email-logging/sign-in?company=NAME[&account=UPN]`
/// sends the browser to Entra ID; `GET {redirect path}` completes it.
pub fn router(erp: Arc<Erp>, redirect_path: &str, token: &str) -> axum::Router {
    let web = Arc::new(Web {
        erp,
        pending: Mutex::new(HashMap::new()),
        token: token.to_string(),
    });
    let protected = axum::Router::new()
        .route("/", get(pages::home))
        .route("/c/{company}", get(pages::company))
        .route(
            "/c/{company}/setup",
            get(pages::setup).post(pages::save_setup),
        )
        .route("/c/{company}/setup/validate", post(pages::validate))
        .route("/c/{company}/setup/enable", post(pages::enable))
        .route("/c/{company}/setup/disable", post(pages::disable))
        .route(
            "/c/{company}/policy",
            get(pages::policy).post(pages::save_policy),
        )
        .route("/c/{company}/contacts", get(pages::contacts))
        .route("/c/{company}/contacts/{no}", get(pages::contact))
        .route(
            "/c/{company}/entries/{entry}/opportunity",
            post(pages::create_opportunity),
        )
        .route("/c/{company}/jobs", get(pages::jobs))
        .route("/c/{company}/jobs/run", post(pages::run_now))
        .route("/email-logging/sign-in", get(start))
        .route_layer(middleware::from_fn_with_state(web.clone(), guard));
    let policy = content_security_policy(&web.erp);
    axum::Router::new()
        .merge(protected)
        .route(redirect_path, get(callback))
        .layer(middleware::from_fn(move |req, next| {
            security_headers(policy.clone(), req, next)
        }))
        .with_state(web)
}

/// What the pages may load and where their forms may go: nothing but their
/// own inline style, forms to this host, and the sign-in form to Entra ID
/// (the emulator's sign-in page when it stands in for Microsoft), which the
/// browser reaches by redirect. No scripts at all.
fn content_security_policy(erp: &Erp) -> HeaderValue {
    let login = Url::parse(&erp.browser_url("https://login.microsoftonline.com/"))
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| "https://login.microsoftonline.com".into());
    HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self' {login}; frame-ancestors 'none'; base-uri 'none'"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"))
}

/// Headers on every answer: no referrer to other sites (addresses carry
/// contact numbers; `no-referrer` would also blank the `Origin` of the
/// page's own form posts, which the guard checks), no framing
/// (clickjacking), no content sniffing, the policy above.
async fn security_headers(policy: HeaderValue, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, policy);
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Whether a `Host` header names this machine by a loopback name. The page
/// listens on loopback only, so any other name is a page of another site
/// whose DNS name was pointed at 127.0.0.1 (DNS rebinding).
fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The address without its `token` parameter, for the redirect that takes
/// the token out of the address bar and the history.
fn without_token(uri: &axum::http::Uri) -> String {
    let rest: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .filter(|(k, _)| k != "token")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    if rest.is_empty() {
        return uri.path().to_string();
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(rest)
        .finish();
    format!("{}?{query}", uri.path())
}

/// Compares without an early exit, so timing says nothing about the token.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Lets in requests that carry the token; refuses cross-site form posts
/// and requests for another host name.
async fn guard(State(web): State<Arc<Web>>, req: Request, next: Next) -> Response {
    let host_ok = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(is_loopback_host);
    if !host_ok {
        return page(
            StatusCode::MISDIRECTED_REQUEST,
            "This page answers only to this machine's own address (127.0.0.1, [::1] or localhost).",
        );
    }
    let from_query = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    let from_cookie = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string());
    let by_query = from_query.is_some_and(|t| same(&t, &web.token));
    let by_cookie = from_cookie.is_some_and(|t| same(&t, &web.token));
    if !by_query && !by_cookie {
        return page(
            StatusCode::UNAUTHORIZED,
            "This page needs its token: open the address that `email-logging-host serve` printed.",
        );
    }
    let method = req.method().clone();
    // Browsers send Origin with every form post; one from another site is
    // a forged request, whatever cookies it carries.
    if method == Method::POST {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|h| h.to_str().ok());
        if let (Some(origin), Some(host)) = (origin, host)
            && origin != format!("http://{host}")
        {
            return page(
                StatusCode::FORBIDDEN,
                "This form was sent from another site.",
            );
        }
    }
    let cookie = HeaderValue::from_str(&format!(
        "{COOKIE}={}; HttpOnly; SameSite=Lax; Path=/",
        web.token
    ));
    // The token leaves the address bar (and history) once it is a cookie,
    // on every page it opens, not only the first; an answer that sends the
    // browser on anyway (the sign-in) keeps it out of the address bar too.
    let clean = without_token(req.uri());
    let mut resp = next.run(req).await;
    if by_query && method == Method::GET && !resp.status().is_redirection() {
        resp = Redirect::to(&clean).into_response();
    }
    if by_query
        && !by_cookie
        && let Ok(cookie) = cookie
    {
        resp.headers_mut().append(header::SET_COOKIE, cookie);
    }
    resp
}

fn page(status: StatusCode, text: &str) -> Response {
    pages::message(status, text)
}

async fn start(State(web): State<Arc<Web>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(name) = q.get("company") else {
        return page(
            StatusCode::BAD_REQUEST,
            "Say which company signs in: ?company=NAME",
        );
    };
    let company = match web.erp.find_company(name) {
        Ok(Some(c)) => c,
        Ok(None) => {
            return page(
                StatusCode::NOT_FOUND,
                &format!("There is no company {name}."),
            );
        }
        Err(e) => {
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("The database failed: {e}"),
            );
        }
    };
    let url = match web
        .erp
        .runtime
        .begin_sign_in(company, q.get("account").map(String::as_str))
        .await
    {
        Ok(Ok(url)) => url,
        Ok(Err(e)) => {
            return page(
                StatusCode::BAD_REQUEST,
                &format!("{:#}", crate::erp::setup_failed(e)),
            );
        }
        Err(e) => return page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let state = Url::parse(&url).ok().and_then(|u| {
        u.query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
    });
    if let Some(state) = state {
        web.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(state, company);
    }
    Redirect::to(&web.erp.browser_url(&url)).into_response()
}

async fn callback(State(web): State<Arc<Web>>, RawQuery(q): RawQuery) -> Response {
    let query = q.unwrap_or_default();
    let state = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let company = web
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&state);
    let Some(company) = company else {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in was not started here, or was completed already. Start it again.",
        );
    };
    match web.erp.runtime.complete_sign_in(company, &query).await {
        Ok(Ok(s)) => pages::signed_in(&web, company, s.signed_in_account.as_deref()),
        Ok(Err(e)) => page(
            StatusCode::BAD_REQUEST,
            &format!("{:#}", crate::erp::setup_failed(e)),
        ),
        Err(e) => page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_host_names_are_this_machine() {
        for ok in [
            "127.0.0.1:8480",
            "localhost:8480",
            "LOCALHOST",
            "[::1]:8480",
            "127.0.0.2",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for rebound in [
            "evil.example:8480",
            "localhost.evil.example:8480",
            "127.0.0.1.nip.io:8480",
            "10.0.0.1:8480",
            "",
        ] {
            assert!(!is_loopback_host(rebound), "{rebound}");
        }
    }

    #[test]
    fn the_token_leaves_every_address() {
        let uri: axum::http::Uri = "/c/CRONUS/contacts/CT1?token=abc&search=x%20y"
            .parse()
            .unwrap();
        assert_eq!(without_token(&uri), "/c/CRONUS/contacts/CT1?search=x+y");
        let uri: axum::http::Uri = "/c/CRONUS/jobs?token=abc".parse().unwrap();
        assert_eq!(without_token(&uri), "/c/CRONUS/jobs");
    }
}
