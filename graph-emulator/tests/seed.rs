//! Seed parsing and the handle's inspection API.

use graph_emulator::{
    Emulator, EmulatorConfig, SAMPLE_CRM, SAMPLE_MAILBOX, SAMPLE_SEED, Seed, SeedError,
};
use serde_json::{Value, json};

fn err(text: &str) -> String {
    Seed::from_json(text).unwrap_err().to_string()
}

#[test]
fn malformed_seeds_say_what_is_wrong() {
    assert!(matches!(Seed::from_json("{"), Err(SeedError::Json(_))));
    assert!(matches!(
        Seed::from_json("{\"boxes\": {}}"),
        Err(SeedError::MissingMailboxes)
    ));
    let e = err(r#"{"mailboxes": {"a@b.example": {"folders": {"inbox": [{}, {}, 7]}}}}"#);
    assert!(
        e.contains("a@b.example") && e.contains("inbox") && e.contains("#2"),
        "{e}"
    );
    let e = err(r#"{"mailboxes": {"a@b.example": {"folders": {"inbox": {}}}}}"#);
    assert!(e.contains("folder \"inbox\""), "{e}");
    let e = err(r#"{"mailboxes": {"a@b.example": []}}"#);
    assert!(e.contains("a@b.example"), "{e}");
    let e = err(r#"{"mailboxes": {"a@b.example": {"folders": {"inbox": [{"id": "x/y"}]}}}}"#);
    assert!(e.contains("#0"), "{e}");
    let e = err(r#"{"mailboxes": {"a@b.example": {}, "A@B.example": {}}}"#);
    assert!(e.contains("more than once"), "{e}");
}

#[test]
fn folder_counts_use_well_known_names_and_include_empty_folders() {
    let seed = Seed::from_json(
        &json!({"mailboxes": {"Shared@Example.com": {"folders": {
            "Inbox": [{"subject": "a"}, {"subject": "b"}],
            "junkemail": [{"subject": "c"}],
            "Processed": []
        }}}})
        .to_string(),
    )
    .unwrap();
    let emu = Emulator::new(seed, EmulatorConfig::default());
    let counts = emu.folder_counts("shared@example.COM");
    assert_eq!(counts["inbox"], 2);
    assert_eq!(counts["junkemail"], 1);
    assert_eq!(counts["Processed"], 0);
    for k in ["archive", "deleteditems", "drafts", "sentitems", "outbox"] {
        assert_eq!(counts[k], 0, "{k}");
    }
    assert!(!counts.contains_key("msgfolderroot"));

    let id = emu
        .add_message("shared@example.com", "processed", json!({"subject": "d"}))
        .unwrap();
    assert!(id.starts_with("AAkALgAA"));
    assert_eq!(emu.folder_counts("shared@example.com")["Processed"], 1);
    assert!(
        emu.add_message("shared@example.com", "inbox", json!([1]))
            .is_err()
    );
    assert!(
        emu.add_message("nobody@x.example", "inbox", json!({}))
            .is_err()
    );
    emu.add_mailbox("new@example.com");
    assert_eq!(emu.folder_counts("NEW@example.com")["inbox"], 0);
    let msgs = emu.messages("shared@example.com", "junk email");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["subject"], "c");
}

#[test]
fn sample_seed_and_crm_are_consistent() {
    let seed = Seed::from_json(SAMPLE_SEED).unwrap();
    assert_eq!(seed.mailbox_addresses(), [SAMPLE_MAILBOX]);
    let emu = Emulator::new(seed, EmulatorConfig::default());
    let counts = emu.folder_counts(SAMPLE_MAILBOX);
    assert_eq!((counts["inbox"], counts["junkemail"]), (13, 1));
    let inbox = emu.messages(SAMPLE_MAILBOX, "inbox");
    let dates: Vec<&str> = inbox
        .iter()
        .map(|m| m["receivedDateTime"].as_str().unwrap())
        .collect();
    let mut sorted = dates.clone();
    sorted.sort_unstable();
    assert_eq!(dates, sorted, "oldest first");
    let crm: Value = serde_json::from_str(SAMPLE_CRM).unwrap();
    assert_eq!(crm["salespeople"].as_array().unwrap().len(), 3);
    assert_eq!(crm["contacts"].as_array().unwrap().len(), 5);
    assert_eq!(crm["email_template"], "EMAIL");
}

#[test]
fn public_folders_and_accounts_are_parsed_with_clear_errors() {
    let seed = Seed::from_json(
        r#"{"public_folders": {"Email Logging/Queue": [{"subject": "a"}], " Email Logging / Storage ": []},
            "accounts": {"agent@cronus.example": {"password": "secret"}}}"#,
    )
    .unwrap();
    let mut paths = seed.public_folder_paths();
    paths.sort();
    assert_eq!(paths, ["Email Logging/Queue", "Email Logging/Storage"]);
    assert_eq!(seed.account_addresses(), ["agent@cronus.example"]);
    assert!(seed.mailbox_addresses().is_empty());
    // Accounts get a mailbox; the public folders and their intermediate levels exist.
    let emu = Emulator::new(seed, EmulatorConfig::default());
    assert_eq!(emu.folder_counts("agent@cronus.example")["inbox"], 0);
    assert_eq!(emu.public_folder_count("email logging/queue"), Some(1));
    assert_eq!(emu.public_folder_count("Email Logging"), Some(0));

    for (text, needle) in [
        (r#"{"public_folders": []}"#, "public_folders"),
        (r#"{"public_folders": {"": []}}"#, "empty"),
        (r#"{"public_folders": {"a//b": []}}"#, "a//b"),
        (r#"{"public_folders": {"/a": []}}"#, "level"),
        (r#"{"public_folders": {"a": {}}}"#, "array"),
        (
            r#"{"public_folders": {"a": [], "A": []}}"#,
            "more than once",
        ),
        (r#"{"public_folders": {"q": [{}, 3]}}"#, "#1"),
        (r#"{"accounts": []}"#, "accounts"),
        (
            r#"{"accounts": {"a@b.example": {"password": 7}}}"#,
            "must be a string",
        ),
        (r#"{"accounts": {"a@b.example": {}}}"#, "missing"),
        (
            r#"{"accounts": {"a@b.example": "pw"}}"#,
            "expected an object",
        ),
        (
            r#"{"accounts": {"no-at-sign": {"password": "x"}}}"#,
            "not a valid address",
        ),
        (
            r#"{"accounts": {"a@b.example": {"password": "x"}, "A@B.example": {"password": "y"}}}"#,
            "more than once",
        ),
    ] {
        let e = err(text);
        assert!(e.contains(needle), "{text}: {e}");
    }
}
