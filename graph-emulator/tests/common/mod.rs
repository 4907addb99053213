//! Shared helpers for the HTTP tests: start an emulator on an ephemeral port and obtain tokens.
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use graph_emulator::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, Emulator, EmulatorConfig, Seed,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const MAILBOX: &str = "shared@contoso.example";
pub const IMMUTABLE: &str = "IdType=\"ImmutableId\"";

pub struct Env {
    pub emu: Emulator,
    pub base: String,
    pub http: reqwest::Client,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.emu.shutdown();
    }
}

pub async fn start(seed: Seed, config: EmulatorConfig) -> Env {
    let emu = Emulator::new(seed, config);
    emu.start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = emu.base_url().unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env { emu, base, http }
}

/// A mailbox whose Inbox holds `n` messages received one minute apart (oldest first).
pub fn inbox_seed(n: usize) -> Seed {
    let messages: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "internetMessageId": format!("<m{i}@test.example>"),
                "subject": format!("Message {i:02}"),
                "receivedDateTime": format!("2026-11-02T10:{i:02}:00Z"),
                "sentDateTime": format!("2026-11-02T10:{i:02}:00Z"),
                "isDraft": false,
                "from": {"emailAddress": {"address": "a@b.example"}},
                "toRecipients": [{"emailAddress": {"address": "c@d.example"}}]
            })
        })
        .collect();
    let text = json!({"mailboxes": {MAILBOX: {"folders": {"inbox": messages, "junkemail": []}}}});
    Seed::from_json(&text.to_string()).unwrap()
}

pub async fn env(n: usize) -> Env {
    start(inbox_seed(n), EmulatorConfig::default()).await
}

pub fn pkce() -> (String, String) {
    let verifier = "test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz".to_string();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn mailbox_url(&self, rest: &str) -> String {
        format!("{}/v1.0/users/{MAILBOX}{rest}", self.base)
    }

    pub async fn token_request(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/common/oauth2/v2.0/token"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn app_token(&self) -> String {
        let r = self
            .token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    /// Runs `/authorize` and returns (code, Location header).
    pub async fn authorize(&self, extra: &[(&str, &str)]) -> (String, String) {
        let (_, challenge) = pkce();
        let mut q = vec![
            ("client_id", DEMO_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", DEMO_REDIRECT_URI),
            ("response_mode", "query"),
            ("state", "st-42"),
            (
                "scope",
                "openid offline_access https://graph.microsoft.com/Mail.ReadWrite.Shared",
            ),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        q.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        q.extend_from_slice(extra);
        let r = self
            .http
            .get(self.url("/organizations/oauth2/v2.0/authorize"))
            .query(&q)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let url = url::Url::parse(&location).unwrap();
        let code = url
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        (code, location)
    }

    pub async fn redeem(&self, code: &str, verifier: &str) -> reqwest::Response {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("code", code),
            ("redirect_uri", DEMO_REDIRECT_URI),
            ("code_verifier", verifier),
        ])
        .await
    }

    /// Full delegated sign-in; returns the token response.
    pub async fn user_tokens(&self) -> Value {
        let (code, _) = self.authorize(&[]).await;
        let r = self.redeem(&code, &pkce().0).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub async fn refresh(&self, rt: &str) -> reqwest::Response {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("refresh_token", rt),
        ])
        .await
    }

    pub async fn get(&self, url: &str, token: &str, immutable: bool) -> reqwest::Response {
        let mut r = self.http.get(url).bearer_auth(token);
        if immutable {
            r = r.header(
                "Prefer",
                format!("outlook.body-content-type=\"text\", {IMMUTABLE}"),
            );
        }
        r.send().await.unwrap()
    }

    pub async fn get_json(&self, url: &str, token: &str, immutable: bool) -> (u16, Value) {
        let r = self.get(url, token, immutable).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(
        &self,
        url: &str,
        token: &str,
        immutable: bool,
        body: &Value,
    ) -> (u16, Value) {
        let mut r = self.http.post(url).bearer_auth(token).json(body);
        if immutable {
            r = r.header("Prefer", IMMUTABLE);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// Error code of an OAuth error body, plus its AADSTS description.
pub async fn aad_error(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    (
        status,
        v["error"].as_str().unwrap_or("").to_string(),
        v["error_description"].as_str().unwrap_or("").to_string(),
    )
}

pub fn graph_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}
