//! Entra ID token and authorize endpoints over real HTTP.

mod common;

use common::{aad_error, env, pkce, start};
use graph_emulator::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, DEMO_USER_2, EmulatorConfig,
};
use serde_json::Value;

fn claims(id_token: &str) -> Value {
    use base64::Engine;
    let payload = id_token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn code_flow_with_pkce_issues_tokens() {
    let env = env(1).await;
    let (code, location) = env.authorize(&[]).await;
    assert!(location.starts_with(DEMO_REDIRECT_URI), "{location}");
    assert!(location.contains("state=st-42"), "{location}");
    assert!(!code.is_empty());
    let r = env.redeem(&code, &pkce().0).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store, no-cache");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert!(v["access_token"].as_str().unwrap().len() >= 43);
    assert!(v["refresh_token"].is_string());
    let c = claims(v["id_token"].as_str().unwrap());
    assert_eq!(c["preferred_username"], graph_emulator::DEMO_USER);
    assert_eq!(c["aud"], DEMO_CLIENT_ID);
}

/// OpenID Connect clients send a `nonce` to /authorize and require the id_token to echo it.
#[tokio::test]
async fn the_authorize_nonce_is_echoed_in_the_id_token() {
    let env = env(1).await;
    let (code, _) = env.authorize(&[("nonce", "n-0S6_WzA2Mj")]).await;
    let v: Value = env.redeem(&code, &pkce().0).await.json().await.unwrap();
    let c = claims(v["id_token"].as_str().unwrap());
    assert_eq!(c["nonce"], "n-0S6_WzA2Mj");
    // Without a nonce there is none; a refreshed id_token has none either.
    let (code, _) = env.authorize(&[]).await;
    let v: Value = env.redeem(&code, &pkce().0).await.json().await.unwrap();
    assert!(
        claims(v["id_token"].as_str().unwrap())
            .get("nonce")
            .is_none()
    );
    let rt = v["refresh_token"].as_str().unwrap();
    let v: Value = env.refresh(rt).await.json().await.unwrap();
    assert!(
        claims(v["id_token"].as_str().unwrap())
            .get("nonce")
            .is_none()
    );
}

#[tokio::test]
async fn login_hint_selects_the_user_and_me_is_their_mailbox() {
    let env = env(1).await;
    let (code, _) = env.authorize(&[("login_hint", DEMO_USER_2)]).await;
    let v: Value = env.redeem(&code, &pkce().0).await.json().await.unwrap();
    assert_eq!(
        claims(v["id_token"].as_str().unwrap())["preferred_username"],
        DEMO_USER_2
    );
    let token = v["access_token"].as_str().unwrap();
    let (status, body) = env
        .get_json(&env.url("/v1.0/me/mailFolders/inbox"), token, false)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["displayName"], "Inbox");
    let (_, location) = env
        .authorize(&[("login_hint", "nobody@else.example")])
        .await;
    assert!(location.contains("error=access_denied"), "{location}");
}

#[tokio::test]
async fn wrong_verifier_is_rejected() {
    let env = env(1).await;
    let (code, _) = env.authorize(&[]).await;
    let (status, error, desc) = aad_error(env.redeem(&code, "not-the-verifier").await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert!(desc.starts_with("AADSTS501481:"), "{desc}");
    let (code, _) = env.authorize(&[]).await;
    let (_, _, desc) = aad_error(env.redeem(&code, "").await).await;
    assert!(desc.starts_with("AADSTS501481:"), "{desc}");
}

/// Entra burns an authorization code on a failed redemption: after a wrong verifier, redirect
/// URI, client or secret, even the right request is refused and the user must sign in again.
#[tokio::test]
async fn a_failed_redemption_burns_the_code() {
    let env = env(1).await;
    let verifier = pkce().0;
    let redeem_with = |code: String, changes: Vec<(&'static str, &'static str)>| {
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("client_id", DEMO_CLIENT_ID.to_string()),
            ("client_secret", DEMO_CLIENT_SECRET.to_string()),
            ("code", code),
            ("redirect_uri", DEMO_REDIRECT_URI.to_string()),
            ("code_verifier", verifier.clone()),
        ];
        for (k, v) in changes {
            form.retain(|(name, _)| *name != k);
            if !v.is_empty() {
                form.push((k, v.to_string()));
            }
        }
        let env = &env;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            env.token_request(&form).await
        }
    };
    for (what, changes) in [
        (
            "wrong verifier",
            vec![("code_verifier", "not-the-verifier")],
        ),
        ("no verifier", vec![("code_verifier", "")]),
        (
            "wrong redirect URI",
            vec![("redirect_uri", "http://localhost:1/elsewhere")],
        ),
        (
            "unknown client",
            vec![("client_id", "00000000-0000-0000-0000-00000000abcd")],
        ),
        ("wrong secret", vec![("client_secret", "not-the-secret")]),
    ] {
        let (code, _) = env.authorize(&[]).await;
        let r = redeem_with(code.clone(), changes).await;
        assert_ne!(r.status(), 200, "{what}");
        let (status, error, desc) = aad_error(redeem_with(code, vec![]).await).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_grant"),
            "{what}: {desc}"
        );
        assert!(desc.starts_with("AADSTS70000:"), "{what}: {desc}");
    }
    // An untouched code still works.
    let (code, _) = env.authorize(&[]).await;
    assert_eq!(redeem_with(code, vec![]).await.status(), 200);
}

#[tokio::test]
async fn code_cannot_be_redeemed_twice() {
    let env = env(1).await;
    let (code, _) = env.authorize(&[]).await;
    assert_eq!(env.redeem(&code, &pkce().0).await.status(), 200);
    let (status, error, desc) = aad_error(env.redeem(&code, &pkce().0).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert!(desc.starts_with("AADSTS54005:"), "{desc}");
}

#[tokio::test]
async fn wrong_secret_is_401_without_echoing_it() {
    let env = env(1).await;
    let r = env
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", "sup3r-s3cret-guess"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .await;
    assert_eq!(r.headers()["pragma"], "no-cache");
    let text = r.text().await.unwrap();
    assert!(!text.contains("sup3r-s3cret-guess"));
    assert!(!text.contains(DEMO_CLIENT_SECRET));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"], "invalid_client");
    assert_eq!(v["error_codes"][0], 7000215);
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215: Invalid client secret provided.")
    );
    // And the status is 401, asked separately so the body could be inspected above.
    let r = env
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", "wrong"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn unknown_client_and_unsupported_grant() {
    let env = env(1).await;
    let (status, error, desc) = aad_error(
        env.token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "00000000-1111-2222-3333-444444444444"),
            ("client_secret", "x"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .await,
    )
    .await;
    assert_eq!((status, error.as_str()), (400, "unauthorized_client"));
    assert!(desc.starts_with("AADSTS700016:"), "{desc}");
    let (status, error, _) = aad_error(
        env.token_request(&[
            ("grant_type", "password"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
        ])
        .await,
    )
    .await;
    assert_eq!((status, error.as_str()), (400, "unsupported_grant_type"));
}

#[tokio::test]
async fn refresh_rotates_and_old_tokens_stay_valid_by_default() {
    let env = env(1).await;
    let first = env.user_tokens().await;
    let rt1 = first["refresh_token"].as_str().unwrap();
    let r = env.refresh(rt1).await;
    assert_eq!(r.status(), 200);
    let second: Value = r.json().await.unwrap();
    let rt2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    assert_ne!(first["access_token"], second["access_token"]);
    assert_eq!(env.refresh(rt1).await.status(), 200, "Entra keeps old ones");
}

#[tokio::test]
async fn strict_rotation_rejects_a_redeemed_refresh_token() {
    let config = EmulatorConfig {
        strict_refresh_rotation: true,
        ..EmulatorConfig::default()
    };
    let env = start(common::inbox_seed(1), config).await;
    let rt1 = env.user_tokens().await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let second: Value = env.refresh(&rt1).await.json().await.unwrap();
    let (status, error, desc) = aad_error(env.refresh(&rt1).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert!(desc.starts_with("AADSTS70008:"), "{desc}");
    let rt2 = second["refresh_token"].as_str().unwrap();
    assert_eq!(env.refresh(rt2).await.status(), 200);
}

#[tokio::test]
async fn expired_refresh_tokens_give_700082() {
    let env = env(1).await;
    let rt = env.user_tokens().await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    env.emu.expire_refresh_tokens();
    let r = env.refresh(&rt).await;
    let text = r.text().await.unwrap();
    assert!(!text.contains(&rt), "the token must not be echoed");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"], "invalid_grant");
    assert_eq!(v["error_codes"][0], 700082);
    assert_eq!(
        v["error_uri"],
        "https://login.microsoftonline.com/error?code=700082"
    );
}

#[tokio::test]
async fn client_credentials_gives_an_app_token_for_any_mailbox() {
    let env = env(2).await;
    let r = env
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .await;
    let v: Value = r.json().await.unwrap();
    assert!(v.get("refresh_token").is_none());
    assert!(v.get("id_token").is_none());
    let token = v["access_token"].as_str().unwrap();
    let (status, body) = env
        .get_json(
            &env.mailbox_url("/mailFolders/inbox/messages"),
            token,
            false,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["value"].as_array().unwrap().len(), 2);
    let (status, _, desc) = aad_error(
        env.token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/Mail.Read"),
        ])
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(desc.starts_with("AADSTS1002012:"), "{desc}");
}

#[tokio::test]
async fn authorize_rejects_unregistered_redirect_without_redirecting() {
    let env = env(1).await;
    let r = env
        .http
        .get(env.url("/common/oauth2/v2.0/authorize"))
        .query(&[
            ("client_id", DEMO_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", "https://evil.example/steal"),
            ("state", "s"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("AADSTS50011"));

    let r = env
        .http
        .get(env.url("/common/oauth2/v2.0/authorize"))
        .query(&[("client_id", "nope"), ("response_type", "code")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS700016"));

    let (_, location) = env.authorize(&[("response_type", "token")]).await;
    assert!(
        location.contains("error=unsupported_response_type"),
        "{location}"
    );
}

#[tokio::test]
async fn admin_consent_redirects_back() {
    let env = env(1).await;
    let r = env
        .http
        .get(env.url("/contoso.example/v2.0/adminconsent"))
        .query(&[
            ("client_id", DEMO_CLIENT_ID),
            ("scope", "https://graph.microsoft.com/.default"),
            ("redirect_uri", DEMO_REDIRECT_URI),
            ("state", "xyz"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(DEMO_REDIRECT_URI));
    assert!(location.contains("admin_consent=True"));
    assert!(location.contains("tenant=contoso.example"));
    assert!(location.contains("state=xyz"));
}

/// OpenID Connect discovery as Entra serves it, its endpoints on the address the client called,
/// and id_tokens that verify with the key its JWKS publishes.
#[tokio::test]
async fn openid_discovery_and_signed_id_tokens() {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;
    use rsa::{BigUint, RsaPublicKey};
    let env = env(1).await;
    let tid = graph_emulator::DEMO_TENANT_ID;
    let get = |path: String, host: Option<&'static str>| {
        let mut r = env.http.get(env.url(&path));
        if let Some(h) = host {
            r = r.header("host", h);
        }
        async move {
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.json::<Value>().await.unwrap()
        }
    };
    let doc = get(
        format!("/{tid}/v2.0/.well-known/openid-configuration"),
        None,
    )
    .await;
    assert_eq!(
        doc["issuer"],
        format!("https://login.microsoftonline.com/{tid}/v2.0")
    );
    assert_eq!(
        doc["token_endpoint"],
        format!("{}/{tid}/oauth2/v2.0/token", env.base)
    );
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{}/{tid}/oauth2/v2.0/authorize", env.base)
    );
    assert_eq!(
        doc["jwks_uri"],
        format!("{}/{tid}/discovery/v2.0/keys", env.base)
    );
    assert_eq!(doc["id_token_signing_alg_values_supported"][0], "RS256");
    // Behind a proxy for the public authority: the public endpoints.
    let public = get(
        "/common/v2.0/.well-known/openid-configuration".into(),
        Some("login.microsoftonline.com"),
    )
    .await;
    assert_eq!(
        public["issuer"],
        "https://login.microsoftonline.com/{tenantid}/v2.0"
    );
    assert_eq!(
        public["token_endpoint"],
        "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    );

    let jwks = get(format!("/{tid}/discovery/v2.0/keys"), None).await;
    let jwk = &jwks["keys"][0];
    assert_eq!(
        (jwk["kty"].as_str(), jwk["use"].as_str()),
        (Some("RSA"), Some("sig"))
    );
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let key = RsaPublicKey::new(
        BigUint::from_bytes_be(&b64(&jwk["n"])),
        BigUint::from_bytes_be(&b64(&jwk["e"])),
    )
    .unwrap();
    let verifying = VerifyingKey::<sha2::Sha256>::new(key);
    let tokens = env.user_tokens().await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let parts: Vec<&str> = id_token.split('.').collect();
    let header: Value = serde_json::from_slice(&b64(&Value::from(parts[0]))).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], jwk["kid"]);
    let signature = Signature::try_from(b64(&Value::from(parts[2])).as_slice()).unwrap();
    let input = format!("{}.{}", parts[0], parts[1]);
    assert!(verifying.verify(input.as_bytes(), &signature).is_ok());

    // MSAL's instance discovery.
    let r = env
        .http
        .get(env.url("/common/discovery/instance"))
        .query(&[
            ("api-version", "1.1"),
            (
                "authorization_endpoint",
                "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
            ),
        ])
        .header("host", "login.microsoftonline.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["tenant_discovery_endpoint"],
        "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
    );
    assert!(
        v["metadata"][0]["aliases"]
            .as_array()
            .unwrap()
            .contains(&Value::from("login.windows.net"))
    );
    let r = env
        .http
        .get(env.url("/common/discovery/instance"))
        .query(&[(
            "authorization_endpoint",
            "https://login.evil.example/x/oauth2/v2.0/authorize",
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_instance");
}
