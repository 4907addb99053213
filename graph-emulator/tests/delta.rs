//! Delta query for the messages of a folder (`.../mailFolders/{id}/messages/delta`).

mod common;

use common::{Env, IMMUTABLE, MAILBOX, env, graph_code};
use serde_json::{Value, json};

/// Follows one round from `url` to its deltaLink; returns the entries and the deltaLink.
async fn round(env: &Env, token: &str, url: &str, page: usize) -> (Vec<Value>, String, usize) {
    let mut url = url.to_string();
    let mut entries = Vec::new();
    let mut pages = 0;
    loop {
        let r = env
            .http
            .get(&url)
            .bearer_auth(token)
            .header("Prefer", format!("odata.maxpagesize={page}, {IMMUTABLE}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let applied: Vec<String> = r
            .headers()
            .get_all("preference-applied")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert!(
            applied.contains(&format!("odata.maxpagesize={page}")),
            "{applied:?}"
        );
        let body: Value = r.json().await.unwrap();
        pages += 1;
        assert_eq!(
            body["@odata.context"],
            format!("{}/v1.0/$metadata#Collection(message)", env.base)
        );
        let value = body["value"].as_array().unwrap();
        assert!(value.len() <= page, "{body}");
        entries.extend(value.iter().cloned());
        if let Some(next) = body["@odata.nextLink"].as_str() {
            assert!(next.contains("/messages/delta?$skiptoken="), "{next}");
            assert!(next.starts_with(&env.base), "{next}");
            url = next.to_string();
            continue;
        }
        let delta = body["@odata.deltaLink"].as_str().unwrap().to_string();
        assert!(delta.contains("/messages/delta?$deltatoken="), "{delta}");
        assert!(delta.starts_with(&env.base), "{delta}");
        return (entries, delta, pages);
    }
}

fn subjects(entries: &[Value]) -> Vec<String> {
    let mut s: Vec<String> = entries
        .iter()
        .filter(|e| e.get("@removed").is_none())
        .map(|e| e["subject"].as_str().unwrap().to_string())
        .collect();
    s.sort();
    s
}

fn removed(entries: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = entries
        .iter()
        .filter(|e| e["@removed"]["reason"] == "deleted")
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn delta_rounds_return_what_changed_in_the_folder() {
    let env = env(5).await;
    let token = env.app_token().await;
    let ids: Vec<String> = env
        .emu
        .messages(MAILBOX, "inbox")
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    // The first round: every message, in pages of 2, with only the selected fields.
    let start = env.mailbox_url("/mailFolders/inbox/messages/delta?$select=subject");
    let (entries, delta, pages) = round(&env, &token, &start, 2).await;
    assert_eq!(pages, 3);
    assert_eq!(entries.len(), 5);
    for e in &entries {
        assert_eq!(e["@odata.type"], "#microsoft.graph.message");
        let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["@odata.etag", "@odata.type", "id", "subject"], "{e}");
    }
    assert_eq!(subjects(&entries).len(), 5);

    // Nothing changed: an empty page and a new deltaLink.
    let (entries, delta, _) = round(&env, &token, &delta, 2).await;
    assert!(entries.is_empty(), "{entries:?}");

    // One moved out, one deleted, one patched, one new, one moved elsewhere and back.
    let mb = |rest: &str| env.mailbox_url(rest);
    let (status, _) = env
        .post_json(
            &mb(&format!("/messages/{}/move", ids[0])),
            &token,
            true,
            &json!({"destinationId": "archive"}),
        )
        .await;
    assert_eq!(status, 201);
    let r = env
        .http
        .delete(mb(&format!("/messages/{}", ids[1])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = env
        .http
        .patch(mb(&format!("/messages/{}", ids[2])))
        .bearer_auth(&token)
        .json(&json!({"isRead": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    env.emu
        .add_message(
            MAILBOX,
            "inbox",
            json!({"subject": "New arrival", "receivedDateTime": "2026-11-03T08:00:00Z"}),
        )
        .unwrap();
    // A message of another folder changing is no change of this one.
    env.emu
        .add_message(MAILBOX, "junkemail", json!({"subject": "Spam"}))
        .unwrap();

    let (entries, delta, _) = round(&env, &token, &delta, 10).await;
    let mut gone = vec![ids[0].clone(), ids[1].clone()];
    gone.sort();
    assert_eq!(removed(&entries), gone, "{entries:?}");
    assert_eq!(
        subjects(&entries),
        ["Message 02", "New arrival"],
        "{entries:?}"
    );
    let patched = entries
        .iter()
        .find(|e| e["subject"] == "Message 02")
        .unwrap();
    assert_eq!(patched["id"], ids[2].as_str());

    // Moved back in: the Inbox has it again.
    assert!(env.emu.move_by_hand(MAILBOX, &ids[0], "inbox"));
    let (entries, _, _) = round(&env, &token, &delta, 10).await;
    assert_eq!(subjects(&entries), ["Message 00"]);
    assert!(removed(&entries).is_empty());
}

#[tokio::test]
async fn delta_without_immutable_ids_removes_by_the_rest_id_the_client_saw() {
    let env = env(2).await;
    let token = env.app_token().await;
    let (status, first) = env
        .get_json(
            &env.mailbox_url("/mailFolders/inbox/messages/delta()"),
            &token,
            false,
        )
        .await;
    assert_eq!(status, 200, "{first}");
    let seen: Vec<String> = first["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|id| id.starts_with("AAMkAG")), "{seen:?}");
    let delta = first["@odata.deltaLink"].as_str().unwrap();
    let immutable = env.emu.messages(MAILBOX, "inbox")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(env.emu.move_by_hand(MAILBOX, &immutable, "archive"));
    let (_, next) = env.get_json(delta, &token, false).await;
    let value = next["value"].as_array().unwrap();
    assert_eq!(value.len(), 1, "{next}");
    assert_eq!(value[0]["@removed"]["reason"], "deleted");
    assert!(seen.contains(&value[0]["id"].as_str().unwrap().to_string()));
}

#[tokio::test]
async fn delta_change_type_and_bad_tokens() {
    let env = env(3).await;
    let token = env.app_token().await;
    let (_, first) = env
        .get_json(
            &env.mailbox_url("/mailFolders/inbox/messages/delta?changeType=created"),
            &token,
            true,
        )
        .await;
    assert_eq!(first["value"].as_array().unwrap().len(), 3);
    let delta = first["@odata.deltaLink"].as_str().unwrap().to_string();
    let id = env.emu.messages(MAILBOX, "inbox")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(env.emu.move_by_hand(MAILBOX, &id, "archive"));
    env.emu
        .add_message(MAILBOX, "inbox", json!({"subject": "Fresh"}))
        .unwrap();
    // Only creations are reported in a changeType=created round.
    let (_, next) = env.get_json(&delta, &token, true).await;
    let value = next["value"].as_array().unwrap();
    assert_eq!(value.len(), 1, "{next}");
    assert_eq!(value[0]["subject"], "Fresh");

    let (status, v) = env
        .get_json(
            &env.mailbox_url("/mailFolders/inbox/messages/delta?changeType=sometimes"),
            &token,
            true,
        )
        .await;
    assert_eq!((status, graph_code(&v)), (400, "BadRequest"));
    for bad in [
        "/mailFolders/inbox/messages/delta?$deltatoken=made-up".to_string(),
        "/mailFolders/inbox/messages/delta?$skiptoken=made-up".to_string(),
        // A token of the Inbox is no token of Archive.
        format!(
            "/mailFolders/archive/messages/delta?{}",
            delta.split_once('?').unwrap().1
        ),
    ] {
        let (status, v) = env.get_json(&env.mailbox_url(&bad), &token, true).await;
        assert_eq!(
            (status, graph_code(&v)),
            (410, "syncStateNotFound"),
            "{bad}"
        );
    }
}
