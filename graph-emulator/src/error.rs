//! Graph's error envelope and the headers every Graph response carries.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Content type Graph sends with JSON bodies.
pub(crate) const GRAPH_CONTENT_TYPE: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

const WWW_AUTHENTICATE: &str = "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"";

/// A Graph error: HTTP status plus the `code` and `message` of the envelope.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub(crate) struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ErrorInvalidParameter", message)
    }

    pub fn inefficient_filter() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InefficientFilter",
            "The restriction or sort order is too complex for this operation.",
        )
    }

    pub fn item_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store., The process failed to get the correct properties.",
        )
    }

    pub fn invalid_user(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ErrorInvalidUser",
            format!("The requested user '{id}' is invalid."),
        )
    }

    pub fn malformed_id() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidIdMalformed",
            "Id is malformed.",
        )
    }

    pub fn folder_exists() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ErrorFolderExists",
            "A folder with the specified name already exists.",
        )
    }

    pub fn access_denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }

    pub fn rest_disabled() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    }

    /// Exchange's per-folder item limit; the code is the emulator's choice.
    pub fn quota_exceeded() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ErrorQuotaExceeded",
            "The folder has reached its item limit.",
        )
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    pub fn segment_not_found(segment: &str) -> Self {
        let segment: String = segment.chars().take(100).collect();
        Self::bad_request(format!("Resource not found for the segment '{segment}'."))
    }

    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "BadRequest",
            format!("The HTTP method '{method}' is not supported for this resource."),
        )
    }

    pub fn invalid_json() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    }
}

/// Per-request facts that shape the response.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub request_id: String,
    pub client_request_id: String,
    /// The request asked for `Prefer: IdType="ImmutableId"`.
    pub immutable: bool,
    /// Where links in the answer point: `scheme://host[:port]` of the address the request was
    /// sent to (see [`crate::EmulatorConfig::graph_public_base`]), without a trailing slash.
    pub base: String,
    /// The same for the identity endpoints' documents (discovery, instance discovery), which
    /// never use a configured Graph base.
    pub login_base: String,
}

impl Ctx {
    pub fn json(&self, status: StatusCode, body: Value) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(GRAPH_CONTENT_TYPE),
        );
        self.common_headers(&mut headers);
        (status, headers, body.to_string()).into_response()
    }

    /// A plain-text answer (`/$count`).
    pub fn text(&self, status: StatusCode, body: String) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        self.common_headers(&mut headers);
        (status, headers, body).into_response()
    }

    pub fn empty(&self, status: StatusCode) -> Response {
        let mut headers = HeaderMap::new();
        self.common_headers(&mut headers);
        (status, headers).into_response()
    }

    pub fn error(&self, err: &GraphError) -> Response {
        let body = json!({"error": {
            "code": err.code,
            "message": err.message,
            "innerError": {
                "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": self.request_id,
                "client-request-id": self.client_request_id,
            }
        }});
        let mut response = self.json(err.status, body);
        if err.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(WWW_AUTHENTICATE),
            );
        }
        response
    }

    fn common_headers(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            ("request-id", &self.request_id),
            ("client-request-id", &self.client_request_id),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
        if self.immutable {
            headers.insert(
                "preference-applied",
                HeaderValue::from_static("IdType=\"ImmutableId\""),
            );
        }
    }
}
