//! EWS over real HTTP: public and mailbox folders, FindItem paging and sorting, GetItem in
//! request order with per-item errors, moves, copies and deletes, checked on the XML Exchange
//! would send.

mod ews_support;

use ews_support::*;
use graph_emulator::EmulatorConfig;
use serde_json::{Value, json};

#[tokio::test]
async fn public_folders_are_walked_created_and_counted() {
    let env = start(EmulatorConfig::default()).await;
    let root = env
        .ok(r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="folder:DisplayName"/><t:FieldURI FieldURI="folder:ChildFolderCount"/></t:AdditionalProperties></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="publicfoldersroot"/></m:FolderIds></m:GetFolder>"#)
        .await;
    assert_eq!(root.texts("DisplayName"), ["IPM_SUBTREE"]);
    assert_eq!(root.texts("ChildFolderCount"), ["1"]);
    assert!(
        root.texts("TotalCount").is_empty(),
        "IdOnly plus two properties"
    );

    let top = env
        .ok(&find_folder(
            r#"<t:DistinguishedFolderId Id="publicfoldersroot"/>"#,
        ))
        .await;
    assert_eq!(top.texts("DisplayName"), ["Email Logging"]);
    let paging = &top.attrs("RootFolder")[0];
    assert_eq!(paging["TotalItemsInView"], "1");
    assert_eq!(paging["IncludesLastItemInRange"], "true");

    let queue = env.public_folder_id(QUEUE).await;
    let got = env
        .ok(&format!(r#"<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape><m:FolderIds>{queue}</m:FolderIds></m:GetFolder>"#))
        .await;
    assert_eq!(got.texts("TotalCount"), [QUEUE_COUNT.to_string()]);
    assert_eq!(got.texts("FolderClass"), ["IPF.Note"]);
    assert_eq!(got.attrs("ParentFolderId").len(), 1);

    // CreateFolder under "Email Logging": a new name works, an existing one in any case fails.
    let parent_xml = {
        let x = env
            .ok(&find_folder(
                r#"<t:DistinguishedFolderId Id="publicfoldersroot"/>"#,
            ))
            .await;
        folder_id_xml(&x.attrs("FolderId")[0]["Id"])
    };
    let created = env
        .ok(&format!(r#"<m:CreateFolder><m:ParentFolderId>{parent_xml}</m:ParentFolderId><m:Folders><t:Folder><t:DisplayName>Quarantine</t:DisplayName></t:Folder><t:Folder><t:DisplayName>qUEUE</t:DisplayName></t:Folder></m:Folders></m:CreateFolder>"#))
        .await;
    assert_eq!(created.classes(), ["Success", "Error"]);
    assert_eq!(
        created.texts("ResponseCode"),
        ["NoError", "ErrorFolderExists"]
    );
    assert_eq!(
        env.emu.public_folder_count("email logging/quarantine"),
        Some(0)
    );
    assert_eq!(env.emu.public_folder_count("Email Logging/Nope"), None);
}

#[tokio::test]
async fn mailbox_folders_and_folder_errors() {
    let env = start(EmulatorConfig::default()).await;
    let x = env
        .ok(&format!(
            r#"<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>{AGENT}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId><t:DistinguishedFolderId Id="msgfolderroot"/><t:DistinguishedFolderId Id="root"/><t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>ghost@cronus.example</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId><t:FolderId Id="not base64 !"/><t:FolderId Id="{}"/><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>"#,
            unknown_folder_id()
        ))
        .await;
    assert_eq!(
        x.texts("ResponseCode"),
        [
            "NoError",
            "NoError",
            "NoError",
            "ErrorNonExistentMailbox",
            "ErrorInvalidIdMalformed",
            "ErrorFolderNotFound",
            "ErrorFolderNotFound"
        ]
    );
    assert_eq!(
        x.texts("DisplayName"),
        ["Inbox", "Top of Information Store", "Root"]
    );
    assert_eq!(x.texts("TotalCount")[0], "2");
    assert_eq!(x.texts("DescriptiveLinkKey"), ["0", "0", "0", "0"]);
    assert!(x.texts("MessageText").iter().all(|t| !t.is_empty()));

    // Deep traversal below root reaches the well-known folders.
    let deep = env
        .ok(&find_folder(r#"<t:DistinguishedFolderId Id="root"/>"#).replace("Shallow", "Deep"))
        .await;
    let names = deep.texts("DisplayName");
    assert!(names.contains(&"Inbox".to_string()), "{names:?}");
    assert!(names.contains(&"Top of Information Store".to_string()));

    // Another user's mailbox, closed to the agent.
    env.emu.add_mailbox("boss@cronus.example");
    env.emu.set_mailbox_access("boss@cronus.example", &[]);
    let denied = env
        .ok(r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>boss@cronus.example</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:FolderIds></m:GetFolder>"#)
        .await;
    assert_eq!(denied.texts("ResponseCode"), ["ErrorAccessDenied"]);
}

#[tokio::test]
async fn find_item_pages_and_sorts_by_received_date() {
    let env = start(EmulatorConfig::default()).await;
    let queue = env.public_folder_id(QUEUE).await;
    let all = env.ok(&find_item(&queue, 50, 0, "Ascending")).await;
    let ids = all.item_ids();
    assert_eq!(ids.len(), QUEUE_COUNT);
    let paging = &all.attrs("RootFolder")[0];
    assert_eq!(paging["IndexedPagingOffset"], QUEUE_COUNT.to_string());
    assert_eq!(paging["TotalItemsInView"], QUEUE_COUNT.to_string());
    assert_eq!(paging["IncludesLastItemInRange"], "true");
    // Received minutes are (i * 7) % 60: 0, 7, 14, ... 42, so ascending is seed order.
    let subjects = env
        .ok(&get_item(
            &ids.iter().map(String::as_str).collect::<Vec<_>>(),
        ))
        .await
        .texts("Subject");
    let expected: Vec<String> = (0..QUEUE_COUNT)
        .map(|i| format!("Queued {i:02} <&>"))
        .collect();
    assert_eq!(subjects, expected);

    let first = env.ok(&find_item(&queue, 3, 0, "Ascending")).await;
    assert_eq!(first.item_ids(), ids[..3]);
    let paging = &first.attrs("RootFolder")[0];
    assert_eq!(paging["IndexedPagingOffset"], "3");
    assert_eq!(paging["IncludesLastItemInRange"], "false");
    let last = env.ok(&find_item(&queue, 3, 6, "Ascending")).await;
    assert_eq!(last.item_ids(), ids[6..]);
    assert_eq!(
        last.attrs("RootFolder")[0]["IncludesLastItemInRange"],
        "true"
    );
    let beyond = env.ok(&find_item(&queue, 3, 50, "Ascending")).await;
    assert!(beyond.item_ids().is_empty());
    // Extreme offsets, from either end, are empty pages rather than panics.
    let huge = find_item(&queue, 3, usize::MAX, "Ascending");
    assert!(env.ok(&huge).await.item_ids().is_empty());
    let from_end = env
        .ok(&huge.replace("BasePoint=\"Beginning\"", "BasePoint=\"End\""))
        .await;
    assert!(from_end.item_ids().is_empty());
    let last_two = env
        .ok(&find_item(&queue, 2, 0, "Ascending").replace("Beginning", "End"))
        .await;
    assert_eq!(last_two.item_ids(), ids[QUEUE_COUNT - 2..]);

    let desc = env.ok(&find_item(&queue, 50, 0, "Descending")).await;
    let mut reversed = ids.clone();
    reversed.reverse();
    assert_eq!(desc.item_ids(), reversed);

    // Ids are stable: the same item has the same id on every look.
    let again = env.ok(&find_item(&queue, 50, 0, "Ascending")).await;
    assert_eq!(again.item_ids(), ids);
    assert!(
        all.attrs("ItemId")
            .iter()
            .all(|a| !a["ChangeKey"].is_empty()),
        "ChangeKeys"
    );
}

#[tokio::test]
async fn get_item_answers_in_request_order_with_per_item_errors() {
    let env = start(EmulatorConfig::default()).await;
    let queue = env.public_folder_id(QUEUE).await;
    let ids = env
        .ok(&find_item(&queue, 50, 0, "Ascending"))
        .await
        .item_ids();
    // A stale id: the message moved since, so the id names nothing.
    let inbox = r#"<t:DistinguishedFolderId Id="inbox"/>"#;
    let inbox_ids = env
        .ok(&find_item(inbox, 50, 0, "Ascending"))
        .await
        .item_ids();
    let moved = env
        .ok(&move_item(
            "MoveItem",
            r#"<t:DistinguishedFolderId Id="junkemail"/>"#,
            &[&inbox_ids[0]],
        ))
        .await;
    assert_eq!(moved.item_ids().len(), 1);
    assert_ne!(moved.item_ids()[0], inbox_ids[0]);

    let x = env
        .ok(&get_item(&[
            &ids[1],
            "%%%",
            &inbox_ids[0],
            &ids[2],
            &unknown_item_id(),
            &ids[0],
        ]))
        .await;
    assert_eq!(
        x.classes(),
        ["Success", "Error", "Error", "Success", "Error", "Success"]
    );
    assert_eq!(
        x.texts("ResponseCode"),
        [
            "NoError",
            "ErrorInvalidIdMalformed",
            "ErrorItemNotFound",
            "NoError",
            "ErrorItemNotFound",
            "NoError"
        ]
    );
    assert_eq!(
        x.texts("Sensitivity"),
        ["Private", "Confidential", "Normal"]
    );
    assert_eq!(
        x.texts("InternetMessageId"),
        [
            "<q1@test.example>",
            "<q2@test.example>",
            "<q0@test.example>"
        ]
    );
    assert_eq!(x.texts("Subject")[0], "Queued 01 <&>");
    // Schema order: Sender, To, Cc, Bcc, From.
    assert_eq!(
        x.texts("EmailAddress")[..4],
        [
            "andy@teal.example",
            "jim@cronus.example",
            "email-logging@cronus.example",
            "andy@teal.example"
        ]
    );
    assert_eq!(x.texts("DateTimeReceived")[0], "2026-11-02T10:07:00Z");
    assert_eq!(x.texts("IsRead")[0], "false");
    assert_eq!(x.texts("IsDraft")[0], "false");
    // Empty Cc lists are left out; Bcc is there.
    assert!(x.texts("CcRecipients").is_empty());
    assert_eq!(x.texts("BccRecipients").len(), 3);
    // The OWA link opens the message.
    let link = &x.texts("WebClientReadFormQueryString")[0];
    assert!(link.contains("/owa/?ItemID="), "{link}");
    let opened = env.emu.resolve_web_link(link).expect("the link resolves");
    assert_eq!(opened["internetMessageId"], "<q1@test.example>");
    let path = &link[link.find("/owa/").unwrap()..];
    let page = env
        .http
        .get(format!("{}{path}", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Queued 01"));
}

#[tokio::test]
async fn moves_copies_and_deletes() {
    let env = start(EmulatorConfig::default()).await;
    let queue = env.public_folder_id(QUEUE).await;
    let storage = env.public_folder_id(STORAGE).await;
    let ids = env
        .ok(&find_item(&queue, 50, 0, "Ascending"))
        .await
        .item_ids();

    // Into a public folder: success, but no new id.
    let moved = env
        .ok(&move_item("MoveItem", &storage, &[&ids[0], &ids[1]]))
        .await;
    assert_eq!(moved.classes(), ["Success", "Success"]);
    assert!(moved.item_ids().is_empty());
    assert_eq!(moved.texts("Items").len(), 2);
    assert_eq!(env.emu.public_folder_count(QUEUE), Some(QUEUE_COUNT - 2));
    assert_eq!(env.emu.public_folder_count(STORAGE), Some(2));
    // The old id is gone with the move.
    let stale = env.ok(&get_item(&[&ids[0]])).await;
    assert_eq!(stale.texts("ResponseCode"), ["ErrorItemNotFound"]);

    // From a public folder into the mailbox: a new id, and Graph sees the message there.
    let to_inbox = env
        .ok(&move_item(
            "MoveItem",
            r#"<t:DistinguishedFolderId Id="inbox"/>"#,
            &[&ids[2], "bogus"],
        ))
        .await;
    assert_eq!(to_inbox.classes(), ["Success", "Error"]);
    assert_eq!(to_inbox.item_ids().len(), 1);
    assert_eq!(env.emu.folder_counts(AGENT)["inbox"], 3);
    let graph_ids: Vec<Value> = env.emu.messages(AGENT, "inbox");
    assert!(
        graph_ids
            .iter()
            .any(|m| m["internetMessageId"] == "<q2@test.example>")
    );

    // Copy keeps the original.
    let copied = env
        .ok(&move_item(
            "CopyItem",
            r#"<t:DistinguishedFolderId Id="drafts"/>"#,
            &[&ids[3]],
        ))
        .await;
    assert_eq!(copied.item_ids().len(), 1);
    assert_eq!(env.emu.public_folder_count(QUEUE), Some(QUEUE_COUNT - 3));
    assert_eq!(env.emu.folder_counts(AGENT)["drafts"], 1);

    // A full destination folder: ErrorQuotaExceeded for that item only.
    env.emu.set_folder_item_limit(3);
    let full = env
        .ok(&move_item(
            "MoveItem",
            r#"<t:DistinguishedFolderId Id="inbox"/>"#,
            &[&ids[4]],
        ))
        .await;
    assert_eq!(full.texts("ResponseCode"), ["ErrorQuotaExceeded"]);
    env.emu.set_folder_item_limit(1000);

    // Unknown destination: every item fails with ErrorFolderNotFound.
    let nowhere = env
        .ok(&move_item(
            "MoveItem",
            &folder_id_xml(&unknown_folder_id()),
            &[&ids[4], &ids[5]],
        ))
        .await;
    assert_eq!(
        nowhere.texts("ResponseCode"),
        ["ErrorFolderNotFound", "ErrorFolderNotFound"]
    );

    // Deletes: hard from the public folder, to Deleted Items in the mailbox.
    let inbox_ids = env
        .ok(&find_item(
            r#"<t:DistinguishedFolderId Id="inbox"/>"#,
            50,
            0,
            "Ascending",
        ))
        .await
        .item_ids();
    let hard = env
        .ok(&format!(
            r#"<m:DeleteItem DeleteType="HardDelete"><m:ItemIds>{}</m:ItemIds></m:DeleteItem>"#,
            item_ids(&[&ids[4], &ids[4]])
        ))
        .await;
    assert_eq!(hard.texts("ResponseCode"), ["NoError", "ErrorItemNotFound"]);
    let soft = env
        .ok(&format!(r#"<m:DeleteItem DeleteType="MoveToDeletedItems"><m:ItemIds>{}</m:ItemIds></m:DeleteItem>"#, item_ids(&[&inbox_ids[0]])))
        .await;
    assert_eq!(soft.classes(), ["Success"]);
    assert_eq!(env.emu.folder_counts(AGENT)["deleteditems"], 1);
    assert_eq!(env.emu.public_folder_count(QUEUE), Some(QUEUE_COUNT - 4));
    let calls = env.emu.requests();
    assert!(
        calls
            .iter()
            .any(|r| r.path_and_query == "EWS DeleteItem" && r.status == 200)
    );
}

#[tokio::test]
async fn the_test_api_for_public_folders() {
    let env = start(EmulatorConfig::default()).await;
    let id = env
        .emu
        .add_public_message("Email Logging/Queue/Sub", json!({"subject": "Added"}))
        .unwrap();
    assert_eq!(
        env.emu.public_folder_count("Email Logging/Queue/Sub"),
        Some(1)
    );
    let messages = env.emu.public_folder_messages("Email Logging/Queue/Sub");
    assert_eq!(messages[0]["id"], id);
    assert!(env.emu.add_public_message("a//b", json!({})).is_err());
    assert!(env.emu.add_public_message("a", json!([])).is_err());
    assert_eq!(env.emu.public_folder_messages(QUEUE).len(), QUEUE_COUNT);
}

#[tokio::test]
async fn find_item_gives_names_only_and_refuses_what_only_get_item_has() {
    let env = start(EmulatorConfig::default()).await;
    let queue = env.public_folder_id(QUEUE).await;
    let with = |props: &str| {
        find_item(&queue, 2, 0, "Ascending").replace(
            "<t:BaseShape>IdOnly</t:BaseShape>",
            &format!("<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>{props}</t:AdditionalProperties>"),
        )
    };
    let x = env
        .ok(&with(
            r#"<t:FieldURI FieldURI="message:Sender"/><t:FieldURI FieldURI="item:Subject"/>"#,
        ))
        .await;
    assert_eq!(x.texts("Name"), ["Andy Teal", "Andy Teal"]);
    assert!(
        x.texts("EmailAddress").is_empty(),
        "FindItem leaves addresses out"
    );
    let x = env
        .ok(&with(r#"<t:FieldURI FieldURI="message:ToRecipients"/>"#))
        .await;
    assert_eq!(x.texts("ResponseCode"), ["ErrorInvalidPropertyRequest"]);
    assert_eq!(x.attrs("FieldURI")[0]["FieldURI"], "message:ToRecipients");
    // Restrictions are refused rather than ignored.
    let filtered = find_item(&queue, 2, 0, "Ascending").replace(
        "<m:SortOrder>",
        r#"<m:Restriction><t:Exists><t:FieldURI FieldURI="item:Subject"/></t:Exists></m:Restriction><m:SortOrder>"#,
    );
    let x = env.ok(&filtered).await;
    assert_eq!(x.texts("ResponseCode"), ["ErrorUnsupportedQueryFilter"]);
    // Sensitivity asked for as MAPI property 0x36 comes back as an extended property.
    let x = env
        .ok(&with(
            r#"<t:ExtendedFieldURI PropertyTag="0x36" PropertyType="Integer"/>"#,
        ))
        .await;
    assert_eq!(x.texts("Value"), ["0", "2"]);
    // The Default shape of FindItem has no recipient lists, so it is fine.
    let x = env
        .ok(&find_item(&queue, 2, 0, "Ascending").replace("IdOnly", "Default"))
        .await;
    assert_eq!(x.texts("ResponseCode"), ["NoError"]);
    assert_eq!(x.texts("ItemClass"), ["IPM.Note", "IPM.Note"]);
    assert!(x.texts("ToRecipients").is_empty());
}

/// What finding a moved item again needs: equality on the Message-ID (or the
/// subject) is evaluated; any other restriction is still refused.
#[tokio::test]
async fn find_item_finds_a_moved_item_by_its_message_id_and_create_item_saves() {
    let env = start(EmulatorConfig::default()).await;
    let queue = env.public_folder_id(QUEUE).await;
    let storage = env.public_folder_id(STORAGE).await;
    let ids = env
        .ok(&find_item(&queue, 50, 0, "Ascending"))
        .await
        .item_ids();
    let moved = env.ok(&move_item("MoveItem", &storage, &[&ids[0]])).await;
    assert!(
        moved.item_ids().is_empty(),
        "no new id into a public folder"
    );

    let restricted = |field: &str, value: &str| {
        let value = value
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        find_item(&storage, 10, 0, "Ascending").replace(
            "<m:SortOrder>",
            &format!(
                r#"<m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="{field}"/><t:FieldURIOrConstant><t:Constant Value="{value}"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction><m:SortOrder>"#
            ),
        )
    };
    let found = env
        .ok(&restricted(
            "message:InternetMessageId",
            "<q0@test.example>",
        ))
        .await;
    assert_eq!(found.classes(), ["Success"]);
    assert_eq!(found.item_ids().len(), 1, "{}", found.0);
    let link = env.emu.public_folder_messages(STORAGE)[0]["webLink"]
        .as_str()
        .unwrap()
        .to_string();
    let id_in_link: String =
        url::form_urlencoded::byte_serialize(found.item_ids()[0].as_bytes()).collect();
    assert!(
        link.contains(&id_in_link),
        "{link} for {:?}",
        found.item_ids()
    );
    let none = env
        .ok(&restricted(
            "message:InternetMessageId",
            "<q1@test.example>",
        ))
        .await;
    assert_eq!(none.item_ids().len(), 0, "q1 is still in the queue");
    let other = env.ok(&restricted("item:Importance", "High")).await;
    assert_eq!(other.texts("ResponseCode"), ["ErrorUnsupportedQueryFilter"]);

    let create = format!(
        r#"<m:CreateItem MessageDisposition="SaveOnly"><m:SavedItemFolderId>{queue}</m:SavedItemFolderId><m:Items><t:Message><t:Subject>Probe &lt;1&gt;</t:Subject><t:Body BodyType="Text">safe to delete</t:Body></t:Message></m:Items></m:CreateItem>"#
    );
    let created = env.ok(&create).await;
    assert_eq!(created.classes(), ["Success"]);
    assert_eq!(created.item_ids().len(), 1);
    assert_eq!(env.emu.public_folder_count(QUEUE), Some(QUEUE_COUNT));
    let by_subject = find_item(&queue, 10, 0, "Ascending").replace(
        "<m:SortOrder>",
        r#"<m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="item:Subject"/><t:FieldURIOrConstant><t:Constant Value="Probe &lt;1&gt;"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction><m:SortOrder>"#,
    );
    assert_eq!(env.ok(&by_subject).await.item_ids(), created.item_ids());
}
