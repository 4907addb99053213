//! The host's small web side for signing in: the OAuth redirect endpoint
//! (`setup sign-in` waits on it once; `serve --listen` keeps it up) and a
//! page that starts a sign-in for a company.

use crate::erp::Erp;
use anyhow::Context as _;
use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
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
}

/// The sign-in routes: `GET /email-logging/sign-in?company=NAME[&account=UPN]`
/// sends the browser to Entra ID; `GET {redirect path}` completes it.
pub fn router(erp: Arc<Erp>, redirect_path: &str) -> axum::Router {
    let web = Arc::new(Web {
        erp,
        pending: Mutex::new(HashMap::new()),
    });
    axum::Router::new()
        .route("/email-logging/sign-in", get(start))
        .route(redirect_path, get(callback))
        .with_state(web)
}

fn page(status: StatusCode, text: &str) -> Response {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    (
        status,
        Html(format!(
            "<!doctype html><title>Email Logging</title><p>{escaped}</p>"
        )),
    )
        .into_response()
}

async fn start(State(web): State<Arc<Web>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(name) = q.get("company") else {
        return page(
            StatusCode::BAD_REQUEST,
            "Say which company signs in: ?company=NAME",
        );
    };
    let company = match web.erp.db.find_company(name) {
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
    Redirect::to(&url).into_response()
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
        Ok(Ok(s)) => page(
            StatusCode::OK,
            &format!(
                "Signed in{}. Email logging can now be enabled.",
                s.signed_in_account
                    .map(|a| format!(" as {a}"))
                    .unwrap_or_default()
            ),
        ),
        Ok(Err(e)) => page(
            StatusCode::BAD_REQUEST,
            &format!("{:#}", crate::erp::setup_failed(e)),
        ),
        Err(e) => page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
