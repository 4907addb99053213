//! Throttling, `$batch`, latency and moves by hand, over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{Env, IMMUTABLE, MAILBOX, graph_code, start};
use graph_emulator::{EmulatorConfig, Latency, Throttling};
use serde_json::{Value, json};

fn throttled_config(t: Throttling, latency: &str) -> EmulatorConfig {
    EmulatorConfig {
        throttling: Some(t),
        latency: Latency::parse(latency).unwrap(),
        ..EmulatorConfig::default()
    }
}

fn inbox_ids(env: &Env) -> Vec<String> {
    env.emu
        .messages(MAILBOX, "inbox")
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// Status, Retry-After (parsed as decimal seconds) and body of a GET of the Inbox list.
async fn list(env: &Env, token: &str) -> (u16, Option<f64>, Value) {
    let r = env
        .get(
            &env.mailbox_url("/mailFolders/inbox/messages"),
            token,
            false,
        )
        .await;
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<f64>().unwrap());
    (status, retry, r.json().await.unwrap_or(Value::Null))
}

async fn concurrent_lists(env: &Env, token: &str, n: usize) -> Vec<(u16, Option<f64>, Value)> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let http = env.http.clone();
        let url = env.mailbox_url("/mailFolders/inbox/messages");
        let token = token.to_string();
        set.spawn(async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<f64>().unwrap());
            (
                status,
                retry,
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        });
    }
    set.join_all().await
}

#[tokio::test]
async fn concurrency_limit_throttles_the_fifth_concurrent_request() {
    let t = Throttling {
        retry_after: Duration::from_millis(2500),
        ..Throttling::default()
    };
    let env = start(common::inbox_seed(3), throttled_config(t, "list=300ms")).await;
    let token = env.app_token().await;
    let results = concurrent_lists(&env, &token, 5).await;
    let throttled: Vec<_> = results.iter().filter(|r| r.0 == 429).collect();
    assert_eq!(throttled.len(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|r| r.0 == 200).count(), 4);
    let (_, retry, body) = throttled[0];
    // 2.5 s, in whole seconds as Graph sends them.
    assert_eq!(*retry, Some(3.0));
    assert_eq!(
        body,
        &json!({"error": {"code": "ApplicationThrottled",
            "message": "Application is over its MailboxConcurrency limit."}})
    );
    // Every slot is free again, but retrying before Retry-After elapsed is throttled again.
    let (status, retry, _) = list(&env, &token).await;
    assert_eq!(status, 429);
    assert!(retry == Some(2.0) || retry == Some(3.0), "{retry:?}");
    // Another mailbox is another key.
    env.emu.add_mailbox("other@contoso.example");
    let r = env
        .get(
            &env.url("/v1.0/users/other@contoso.example/messages"),
            &token,
            false,
        )
        .await;
    assert_eq!(r.status(), 200);

    // Without throttling (the default) the same burst passes.
    env.emu.set_throttling(None);
    let results = concurrent_lists(&env, &token, 5).await;
    assert!(results.iter().all(|r| r.0 == 200), "{results:?}");
}

#[tokio::test]
async fn window_budget_throttles_and_early_retries_stay_throttled() {
    let t = Throttling {
        max_requests: 3,
        window: Duration::from_millis(600),
        ..Throttling::default()
    };
    let env = start(common::inbox_seed(2), throttled_config(t, "")).await;
    let token = env.app_token().await;
    for _ in 0..3 {
        assert_eq!(list(&env, &token).await.0, 200);
    }
    let (status, retry, body) = list(&env, &token).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(graph_code(&body), "ApplicationThrottled");
    let retry = retry.unwrap();
    // Under 0.6 s left, rounded up to whole seconds.
    assert_eq!(retry, 1.0);
    // Retrying at once: still blocked.
    let (status, again, _) = list(&env, &token).await;
    assert_eq!(status, 429);
    assert!(again.unwrap() <= retry);
    // Once the window has passed (throttled requests counted too), requests pass again.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(list(&env, &token).await.0, 200);
    // The budget is per request path only through the mailbox: a folder GET counts as well.
    let r = env
        .get(&env.mailbox_url("/mailFolders/inbox"), &token, false)
        .await;
    assert_eq!(r.status(), 200);
}

async fn batch(env: &Env, token: &str, body: &Value) -> (u16, Value) {
    env.post_json(&env.url("/v1.0/$batch"), token, false, body)
        .await
}

fn response<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no response {id} in {body}"))
}

#[tokio::test]
async fn batch_runs_inner_requests_and_moves_messages() {
    let env = common::env(3).await;
    let token = env.app_token().await;
    let ids = inbox_ids(&env);
    let mailbox = format!("/users/{MAILBOX}");
    let mut requests = vec![json!({"id": "list", "method": "GET",
        "url": format!("{mailbox}/mailFolders/inbox/messages?$select=subject"),
        "headers": {"Prefer": IMMUTABLE}})];
    for (i, id) in ids.iter().enumerate() {
        requests.push(json!({"id": format!("m{i}"), "method": "POST",
            "url": format!("{mailbox}/messages/{id}/move"),
            "headers": {"Content-Type": "application/json", "Prefer": IMMUTABLE},
            "body": {"destinationId": "archive"}, "dependsOn": ["list"]}));
    }
    let (status, body) = batch(&env, &token, &json!({"requests": requests})).await;
    assert_eq!(status, 200, "{body}");
    let list = response(&body, "list");
    assert_eq!(list["status"], 200);
    assert_eq!(list["body"]["value"].as_array().unwrap().len(), 3);
    assert!(list["headers"]["Content-Type"].is_string(), "{list}");
    for (i, id) in ids.iter().enumerate() {
        let m = response(&body, &format!("m{i}"));
        assert_eq!(m["status"], 201, "{m}");
        assert_eq!(m["body"]["id"], id.as_str(), "immutable id: {m}");
    }
    let counts = env.emu.folder_counts(MAILBOX);
    assert_eq!((counts["inbox"], counts["archive"]), (0, 3));
    // Inner requests are recorded with a `$batch[id]` prefix, then the outer request.
    let recorded = env.emu.requests();
    let inner: Vec<_> = recorded
        .iter()
        .filter(|r| r.path_and_query.starts_with("$batch["))
        .collect();
    assert_eq!(inner.len(), 4);
    assert!(inner.iter().any(|r| r.path_and_query
        == format!("$batch[list] /v1.0{mailbox}/mailFolders/inbox/messages?$select=subject")));
    assert_eq!(recorded.last().unwrap().path_and_query, "/v1.0/$batch");
}

#[tokio::test]
async fn batch_rejects_bad_payloads_with_400() {
    let env = common::env(1).await;
    let token = env.app_token().await;
    let get = |id: String| json!({"id": id, "method": "GET", "url": "/users/shared@contoso.example/messages"});
    let twenty_one: Vec<Value> = (0..21).map(|i| get(i.to_string())).collect();
    let (status, body) = batch(&env, &token, &json!({"requests": twenty_one})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("20"));
    let twenty: Vec<Value> = (0..20).map(|i| get(i.to_string())).collect();
    let (status, body) = batch(&env, &token, &json!({"requests": twenty})).await;
    assert_eq!(status, 200);
    assert_eq!(body["responses"].as_array().unwrap().len(), 20);
    for bad in [
        json!({"requests": [get("a".into()), get("A".into())]}),
        json!({"requests": [{"id": "1", "method": "GET"}]}),
        json!({"requests": [{"id": "1", "method": "POST", "url": "/users/x/messages", "body": {}}]}),
        json!({"requests": [get("1".into()), {"id": "2", "method": "GET", "url": "/me", "dependsOn": ["3"]}]}),
        json!({"nope": []}),
    ] {
        let (status, body) = batch(&env, &token, &bad).await;
        assert_eq!(status, 400, "{bad} -> {body}");
        assert_eq!(graph_code(&body), "BadRequest");
    }
    let r = env
        .http
        .post(env.url("/v1.0/$batch"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn batch_dependency_failures_give_424() {
    let env = common::env(1).await;
    let token = env.app_token().await;
    let mb = format!("/users/{MAILBOX}");
    let body = json!({"requests": [
        {"id": "1", "method": "GET", "url": format!("{mb}/messages/AAMkAGnothere")},
        {"id": "2", "method": "GET", "url": format!("{mb}/messages"), "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": format!("{mb}/mailFolders"), "dependsOn": ["2"]},
        {"id": "4", "method": "GET", "url": format!("{mb}/mailFolders/inbox")},
    ]});
    let (status, body) = batch(&env, &token, &body).await;
    assert_eq!(status, 200);
    assert_eq!(response(&body, "1")["status"], 404);
    assert_eq!(
        graph_code(&response(&body, "1")["body"]),
        "ErrorItemNotFound"
    );
    assert_eq!(response(&body, "2")["status"], 424);
    assert_eq!(response(&body, "3")["status"], 424);
    assert_eq!(response(&body, "4")["status"], 200);
}

#[tokio::test]
async fn batch_inner_requests_are_throttled_individually() {
    let t = Throttling {
        max_requests: 2,
        ..Throttling::default()
    };
    let env = start(common::inbox_seed(1), throttled_config(t, "")).await;
    let token = env.app_token().await;
    let requests: Vec<Value> = (1..=4)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{MAILBOX}/messages"), "dependsOn": if i > 1 { json!([(i - 1).to_string()]) } else { json!([]) }}))
        .collect();
    // Sequential (dependsOn) so the order is fixed: two pass, the third is throttled, the
    // fourth depends on it.
    let (status, body) = batch(&env, &token, &json!({"requests": requests})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(response(&body, "1")["status"], 200);
    assert_eq!(response(&body, "2")["status"], 200);
    let third = response(&body, "3");
    assert_eq!(third["status"], 429, "{third}");
    // Whole seconds inside a batch too.
    let retry: u64 = third["headers"]["Retry-After"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{third}");
    assert_eq!(graph_code(&third["body"]), "ApplicationThrottled");
    assert_eq!(response(&body, "4")["status"], 424);
}

#[tokio::test]
async fn latency_delays_each_operation() {
    let config = EmulatorConfig {
        latency: Latency::parse("list=250ms,token=150ms,move=200ms").unwrap(),
        ..EmulatorConfig::default()
    };
    let env = start(common::inbox_seed(1), config).await;
    let t0 = Instant::now();
    let token = env.app_token().await;
    assert!(t0.elapsed() >= Duration::from_millis(150));
    let t0 = Instant::now();
    assert_eq!(list(&env, &token).await.0, 200);
    assert!(t0.elapsed() >= Duration::from_millis(250));
    let t0 = Instant::now();
    let r = env
        .get(&env.mailbox_url("/mailFolders/inbox"), &token, false)
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        t0.elapsed() < Duration::from_millis(200),
        "get has no latency"
    );
    let id = inbox_ids(&env)[0].clone();
    let t0 = Instant::now();
    let (status, _) = env
        .post_json(
            &env.mailbox_url(&format!("/messages/{id}/move")),
            &token,
            true,
            &json!({"destinationId": "archive"}),
        )
        .await;
    assert_eq!(status, 201);
    assert!(t0.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn move_by_hand_changes_rest_id_but_not_immutable_id() {
    let env = common::env(2).await;
    let token = env.app_token().await;
    let id = inbox_ids(&env)[0].clone();
    let (_, before) = env
        .get_json(&env.mailbox_url(&format!("/messages/{id}")), &token, false)
        .await;
    let rest = before["id"].as_str().unwrap().to_string();
    assert!(env.emu.move_by_hand(MAILBOX, &id, "archive"));
    assert!(!env.emu.move_by_hand(MAILBOX, "AAkALgAAnothere", "archive"));
    assert!(!env.emu.move_by_hand(MAILBOX, &id, "no such folder"));
    assert!(
        !env.emu
            .move_by_hand("nobody@contoso.example", &id, "archive")
    );
    let counts = env.emu.folder_counts(MAILBOX);
    assert_eq!((counts["inbox"], counts["archive"]), (1, 1));
    let (status, _) = env
        .get_json(
            &env.mailbox_url(&format!("/messages/{rest}")),
            &token,
            false,
        )
        .await;
    assert_eq!(status, 404, "the old REST id is gone");
    let (status, after) = env
        .get_json(&env.mailbox_url(&format!("/messages/{id}")), &token, true)
        .await;
    assert_eq!(status, 200);
    assert_eq!(after["id"], id.as_str());
    assert_eq!(env.emu.messages(MAILBOX, "archive")[0]["id"], id.as_str());
}

/// Graph writes `Retry-After` as whole seconds, and that is all the SDKs' retry handlers parse
/// (`1.0` makes them ignore it). Only a wait a test configures under one second is decimal.
#[tokio::test]
async fn retry_after_is_an_integer_unless_a_test_asks_for_less_than_a_second() {
    use graph_emulator::{FaultKind, Faults};
    let raw = |r: &reqwest::Response| {
        r.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let env = start(common::inbox_seed(1), EmulatorConfig::default()).await;
    let token = env.app_token().await;
    let url = env.mailbox_url("/mailFolders/inbox/messages");
    // Scripted faults with the default Retry-After of 1 s.
    env.emu.push_fault_script(&[
        Some(FaultKind::TooManyRequests),
        Some(FaultKind::Unavailable),
    ]);
    for want in [429, 503] {
        let r = env.get(&url, &token, false).await;
        assert_eq!(r.status().as_u16(), want);
        assert_eq!(raw(&r).as_deref(), Some("1"), "{want}");
    }
    env.emu.set_faults(Faults {
        retry_after: Duration::from_millis(1500),
        ..Faults::default()
    });
    env.emu
        .push_fault_script(&[Some(FaultKind::TooManyRequests)]);
    assert_eq!(
        raw(&env.get(&url, &token, false).await).as_deref(),
        Some("2")
    );
    // Inside $batch too.
    env.emu.set_faults(Faults::default());
    env.emu
        .push_fault_script(&[None, Some(FaultKind::TooManyRequests)]);
    let body = json!({"requests": [{"id": "1", "method": "GET",
        "url": format!("/users/{MAILBOX}/messages")}]});
    let (_, out) = batch(&env, &token, &body).await;
    assert_eq!(out["responses"][0]["status"], 429, "{out}");
    assert_eq!(out["responses"][0]["headers"]["Retry-After"], "1", "{out}");
    // A sub-second wait is a test asking for speed: decimal, as asked.
    env.emu
        .set_faults(Faults::parse("retry-after=10ms").unwrap());
    env.emu
        .push_fault_script(&[Some(FaultKind::TooManyRequests)]);
    assert_eq!(
        raw(&env.get(&url, &token, false).await).as_deref(),
        Some("0.01")
    );

    // Throttling's default suggestion of 2.5 s goes out as 3.
    let env = start(
        common::inbox_seed(3),
        throttled_config(Throttling::default(), "list=300ms"),
    )
    .await;
    let token = env.app_token().await;
    let results = concurrent_lists(&env, &token, 5).await;
    assert!(results.iter().any(|r| r.0 == 429), "{results:?}");
    let r = env
        .get(
            &env.mailbox_url("/mailFolders/inbox/messages"),
            &token,
            false,
        )
        .await;
    assert_eq!(r.status(), 429);
    let value = raw(&r).unwrap();
    assert!(value == "2" || value == "3", "{value}");
}
