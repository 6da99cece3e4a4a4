//! A real headless Chromium against the real binary: the core flows with JavaScript
//! switched off, keyboard use, the language switch, and accessibility checks (labels,
//! alt text, one h1, colour contrast to WCAG AA) on every page each role reaches.

use crate::harness::*;
use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};

/// chromedriver on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver, found now (not when the tests were built): `RENKEI_TEST_CHROMEDRIVER`,
/// or `chromedriver` on `PATH`. `None` after recording a skip (a failure under CI).
fn find_chromedriver() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("RENKEI_TEST_CHROMEDRIVER") {
        return Some(p.into());
    }
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("chromedriver"))
            .find(|f| f.is_file())
    });
    if found.is_none() {
        renkei_store::testing::skip(
            "headless Chromium",
            "install the chromium and chromium-driver packages",
        );
    }
    found
}

fn driver() -> Option<Driver> {
    let exe = find_chromedriver()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(exe)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Some(Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: tempfile::tempdir().unwrap(),
    })
}

async fn browser(d: &Driver, javascript: bool) -> Client {
    let profile = tempfile::tempdir().unwrap().keep();
    let mut opts = serde_json::json!({
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-quic", format!("--user-data-dir={}", profile.display()),
        ],
    });
    if let Ok(bin) = std::env::var("RENKEI_TEST_CHROMIUM") {
        opts["binary"] = bin.into();
    }
    if !javascript {
        opts["prefs"] =
            serde_json::json!({ "profile.managed_default_content_settings.javascript": 2 });
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), opts);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&d.url)
        .await
        .unwrap()
}

async fn fill(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn submit(c: &Client) {
    c.find(Locator::Css("main button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn path(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_owned()
}

async fn h1(c: &Client) -> String {
    c.find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits (up to 10 s) for a navigation a click or key press started: WebDriver does not
/// always wait for those itself.
async fn wait_path(c: &Client, want: &str) {
    for _ in 0..200 {
        if path(c).await == want
            && c.execute("return document.readyState", vec![]).await.ok() == Some("complete".into())
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never reached {want}; at {}", path(c).await);
}

/// Runs the SQL in the workspace's editor and waits for its rows (see
/// [`result_rows`]).
async fn run_editor(c: &Client) -> usize {
    c.find(Locator::Css(
        "main form[action$='/queries'] button[type=submit]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    result_rows(c).await
}

/// Waits (up to 3 minutes: unoptimised test builds of the engine are slow on a busy
/// machine) for a query's result rows on the page, which refreshes itself meanwhile.
async fn result_rows(c: &Client) -> usize {
    let t = std::time::Instant::now();
    while t.elapsed() < std::time::Duration::from_secs(180) {
        let rows = c
            .find_all(Locator::Css("main table.result tbody tr"))
            .await
            .map(|r| r.len())
            .unwrap_or(0);
        if rows > 0 {
            return rows;
        }
        // A query that failed or stopped shows no rows and does not refresh.
        let text = c
            .execute(
                "const m = document.querySelector('main'); return m ? m.innerText : ''",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if c.find(Locator::Css("main #result .alert")).await.is_ok() {
            panic!("the query failed: {text}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    0
}

/// Signs in through the pages: username, password, Enter; then the code.
async fn sign_in(c: &Client, base: &str, who: &[String]) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "#username", &who[1]).await;
    // Enter in the password field submits the form, as in any browser without JS.
    fill(c, "#password", &format!("{}\u{E007}", who[2])).await;
    wait_path(c, "/mfa").await;
    fill(
        c,
        "#code",
        &renkei_accounts::current_code(&who[3], now_secs()).unwrap(),
    )
    .await;
    submit(c).await;
    wait_path(c, "/home").await;
}

const A11Y: &str = r#"
const problems = [];
if (!document.documentElement.lang) problems.push('no lang attribute');
const h1s = document.querySelectorAll('h1').length;
if (h1s !== 1) problems.push(h1s + ' h1 elements');
for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  const labelled = (el.id && document.querySelector('label[for="' + el.id + '"]')) || el.getAttribute('aria-label') || el.closest('label');
  if (!labelled) problems.push('unlabelled field ' + (el.name || el.id));
}
for (const img of document.querySelectorAll('img')) if (!img.getAttribute('alt')) problems.push('image without alt');
for (const b of document.querySelectorAll('a, button')) if (!(b.textContent.trim() || b.getAttribute('aria-label'))) problems.push('control without a name');
function rgb(c) { return c.match(/[\d.]+/g).map(Number); }
function lum(c) { const [r, g, b] = rgb(c).slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; }
function bg(el) { for (; el; el = el.parentElement) { const c = getComputedStyle(el).backgroundColor; const v = rgb(c); if (v.length < 4 || v[3] > 0) return c; } return 'rgb(255, 255, 255)'; }
for (const el of document.querySelectorAll('body *')) {
  if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
  const st = getComputedStyle(el);
  // Decoration hidden from assistive technology (the workspace's watermark) is exempt
  // from contrast (WCAG 1.4.3, "pure decoration").
  if (st.display === 'none' || st.visibility === 'hidden' || el.closest('.visually-hidden') || el.closest('[aria-hidden="true"]')) continue;
  const a = lum(st.color), b = lum(bg(el));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const size = parseFloat(st.fontSize), large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) problems.push('contrast ' + ratio.toFixed(2) + ' on ' + el.tagName + ' "' + el.textContent.trim().slice(0, 30) + '"');
}
return problems;
"#;

async fn accessible(c: &Client, url: &str) {
    c.goto(url).await.unwrap();
    let problems = c.execute(A11Y, vec![]).await.unwrap();
    assert_eq!(
        problems,
        serde_json::json!([]),
        "accessibility problems on {url}"
    );
    // The skip link comes first in keyboard order; on pages that do not focus a form
    // field for you, the first Tab really lands on it.
    let first = c
        .execute("return document.querySelector('a[href], button, input:not([type=hidden]), select, textarea').className", vec![])
        .await
        .unwrap();
    assert_eq!(first, "skip", "first focusable element on {url}");
    let autofocus = c
        .execute("return !!document.querySelector('[autofocus]')", vec![])
        .await
        .unwrap();
    if autofocus == false {
        c.find(Locator::Css("body"))
            .await
            .unwrap()
            .send_keys("\u{E004}")
            .await
            .unwrap();
        let focused = c
            .execute("return document.activeElement.className", vec![])
            .await
            .unwrap();
        assert_eq!(focused, "skip", "first Tab on {url}");
    }
}

fn accounts(demo: &Running) -> Vec<Vec<String>> {
    demo.stdout
        .iter()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|w| w.len() == 4 && renkei_core::Role::parse(&w[0]).is_some())
        .collect()
}

fn demo_env() -> Env {
    let mut env = Env::new("unused");
    env.vars.retain(|(k, _)| k != "RENKEI_DATABASE_URL");
    let data = env.dir.path().join("demo");
    env.vars.retain(|(k, _)| k != "RENKEI_DATA_DIR");
    env.vars
        .push(("RENKEI_DATA_DIR".into(), data.display().to_string()));
    env
}

#[tokio::test]
async fn core_flows_work_without_javascript() {
    let Some(d) = driver() else { return };
    let env = demo_env();
    let demo = env.start(&["demo"], "Stop with Ctrl-C");
    let accs = accounts(&demo);
    let admin = accs.iter().find(|w| w[0] == "admin").unwrap();
    let c = browser(&d, false).await;
    let base = &demo.url;
    // The public catalogue: search with the form, open a dataset from the results.
    c.goto(&format!("{base}/catalog")).await.unwrap();
    fill(&c, "#q", "介護\u{E007}").await;
    for _ in 0..200 {
        if c.current_url().await.unwrap().query().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    wait_path(&c, "/catalog").await;
    c.find(Locator::Css("section.dataset h2 a[href='/catalog/ltc']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, "/catalog/ltc").await;
    assert!(h1(&c).await.contains("介護"), "{}", h1(&c).await);
    c.goto(&format!("{base}/home")).await.unwrap();
    assert_eq!(
        path(&c).await,
        "/login",
        "a protected page sends you to sign in"
    );
    sign_in(&c, base, admin).await;
    assert_eq!(h1(&c).await, "ホーム");
    // Switch language; the choice is remembered on the next page.
    c.find(Locator::LinkText("English"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, "/home").await;
    assert_eq!(h1(&c).await, "Home");
    c.goto(&format!("{base}/admin/users")).await.unwrap();
    assert_eq!(h1(&c).await, "Users");
    // Invite a user with the form, checkboxes and all: no password is set here, a
    // single-use link is shown once, and the auditor role waits for a second admin.
    assert!(
        c.find(Locator::Css("#password")).await.is_err(),
        "admins set no password"
    );
    fill(&c, "#username", "browser-made").await;
    fill(&c, "#display_name", "ブラウザ 作成").await;
    c.find(Locator::Css("#new-auditor"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    submit(&c).await;
    let mut shown = String::new();
    for _ in 0..200 {
        shown = c.source().await.unwrap_or_default();
        if shown.contains("Enrolment link issued") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(shown.contains("Enrolment link issued"), "{shown}");
    assert!(shown.contains("/enrol/rke_"), "{shown}");
    assert!(shown.contains("waits for another administrator"), "{shown}");
    // Sign out from the header.
    c.find(Locator::Css("header form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, "/login").await;
    let notice = c
        .find(Locator::Css(".notice"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(notice.contains("signed out"), "{notice}");
    // The researcher applies: a draft from the form (a title, a variable ticked), then
    // a submission that names on the page everything still missing.
    let researcher = accs.iter().find(|w| w[0] == "researcher").unwrap();
    sign_in(&c, base, researcher).await;
    c.goto(&format!("{base}/applications")).await.unwrap();
    let list = c.source().await.unwrap();
    assert!(
        list.matches("href=\"/applications/app-").count() >= 4,
        "the demo's applications are listed"
    );
    c.goto(&format!("{base}/applications/new")).await.unwrap();
    fill(&c, "#title", "ブラウザからの申出").await;
    // A dataset's variables sit in a disclosure: open it, then tick.
    c.find(Locator::Css(
        "details:has(input[value='ndb_claims/receipts/sex']) > summary",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.find(Locator::Css("input[value='ndb_claims/receipts/sex']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    submit(&c).await;
    for _ in 0..200 {
        if path(&c).await.starts_with("/applications/app-") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let at = path(&c).await;
    assert!(at.starts_with("/applications/app-"), "{at}");
    assert_eq!(h1(&c).await, "ブラウザからの申出");
    submit(&c).await; // the first button on the page: submit the application
    let mut shown = String::new();
    for _ in 0..200 {
        shown = c.source().await.unwrap_or_default();
        if shown.contains("role=\"alert\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        shown.contains("institution"),
        "each missing field is named: {shown}"
    );
    c.close().await.unwrap();
    demo.stop();
}

#[tokio::test]
async fn every_page_is_accessible() {
    let Some(d) = driver() else { return };
    let env = demo_env();
    let demo = env.start(&["demo"], "Stop with Ctrl-C");
    let accs = accounts(&demo);
    let base = demo.url.clone();
    let c = browser(&d, true).await;
    for page in [
        "/",
        "/login",
        "/no-such-page",
        "/catalog",
        "/catalog?q=ICD-10",
        "/catalog/ndb_claims",
        "/catalog/linkage",
        "/register",
    ] {
        accessible(&c, &format!("{base}{page}")).await;
    }
    let admin = accs.iter().find(|w| w[0] == "admin").unwrap();
    sign_in(&c, &base, admin).await;
    for page in ["/home", "/account", "/admin/users", "/audit"] {
        accessible(&c, &format!("{base}{page}")).await;
    }
    c.goto(&format!("{base}/admin/users")).await.unwrap();
    let link = c
        .find(Locator::Css("main table a"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    accessible(&c, &format!("{base}{link}")).await;
    c.goto(&format!("{base}/lang/en?next=/home")).await.unwrap();
    accessible(&c, &format!("{base}/home")).await;
    c.delete_all_cookies().await.unwrap();
    let auditor = accs.iter().find(|w| w[0] == "auditor").unwrap();
    sign_in(&c, &base, auditor).await;
    for page in ["/audit", "/audit/verify"] {
        accessible(&c, &format!("{base}{page}")).await;
    }
    c.delete_all_cookies().await.unwrap();
    let researcher = accs.iter().find(|w| w[0] == "researcher").unwrap();
    sign_in(&c, &base, researcher).await;
    for page in ["/applications", "/applications/new", "/projects"] {
        accessible(&c, &format!("{base}{page}")).await;
    }
    // Each project's page: one in use (amend, publish, close), one closed (certificate).
    c.goto(&format!("{base}/projects")).await.unwrap();
    let mut projects = Vec::new();
    for a in c.find_all(Locator::Css("main table a")).await.unwrap() {
        projects.push(a.attr("href").await.unwrap().unwrap());
    }
    assert_eq!(projects.len(), 2, "{projects:?}");
    for link in &projects {
        accessible(&c, &format!("{base}{link}")).await;
    }
    // The project in use shows its extract, table by table.
    let mut extract_shown = false;
    for link in &projects {
        c.goto(&format!("{base}{link}")).await.unwrap();
        let text = c
            .find(Locator::Css("main"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        extract_shown |= text.contains("claims_receipts") && text.contains("dpc_stays");
    }
    assert!(extract_shown, "no project page shows the extract");
    // The workspace: every example query runs and shows its rows, marked with who
    // looks; a chart is drawn; a refused query says why.
    let mut workspace = None;
    for link in &projects {
        c.goto(&format!("{base}{link}")).await.unwrap();
        if let Ok(a) = c.find(Locator::Css("main a[href$='/workspace']")).await {
            workspace = a.attr("href").await.unwrap();
        }
    }
    let workspace = workspace.expect("the project in use links to its workspace");
    accessible(&c, &format!("{base}{workspace}")).await;
    // The code look-up finds checkup items and diseases by name.
    accessible(&c, &format!("{base}{workspace}?lookup=HbA1c")).await;
    let found = c
        .find(Locator::Css("main form.lookup + div table"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(found.contains("3D046000001906202"), "{found}");
    c.goto(&format!("{base}{workspace}")).await.unwrap();
    let mut examples = Vec::new();
    for a in c
        .find_all(Locator::Css("main a[href*='?example=']"))
        .await
        .unwrap()
    {
        examples.push(a.attr("href").await.unwrap().unwrap());
    }
    assert_eq!(examples.len(), 5, "{examples:?}");
    let mut charts = 0;
    for e in &examples {
        c.goto(&format!("{base}{e}")).await.unwrap();
        let rows = run_editor(&c).await;
        assert!(rows > 0, "{e}: no rows shown");
        let caption = c
            .find(Locator::Css("main table.result caption"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            caption.contains(&researcher[1]) && caption.contains("JST"),
            "{caption}"
        );
        charts += c
            .find_all(Locator::Css("main figure.chart svg"))
            .await
            .unwrap()
            .len();
        // (Without the `#result` fragment, which moves the keyboard's start point to
        // the result, as it should.)
        let mut here = c.current_url().await.unwrap();
        here.set_fragment(None);
        accessible(&c, here.as_str()).await;
    }
    assert!(charts > 0, "no example drew a chart");
    // The last result is sent for checking.
    fill(&c, "#title", "DPC在院日数").await;
    c.find(Locator::Css("form[action$='/release'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // (The page was the workspace already: wait for the answer's notice.)
    for _ in 0..200 {
        if c.current_url()
            .await
            .is_ok_and(|u| u.query().is_some_and(|q| q.contains("done=release")))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    wait_path(&c, &workspace).await;
    let pending = c
        .find(Locator::Css("#outputs + div table"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(pending.contains("DPC在院日数"), "{pending}");
    // Its page: the researcher declares it (diagnosis as the dimension, stays as a
    // count of rows) and runs the disclosure checks; the verdict marks each unsafe
    // cell, and each mark has its finding in words.
    let output = c
        .find(Locator::Css("#outputs + div table a"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    accessible(&c, &format!("{base}{output}")).await;
    c.find(Locator::Css("select[name='role.0']"))
        .await
        .unwrap()
        .select_by_value("dim:plain")
        .await
        .unwrap();
    c.find(Locator::Css("select[name='role.1']"))
        .await
        .unwrap()
        .select_by_value("count")
        .await
        .unwrap();
    c.find(Locator::Css("#unit"))
        .await
        .unwrap()
        .select_by_value("rows")
        .await
        .unwrap();
    c.find(Locator::Css("form[action$='/check'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut outcome = None;
    for _ in 0..200 {
        if let Ok(v) = c.find(Locator::Css("#verdict + p strong.verdict")).await {
            outcome = v.attr("data-outcome").await.unwrap();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Rows, not persons: at best the checker looks at it.
    assert!(
        matches!(outcome.as_deref(), Some("review" | "fail")),
        "{outcome:?}"
    );
    let unsafe_cells = c
        .find_all(Locator::Css("table.cells td.cell-fail"))
        .await
        .unwrap()
        .len();
    let threshold_findings = c
        .find_all(Locator::Css(
            "ul.findings li.cell-fail[data-check=threshold]",
        ))
        .await
        .unwrap()
        .len();
    assert_eq!(unsafe_cells, threshold_findings);
    let findings = c
        .find(Locator::Css("ul.findings"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(findings.contains("行数"), "{findings}");
    accessible(&c, &format!("{base}{output}")).await;
    c.goto(&format!("{base}{workspace}")).await.unwrap();
    let listed = c
        .find(Locator::Css("#outputs + div table"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains("要確認") || listed.contains("不合格"),
        "{listed}"
    );
    c.goto(&format!("{base}{workspace}")).await.unwrap();
    let editor = c.find(Locator::Css("#sql")).await.unwrap();
    editor.clear().await.unwrap();
    editor.send_keys("DROP TABLE deaths").await.unwrap();
    c.find(Locator::Css(
        "main form[action$='/queries'] button[type=submit]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let mut refused = String::new();
    for _ in 0..100 {
        // (Read in one step: the page may be replaced between two.)
        refused = c
            .execute(
                "const m = document.querySelector('main'); return m ? m.innerText : ''",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if refused.contains("query_ddl") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused.contains("query_ddl"), "{refused}");
    // An application in review has a dummy workspace, labelled as synthetic, whose
    // examples return rows.
    c.goto(&format!("{base}/applications")).await.unwrap();
    let mut apps = Vec::new();
    for a in c.find_all(Locator::Css("main table a")).await.unwrap() {
        apps.push(a.attr("href").await.unwrap().unwrap());
    }
    let mut dummy = None;
    for a in &apps {
        c.goto(&format!("{base}{a}")).await.unwrap();
        if let Ok(l) = c.find(Locator::Css("main a[href$='/workspace']")).await {
            dummy = l.attr("href").await.unwrap();
            break;
        }
    }
    let dummy = dummy.expect("an application in review links to its dummy workspace");
    accessible(&c, &format!("{base}{dummy}")).await;
    let banner = c
        .find(Locator::Css("main .notice.warning"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        banner.contains("ダミー") || banner.contains("dummy"),
        "{banner}"
    );
    // The editor starts with a count over the first requested table.
    let rows = run_editor(&c).await;
    assert!(rows > 0, "the dummy workspace showed no rows");
    // Synthetic rows are not for release.
    assert!(
        c.find(Locator::Css("form[action$='/release']"))
            .await
            .is_err()
    );
    c.goto(&format!("{base}/applications")).await.unwrap();
    let link = c
        .find(Locator::Css("main table a"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    accessible(&c, &format!("{base}{link}")).await;
    c.delete_all_cookies().await.unwrap();
    let secretariat = accs.iter().find(|w| w[0] == "secretariat").unwrap();
    sign_in(&c, &base, secretariat).await;
    for page in [
        "/review",
        "/review/committee",
        "/review/meetings",
        "/review/accreditations",
    ] {
        accessible(&c, &format!("{base}{page}")).await;
    }
    // Every application page: each state shows its own forms.
    c.goto(&format!("{base}/review")).await.unwrap();
    let mut links = Vec::new();
    for a in c.find_all(Locator::Css("main table a")).await.unwrap() {
        links.push(a.attr("href").await.unwrap().unwrap());
    }
    assert!(links.len() >= 3, "{links:?}");
    for link in links {
        accessible(&c, &format!("{base}{link}")).await;
    }
    c.delete_all_cookies().await.unwrap();
    let member = accs.iter().find(|w| w[0] == "committee_member").unwrap();
    sign_in(&c, &base, member).await;
    accessible(&c, &format!("{base}/committee")).await;
    c.goto(&format!("{base}/committee")).await.unwrap();
    let link = c
        .find(Locator::Css("main table a"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    accessible(&c, &format!("{base}{link}")).await;
    c.delete_all_cookies().await.unwrap();
    let custodian = accs.iter().find(|w| w[0] == "custodian").unwrap();
    sign_in(&c, &base, custodian).await;
    for page in ["/datasets", "/datasets/ndb_claims", "/custody"] {
        accessible(&c, &format!("{base}{page}")).await;
    }
    c.goto(&format!("{base}/custody")).await.unwrap();
    let link = c
        .find(Locator::Css("main table a"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    accessible(&c, &format!("{base}{link}")).await;
    c.delete_all_cookies().await.unwrap();
    let la = accs.iter().find(|w| w[0] == "linkage_authority").unwrap();
    sign_in(&c, &base, la).await;
    accessible(&c, &format!("{base}/linkage")).await;
    let text = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("ndb_claims") && text.contains("precision"),
        "{text}"
    );
    c.close().await.unwrap();
    demo.stop();
}
