//! OpenID Connect around the identity endpoints, as Entra ID serves it: the discovery document
//! (`/{tenant}/v2.0/.well-known/openid-configuration`), the signing keys it names
//! (`/{tenant}/discovery/v2.0/keys`), MSAL's instance discovery
//! (`/common/discovery/instance`), and the RS256 key that signs id_tokens.
//!
//! Endpoints in these documents are built from the address the request was sent to (see
//! [`crate::EmulatorConfig::graph_public_base`]); the issuer is always Entra's public one,
//! `https://login.microsoftonline.com/{tenant id}/v2.0`, the `iss` of every id_token.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Entra's issuer host; id_tokens name it whatever address the emulator was called at.
const ISSUER_HOST: &str = "https://login.microsoftonline.com";
/// The tenant id of personal Microsoft accounts (`consumers`).
const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

struct Key {
    signing: SigningKey<Sha256>,
    public: RsaPublicKey,
    kid: String,
}

/// One key pair per process, made on first use: nothing secret is stored anywhere, and a
/// client verifies id_tokens with the public half from the JWKS.
fn key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
            .expect("generating an RSA key cannot fail for 2048 bits");
        let public = private.to_public_key();
        // Like Entra's: 27 characters of base64url, stable for the key.
        let digest = Sha256::digest(public.n().to_bytes_be());
        let kid = URL_SAFE_NO_PAD.encode(&digest[..20]);
        Key {
            signing: SigningKey::<Sha256>::new(private),
            public,
            kid,
        }
    })
}

/// Makes the key now, so that the first sign-in does not wait for it (with the state lock
/// held); called in the background when the emulator starts.
pub(crate) fn warm() {
    key();
}

/// A JWT signed with RS256 by the emulator's key, its `kid` in the header.
pub(crate) fn sign_jwt(payload: &Value) -> String {
    let key = key();
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": key.kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let signature = key.signing.sign(input.as_bytes()).to_vec();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The tenant as the endpoints of its discovery document name it: the multi-tenant names as
/// they are, anything else by tenant id.
fn tenant_segment(tenant: &str) -> String {
    let lower = tenant.to_ascii_lowercase();
    match lower.as_str() {
        "common" | "organizations" | "consumers" => lower,
        _ => crate::ids::tenant_id(tenant),
    }
}

/// The issuer for a tenant: Entra's literal `{tenantid}` template for the multi-tenant names.
pub(crate) fn issuer(tenant: &str) -> String {
    let id = match tenant.to_ascii_lowercase().as_str() {
        "common" | "organizations" => "{tenantid}".to_string(),
        "consumers" => CONSUMERS_TENANT_ID.to_string(),
        _ => crate::ids::tenant_id(tenant),
    };
    format!("{ISSUER_HOST}/{id}/v2.0")
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400, private"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    (status, headers, body.to_string()).into_response()
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`, with the fields Entra's has.
pub(crate) fn discovery(tenant: &str, base: &str) -> Response {
    let t = tenant_segment(tenant);
    let at = |path: &str| format!("{base}/{t}/{path}");
    let body = json!({
        "token_endpoint": at("oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": at("discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer(tenant),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": at("oauth2/v2.0/authorize"),
        "device_authorization_endpoint": at("oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": at("oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": at("kerberos"),
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    json_response(StatusCode::OK, &body)
}

/// `GET /{tenant}/discovery/v2.0/keys`: the public key that verifies id_tokens.
pub(crate) fn keys(tenant: &str) -> Response {
    let key = key();
    let body = json!({"keys": [{
        "kty": "RSA",
        "use": "sig",
        "kid": key.kid,
        "n": URL_SAFE_NO_PAD.encode(key.public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.public.e().to_bytes_be()),
        "issuer": issuer(tenant),
    }]});
    json_response(StatusCode::OK, &body)
}

/// The authority host groups of Microsoft's public clouds, as instance discovery lists them.
const CLOUDS: &[(&str, &str, &[&str])] = &[
    (
        "login.microsoftonline.com",
        "login.windows.net",
        &[
            "login.microsoftonline.com",
            "login.windows.net",
            "login.microsoft.com",
            "sts.windows.net",
        ],
    ),
    (
        "login.partner.microsoftonline.cn",
        "login.partner.microsoftonline.cn",
        &["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
    ),
    (
        "login.microsoftonline.us",
        "login.microsoftonline.us",
        &["login.microsoftonline.us", "login.usgovcloudapi.net"],
    ),
    (
        "login-us.microsoftonline.com",
        "login-us.microsoftonline.com",
        &["login-us.microsoftonline.com"],
    ),
];

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=...`, which MSAL
/// calls to validate an authority and to learn which hosts share a token cache.
pub(crate) fn instance(query: Option<&str>, base: &str) -> Response {
    let q: HashMap<String, String> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let error = |code: u32, error: &str, text: &str| {
        json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": error, "error_description": format!("AADSTS{code}: {text}"),
                "error_codes": [code]}),
        )
    };
    let Some(endpoint) = q.get("authorization_endpoint").filter(|e| !e.is_empty()) else {
        return error(
            90014,
            "invalid_request",
            "The required field 'authorization_endpoint' is missing from the request.",
        );
    };
    let Ok(url) = url::Url::parse(endpoint) else {
        return error(50049, "invalid_instance", "Unknown or invalid instance.");
    };
    let own_host = url::Url::parse(base)
        .ok()
        .and_then(|b| b.host_str().map(str::to_ascii_lowercase));
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let known = CLOUDS
        .iter()
        .any(|(_, _, aliases)| aliases.contains(&host.as_str()));
    if !known && own_host.as_deref() != Some(host.as_str()) {
        return error(50049, "invalid_instance", "Unknown or invalid instance.");
    }
    let tenant = url
        .path_segments()
        .and_then(|mut s| s.next())
        .filter(|t| !t.is_empty())
        .unwrap_or("common")
        .to_string();
    let version = if url.path().contains("/v2.0/") {
        "v2.0/"
    } else {
        ""
    };
    let mut metadata: Vec<Value> = CLOUDS
        .iter()
        .map(|(network, cache, aliases)| {
            json!({"preferred_network": network, "preferred_cache": cache, "aliases": aliases})
        })
        .collect();
    if !known {
        metadata
            .push(json!({"preferred_network": host, "preferred_cache": host, "aliases": [host]}));
    }
    let body = json!({
        "tenant_discovery_endpoint": format!("{base}/{tenant}/{version}.well-known/openid-configuration"),
        "api-version": q.get("api-version").map_or("1.1", String::as_str),
        "metadata": metadata,
    });
    json_response(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;

    #[test]
    fn jwts_verify_with_the_published_key() {
        let jwt = sign_jwt(&json!({"sub": "x"}));
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], key().kid);
        let verifying = VerifyingKey::<Sha256>::new(key().public.clone());
        let signature =
            Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().as_slice()).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(verifying.verify(input.as_bytes(), &signature).is_ok());
        assert!(verifying.verify(b"something else", &signature).is_err());
    }

    #[test]
    fn issuers_follow_entra() {
        assert_eq!(
            issuer("common"),
            "https://login.microsoftonline.com/{tenantid}/v2.0"
        );
        assert_eq!(
            issuer(crate::DEMO_TENANT_ID),
            format!(
                "https://login.microsoftonline.com/{}/v2.0",
                crate::DEMO_TENANT_ID
            )
        );
        assert_eq!(
            issuer("consumers"),
            "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
        );
    }
}
