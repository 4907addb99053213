//! Mailbox access rules, REST-disabled mailboxes, removed folders, folder item limits and the
//! standalone serving options, over real HTTP.

mod common;

use std::collections::BTreeMap;

use common::{Env, MAILBOX, graph_code, pkce, start};
use graph_emulator::{
    DEMO_CLIENT_ID, DEMO_REDIRECT_URI, DEMO_USER, DEMO_USER_2, Emulator, EmulatorConfig, Seed,
    serve_with,
};
use serde_json::{Value, json};

const ACCESS_DENIED: &str = "Access is denied. Check credentials and try again.";
const NOT_ENABLED: &str = "The mailbox is either inactive, soft-deleted, or is hosted on-premise.";
const QUOTA: &str = "The folder has reached its item limit.";

/// Delegated access token for `upn` (signs in with `login_hint`).
async fn user_token(env: &Env, upn: &str) -> String {
    let (code, _) = env.authorize(&[("login_hint", upn)]).await;
    let r = env.redeem(&code, &pkce().0).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

/// Immutable ids of the Inbox messages, oldest first.
fn inbox_ids(env: &Env) -> Vec<String> {
    env.emu
        .messages(MAILBOX, "inbox")
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

async fn move_to(env: &Env, token: &str, id: &str, dest: &str) -> (u16, Value) {
    env.post_json(
        &env.mailbox_url(&format!("/messages/{id}/move")),
        token,
        true,
        &json!({"destinationId": dest}),
    )
    .await
}

async fn delete(env: &Env, token: &str, id: &str) -> (u16, Value) {
    let r = env
        .http
        .delete(env.mailbox_url(&format!("/messages/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn assert_error(status: u16, body: &Value, want_status: u16, code: &str, message: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(graph_code(body), code, "{body}");
    assert_eq!(body["error"]["message"], message, "{body}");
}

#[tokio::test]
async fn config_restricts_delegated_mailbox_access_but_not_app_tokens() {
    let config = EmulatorConfig {
        // Keys and UPNs are case-insensitive.
        mailbox_access: BTreeMap::from([(
            MAILBOX.to_uppercase(),
            vec![DEMO_USER_2.to_uppercase()],
        )]),
        ..EmulatorConfig::default()
    };
    let env = start(common::inbox_seed(2), config).await;
    let denied = user_token(&env, DEMO_USER).await;
    let allowed = user_token(&env, DEMO_USER_2).await;
    let app = env.app_token().await;
    let id = inbox_ids(&env)[0].clone();

    for path in [
        "",
        "/mailFolders",
        "/mailFolders/inbox",
        "/mailFolders('Inbox')/messages",
        "/messages",
        &format!("/messages/{id}"),
    ] {
        let (status, body) = env.get_json(&env.mailbox_url(path), &denied, true).await;
        assert_error(status, &body, 403, "ErrorAccessDenied", ACCESS_DENIED);
        let (status, body) = env.get_json(&env.mailbox_url(path), &allowed, true).await;
        assert_eq!(status, 200, "{path}: {body}");
        let (status, body) = env.get_json(&env.mailbox_url(path), &app, true).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, body) = move_to(&env, &denied, &id, "junkemail").await;
    assert_error(status, &body, 403, "ErrorAccessDenied", ACCESS_DENIED);
    let (status, body) = delete(&env, &denied, &id).await;
    assert_error(status, &body, 403, "ErrorAccessDenied", ACCESS_DENIED);
    assert_eq!(env.emu.folder_counts(MAILBOX)["inbox"], 2);

    // A user's own mailbox stays open to them.
    let own = env.base.clone() + "/v1.0/me/mailFolders/inbox";
    assert_eq!(env.get(&own, &denied, false).await.status(), 200);
}

#[tokio::test]
async fn mailbox_access_changes_at_runtime() {
    let env = common::env(1).await;
    let user = user_token(&env, DEMO_USER).await;
    let url = env.mailbox_url("/mailFolders/inbox/messages");
    assert_eq!(env.get(&url, &user, false).await.status(), 200);

    env.emu.set_mailbox_access(MAILBOX, &[DEMO_USER_2]);
    let (status, body) = env.get_json(&url, &user, false).await;
    assert_error(status, &body, 403, "ErrorAccessDenied", ACCESS_DENIED);
    let app = env.app_token().await;
    assert_eq!(env.get(&url, &app, false).await.status(), 200);

    env.emu.set_mailbox_access(
        &MAILBOX.to_uppercase(),
        &[DEMO_USER_2, "Logging.Agent@Cronus.Example"],
    );
    assert_eq!(env.get(&url, &user, false).await.status(), 200);

    // The owner of a listed mailbox keeps access to it, through /me and /users.
    env.emu.set_mailbox_access(DEMO_USER, &[DEMO_USER_2]);
    let me = env.base.clone() + "/v1.0/me/mailFolders/inbox";
    assert_eq!(env.get(&me, &user, false).await.status(), 200);
    let own = format!("{}/v1.0/users/{DEMO_USER}/mailFolders/inbox", env.base);
    assert_eq!(env.get(&own, &user, false).await.status(), 200);

    env.emu.set_mailbox_access(MAILBOX, &[]);
    assert_eq!(env.get(&url, &user, false).await.status(), 403);
    env.emu.clear_mailbox_access(MAILBOX);
    assert_eq!(env.get(&url, &user, false).await.status(), 200);
}

#[tokio::test]
async fn rest_disabled_mailboxes_answer_404_for_every_token() {
    let config = EmulatorConfig {
        rest_disabled: vec!["Onprem@Contoso.Example".to_string()],
        ..EmulatorConfig::default()
    };
    let env = start(common::inbox_seed(1), config).await;
    env.emu.add_mailbox("onprem@contoso.example");
    let app = env.app_token().await;
    let user = user_token(&env, DEMO_USER).await;
    let onprem = format!("{}/v1.0/users/onprem@contoso.example/mailFolders", env.base);
    for token in [&app, &user] {
        let (status, body) = env.get_json(&onprem, token, false).await;
        assert_error(
            status,
            &body,
            404,
            "MailboxNotEnabledForRESTAPI",
            NOT_ENABLED,
        );
    }

    let inbox = env.mailbox_url("/mailFolders/inbox/messages");
    assert_eq!(env.get(&inbox, &app, false).await.status(), 200);
    env.emu.disable_rest(MAILBOX);
    let id = inbox_ids(&env)[0].clone();
    for token in [&app, &user] {
        let (status, body) = env.get_json(&inbox, token, false).await;
        assert_error(
            status,
            &body,
            404,
            "MailboxNotEnabledForRESTAPI",
            NOT_ENABLED,
        );
        let (status, body) = move_to(&env, token, &id, "junkemail").await;
        assert_error(
            status,
            &body,
            404,
            "MailboxNotEnabledForRESTAPI",
            NOT_ENABLED,
        );
    }
    assert_eq!(env.emu.folder_counts(MAILBOX)["inbox"], 1);

    // Disabled also wins over /me for the signed-in user's own mailbox.
    env.emu.disable_rest(DEMO_USER);
    let me = env.base.clone() + "/v1.0/me/messages";
    let (status, body) = env.get_json(&me, &user, false).await;
    assert_error(
        status,
        &body,
        404,
        "MailboxNotEnabledForRESTAPI",
        NOT_ENABLED,
    );

    env.emu.enable_rest(MAILBOX);
    assert_eq!(env.get(&inbox, &app, false).await.status(), 200);
}

#[tokio::test]
async fn removed_folders_are_gone_with_their_messages() {
    let seed = json!({"mailboxes": {MAILBOX: {"folders": {
        "inbox": [{"subject": "a", "isRead": true}, {"subject": "b"}, {"subject": "c"}],
        "Processed": [{"subject": "done"}],
    }}}});
    let env = start(
        Seed::from_json(&seed.to_string()).unwrap(),
        EmulatorConfig::default(),
    )
    .await;
    let token = env.app_token().await;
    let inbox = env.mailbox_url("/mailFolders/inbox");
    let (status, body) = env.get_json(&inbox, &token, false).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["displayName"], "Inbox");
    assert_eq!(body["totalItemCount"], 3);
    assert_eq!(body["unreadItemCount"], 2);
    let inbox_id = body["id"].as_str().unwrap().to_string();
    let (status, body) = env
        .get_json(
            &env.mailbox_url(&format!("/mailFolders/{inbox_id}")),
            &token,
            false,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalItemCount"], 3);

    // A child folder of Processed goes with it.
    let processed = env.emu.messages(MAILBOX, "Processed");
    assert_eq!(processed.len(), 1);
    let parent = processed[0]["parentFolderId"].as_str().unwrap().to_string();
    let (status, child) = env
        .post_json(
            &env.mailbox_url(&format!("/mailFolders/{parent}/childFolders")),
            &token,
            false,
            &json!({"displayName": "2026"}),
        )
        .await;
    assert_eq!(status, 201, "{child}");
    let child_id = child["id"].as_str().unwrap().to_string();

    assert!(env.emu.remove_folder(MAILBOX, "INBOX"));
    let (status, body) = env.get_json(&inbox, &token, false).await;
    assert_error(
        status,
        &body,
        404,
        "ErrorItemNotFound",
        "The specified object was not found in the store., The process failed to get the correct properties.",
    );
    let (status, _) = env
        .get_json(
            &env.mailbox_url("/mailFolders/inbox/messages"),
            &token,
            false,
        )
        .await;
    assert_eq!(status, 404);
    let counts = env.emu.folder_counts(MAILBOX);
    assert!(!counts.contains_key("inbox"), "{counts:?}");
    let (_, all) = env
        .get_json(&env.mailbox_url("/messages"), &token, false)
        .await;
    assert_eq!(all["value"].as_array().unwrap().len(), 1, "{all}");

    assert!(env.emu.remove_folder(MAILBOX, "processed"));
    for id in [&parent, &child_id] {
        let (status, body) = env
            .get_json(
                &env.mailbox_url(&format!("/mailFolders/{id}")),
                &token,
                false,
            )
            .await;
        assert_eq!((status, graph_code(&body)), (404, "ErrorItemNotFound"));
    }
    assert!(env.emu.messages(MAILBOX, "Processed").is_empty());

    assert!(!env.emu.remove_folder(MAILBOX, "inbox"));
    assert!(!env.emu.remove_folder(MAILBOX, "msgfolderroot"));
    assert!(!env.emu.remove_folder("nobody@contoso.example", "junkemail"));
    let (status, _) = env
        .get_json(&env.mailbox_url("/mailFolders/junkemail"), &token, false)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn deleting_without_deleted_items_removes_for_good() {
    let env = common::env(1).await;
    let token = env.app_token().await;
    assert!(env.emu.remove_folder(MAILBOX, "Deleted Items"));
    let id = inbox_ids(&env)[0].clone();
    let (status, body) = delete(&env, &token, &id).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = env
        .get_json(&env.mailbox_url(&format!("/messages/{id}")), &token, true)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn full_folders_refuse_moves_and_creates() {
    assert_eq!(EmulatorConfig::default().folder_item_limit, 1_000_000);
    let config = EmulatorConfig {
        folder_item_limit: 3,
        ..EmulatorConfig::default()
    };
    // Seeds and add_message ignore the limit.
    let env = start(common::inbox_seed(5), config).await;
    assert_eq!(env.emu.folder_counts(MAILBOX)["inbox"], 5);
    let token = env.app_token().await;
    let ids = inbox_ids(&env);

    for id in &ids[..3] {
        let (status, body) = move_to(&env, &token, id, "junkemail").await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = move_to(&env, &token, &ids[3], "JunkEmail").await;
    assert_error(status, &body, 400, "ErrorQuotaExceeded", QUOTA);
    let counts = env.emu.folder_counts(MAILBOX);
    assert_eq!((counts["inbox"], counts["junkemail"]), (2, 3));
    // Moving within the full folder adds nothing, so it is allowed.
    let (status, body) = move_to(&env, &token, &ids[0], "junkemail").await;
    assert_eq!(status, 201, "{body}");

    // Create into a full folder, then into Drafts via /messages.
    let create = |path: &str| env.mailbox_url(path);
    let draft = json!({"subject": "new draft", "id": "ignored-id"});
    let (status, body) = env
        .post_json(
            &create("/mailFolders/junkemail/messages"),
            &token,
            true,
            &draft,
        )
        .await;
    assert_error(status, &body, 400, "ErrorQuotaExceeded", QUOTA);
    for _ in 0..3 {
        let (status, body) = env
            .post_json(&create("/messages"), &token, true, &draft)
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["subject"], "new draft");
        assert_eq!(body["isDraft"], true);
        assert_ne!(body["id"], "ignored-id");
    }
    let (status, body) = env
        .post_json(&create("/messages"), &token, true, &draft)
        .await;
    assert_error(status, &body, 400, "ErrorQuotaExceeded", QUOTA);
    assert_eq!(env.emu.folder_counts(MAILBOX)["drafts"], 3);

    // DELETE moves to Deleted Items, so it is refused too once that folder is full.
    env.emu.set_folder_item_limit(0);
    let (status, body) = delete(&env, &token, &ids[4]).await;
    assert_error(status, &body, 400, "ErrorQuotaExceeded", QUOTA);
    assert_eq!(env.emu.folder_counts(MAILBOX)["inbox"], 2);

    env.emu.set_folder_item_limit(1_000_000);
    let (status, body) = move_to(&env, &token, &ids[3], "junkemail").await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = delete(&env, &token, &ids[4]).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = env
        .post_json(
            &create("/mailFolders/junkemail/messages"),
            &token,
            true,
            &draft,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(env.emu.folder_counts(MAILBOX)["junkemail"], 5);
}

#[tokio::test]
async fn with_redirect_uri_registers_an_extra_callback() {
    const EXTRA: &str = "http://127.0.0.1:9555/cb";
    let authorize = |env: &Env| {
        let (_, challenge) = pkce();
        env.http
            .get(env.url("/common/oauth2/v2.0/authorize"))
            .query(&[
                ("client_id", DEMO_CLIENT_ID),
                ("response_type", "code"),
                ("redirect_uri", EXTRA),
                ("scope", "openid offline_access"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .send()
    };
    let plain = common::env(0).await;
    assert_eq!(authorize(&plain).await.unwrap().status(), 400);

    let config = EmulatorConfig::default()
        .with_redirect_uri(EXTRA)
        .with_redirect_uri(EXTRA);
    assert_eq!(
        config.apps[0].redirect_uris,
        [DEMO_REDIRECT_URI.to_string(), EXTRA.to_string()]
    );
    let env = start(common::inbox_seed(0), config).await;
    let r = authorize(&env).await.unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{EXTRA}?code=")),
        "{location}"
    );
    // The original URI keeps working.
    env.authorize(&[]).await;
}

#[tokio::test]
async fn serve_with_serves_a_prepared_emulator() {
    let config = EmulatorConfig {
        users: vec!["cli.user@cronus.example".to_string()],
        ..EmulatorConfig::default()
    };
    let emu = Emulator::new(common::inbox_seed(2), config);
    emu.add_mailbox("extra@cronus.example");
    let task = tokio::spawn(serve_with(emu.clone(), "127.0.0.1:0".parse().unwrap()));
    let mut base = None;
    for _ in 0..200 {
        base = emu.base_url();
        if base.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let base = base.expect("serve_with never started serving");
    let env = Env {
        emu: emu.clone(),
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    let token = env.app_token().await;
    let (status, body) = env
        .get_json(&env.mailbox_url("/mailFolders/inbox"), &token, false)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalItemCount"], 2);
    let extra = format!("{}/v1.0/users/extra@cronus.example/mailFolders", env.base);
    assert_eq!(env.get(&extra, &token, false).await.status(), 200);
    assert!(!task.is_finished());

    // A second serve_with on the same emulator fails instead of serving twice.
    let again = serve_with(emu.clone(), "127.0.0.1:0".parse().unwrap()).await;
    assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
    task.abort();
    drop(env); // shuts the server down
    assert!(emu.base_url().is_none());
}
