//! Graph mail routes over real HTTP.

mod common;

use common::{IMMUTABLE, MAILBOX, env, graph_code, start};
use graph_emulator::{EmulatorConfig, Seed};
use serde_json::{Value, json};

#[tokio::test]
async fn graph_requires_a_valid_token() {
    let env = env(1).await;
    let url = env.mailbox_url("/mailFolders/inbox/messages");
    let r = env.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("client_id=\"00000003-0000-0000-c000-000000000000\"")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(graph_code(&v), "InvalidAuthenticationToken");
    assert_eq!(v["error"]["message"], "Access token is empty.");
    assert!(v["error"]["innerError"]["request-id"].is_string());

    let (status, v) = env.get_json(&url, "made-up-token", false).await;
    assert_eq!(status, 401);
    assert_eq!(
        v["error"]["message"],
        "Access token has expired or is not yet valid."
    );
}

#[tokio::test]
async fn tokens_expire_after_n_requests_and_by_lifetime() {
    let env = env(1).await;
    let token = env.app_token().await;
    let url = env.mailbox_url("/mailFolders/inbox/messages");
    env.emu.expire_access_tokens_after(2);
    assert_eq!(env.get(&url, &token, false).await.status(), 200);
    assert_eq!(env.get(&url, &token, false).await.status(), 200);
    let (status, v) = env.get_json(&url, &token, false).await;
    assert_eq!(status, 401);
    assert_eq!(graph_code(&v), "InvalidAuthenticationToken");
    let fresh = env.app_token().await;
    assert_eq!(env.get(&url, &fresh, false).await.status(), 200);

    let config = EmulatorConfig {
        access_token_lifetime: std::time::Duration::ZERO,
        ..EmulatorConfig::default()
    };
    let short = start(common::inbox_seed(1), config).await;
    let token = short.app_token().await;
    let url = short.mailbox_url("/mailFolders/inbox/messages");
    assert_eq!(short.get(&url, &token, false).await.status(), 401);
}

#[tokio::test]
async fn inbox_pages_follow_next_links_to_where_the_client_called() {
    let env = env(25).await;
    let token = env.app_token().await;
    let mut url = env.mailbox_url(
        "/mailFolders('Inbox')/messages?$select=subject,receivedDateTime&$top=10&$orderby=receivedDateTime",
    );
    let mut subjects = Vec::new();
    let mut pages = 0;
    loop {
        let (status, body) = env.get_json(&url, &token, true).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        for m in body["value"].as_array().unwrap() {
            subjects.push(m["subject"].as_str().unwrap().to_string());
        }
        match body["@odata.nextLink"].as_str() {
            Some(next) => {
                // Called at http://127.0.0.1:PORT, the link leads back there, unchanged.
                let here = format!("{}/v1.0/users/{MAILBOX}/", env.base);
                assert!(next.starts_with(&here), "{next}");
                assert!(next.contains("%24skip="), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).map(|i| format!("Message {i:02}")).collect();
    assert_eq!(subjects, expected);
}

#[tokio::test]
async fn select_limits_fields() {
    let env = env(2).await;
    let token = env.app_token().await;
    let (_, body) = env
        .get_json(
            &env.mailbox_url("/mailFolders/inbox/messages?%24select=subject"),
            &token,
            false,
        )
        .await;
    let first = body["value"][0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["@odata.etag", "id", "subject"]);
    assert!(body.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn extended_properties_come_only_when_expanded() {
    let message = |id: &str, props: Value| {
        json!({"internetMessageId": id, "subject": id, "receivedDateTime": "2026-11-02T10:00:00Z",
               "singleValueExtendedProperties": props})
    };
    let seed = json!({"mailboxes": {MAILBOX: {"folders": {"inbox": [
        message("<private@x>", json!([{"id": "Integer 0x36", "value": "2"},
                                      {"id": "String 0x1000", "value": "body"}])),
        message("<plain@x>", json!([{"id": "String 0x1000", "value": "body"}])),
    ]}}}});
    let env = start(
        Seed::from_json(&seed.to_string()).unwrap(),
        EmulatorConfig::default(),
    )
    .await;
    let token = env.app_token().await;
    let list = |query: &str| env.mailbox_url(&format!("/mailFolders/inbox/messages?{query}"));
    let props = |body: &Value, i: usize| {
        body["value"][i]
            .get("singleValueExtendedProperties")
            .cloned()
    };

    let (_, plain) = env.get_json(&list("$select=subject"), &token, false).await;
    assert_eq!(props(&plain, 0), None, "never without $expand");
    let (_, all) = env
        .get_json(
            &list("$select=subject&$orderby=subject&$expand=singleValueExtendedProperties"),
            &token,
            false,
        )
        .await;
    assert_eq!(props(&all, 1).unwrap().as_array().unwrap().len(), 2);

    // The MAPI tag may be written with or without leading zeros.
    let (status, one) = env
        .get_json(
            &list("$select=subject&$orderby=subject&$top=1&$expand=singleValueExtendedProperties(%24filter%3Did%20eq%20%27Integer%200x0036%27)"),
            &token,
            false,
        )
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(
        props(&one, 0),
        None,
        "<plain@x> has no such property: none at all"
    );
    let next = one["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("expand"), "{next}");
    let (_, page2) = env.get_json(next, &token, false).await;
    assert_eq!(
        props(&page2, 0),
        Some(json!([{"id": "Integer 0x36", "value": "2"}]))
    );

    let (status, bad) = env
        .get_json(
            &list("$expand=singleValueExtendedProperties(%24filter%3Dvalue%20eq%20%272%27)"),
            &token,
            false,
        )
        .await;
    assert_eq!((status, graph_code(&bad)), (400, "BadRequest"), "{bad}");
}

#[tokio::test]
async fn orderby_and_default_order() {
    let env = env(3).await;
    let token = env.app_token().await;
    let subjects = |v: &Value| -> Vec<String> {
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["subject"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, asc) = env
        .get_json(
            &env.mailbox_url("/mailFolders/inbox/messages?$orderby=receivedDateTime asc"),
            &token,
            false,
        )
        .await;
    assert_eq!(subjects(&asc), ["Message 00", "Message 01", "Message 02"]);
    let (_, desc) = env
        .get_json(
            &env.mailbox_url("/mailFolders/inbox/messages"),
            &token,
            false,
        )
        .await;
    assert_eq!(subjects(&desc), ["Message 02", "Message 01", "Message 00"]);
    let (_, filtered) = env
        .get_json(
            &env.mailbox_url(
                "/mailFolders/inbox/messages?$filter=receivedDateTime ge 2026-11-02T10:01:00Z and isDraft eq false&$orderby=receivedDateTime",
            ),
            &token,
            false,
        )
        .await;
    assert_eq!(subjects(&filtered), ["Message 01", "Message 02"]);
}

#[tokio::test]
async fn orderby_not_leading_the_filter_is_inefficient() {
    let env = env(3).await;
    let token = env.app_token().await;
    let (status, v) = env
        .get_json(
            &env.mailbox_url(
                "/mailFolders/inbox/messages?$filter=isDraft eq false&$orderby=receivedDateTime",
            ),
            &token,
            false,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(graph_code(&v), "InefficientFilter");
    for bad in ["$top=0", "$top=5000", "$top=ten"] {
        let (status, v) = env
            .get_json(
                &env.mailbox_url(&format!("/mailFolders/inbox/messages?{bad}")),
                &token,
                false,
            )
            .await;
        assert_eq!(status, 400, "{bad}");
        assert!(v["error"]["code"].is_string());
    }
}

#[tokio::test]
async fn move_changes_rest_id_but_not_immutable_id() {
    let env = env(2).await;
    let token = env.app_token().await;
    let list = env.mailbox_url("/mailFolders/inbox/messages?$orderby=receivedDateTime");
    let (_, rest) = env.get_json(&list, &token, false).await;
    let (_, imm) = env.get_json(&list, &token, true).await;
    let rest_id = rest["value"][0]["id"].as_str().unwrap().to_string();
    let imm_id = imm["value"][0]["id"].as_str().unwrap().to_string();
    assert!(rest_id.starts_with("AAMkAG"), "{rest_id}");
    assert!(imm_id.starts_with("AAkALgAA"), "{imm_id}");
    let link_before = rest["value"][0]["webLink"].as_str().unwrap().to_string();
    assert!(link_before.starts_with("https://outlook.office365.com/owa/?ItemID="));
    assert!(env.emu.resolve_web_link(&link_before).is_some());

    let (status, archive) = env
        .post_json(
            &env.mailbox_url("/mailFolders"),
            &token,
            false,
            &json!({"displayName": "Logged"}),
        )
        .await;
    assert_eq!(status, 201);
    let enc = |id: &str| url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>();
    let (status, moved) = env
        .post_json(
            &env.mailbox_url(&format!("/messages/{}/move", enc(&imm_id))),
            &token,
            true,
            &json!({"destinationId": archive["id"]}),
        )
        .await;
    assert_eq!(status, 201, "{moved}");
    assert_eq!(moved["id"], imm_id.as_str());
    assert_eq!(moved["parentFolderId"], archive["id"]);
    let link_after = moved["webLink"].as_str().unwrap().to_string();
    assert_ne!(link_after, link_before);
    assert!(env.emu.resolve_web_link(&link_before).is_none());
    let resolved = env.emu.resolve_web_link(&link_after).unwrap();
    assert_eq!(resolved["id"], imm_id.as_str());

    // The OWA page answers the same way over HTTP, via the proxy rewrite.
    let owa = |link: &str| link.replace("https://outlook.office365.com", &env.base);
    let r = env.http.get(owa(&link_after)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Message 00"));
    assert_eq!(
        env.http
            .get(owa(&link_before))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let (status, v) = env
        .get_json(
            &env.mailbox_url(&format!("/messages/{}", enc(&rest_id))),
            &token,
            false,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(graph_code(&v), "ErrorItemNotFound");
    assert_eq!(
        v["error"]["message"],
        "The specified object was not found in the store., The process failed to get the correct properties."
    );
    let (status, v) = env
        .get_json(
            &env.mailbox_url(&format!("/messages/{}", enc(&imm_id))),
            &token,
            false,
        )
        .await;
    assert_eq!(status, 200);
    assert_ne!(v["id"], rest_id.as_str(), "a new REST id after the move");
    assert!(v["id"].as_str().unwrap().starts_with("AAMkAG"));

    let (status, v) = env
        .post_json(
            &env.mailbox_url(&format!("/messages/{}/move", enc(&imm_id))),
            &token,
            true,
            &json!({"destinationId": "no-such-folder"}),
        )
        .await;
    assert_eq!((status, graph_code(&v)), (404, "ErrorItemNotFound"));
    let r = env
        .http
        .post(env.mailbox_url(&format!("/messages/{}/move", enc(&imm_id))))
        .bearer_auth(&token)
        .header("Prefer", IMMUTABLE)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (status, v) = env
        .get_json(&env.mailbox_url("/messages/a%2Fb"), &token, false)
        .await;
    assert_eq!((status, graph_code(&v)), (400, "ErrorInvalidIdMalformed"));
}

#[tokio::test]
async fn folders_create_duplicate_and_find_by_name() {
    let env = env(0).await;
    let token = env.app_token().await;
    let (status, f) = env
        .post_json(
            &env.mailbox_url("/mailFolders/inbox/childFolders"),
            &token,
            false,
            &json!({"displayName": "Bob's mail"}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(f["displayName"], "Bob's mail");
    let (status, v) = env
        .post_json(
            &env.mailbox_url("/mailFolders/Inbox/childFolders"),
            &token,
            false,
            &json!({"displayName": "bob's MAIL"}),
        )
        .await;
    assert_eq!((status, graph_code(&v)), (400, "ErrorFolderExists"));
    let (status, _) = env
        .post_json(&env.mailbox_url("/mailFolders"), &token, false, &json!({}))
        .await;
    assert_eq!(status, 400);

    let (_, found) = env
        .get_json(
            &env.mailbox_url(
                "/mailFolders/inbox/childFolders?$filter=displayName eq 'Bob''s mail'",
            ),
            &token,
            false,
        )
        .await;
    assert_eq!(found["value"].as_array().unwrap().len(), 1);
    assert_eq!(found["value"][0]["id"], f["id"]);
    let (_, none) = env
        .get_json(
            &env.mailbox_url("/mailFolders?$filter=displayName eq 'Bob''s mail'"),
            &token,
            false,
        )
        .await;
    assert_eq!(
        none["value"].as_array().unwrap().len(),
        0,
        "not at root level"
    );
    let (_, root) = env
        .get_json(&env.mailbox_url("/mailFolders?$top=100"), &token, false)
        .await;
    let names: Vec<&str> = root["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["displayName"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Inbox") && names.contains(&"Junk Email"),
        "{names:?}"
    );
    assert!(!names.contains(&"Top of Information Store"));
    let (_, inbox) = env
        .get_json(&env.mailbox_url("/mailFolders/inbox"), &token, false)
        .await;
    assert_eq!(inbox["childFolderCount"], 1);
}

#[tokio::test]
async fn delete_moves_to_deleted_items() {
    let env = env(2).await;
    let token = env.app_token().await;
    let (_, list) = env
        .get_json(
            &env.mailbox_url("/mailFolders/inbox/messages"),
            &token,
            true,
        )
        .await;
    let id = list["value"][0]["id"].as_str().unwrap();
    let enc: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let r = env
        .http
        .delete(env.mailbox_url(&format!("/messages/{enc}")))
        .bearer_auth(&token)
        .header("Prefer", IMMUTABLE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let counts = env.emu.folder_counts(MAILBOX);
    assert_eq!(counts["inbox"], 1);
    assert_eq!(counts["deleteditems"], 1);
    assert_eq!(env.emu.messages(MAILBOX, "Deleted Items")[0]["id"], id);
}

#[tokio::test]
async fn permanent_delete_removes_the_message_for_good() {
    let env = env(2).await;
    let token = env.app_token().await;
    let (_, list) = env
        .get_json(
            &env.mailbox_url("/mailFolders/inbox/messages"),
            &token,
            true,
        )
        .await;
    let id = list["value"][0]["id"].as_str().unwrap();
    let enc: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let url = env.mailbox_url(&format!("/messages/{enc}/permanentDelete"));
    let r = env
        .http
        .post(&url)
        .bearer_auth(&token)
        .header("Prefer", IMMUTABLE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let counts = env.emu.folder_counts(MAILBOX);
    assert_eq!(counts["inbox"], 1);
    assert_eq!(counts.get("deleteditems").copied().unwrap_or(0), 0);
    let again = env
        .http
        .post(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn unknown_mailbox_routes_and_recording() {
    let env = env(1).await;
    let token = env.app_token().await;
    let (status, v) = env
        .get_json(
            &env.url("/v1.0/users/ghost@nowhere.example/mailFolders"),
            &token,
            false,
        )
        .await;
    assert_eq!((status, graph_code(&v)), (404, "ErrorInvalidUser"));
    let r = env.get(&env.mailbox_url("/nonsense"), &token, false).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().contains_key("request-id"));
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json;odata.metadata=minimal")
    );
    let (status, _) = env.get_json(&env.url("/nowhere"), &token, false).await;
    assert_eq!(status, 404);
    env.get(
        &env.mailbox_url("/mailFolders/inbox/messages?$top=1"),
        &token,
        true,
    )
    .await;
    let last = env.emu.requests().pop().unwrap();
    assert_eq!(last.method, "GET");
    assert_eq!(
        last.path_and_query,
        format!("/v1.0/users/{MAILBOX}/mailFolders/inbox/messages?$top=1")
    );
    assert!(last.prefer.unwrap().contains(IMMUTABLE));
    assert!(last.authorization_present);
    assert_eq!(last.status, 200);
    let token_request = &env.emu.requests()[0];
    assert_eq!(token_request.path_and_query, "/common/oauth2/v2.0/token");
    assert!(!token_request.authorization_present);
}

#[tokio::test]
async fn malformed_seed_fields_are_served_as_given() {
    let seed = Seed::from_json(
        &json!({"mailboxes": {MAILBOX: {"folders": {"inbox": [
            {"subject": null, "toRecipients": "not-a-list", "receivedDateTime": "yesterday"},
            {"subject": "ok", "receivedDateTime": "2026-11-01T00:00:00Z"}
        ]}}}})
        .to_string(),
    )
    .unwrap();
    let env = start(seed, EmulatorConfig::default()).await;
    let token = env.app_token().await;
    let (status, v) = env
        .get_json(
            &env.mailbox_url("/mailFolders/inbox/messages?$orderby=receivedDateTime"),
            &token,
            false,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["value"][0]["toRecipients"], "not-a-list");
    assert_eq!(v["value"][0]["subject"], Value::Null);
    assert_eq!(v["value"][1]["subject"], "ok");
}

#[tokio::test]
async fn odd_requests_get_error_envelopes_not_panics() {
    let env = env(1).await;
    let token = env.app_token().await;
    for path in [
        "/v1.0",
        "/v1.0/",
        "/v1.0/me/mailFolders",
        "/v1.0/users/%ff/mailFolders",
        "/v1.0/users/x@y.example/mailFolders('",
        &format!("/v1.0/users/{MAILBOX}/mailFolders('')/messages"),
        &format!("/v1.0/users/{MAILBOX}/mailFolders/inbox/messages/%2F/move"),
        &format!("/v1.0/users/{MAILBOX}/mailFolders/inbox/messages?$filter=(("),
        &format!("/v1.0/users/{MAILBOX}/mailFolders/inbox/messages?$skip=99999999999999999999999"),
        &format!("/v1.0/users/{MAILBOX}/messages/AAMkAGnope/move"),
    ] {
        let r = env.get(&env.url(path), &token, true).await;
        let status = r.status().as_u16();
        assert!((400..500).contains(&status), "{path}: {status}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"]["code"].is_string(), "{path}: {v}");
    }
    let r = env
        .http
        .post(env.mailbox_url("/mailFolders"))
        .bearer_auth(&token)
        .body(vec![0xffu8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = env
        .http
        .get(env.url("/common/oauth2/v2.0/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// Graph matches action parameter names case-insensitively; the SDKs send the spelling of
/// Graph's metadata (`DestinationId`), the docs write `destinationId`.
#[tokio::test]
async fn move_parameter_names_are_case_insensitive() {
    let env = env(4).await;
    let token = env.app_token().await;
    let ids: Vec<String> = env
        .emu
        .messages(MAILBOX, "inbox")
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    for (id, name) in ids
        .iter()
        .zip(["DestinationId", "DESTINATIONID", "destinationid"])
    {
        let (status, moved) = env
            .post_json(
                &env.mailbox_url(&format!("/messages/{id}/move")),
                &token,
                true,
                &json!({name: "archive"}),
            )
            .await;
        assert_eq!(status, 201, "{name}: {moved}");
    }
    // The same inside $batch, as the SDKs' batch request content sends it.
    let batch = json!({"requests": [{
        "id": "1", "method": "POST",
        "url": format!("/users/{MAILBOX}/messages/{}/move", ids[3]),
        "headers": {"Content-Type": "application/json"},
        "body": {"DestinationId": "archive"},
    }]});
    let (status, body) = env
        .post_json(&env.url("/v1.0/$batch"), &token, true, &batch)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["responses"][0]["status"], 201, "{body}");
    assert_eq!(env.emu.folder_counts(MAILBOX)["archive"], 4);
    assert_eq!(env.emu.folder_counts(MAILBOX)["inbox"], 0);
}

/// Links are built from the address the request was sent to: a proxy that routes the public
/// URLs to the emulator and keeps `Host: graph.microsoft.com` gets the public https links; any
/// other host gets http links to itself; a configured base overrides both.
#[tokio::test]
async fn links_follow_the_host_header_unless_a_base_is_configured() {
    let env = env(3).await;
    let token = env.app_token().await;
    let url = env.mailbox_url("/mailFolders/inbox/messages?$top=1");
    let next_link = |host: Option<&'static str>| {
        let mut r = env.http.get(&url).bearer_auth(&token);
        if let Some(h) = host {
            r = r.header("host", h);
        }
        async move {
            let v: Value = r.send().await.unwrap().json().await.unwrap();
            (
                v["@odata.nextLink"].as_str().unwrap().to_string(),
                v["@odata.context"].as_str().unwrap().to_string(),
            )
        }
    };
    let (next, context) = next_link(None).await;
    assert!(
        next.starts_with(&format!("{}/v1.0/users/", env.base)),
        "{next}"
    );
    assert!(
        context.starts_with(&format!("{}/v1.0/$metadata#", env.base)),
        "{context}"
    );
    let (next, context) = next_link(Some("graph.microsoft.com")).await;
    assert!(
        next.starts_with("https://graph.microsoft.com/v1.0/users/"),
        "{next}"
    );
    assert!(
        context.starts_with("https://graph.microsoft.com/v1.0/$metadata#"),
        "{context}"
    );
    let (next, _) = next_link(Some("Graph.Microsoft.com:443")).await;
    assert!(
        next.starts_with("https://graph.microsoft.com/v1.0/"),
        "{next}"
    );
    let (next, _) = next_link(Some("emulator.test:8470")).await;
    assert!(
        next.starts_with("http://emulator.test:8470/v1.0/"),
        "{next}"
    );
    let (next, _) = next_link(Some("[::1]:9000")).await;
    assert!(next.starts_with("http://[::1]:9000/v1.0/"), "{next}");
    // Nothing that is not a plain host[:port] makes it into a link.
    let (next, _) = next_link(Some("evil.example/x?#")).await;
    assert!(
        next.starts_with("https://graph.microsoft.com/v1.0/"),
        "{next}"
    );

    // Inside $batch the inner answers' links use the outer request's address.
    let batch = json!({"requests": [{"id": "1", "method": "GET",
        "url": format!("/users/{MAILBOX}/mailFolders/inbox/messages?$top=1")}]});
    let (_, body) = env
        .post_json(&env.url("/v1.0/$batch"), &token, false, &batch)
        .await;
    let inner = body["responses"][0]["body"]["@odata.nextLink"]
        .as_str()
        .unwrap();
    assert!(inner.starts_with(&format!("{}/v1.0/", env.base)), "{inner}");

    // webLink stays on Outlook on the web's public base.
    let (_, v) = env.get_json(&url, &token, false).await;
    assert!(
        v["value"][0]["webLink"]
            .as_str()
            .unwrap()
            .starts_with("https://outlook.office365.com/owa/?ItemID=")
    );

    let fixed = start(
        common::inbox_seed(3),
        EmulatorConfig {
            graph_public_base: Some("https://graph.example/".into()),
            ..EmulatorConfig::default()
        },
    )
    .await;
    let token = fixed.app_token().await;
    let (_, v) = fixed
        .get_json(
            &fixed.mailbox_url("/mailFolders/inbox/messages?$top=1"),
            &token,
            false,
        )
        .await;
    let next = v["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with("https://graph.example/v1.0/users/"),
        "{next}"
    );
}

/// `@odata.context` as Graph writes it: the owner and folder keys as the request named them
/// (OData-quoted, percent-encoded), the collection, the `$select`ed properties, `/$entity` for
/// one item.
#[tokio::test]
async fn odata_context_has_graphs_shape() {
    let env = env(2).await;
    let token = env.app_token().await;
    let meta = format!("{}/v1.0/$metadata#", env.base);
    let owner = "users('shared%40contoso.example')";
    let id = env.emu.messages(MAILBOX, "inbox")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    async fn context_of(env: &common::Env, token: &str, path: String) -> String {
        let (status, v) = env.get_json(&env.mailbox_url(&path), token, true).await;
        assert_eq!(status, 200, "{path}: {v}");
        v["@odata.context"].as_str().unwrap().to_string()
    }
    let context = |path: String| context_of(&env, &token, path);
    for (path, want) in [
        (
            "/mailFolders/inbox/messages?$select=subject".to_string(),
            format!("{owner}/mailFolders('inbox')/messages(subject)"),
        ),
        (
            "/mailFolders('Inbox')/messages".to_string(),
            format!("{owner}/mailFolders('Inbox')/messages"),
        ),
        ("/messages".to_string(), format!("{owner}/messages")),
        (
            format!("/messages/{id}"),
            format!("{owner}/messages/$entity"),
        ),
        (
            format!("/mailFolders/inbox/messages/{id}?$select=subject,from"),
            format!("{owner}/mailFolders('inbox')/messages(subject,from)/$entity"),
        ),
        ("/mailFolders".to_string(), format!("{owner}/mailFolders")),
        (
            "/mailFolders/inbox".to_string(),
            format!("{owner}/mailFolders/$entity"),
        ),
        (
            "/mailFolders/inbox/childFolders".to_string(),
            format!("{owner}/mailFolders('inbox')/childFolders"),
        ),
    ] {
        assert_eq!(
            context(path.clone()).await,
            format!("{meta}{want}"),
            "{path}"
        );
    }

    let (status, child) = env
        .post_json(
            &env.mailbox_url("/mailFolders/inbox/childFolders"),
            &token,
            false,
            &json!({"displayName": "Sub"}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        child["@odata.context"],
        format!("{meta}{owner}/mailFolders('inbox')/childFolders/$entity")
    );
    let child_id = child["id"].as_str().unwrap();
    assert_eq!(
        context(format!("/mailFolders/inbox/childFolders/{child_id}")).await,
        format!("{meta}{owner}/mailFolders('inbox')/childFolders/$entity")
    );
    assert_eq!(
        context(format!(
            "/mailFolders/inbox/childFolders/{child_id}/messages"
        ))
        .await,
        format!("{meta}{owner}/mailFolders('inbox')/childFolders('{child_id}')/messages")
    );
    let (status, moved) = env
        .post_json(
            &env.mailbox_url(&format!("/mailFolders/inbox/messages/{id}/move")),
            &token,
            true,
            &json!({"destinationId": "archive"}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        moved["@odata.context"],
        format!("{meta}{owner}/messages/$entity")
    );
    // A key with characters outside the unreserved set is percent-encoded, quotes doubled.
    env.emu.add_mailbox("o'neil+x@contoso.example");
    let (status, v) = env
        .get_json(
            &env.url("/v1.0/users/o'neil+x@contoso.example/mailFolders"),
            &token,
            false,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["@odata.context"],
        format!("{meta}users('o''neil%2Bx%40contoso.example')/mailFolders")
    );
}

/// `$count=true` adds `@odata.count` (the whole filtered collection, on every page);
/// `/messages/$count` answers the number as plain text. For Outlook messages Graph needs no
/// `ConsistencyLevel: eventual` (only directory objects do), so it may or may not be sent.
#[tokio::test]
async fn count_option_and_count_segment() {
    let env = env(12).await;
    let token = env.app_token().await;
    env.emu
        .add_message(
            MAILBOX,
            "inbox",
            json!({"subject": "Draft", "isDraft": true, "receivedDateTime": "2026-11-01T09:00:00Z"}),
        )
        .unwrap();
    let (status, page) = env
        .get_json(
            &env.mailbox_url("/mailFolders/inbox/messages?$count=true&$top=5&$select=subject"),
            &token,
            false,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["@odata.count"], 13);
    assert_eq!(page["value"].as_array().unwrap().len(), 5);
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("%24count=true"), "{next}");
    let (_, second) = env.get_json(next, &token, false).await;
    assert_eq!(second["@odata.count"], 13);
    let (_, filtered) = env
        .get_json(
            &env.mailbox_url("/mailFolders/inbox/messages?$count=true&$filter=isDraft eq false"),
            &token,
            false,
        )
        .await;
    assert_eq!(filtered["@odata.count"], 12);
    let (_, plain) = env
        .get_json(
            &env.mailbox_url("/mailFolders/inbox/messages"),
            &token,
            false,
        )
        .await;
    assert!(plain.get("@odata.count").is_none());
    let (status, bad) = env
        .get_json(&env.mailbox_url("/messages?$count=maybe"), &token, false)
        .await;
    assert_eq!((status, graph_code(&bad)), (400, "BadRequest"));

    for (path, consistency, want) in [
        ("/mailFolders/inbox/messages/$count", true, "13"),
        ("/mailFolders/inbox/messages/%24count", false, "13"),
        (
            "/mailFolders('Inbox')/messages/$count?$filter=isDraft eq true",
            false,
            "1",
        ),
        ("/mailFolders/archive/messages/$count", false, "0"),
        ("/messages/$count", false, "13"),
    ] {
        let mut r = env.http.get(env.mailbox_url(path)).bearer_auth(&token);
        if consistency {
            r = r.header("ConsistencyLevel", "eventual");
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain"),
            "{path}"
        );
        assert_eq!(r.text().await.unwrap(), want, "{path}");
    }
}
