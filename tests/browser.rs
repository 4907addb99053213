//! The web page in a real headless Chromium (Debian's `chromium`, driven
//! over WebDriver by `chromedriver`): an administrator signs in through the
//! emulator's authorize page, enables logging and runs the job; a
//! salesperson opens a contact, opens a logged message and turns an entry
//! into an opportunity. Each page is saved as a screenshot under
//! `target/browser-screenshots/`.
//!
//! `.ci/run` installs `chromium` and `chromium-driver` when they are missing;
//! `CHROMEDRIVER` and `CHROMIUM` name other binaries.

use email_logging_e2e::{Harness, MAILBOX};
use email_logging_host::host::AppRegistration;
use email_logging_host::{Erp, ErpOptions};
use fantoccini::{Client, ClientBuilder, Locator};
use graph_emulator::EmulatorConfig;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn screenshots() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
        .join("browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `chromedriver` on a free port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary(env: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: install Debian's chromium and chromium-driver (`.ci/run` does), or set {env}",
        path.display()
    );
    path
}

impl Driver {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new(binary("CHROMEDRIVER", "/usr/bin/chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let up = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "chromedriver listens on {port}");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn browser(&self, profile: &std::path::Path) -> Client {
        let chromium = binary("CHROMIUM", "/usr/bin/chromium");
        // The flags keep Chromium off the network: this machine has none,
        // and refused background connections only slow it down.
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("Chromium starts under chromedriver")
    }
}

/// The web page of `serve --listen`, in this process, on a free port.
async fn serve_web(dir: &std::path::Path, emulator: &url::Url, port: u16, token: &str) {
    let erp = Erp::open(ErpOptions {
        data_dir: dir.to_path_buf(),
        emulator: Some(emulator.clone()),
        ..Default::default()
    })
    .unwrap();
    let app = email_logging_host::web::router(Arc::new(erp), "/email-logging/callback", token);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
}

/// The web page served over a harness's database, and a fresh headless
/// browser on it (its own profile, its own chromedriver).
struct Page {
    /// The browser session (a handle: tests take clones of it).
    c: Client,
    /// The page's base address.
    web: String,
    /// The token that opens it.
    token: String,
    _profile: tempfile::TempDir,
    _driver: Driver,
}

impl Page {
    async fn open(h: &Harness, web_port: u16) -> Self {
        let token = email_logging_host::web::new_token();
        serve_web(h.dir.path(), &h.base, web_port, &token).await;
        let driver = Driver::start();
        let profile = tempfile::tempdir().unwrap();
        let c = driver.browser(profile.path()).await;
        Self {
            c,
            web: format!("http://127.0.0.1:{web_port}"),
            token,
            _profile: profile,
            _driver: driver,
        }
    }
}

/// The sample mailbox, with the web page's callback registered for the demo app.
async fn product(web_port: u16) -> Harness {
    let seed: serde_json::Value = serde_json::from_str(graph_emulator::SAMPLE_SEED).unwrap();
    let callback = format!("http://127.0.0.1:{web_port}/email-logging/callback");
    Harness::start_seed(
        seed["mailboxes"].clone(),
        EmulatorConfig::default().with_redirect_uri(&callback),
        None,
        AppRegistration::default(),
    )
    .await
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// The page's text once it shows `needle`: a click that navigates returns
/// before the next page is there, so the test waits for what it expects.
async fn see(c: &Client, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(body) = c.find(Locator::Css("body")).await
            && let Ok(text) = body.text().await
        {
            if text.contains(needle) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page never showed {needle:?}; it shows:\n{last}");
}

/// Waits for an element (the page may still be loading after a click).
async fn element(c: &Client, locator: Locator<'_>) -> fantoccini::elements::Element {
    for _ in 0..100 {
        if let Ok(e) = c.find(locator).await {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no element {locator:?} on {:?}", c.current_url().await);
}

/// Waits for the validation checklist and returns the page's text. The
/// setup page itself mentions "Validation" in a hint, so waiting for the word
/// would read the page before the checklist arrived.
async fn checklist(c: &Client) -> String {
    element(c, Locator::Id("checklist")).await;
    see(c, "Validation").await
}

async fn fill(c: &Client, id: &str, value: &str) {
    let field = element(c, Locator::Id(id)).await;
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    element(c, Locator::Css(css)).await.click().await.unwrap();
}

/// Clicks something that loads a new page and waits until the new page is
/// there. A click may return while the old page still shows, and the old page
/// often holds the very words the test then waits for ("The setup was saved").
async fn submit(c: &Client, css: &str) {
    c.execute("window.__before_submit = true;", vec![])
        .await
        .unwrap();
    click(c, css).await;
    for _ in 0..100 {
        let loaded = c
            .execute(
                "return window.__before_submit !== true && document.readyState === 'complete';",
                vec![],
            )
            .await;
        if matches!(loaded, Ok(serde_json::Value::Bool(true))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("clicking {css} loaded no new page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_and_salesperson_in_a_real_browser() {
    let web_port = free_port();
    let h = product(web_port).await;
    let page = Page::open(&h, web_port).await;
    let (c, web, token) = (page.c.clone(), page.web.clone(), page.token.clone());

    // Without the token there is nothing to see.
    c.goto(&format!("{web}/c/CRONUS/setup")).await.unwrap();
    see(&c, "needs its token").await;
    // With it, once: the token becomes a cookie and leaves the address bar.
    c.goto(&format!("{web}/?token={token}")).await.unwrap();
    let here = c.current_url().await.unwrap();
    assert!(!here.as_str().contains(&token), "{here}");
    see(&c, "Interaction log entries").await;

    // The administrator: setup fields, sign-in, validation, enable.
    c.goto(&format!("{web}/c/CRONUS/setup")).await.unwrap();
    fill(&c, "batch-size", "5000").await;
    submit(&c, "#save").await;
    let text = see(&c, "Nothing was saved").await;
    assert!(
        text.contains("5000 is out of range"),
        "the field's own error: {text}"
    );
    fill(&c, "shared-mailbox", MAILBOX).await;
    fill(&c, "client-id", graph_emulator::DEMO_CLIENT_ID).await;
    fill(&c, "redirect-url", &format!("{web}/email-logging/callback")).await;
    fill(&c, "batch-size", "50").await;
    fill(&c, "client-secret", graph_emulator::DEMO_CLIENT_SECRET).await;
    submit(&c, "#save").await;
    let text = see(&c, "The setup was saved").await;
    assert!(text.contains("stored, encrypted"), "{text}");
    assert!(
        !c.source()
            .await
            .unwrap()
            .contains(graph_emulator::DEMO_CLIENT_SECRET),
        "the secret is never shown"
    );
    shot(&c, "1-setup").await;

    submit(&c, "#sign-in").await;
    // Through the emulator's authorize page and back to the callback.
    see(&c, &format!("Signed in as {}", graph_emulator::DEMO_USER)).await;
    shot(&c, "2-signed-in").await;
    submit(&c, "a.button").await;
    submit(&c, "#validate").await;
    checklist(&c).await;
    assert!(
        !c.find_all(Locator::Css("#checklist .pass"))
            .await
            .unwrap()
            .is_empty()
    );
    shot(&c, "3-validation").await;
    submit(&c, "#enable").await;
    see(&c, "Email logging is enabled").await;

    // The job queue: run now.
    c.goto(&format!("{web}/c/CRONUS/jobs")).await.unwrap();
    submit(&c, "#run-now").await;
    let text = see(&c, "The job ran").await;
    assert!(text.contains("13 seen, 7 logged, 10 entries"), "{text}");
    shot(&c, "4-job-queue").await;

    // The salesperson: contacts, a contact's entries, its message, an opportunity.
    c.goto(&format!("{web}/c/CRONUS/contacts")).await.unwrap();
    shot(&c, "5-contacts").await;
    element(&c, Locator::LinkText("Adatum Corporation"))
        .await
        .click()
        .await
        .unwrap();
    see(&c, "Adatum framework agreement").await;
    let rows = c.find_all(Locator::Css("#entries tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 3, "Adatum's three entries");
    shot(&c, "6-contact").await;

    let open = c
        .find(Locator::Css("#entries a.open-message"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("an Open message link");
    let contact_page = c.current_url().await.unwrap();
    c.goto(&open).await.unwrap();
    // The newest entry comes first: its message opens.
    see(&c, "Invoice question").await;
    shot(&c, "7-message").await;
    c.goto(contact_page.as_str()).await.unwrap();

    submit(&c, "#entries button.create-opportunity").await;
    see(&c, "Opportunity OP00001 is linked to the entry").await;
    let opportunities = c
        .find_all(Locator::Css("#opportunities tbody tr"))
        .await
        .unwrap();
    assert_eq!(opportunities.len(), 1);
    assert_eq!(
        c.find_all(Locator::Css("#entries button.create-opportunity"))
            .await
            .unwrap()
            .len(),
        2,
        "the entry shows its opportunity instead of the button"
    );
    shot(&c, "8-contact-with-opportunity").await;
    // Readable on a phone.
    c.set_window_size(390, 844).await.unwrap();
    shot(&c, "9-contact-phone").await;
    c.close().await.unwrap();

    let entries = h.entries();
    let with = entries
        .iter()
        .filter(|e| e.opportunity_no.as_deref() == Some("OP00001"))
        .count();
    assert_eq!(with, 1);
}

/// The page's guards, without a browser: the token, and forms posted from
/// another site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_needs_its_token_and_refuses_forged_forms() {
    let web_port = free_port();
    let h = product(web_port).await;
    let token = email_logging_host::web::new_token();
    serve_web(h.dir.path(), &h.base, web_port, &token).await;
    let web = format!("http://127.0.0.1:{web_port}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/",
        "/c/CRONUS/setup",
        "/c/CRONUS/contacts/CT000030",
        "/c/CRONUS/jobs",
    ] {
        let r = client.get(format!("{web}{path}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
        let r = client
            .get(format!("{web}{path}"))
            .header("cookie", "email_logging_token=guess")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path} with a wrong cookie");
    }
    let r = client
        .get(format!("{web}/?token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_string();
    let r = client
        .get(format!("{web}/c/CRONUS/contacts/CT000030"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("Adatum Corporation"));
    // A search narrows the contact list.
    let r = client
        .get(format!("{web}/c/CRONUS/contacts?q=adatum"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    assert!(page.contains("Adatum Corporation"), "{page}");
    assert!(!page.contains("Cannon Group"), "{page}");
    // A form posted from another site is refused, even with the cookie.
    let r = client
        .post(format!("{web}/c/CRONUS/setup/disable"))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = client
        .post(format!("{web}/c/CRONUS/setup/disable"))
        .header("cookie", &cookie)
        .header("origin", &web)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "the same site may post");
    // Unknown records are a clear 404, not a crash.
    let r = client
        .get(format!("{web}/c/NOPE/contacts"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.text().await.unwrap().contains("There is no company NOPE"));
}

/// The current experience on the setup page in a real browser: the mail
/// store is switched to public folders over EWS with Basic authentication.
/// A URL the component refuses is shown at its field, nothing is saved and
/// what was typed comes back escaped (never the password); once saved, the
/// checklist passes against the emulator's Exchange server, the password is
/// in no page, and switching the mail store keeps the other one's values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setup_page_sets_up_public_folders_over_ews() {
    use email_logging_e2e::{ANDY, JO, message};
    use email_logging_host::runtime::Experience;
    const ACCOUNT: &str = "email-logging@cronus.example";
    const PASSWORD: &str = "Page~Ews.Pa55word-Never-Shown";
    const URL: &str = "https://mail.contoso.example/EWS/Exchange.asmx";
    const INJECTED: &str = "x\"><b id=\"injected\">bold</b>";
    let web_port = free_port();
    let mut seed: serde_json::Value = serde_json::from_str(graph_emulator::SAMPLE_SEED).unwrap();
    seed["public_folders"] = serde_json::json!({
        "Email Logging/Queue": [message("<q@x>", "Question", ANDY, &[JO], &[])],
        "Email Logging/Storage": [],
    });
    seed["accounts"] = serde_json::json!({ACCOUNT: {"password": PASSWORD}});
    let h = Harness::start_document(
        seed,
        EmulatorConfig::default(),
        None,
        AppRegistration::default(),
    )
    .await;
    let page = Page::open(&h, web_port).await;
    let (c, web, token) = (page.c.clone(), page.web.clone(), page.token.clone());
    // Tall enough for the whole setup page in the screenshots.
    c.set_window_size(1280, 3200).await.unwrap();
    let setup = || async { h.erp.runtime.setup_get(h.company).await.unwrap().unwrap() };
    let no_password = |page: &str| {
        assert!(
            !page.contains(PASSWORD),
            "the password is never in the page"
        );
    };
    c.goto(&format!("{web}/?token={token}")).await.unwrap();
    see(&c, "Interaction log entries").await;

    // A Graph setting first, to see it kept across the switch.
    c.goto(&format!("{web}/c/CRONUS/setup")).await.unwrap();
    fill(&c, "shared-mailbox", MAILBOX).await;
    submit(&c, "#save").await;
    see(&c, "The setup was saved").await;

    // Public folders, with a URL and an account the component refuses.
    element(&c, Locator::Id("experience"))
        .await
        .select_by_value("ews")
        .await
        .unwrap();
    fill(
        &c,
        "ews-url",
        "http://mail.contoso.example/EWS/Exchange.asmx",
    )
    .await;
    fill(&c, "ews-account", INJECTED).await;
    fill(&c, "ews-password", PASSWORD).await;
    submit(&c, "#save").await;
    see(&c, "Nothing was saved").await;
    let error = element(&c, Locator::Id("ews-url-error")).await;
    assert!(
        error.text().await.unwrap().contains("must use https"),
        "the component's message, at its field"
    );
    assert!(c.find(Locator::Id("ews-account-error")).await.is_ok());
    assert!(
        c.find(Locator::Id("injected")).await.is_err(),
        "what was typed is escaped, never markup"
    );
    let kept = |id: &'static str| {
        let c = &c;
        async move {
            element(c, Locator::Id(id))
                .await
                .prop("value")
                .await
                .unwrap()
                .unwrap_or_default()
        }
    };
    assert_eq!(kept("ews-account").await, INJECTED, "nothing typed is lost");
    assert_eq!(kept("experience").await, "ews");
    assert_eq!(
        kept("ews-password").await,
        "",
        "but the password is not kept"
    );
    no_password(&c.source().await.unwrap());
    shot(&c, "ews-1-refused").await;
    let s = setup().await;
    assert_eq!(s.experience, Experience::Graph, "nothing was saved");
    assert!(s.ews_url.is_none() && !s.ews_password_set);

    fill(&c, "ews-url", URL).await;
    fill(&c, "ews-account", ACCOUNT).await;
    fill(&c, "ews-password", PASSWORD).await;
    submit(&c, "#save").await;
    let text = see(&c, "The setup was saved").await;
    assert!(
        text.contains("public folders over Exchange Web Services"),
        "{text}"
    );
    assert!(
        element(&c, Locator::Id("ews-password-stored"))
            .await
            .text()
            .await
            .unwrap()
            .contains("One is stored"),
        "the page says a password is stored"
    );
    assert_eq!(kept("ews-password").await, "");
    no_password(&c.source().await.unwrap());
    let s = setup().await;
    assert_eq!(s.experience, Experience::Ews);
    assert_eq!(s.ews_url.as_deref(), Some(URL));
    assert_eq!(s.ews_account.as_deref(), Some(ACCOUNT));
    assert!(s.ews_password_set);
    assert_eq!(
        (s.queue_folder.as_str(), s.ews_storage_folder.as_str()),
        ("Email Logging/Queue", "Email Logging/Storage")
    );
    assert_eq!(s.shared_mailbox.as_deref(), Some(MAILBOX), "kept");

    // The stored password signs in: the checklist passes, with a real move.
    submit(&c, "#validate").await;
    let text = checklist(&c).await;
    assert!(
        c.find_all(Locator::Css("#checklist .fail"))
            .await
            .unwrap()
            .is_empty(),
        "{text}"
    );
    assert!(text.contains("move to the storage folder"), "{text}");
    no_password(&c.source().await.unwrap());
    shot(&c, "ews-2-validated").await;

    // Back to Graph: the EWS values stay, for a switch back.
    c.goto(&format!("{web}/c/CRONUS/setup")).await.unwrap();
    element(&c, Locator::Id("experience"))
        .await
        .select_by_value("graph")
        .await
        .unwrap();
    submit(&c, "#save").await;
    see(&c, "The setup was saved").await;
    assert_eq!(kept("ews-url").await, URL);
    let s = setup().await;
    assert_eq!(s.experience, Experience::Graph);
    assert_eq!(s.ews_url.as_deref(), Some(URL));
    assert!(s.ews_password_set);
    assert_eq!(s.shared_mailbox.as_deref(), Some(MAILBOX));

    // The stored password can be removed.
    click(&c, "#clear-ews-password").await;
    submit(&c, "#save").await;
    see(&c, "The setup was saved").await;
    assert!(!setup().await.ews_password_set);
    assert!(c.find(Locator::Id("clear-ews-password")).await.is_err());
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_page_keeps_mail_out_and_makes_contacts_by_domain() {
    use email_logging_e2e::{ANDY, JO, message};
    const INJECTED: &str = "x\"></textarea><b id=\"injected\">bold</b>";
    let mut newcomer = message("<new@x>", "Quote", JO, &[], &[]);
    newcomer["toRecipients"] = serde_json::json!([{"emailAddress": {"name": "Ann New", "address": "ann.new@adatum.example"}}]);
    let h = Harness::start_in(
        email_logging_host::runtime::Experience::Graph,
        vec![
            newcomer,
            message("<hr@x>", "Salary review", JO, &[ANDY], &[]),
        ],
        vec![],
    )
    .await;
    h.enable(50).await;
    let web_port = free_port();
    let page = Page::open(&h, web_port).await;
    let (c, web, token) = (page.c.clone(), page.web.clone(), page.token.clone());
    c.goto(&format!("{web}/?token={token}")).await.unwrap();
    see(&c, "Interaction log entries").await;

    c.goto(&format!("{web}/c/CRONUS/policy")).await.unwrap();
    see(&c, "Email logging policy").await;
    click(&c, "#company-by-domain").await;
    fill(&c, "never-log", &format!("{ANDY}\n{INJECTED}")).await;
    submit(&c, "#save-policy").await;
    let page = see(&c, "Nothing was saved").await;
    assert!(page.contains("not an e-mail address or a domain"), "{page}");
    assert!(
        c.find(Locator::Id("injected")).await.is_err(),
        "what was typed is escaped, never markup"
    );
    let typed = element(&c, Locator::Id("never-log"))
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(typed.contains(INJECTED), "nothing typed is lost: {typed:?}");
    let policy = h.erp.policy(h.company).unwrap();
    assert!(
        !policy.company_by_domain && policy.never_log.is_empty(),
        "all or nothing"
    );

    fill(&c, "never-log", ANDY).await;
    let checked = element(&c, Locator::Id("company-by-domain"))
        .await
        .prop("checked")
        .await
        .unwrap();
    assert_eq!(
        checked.as_deref(),
        Some("true"),
        "the ticked box is kept too"
    );
    submit(&c, "#save-policy").await;
    see(&c, "The policy was saved").await;
    shot(&c, "policy").await;
    let policy = h.erp.policy(h.company).unwrap();
    assert!(policy.company_by_domain);
    assert_eq!(policy.never_log, [ANDY]);

    let r = h.run().await;
    assert_eq!(r.messages_logged, 1, "{r:?}");
    assert_eq!(email_logging_e2e::not_logged(&r, "skipped-by-erp"), 1);
    c.goto(&format!("{web}/c/CRONUS/contacts")).await.unwrap();
    let page = see(&c, "Ann New").await;
    assert!(page.contains("created by email logging"), "{page}");
    assert!(page.contains("adatum.example") || page.contains("Adatum"));
    shot(&c, "contacts-with-a-contact-made-by-domain").await;
}
