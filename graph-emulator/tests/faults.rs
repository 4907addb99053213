//! Fault injection as a reqwest client sees it, over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{Env, MAILBOX, graph_code, start};
use graph_emulator::{EmulatorConfig, FaultKind, Faults};
use serde_json::{Value, json};

fn list_url(env: &Env) -> String {
    env.mailbox_url("/mailFolders/inbox/messages")
}

async fn get(env: &Env, token: &str) -> Result<reqwest::Response, reqwest::Error> {
    env.http.get(list_url(env)).bearer_auth(token).send().await
}

async fn status(env: &Env, token: &str) -> u16 {
    get(env, token).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn status_faults_come_with_the_right_status_and_headers() {
    let env = common::env(1).await;
    let token = env.app_token().await;
    env.emu.push_fault_script(&[
        Some(FaultKind::TooManyRequests),
        Some(FaultKind::InternalError),
        Some(FaultKind::Unavailable),
        Some(FaultKind::GatewayTimeout),
    ]);
    for (want, retry) in [(429, true), (500, false), (503, true), (504, false)] {
        let r = get(&env, &token).await.unwrap();
        assert_eq!(r.status().as_u16(), want);
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse::<f64>().unwrap());
        assert_eq!(retry_after.is_some(), retry, "{want}");
        let body: Value = r.json().await.unwrap();
        assert!(!graph_code(&body).is_empty(), "{body}");
    }
    assert_eq!(status(&env, &token).await, 200);
    assert_eq!(env.emu.fault_count(), 4);
}

#[tokio::test]
async fn connection_faults_are_errors_for_the_client() {
    let env = common::env(1).await;
    let token = env.app_token().await;

    env.emu.push_fault_script(&[Some(FaultKind::Reset)]);
    let e = get(&env, &token)
        .await
        .expect_err("reset gives no response");
    assert!(e.is_request() && !e.is_status(), "{e:?}");
    assert_eq!(status(&env, &token).await, 200, "the next request works");

    env.emu.push_fault_script(&[Some(FaultKind::TruncatedBody)]);
    let r = get(&env, &token).await.unwrap();
    assert_eq!(r.status(), 200);
    let declared = r.content_length().unwrap();
    let e = r.bytes().await.expect_err("the body is cut off");
    assert!(e.is_body() || e.is_decode(), "{e:?} (declared {declared})");

    env.emu.push_fault_script(&[Some(FaultKind::InvalidJson)]);
    let r = get(&env, &token).await.unwrap();
    assert_eq!(r.status(), 200);
    let e = r.json::<Value>().await.expect_err("not JSON");
    assert!(e.is_decode(), "{e:?}");

    env.emu.set_faults(Faults {
        timeout_hold: Duration::from_millis(300),
        ..Faults::default()
    });
    env.emu.push_fault_script(&[Some(FaultKind::Timeout)]);
    let t0 = Instant::now();
    let e = get(&env, &token).await.expect_err("held, then dropped");
    assert!(t0.elapsed() >= Duration::from_millis(300), "{e:?}");

    // With the default hold (30 s) a client timeout fires first.
    env.emu.set_faults(Faults::default());
    env.emu.push_fault_script(&[Some(FaultKind::Timeout)]);
    let e = env
        .http
        .get(list_url(&env))
        .bearer_auth(&token)
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .expect_err("client timeout");
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(env.emu.fault_count(), 5);
    assert_eq!(status(&env, &token).await, 200);
}

#[tokio::test]
async fn script_is_consumed_in_order_and_skips_the_token_endpoint() {
    let env = common::env(1).await;
    env.emu.push_fault_script(&[
        Some(FaultKind::InternalError),
        None,
        Some(FaultKind::Unavailable),
    ]);
    // The token endpoint takes no faults by default: the script is left for Graph.
    let token = env.app_token().await;
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(status(&env, &token).await);
    }
    assert_eq!(got, [500, 200, 503, 200]);
    assert_eq!(env.emu.fault_count(), 2);

    // Opted in, the token endpoint draws too.
    env.emu.set_faults(Faults {
        token_endpoint: true,
        script: [Some(FaultKind::InternalError)].into(),
        ..Faults::default()
    });
    let r = env
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", graph_emulator::DEMO_CLIENT_ID),
            ("client_secret", graph_emulator::DEMO_CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .await;
    assert_eq!(r.status(), 500);
}

async fn statuses_with_seed(seed: u64) -> Vec<u16> {
    let mut faults = Faults::parse("500=0.3,503=0.2").unwrap();
    faults.seed = seed;
    let config = EmulatorConfig {
        faults,
        ..EmulatorConfig::default()
    };
    let env = start(common::inbox_seed(1), config).await;
    let token = env.app_token().await;
    let mut out = Vec::new();
    for _ in 0..24 {
        out.push(status(&env, &token).await);
    }
    assert_eq!(
        env.emu.fault_count() as usize,
        out.iter().filter(|s| **s != 200).count()
    );
    out
}

#[tokio::test]
async fn probability_faults_are_deterministic_by_seed() {
    let a = statuses_with_seed(42).await;
    assert_eq!(a, statuses_with_seed(42).await);
    assert_ne!(a, statuses_with_seed(43).await);
    for s in [200, 500, 503] {
        assert!(a.contains(&s), "{a:?}");
    }
}

async fn move_message(
    env: &Env,
    token: &str,
    id: &str,
) -> Result<reqwest::Response, reqwest::Error> {
    env.http
        .post(env.mailbox_url(&format!("/messages/{id}/move")))
        .bearer_auth(token)
        .json(&json!({"destinationId": "archive"}))
        .send()
        .await
}

#[tokio::test]
async fn faulted_moves_do_not_move_but_reset_after_commit_does() {
    let env = common::env(2).await;
    let token = env.app_token().await;
    let id = env.emu.messages(MAILBOX, "inbox")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, before) = env
        .get_json(&env.mailbox_url(&format!("/messages/{id}")), &token, false)
        .await;
    let rest = before["id"].as_str().unwrap().to_string();
    for kind in [
        FaultKind::TooManyRequests,
        FaultKind::InternalError,
        FaultKind::Unavailable,
        FaultKind::GatewayTimeout,
        FaultKind::Reset,
        FaultKind::TruncatedBody,
        FaultKind::InvalidJson,
    ] {
        env.emu.push_fault_script(&[Some(kind)]);
        let _ = move_message(&env, &token, &rest).await;
        let counts = env.emu.folder_counts(MAILBOX);
        assert_eq!((counts["inbox"], counts["archive"]), (2, 0), "{kind}");
    }
    env.emu
        .push_fault_script(&[Some(FaultKind::ResetAfterCommit)]);
    let e = move_message(&env, &token, &rest)
        .await
        .expect_err("the client sees a reset");
    assert!(!e.is_status(), "{e:?}");
    let counts = env.emu.folder_counts(MAILBOX);
    assert_eq!((counts["inbox"], counts["archive"]), (1, 1));
    // A retry with the old REST id finds nothing; the immutable id is in the archive.
    let r = move_message(&env, &token, &rest).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(env.emu.messages(MAILBOX, "archive")[0]["id"], id.as_str());
}

#[tokio::test]
async fn batch_outer_and_inner_requests_take_faults() {
    let env = common::env(2).await;
    let token = env.app_token().await;
    let ids: Vec<String> = env
        .emu
        .messages(MAILBOX, "inbox")
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    let requests: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"id": (i + 1).to_string(), "method": "POST",
                "url": format!("/users/{MAILBOX}/messages/{id}/move"),
                "headers": {"Content-Type": "application/json"},
                "body": {"destinationId": "archive"},
                "dependsOn": if i == 0 { json!([]) } else { json!(["1"]) }})
        })
        .collect();
    let body = json!({"requests": requests});
    // The outer request faulted: nothing runs.
    env.emu.push_fault_script(&[Some(FaultKind::Unavailable)]);
    let (status, _) = env
        .post_json(&env.url("/v1.0/$batch"), &token, false, &body)
        .await;
    assert_eq!(status, 503);
    assert_eq!(env.emu.folder_counts(MAILBOX)["inbox"], 2);
    // Outer fine, first inner request faulted: it does not move, its dependent gets 424.
    env.emu
        .push_fault_script(&[None, Some(FaultKind::TooManyRequests)]);
    let (status, out) = env
        .post_json(&env.url("/v1.0/$batch"), &token, false, &body)
        .await;
    assert_eq!(status, 200, "{out}");
    let responses = out["responses"].as_array().unwrap();
    assert_eq!(responses[0]["status"], 429, "{out}");
    assert!(responses[0]["headers"]["Retry-After"].is_string());
    assert_eq!(responses[1]["status"], 424, "{out}");
    assert_eq!(env.emu.folder_counts(MAILBOX)["inbox"], 2);
    // Reset of a whole batch: nothing moves.
    env.emu.push_fault_script(&[Some(FaultKind::Reset)]);
    let e = env
        .http
        .post(env.url("/v1.0/$batch"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await;
    assert!(e.is_err());
    assert_eq!(env.emu.folder_counts(MAILBOX)["inbox"], 2);
    // Without faults the batch moves both.
    let (status, _) = env
        .post_json(&env.url("/v1.0/$batch"), &token, false, &body)
        .await;
    assert_eq!(status, 200);
    assert_eq!(env.emu.folder_counts(MAILBOX)["archive"], 2);
}
