//! EWS over real HTTP: Basic and Bearer sign-in with impersonation, throttling as
//! ErrorServerBusy, injected faults, latency, and malformed requests as SOAP faults.

mod common;
mod ews_support;

use std::time::Duration;

use ews_support::*;
use graph_emulator::{EmulatorConfig, FaultKind, Throttling};
use serde_json::Value;

#[tokio::test]
async fn basic_authentication_against_the_seed_accounts() {
    let env = start(EmulatorConfig::default()).await;
    let body = r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>"#;
    let (status, text) = env.agent(body).await;
    assert_eq!(status, 200, "{text}");
    let version = &Xml(text.clone()).attrs("ServerVersionInfo")[0];
    assert_eq!(version["MajorVersion"], "15");
    assert_eq!(version["Version"], "Exchange2016");
    assert!(text.contains("text") || !text.is_empty());
    // The path is case-insensitive, as IIS makes it.
    let (status, _) = env
        .raw(
            "/ews/exchange.asmx",
            Auth::Basic("AGENT@cronus.example", PASSWORD),
            envelope("", body),
        )
        .await;
    assert_eq!(status, 200);
    for auth in [
        Auth::Basic(AGENT, "wrong"),
        Auth::Basic("nobody@cronus.example", PASSWORD),
        Auth::None,
        Auth::Bearer("not-a-token"),
    ] {
        let resp = env
            .http
            .post(format!("{}/EWS/Exchange.asmx", env.base))
            .body(envelope("", body));
        let resp = match auth {
            Auth::Basic(u, p) => resp.basic_auth(u, Some(p)),
            Auth::Bearer(t) => resp.bearer_auth(t),
            Auth::None => resp,
        };
        let resp = resp.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let challenges: Vec<_> = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert!(
            challenges.iter().any(|c| c.starts_with("Basic realm=")),
            "{challenges:?}"
        );
    }
    // An account of the seed without a mailbox of its own gets an empty one.
    let (status, text) = env
        .raw(
            "/EWS/Exchange.asmx",
            Auth::Basic(OTHER, "other"),
            envelope("", &body.replace("IdOnly", "Default")),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(Xml(text).texts("TotalCount"), ["0"]);
}

#[tokio::test]
async fn bearer_tokens_with_impersonation() {
    let env = start(EmulatorConfig::default()).await;
    let token = env
        .app_token("https://outlook.office365.com/.default")
        .await;
    let body = find_item(
        r#"<t:DistinguishedFolderId Id="inbox"/>"#,
        50,
        0,
        "Ascending",
    );
    let impersonate = format!(
        "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{AGENT}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
    );
    let (status, text) = env
        .raw(
            "/EWS/Exchange.asmx",
            Auth::Bearer(&token),
            envelope(&impersonate, &body),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(Xml(text).item_ids().len(), 2);
    // App-only without impersonation is refused, as Exchange Online does.
    let (status, text) = env
        .raw(
            "/EWS/Exchange.asmx",
            Auth::Bearer(&token),
            envelope("", &body),
        )
        .await;
    assert_eq!(status, 500);
    assert!(
        text.contains("ErrorInvalidExchangeImpersonationHeaderData"),
        "{text}"
    );
    // Impersonating a mailbox that does not exist.
    let (status, text) = env
        .raw(
            "/EWS/Exchange.asmx",
            Auth::Bearer(&token),
            envelope(&impersonate.replace(AGENT, "ghost@cronus.example"), &body),
        )
        .await;
    assert_eq!(status, 500);
    assert!(text.contains("ErrorNonExistentMailbox"), "{text}");
    // Tokens are for one resource: a Graph token does not open EWS, nor an Outlook one Graph.
    let graph = env.app_token("https://graph.microsoft.com/.default").await;
    let (status, _) = env
        .raw(
            "/EWS/Exchange.asmx",
            Auth::Bearer(&graph),
            envelope(&impersonate, &body),
        )
        .await;
    assert_eq!(status, 401);
    let r = env
        .http
        .get(format!("{}/v1.0/users/{AGENT}/messages", env.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn throttling_answers_server_busy_with_a_back_off() {
    let env = start(EmulatorConfig {
        throttling: Some(Throttling {
            max_requests: 2,
            window: Duration::from_secs(30),
            ..Throttling::default()
        }),
        ..EmulatorConfig::default()
    })
    .await;
    let body = find_item(
        r#"<t:DistinguishedFolderId Id="inbox"/>"#,
        50,
        0,
        "Ascending",
    );
    assert_eq!(env.agent(&body).await.0, 200);
    assert_eq!(env.agent(&body).await.0, 200);
    let (status, text) = env.agent(&body).await;
    assert_eq!(status, 500);
    let x = Xml(text);
    assert_eq!(x.texts("ResponseCode"), ["ErrorServerBusy"]);
    assert_eq!(x.texts("faultcode"), ["a:ErrorServerBusy"]);
    let values = x.attrs("Value");
    assert_eq!(values[0]["Name"], "BackOffMilliseconds");
    let ms: u64 = x.texts("Value")[0].parse().unwrap();
    assert!(ms > 20_000 && ms <= 30_000, "{ms}");
    assert_eq!(x.attrs("ServerVersionInfo").len(), 1);
}

#[tokio::test]
async fn injected_faults_and_recorded_requests() {
    let env = start(EmulatorConfig::default()).await;
    let body = find_item(
        r#"<t:DistinguishedFolderId Id="inbox"/>"#,
        50,
        0,
        "Ascending",
    );
    env.emu.push_fault_script(&[
        Some(FaultKind::InternalError),
        Some(FaultKind::Unavailable),
        Some(FaultKind::TooManyRequests),
        None,
    ]);
    let (status, text) = env.agent(&body).await;
    assert_eq!(status, 500);
    assert!(text.contains("ErrorInternalServerError"), "{text}");
    assert_eq!(env.agent(&body).await.0, 503);
    let (status, text) = env.agent(&body).await;
    assert_eq!(status, 500);
    assert!(text.contains("BackOffMilliseconds"), "{text}");
    assert_eq!(env.agent(&body).await.0, 200);
    env.emu.push_fault_script(&[Some(FaultKind::Reset)]);
    assert!(
        env.http
            .post(format!("{}/EWS/Exchange.asmx", env.base))
            .basic_auth(AGENT, Some(PASSWORD))
            .body(envelope("", &body))
            .send()
            .await
            .is_err()
    );
    assert_eq!(env.emu.fault_count(), 4);
    let finds = env
        .emu
        .requests()
        .iter()
        .filter(|r| r.path_and_query == "EWS FindItem")
        .count();
    assert_eq!(finds, 5);
}

#[tokio::test]
async fn bad_requests_are_soap_faults() {
    let env = start(EmulatorConfig::default()).await;
    let basic = || Auth::Basic(AGENT, PASSWORD);
    for (body, code) in [
        (
            "<s:Envelope><unclosed>".to_string(),
            "ErrorSchemaValidation",
        ),
        ("not xml at all".to_string(), "ErrorSchemaValidation"),
        (String::new(), "ErrorSchemaValidation"),
        ("<a>&bogus;</a>".to_string(), "ErrorSchemaValidation"),
        ("<root/>".to_string(), "ErrorInvalidRequest"),
        (
            format!("{}{}", "<a>".repeat(100), "</a>".repeat(100)),
            "ErrorSchemaValidation",
        ),
        (
            "<s:Envelope xmlns:s=\"urn:wrong\"><s:Body/></s:Envelope>".to_string(),
            "ErrorInvalidRequest",
        ),
        (envelope("", "<m:ResolveNames/>"), "ErrorInvalidRequest"),
        (envelope("", "<m:GetItem/>"), "ErrorSchemaValidation"),
        (
            envelope(
                "",
                r#"<m:FindItem Traversal="Shallow"><m:ParentFolderIds/></m:FindItem>"#,
            )
            .replace(r#"Version="Exchange2016""#, r#"Version="Exchange2003""#),
            "ErrorInvalidServerVersion",
        ),
        (
            envelope(
                "",
                r#"<m:FindItem Traversal="Shallow"><m:IndexedPageItemView MaxEntriesReturned="x"/><m:ParentFolderIds/></m:FindItem>"#,
            ),
            "ErrorSchemaValidation",
        ),
    ] {
        let (status, text) = env.raw("/EWS/Exchange.asmx", basic(), body.clone()).await;
        assert_eq!(status, 500, "{body}: {text}");
        let x = Xml(text.clone());
        assert_eq!(x.texts("ResponseCode"), [code], "{body}: {text}");
        assert_eq!(x.texts("faultcode"), [format!("a:{code}")]);
        assert_eq!(x.attrs("ServerVersionInfo").len(), 1);
    }
    let (_, text) = env
        .raw("/EWS/Exchange.asmx", basic(), "<s:Envelope\n  <oops".into())
        .await;
    assert_eq!(Xml(text).texts("LineNumber"), ["2"]);
    // Every other version Exchange accepts works.
    for v in [
        "Exchange2010",
        "Exchange2010_SP2",
        "Exchange2013",
        "Exchange2013_SP1",
        "Exchange2016",
    ] {
        let body = envelope(
            "",
            &find_item(
                r#"<t:DistinguishedFolderId Id="inbox"/>"#,
                5,
                0,
                "Ascending",
            ),
        )
        .replace(r#"Version="Exchange2016""#, &format!(r#"Version="{v}""#));
        assert_eq!(
            env.raw("/EWS/Exchange.asmx", basic(), body).await.0,
            200,
            "{v}"
        );
    }
}

#[tokio::test]
async fn delegated_outlook_tokens_act_on_the_users_own_mailbox() {
    let env = common::start(seed(), EmulatorConfig::default()).await;
    env.emu.add_mailbox(graph_emulator::DEMO_USER);
    let (code, _) = env
        .authorize(&[(
            "scope",
            "openid offline_access https://outlook.office365.com/EWS.AccessAsUser.All",
        )])
        .await;
    let r = env.redeem(&code, &common::pkce().0).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    let post = |header: String| {
        env.http
            .post(env.url("/EWS/Exchange.asmx"))
            .bearer_auth(token)
            .body(envelope(
                &header,
                r#"<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>"#,
            ))
            .send()
    };
    let r = post(String::new()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(Xml(r.text().await.unwrap()).texts("TotalCount"), ["0"]);
    // A user may not impersonate someone else.
    let r = post(format!(
        "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{AGENT}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 500);
    assert!(r.text().await.unwrap().contains("ErrorImpersonationDenied"));
    // The user's Graph token is for Graph only.
    let graph = env.user_tokens().await;
    let r = env
        .http
        .post(env.url("/EWS/Exchange.asmx"))
        .bearer_auth(graph["access_token"].as_str().unwrap())
        .body(envelope("", "<m:GetFolder/>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn latency_timeouts_and_resets_after_commit() {
    let env = start(EmulatorConfig {
        latency: graph_emulator::Latency::parse("list=300ms").unwrap(),
        faults: graph_emulator::Faults {
            timeout_hold: Duration::from_millis(200),
            ..graph_emulator::Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .await;
    let inbox = r#"<t:DistinguishedFolderId Id="inbox"/>"#;
    let started = std::time::Instant::now();
    let ids = env
        .ok(&find_item(inbox, 50, 0, "Ascending"))
        .await
        .item_ids();
    assert!(started.elapsed() >= Duration::from_millis(300));
    // GetItem is not a listing: no latency.
    let started = std::time::Instant::now();
    env.ok(&get_item(&[&ids[0]])).await;
    assert!(started.elapsed() < Duration::from_millis(300));

    // A timeout holds the request, then drops the connection without an answer.
    env.emu.push_fault_script(&[Some(FaultKind::Timeout)]);
    let started = std::time::Instant::now();
    let held = env
        .http
        .post(format!("{}/EWS/Exchange.asmx", env.base))
        .basic_auth(AGENT, Some(PASSWORD))
        .body(envelope("", &get_item(&[&ids[0]])))
        .send()
        .await;
    assert!(held.is_err());
    assert!(started.elapsed() >= Duration::from_millis(200));

    // The move happens, then the connection drops: the client never sees the new id.
    env.emu
        .push_fault_script(&[Some(FaultKind::ResetAfterCommit)]);
    let sent = env
        .http
        .post(format!("{}/EWS/Exchange.asmx", env.base))
        .basic_auth(AGENT, Some(PASSWORD))
        .body(envelope(
            "",
            &move_item(
                "MoveItem",
                r#"<t:DistinguishedFolderId Id="archive"/>"#,
                &[&ids[0]],
            ),
        ))
        .send()
        .await;
    assert!(sent.is_err());
    assert_eq!(env.emu.folder_counts(AGENT)["archive"], 1);
}
