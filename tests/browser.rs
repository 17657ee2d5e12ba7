//! Browser tests: Debian's headless Chromium, driven through chromedriver (WebDriver), uses
//! the web UI of a running `eduioc demo` as its users would.
//!
//! One demo federation (department, districts, schools: real nodes on loopback) is
//! started for the whole test binary, from the real binary, with a fixed seed; every test
//! opens its own browser session, and saves a screenshot of its last page to
//! `$CARGO_TARGET_TMPDIR/browser/<test>.png`, pass or fail.
//!
//! Before the first step the fixture waits until the department holds every school's
//! data (its `stats` against the schools' own, through the JSON API). Every click or
//! submit that leaves the page waits for the next page: a new document (the old one is
//! marked), fully loaded, at the expected path, holding the expected element.
//!
//! Without chromedriver on the PATH each test prints a `SKIPPED:` line to the terminal
//! (past the test harness's output capture) and passes, unless
//! `EDUIOC_BROWSER_TESTS=require` (as in CI), where a missing browser is a failure.
#![allow(clippy::unwrap_used, missing_docs)]

mod harness;
#[path = "browser/ops.rs"]
mod ops;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context, Result};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::Value;

/// Seed of the demo's synthetic data; a failure replays with the same data.
const SEED: u64 = 2026;
/// How long a change gets to travel up before a test declares it never will.
const PROPAGATE: Duration = Duration::from_secs(90);
/// Browser sessions at once (each is a Chromium process).
const SESSIONS: usize = 3;
/// How long a page gets to load after a click or a submit.
const NAVIGATE: Duration = Duration::from_secs(30);
/// How long the demo gets, after its banner, until the department holds every school's data.
const SETTLE: Duration = Duration::from_secs(300);

/// One node of the demo, as its banner and topology file describe it.
#[derive(Debug, Clone)]
struct Node {
    id: String,
    name: String,
    level: String,
    parent: Option<String>,
    /// `http://127.0.0.1:port`
    url: String,
    password: String,
    token: String,
}

/// The running demo and chromedriver, shared by every test of this binary.
struct Fixture {
    nodes: Vec<Node>,
    /// Schools whose link the demo takes down on a schedule.
    flaky: Vec<String>,
    webdriver: String,
    dir: PathBuf,
}

impl Fixture {
    fn node(&self, id: &str) -> &Node {
        self.nodes.iter().find(|n| n.id == id).unwrap()
    }

    fn department(&self) -> &Node {
        self.nodes.iter().find(|n| n.parent.is_none()).unwrap()
    }

    fn children(&self, id: &str) -> Vec<&Node> {
        self.nodes
            .iter()
            .filter(|n| n.parent.as_deref() == Some(id))
            .collect()
    }

    /// Schools whose link stays up for the whole demo, in topology order.
    fn steady_schools(&self) -> Vec<&Node> {
        self.nodes
            .iter()
            .filter(|n| n.level == "school" && !self.flaky.contains(&n.id))
            .collect()
    }

    /// `GET` on a node's JSON API with its bearer token.
    fn api(&self, node: &Node, path: &str) -> Result<Value> {
        let resp = ureq::get(&format!("{}/api/v1/{path}", node.url))
            .set("Authorization", &format!("Bearer {}", node.token))
            .timeout(Duration::from_secs(30))
            .call()
            .with_context(|| format!("GET {path} at {}", node.id))?;
        Ok(resp.into_json()?)
    }

    /// `stats` of `unit` as `at` computes them.
    fn stats(&self, at: &Node, unit: &str) -> Result<Value> {
        self.api(at, &format!("stats?unit={unit}"))
    }

    /// Waits until the department's `stats` say every school reports and hold what the
    /// schools hold: classes, staff, and students (enrolled plus dropped out, which the
    /// intermittent schools' offline edits move between and never change in sum).
    fn wait_until_every_school_reports(&self) -> Result<()> {
        let started = Instant::now();
        let schools: Vec<&Node> = self.nodes.iter().filter(|n| n.level == "school").collect();
        let figures = |s: &Value| -> [u64; 4] {
            let n = |v: &Value| v.as_u64().unwrap_or(u64::MAX);
            [
                n(&s["classes"]),
                n(&s["staff"]["active"]),
                n(&s["staff"]["teachers"]),
                n(&s["students"]["enrolled"]).saturating_add(n(&s["students"]["dropped_out"])),
            ]
        };
        let mut own = [0u64; 4];
        for s in &schools {
            let f = figures(&self.stats(s, &s.id)?);
            for (t, x) in own.iter_mut().zip(f) {
                *t = t.saturating_add(x);
            }
        }
        let dept = self.department();
        loop {
            let st = self.stats(dept, &dept.id)?;
            let reporting = st["schools_reporting"].as_u64().unwrap_or(0);
            if reporting == schools.len() as u64 && figures(&st) == own {
                say(&format!(
                    "browser tests: the department holds every school's data ({} schools) {:.1} s after the banner",
                    schools.len(),
                    started.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            ensure!(
                started.elapsed() < SETTLE,
                "after {} s the department reports {reporting} of {} schools, figures {:?} against the schools' {own:?}",
                SETTLE.as_secs(),
                schools.len(),
                figures(&st)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();

/// The shared fixture, or `None` when the browser is missing and not required.
fn fixture() -> Option<&'static Fixture> {
    FIXTURE
        .get_or_init(|| {
            let required = std::env::var("EDUIOC_BROWSER_TESTS").as_deref() == Ok("require");
            let have = |b: &str| {
                Command::new(b)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if !have("chromedriver") || !have("chromium") {
                assert!(
                    !required,
                    "EDUIOC_BROWSER_TESTS=require but chromium or chromedriver is not installed \
                     (apt-get install chromium chromium-driver)"
                );
                return None;
            }
            let fx = start().expect("starting the demo and chromedriver");
            fx.wait_until_every_school_reports()
                .expect("waiting for the department to hold every school's data");
            Some(fx)
        })
        .as_ref()
}

/// Writes a line to the terminal, past the test harness's capture of `print!` and
/// `eprint!` (which only shows the output of failed tests).
fn say(line: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Starts the demo and chromedriver from a thread that never exits, so that their
/// parent-death signal (set on the spawning thread) only fires when this test process ends.
fn start() -> Result<Fixture> {
    let (tx, rx) = std::sync::mpsc::channel::<Result<Fixture>>();
    std::thread::spawn(move || {
        let children = (|| -> Result<(Fixture, Vec<Child>)> {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
            std::fs::create_dir_all(&dir)?;
            let (nodes, flaky, demo) = start_demo(&dir)?;
            let port = harness::free_port();
            let driver = spawn_dying_with_us(
                Command::new("chromedriver")
                    .arg(format!("--port={port}"))
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(dir.join("chromedriver.log"))?),
            )?;
            let webdriver = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(30);
            while ureq::get(&format!("{webdriver}/status")).call().is_err() {
                ensure!(
                    Instant::now() < deadline,
                    "chromedriver did not answer in 30 s"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok((
                Fixture {
                    nodes,
                    flaky,
                    webdriver,
                    dir,
                },
                vec![demo, driver],
            ))
        })();
        match children {
            Ok((f, children)) => {
                tx.send(Ok(f)).unwrap();
                // Keep the children (and this thread) for the life of the test process.
                let _keep = children;
                loop {
                    std::thread::park();
                }
            }
            Err(e) => tx.send(Err(e)).unwrap(),
        }
    });
    rx.recv()?
}

/// Spawns `cmd` so that it receives SIGKILL when the spawning thread ends.
fn spawn_dying_with_us(cmd: &mut Command) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(cmd.spawn()?)
}

/// Runs `eduioc demo` and reads its banner: every node's URL, login and token, and the
/// schools with an intermittent link.
fn start_demo(dir: &std::path::Path) -> Result<(Vec<Node>, Vec<String>, Child)> {
    let data = dir.join("demo");
    let http = format!("127.0.0.1:{}", harness::free_port());
    let mut child = spawn_dying_with_us(
        Command::new(harness::BIN)
            .args(["demo", "--http", &http, "--seed", &SEED.to_string()])
            .arg("--data")
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("demo.log"))?),
    )?;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut banner = String::new();
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent {
                banner.push_str(&line);
                banner.push('\n');
                if line.starts_with("Ctrl-C stops") {
                    sent = tx.send(std::mem::take(&mut banner)).is_ok();
                }
            }
        }
    });
    let banner = rx.recv_timeout(Duration::from_secs(300)).map_err(|_| {
        anyhow!(
            "the demo printed no banner in 300 s; see {}",
            dir.join("demo.log").display()
        )
    })?;
    let topo: toml::Value = toml::from_str(&std::fs::read_to_string(data.join("topology.toml"))?)?;
    let units: BTreeMap<String, (String, Option<String>)> = topo["unit"]
        .as_array()
        .context("topology.toml has no units")?
        .iter()
        .map(|u| {
            let s = |k: &str| u.get(k).and_then(toml::Value::as_str).map(str::to_string);
            (
                s("id").unwrap_or_default(),
                (s("name").unwrap_or_default(), s("parent")),
            )
        })
        .collect();
    let mut nodes = Vec::new();
    let mut flaky = Vec::new();
    let mut in_table = false;
    for line in banner.lines() {
        if line.starts_with("Every node") {
            in_table = true;
            continue;
        }
        if let Some((_, ids)) = line.split_once("working offline meanwhile: ") {
            flaky = ids.split(", ").map(str::to_string).collect();
        }
        if !in_table {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.is_empty() {
            in_table = false;
            continue;
        }
        ensure!(w.len() == 7, "unexpected banner line {line:?}");
        let (name, parent) = units
            .get(w[0])
            .with_context(|| format!("{} is not in topology.toml", w[0]))?
            .clone();
        nodes.push(Node {
            id: w[0].into(),
            name,
            level: w[1].into(),
            parent,
            url: w[2].into(),
            password: w[5].into(),
            token: w[6].into(),
        });
    }
    ensure!(
        !flaky.is_empty(),
        "the banner names no intermittent school:\n{banner}"
    );
    ensure!(
        nodes.len() == units.len(),
        "the banner lists {} nodes, the topology {}:\n{banner}",
        nodes.len(),
        units.len()
    );
    Ok((nodes, flaky, child))
}

/// A counting semaphore over test threads: at most [`SESSIONS`] browsers at once.
struct Slots(Mutex<usize>, Condvar);

static SLOTS: Slots = Slots(Mutex::new(0), Condvar::new());

struct Slot;

impl Slot {
    fn take() -> Slot {
        let mut n = SLOTS.0.lock().unwrap();
        while *n >= SESSIONS {
            n = SLOTS.1.wait(n).unwrap();
        }
        *n += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *SLOTS.0.lock().unwrap() -= 1;
        SLOTS.1.notify_one();
    }
}

/// Runs `body` in a fresh headless Chromium session; saves a screenshot of the last page
/// and closes the browser whatever happens; panics with the error and the screenshot's path.
async fn browse<F>(name: &str, body: F)
where
    F: for<'a> AsyncFnOnce(&'a Client, &'static Fixture) -> Result<()>,
{
    let Some(fx) = fixture() else {
        say(&format!(
            "SKIPPED: browser test {name}: chromium or chromedriver is not installed \
             (install chromium chromium-driver, or set EDUIOC_BROWSER_TESTS=require)"
        ));
        return;
    };
    let _slot = Slot::take();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1366,768", "--lang=vi"
            ]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let c = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&fx.webdriver)
        .await
        .expect("opening a Chromium session");
    let outcome = body(&c, fx).await;
    let shot = fx.dir.join(format!("{name}.png"));
    let saved = match c.screenshot().await {
        Ok(png) => std::fs::write(&shot, png).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let url = c
        .current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_default();
    let _ = c.close().await;
    if let Err(e) = outcome {
        let note = saved
            .err()
            .map(|e| format!(" (not saved: {e})"))
            .unwrap_or_default();
        panic!(
            "{name} failed at {url}: {e:#}\nscreenshot: {}{note}",
            shot.display()
        );
    }
    saved.unwrap_or_else(|e| panic!("{name}: saving the screenshot {}: {e}", shot.display()));
}

/// Waits for the first element matching `css`.
async fn find(c: &Client, css: &str) -> Result<fantoccini::elements::Element> {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .with_context(|| format!("no element matches {css:?}"))
}

async fn text(c: &Client, css: &str) -> Result<String> {
    Ok(find(c, css).await?.text().await?.trim().to_string())
}

async fn path(c: &Client) -> Result<String> {
    let u = c.current_url().await?;
    Ok(match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    })
}

/// Marks the current document, so that [`navigated`] can tell it from the next one.
async fn mark_page(c: &Client) -> Result<()> {
    c.execute("window.__eduiocLeft = true; return true;", vec![])
        .await
        .context("marking the page")?;
    Ok(())
}

/// Waits until the document marked by [`mark_page`] has been replaced by a new one, loaded
/// completely (`document.readyState`), at a path starting with `to`, holding an element
/// that `marker` finds.
async fn navigated(c: &Client, to: &str, marker: Locator<'_>) -> Result<()> {
    eventually(NAVIGATE, async || {
        let state = c
            .execute(
                "return [window.__eduiocLeft === true, document.readyState];",
                vec![],
            )
            .await?;
        ensure!(
            state[0] == false,
            "still on the page before ({})",
            path(c).await?
        );
        ensure!(state[1] == "complete", "the next page is {}", state[1]);
        let at = path(c).await?;
        ensure!(at.starts_with(to), "at {at}, expected {to}");
        c.find(marker)
            .await
            .with_context(|| format!("{at} has no {marker:?}"))?;
        Ok(())
    })
    .await
    .with_context(|| format!("navigating to {to}"))
}

/// Clicks `e` (a link or a submit button) and waits for the page it leads to.
async fn click_to(
    c: &Client,
    e: fantoccini::elements::Element,
    to: &str,
    marker: Locator<'_>,
) -> Result<()> {
    mark_page(c).await?;
    e.click().await?;
    navigated(c, to, marker).await
}

/// Logs in at `node` through its login form, as the demo's banner says.
async fn login(c: &Client, node: &Node) -> Result<()> {
    c.goto(&format!("{}/login", node.url)).await?;
    let form = c.form(Locator::Css("form[action='/login']")).await?;
    form.set_by_name("user", "admin").await?;
    form.set_by_name("password", &node.password).await?;
    mark_page(c).await?;
    form.submit().await?;
    navigated(c, "/", Locator::Css("nav.main")).await?;
    let at = path(c).await?;
    ensure!(
        !at.starts_with("/login"),
        "login at {} failed: still on {at}",
        node.id
    );
    Ok(())
}

/// Scrolls `e` to the middle of the window, so that the screenshot shows it.
async fn scroll_to(c: &Client, e: &fantoccini::elements::Element) -> Result<()> {
    c.execute(
        "arguments[0].scrollIntoView({block: 'center'})",
        vec![serde_json::to_value(e)?],
    )
    .await?;
    Ok(())
}

/// Digits of a displayed number ("12.345" in Vietnamese, "12,345" in English).
fn digits(s: &str) -> Result<u64> {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    d.parse().with_context(|| format!("{s:?} is not a number"))
}

/// The overview tiles on the current page that have a plain count.
async fn tiles(c: &Client) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for k in ["schools", "classes", "students", "teachers", "dropouts"] {
        out.insert(
            k.to_string(),
            digits(&text(c, &format!(".v[data-k={k}]")).await?)?,
        );
    }
    Ok(out)
}

/// The same counts from a `stats` JSON answer.
fn tiles_of(stats: &Value) -> BTreeMap<String, u64> {
    let n = |v: &Value| v.as_u64().unwrap_or(u64::MAX);
    BTreeMap::from([
        ("schools".into(), n(&stats["schools"])),
        ("classes".into(), n(&stats["classes"])),
        ("students".into(), n(&stats["students"]["enrolled"])),
        ("teachers".into(), n(&stats["staff"]["teachers"])),
        ("dropouts".into(), n(&stats["students"]["dropped_out"])),
    ])
}

/// Polls `check` until it holds or `limit` passes; the last failure is the error.
async fn eventually<F>(limit: Duration, mut check: F) -> Result<()>
where
    F: AsyncFnMut() -> Result<()>,
{
    let deadline = Instant::now() + limit;
    loop {
        match check().await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(e.context(format!("still false after {} s", limit.as_secs())))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Lower-case, without diacritics: what a clerk types on a keyboard without Telex.
fn plain(s: &str) -> String {
    eduioc_records::fold(s)
}

#[tokio::test]
async fn login_then_the_dashboard_shows_the_apis_figures() {
    browse("dashboard", async |c, fx| {
        let dept = fx.department();
        // A wrong password is refused, and says so.
        c.goto(&format!("{}/", dept.url)).await?;
        ensure!(
            path(c).await?.starts_with("/login"),
            "the dashboard is open without a login"
        );
        let form = c.form(Locator::Css("form[action='/login']")).await?;
        form.set_by_name("user", "admin").await?;
        form.set_by_name("password", "not-the-password").await?;
        mark_page(c).await?;
        form.submit().await?;
        navigated(c, "/login", Locator::Css("form[action='/login']")).await?;
        ensure!(
            !text(c, "p.error").await?.is_empty(),
            "no error for a wrong password"
        );
        ensure!(
            path(c).await?.starts_with("/login"),
            "a wrong password was let in"
        );
        login(c, dept).await?;
        ensure!(
            text(c, "h1").await? == dept.name,
            "the department's overview is not the first page"
        );
        // Live figures move (intermittent schools edit offline and catch up): compare a
        // page rendered between two equal API answers.
        eventually(PROPAGATE, async || {
            let before = tiles_of(&fx.stats(dept, &dept.id)?);
            c.refresh().await?;
            let shown = tiles(c).await?;
            let after = tiles_of(&fx.stats(dept, &dept.id)?);
            ensure!(before == after, "figures moved during the check");
            ensure!(
                shown == after,
                "page shows {shown:?}, the API says {after:?}"
            );
            Ok(())
        })
        .await?;
        ensure!(
            digits(&text(c, ".v[data-k=schools]").await?)?
                == fx.nodes.iter().filter(|n| n.level == "school").count() as u64,
            "the schools tile does not count the demo's schools"
        );
        // The charts are drawn on the server.
        ensure!(
            !c.find_all(Locator::Css("svg")).await?.is_empty(),
            "the overview has no chart"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn drill_down_to_a_school_and_back_by_breadcrumbs() {
    browse("drill_down", async |c, fx| {
        let dept = fx.department();
        login(c, dept).await?;
        // Department -> a district, by the table of figures.
        let link = find(c, "table.figures tbody a").await?;
        let district_name = link.text().await?.trim().to_string();
        click_to(c, link, "/unit/", Locator::Css("h1")).await?;
        ensure!(
            text(c, "h1").await? == district_name,
            "not on {district_name}'s page"
        );
        let district = fx
            .nodes
            .iter()
            .find(|n| n.name == district_name)
            .context("the link names no unit of the demo")?;
        ensure!(path(c).await? == format!("/unit/{}", district.id));
        // District -> its first steady school.
        let school = fx
            .children(&district.id)
            .into_iter()
            .find(|s| !fx.flaky.contains(&s.id))
            .context("district without a steady school")?;
        let link = c
            .find(Locator::XPath(&format!(
                "//table[contains(@class,'figures')]//a[normalize-space()='{}']",
                school.name
            )))
            .await
            .with_context(|| format!("{} is not listed under {}", school.name, district.name))?;
        click_to(
            c,
            link,
            &format!("/unit/{}", school.id),
            Locator::Css(".v[data-k=students]"),
        )
        .await?;
        ensure!(
            text(c, "h1").await? == school.name,
            "not on {}'s page",
            school.name
        );
        // The school's page at the department shows the school's own figures.
        eventually(PROPAGATE, async || {
            let before = tiles_of(&fx.stats(dept, &school.id)?);
            c.refresh().await?;
            let shown = tiles(c).await?;
            ensure!(
                shown == before,
                "page shows {shown:?}, the API says {before:?}"
            );
            Ok(())
        })
        .await?;
        // Breadcrumbs: department › district › school; back up to the department.
        let crumbs = text(c, "nav.crumbs").await?;
        for n in [&dept.name, &district.name, &school.name] {
            ensure!(
                crumbs.contains(n.as_str()),
                "breadcrumbs {crumbs:?} lack {n}"
            );
        }
        let crumb = c
            .find(Locator::XPath(&format!(
                "//nav[contains(@class,'crumbs')]//a[normalize-space()='{}']",
                district.name
            )))
            .await?;
        click_to(c, crumb, "/", Locator::Css("h1")).await?;
        ensure!(
            text(c, "h1").await? == district.name,
            "the crumb did not lead back"
        );
        let crumb = c
            .find(Locator::XPath(&format!(
                "//nav[contains(@class,'crumbs')]//a[normalize-space()='{}']",
                dept.name
            )))
            .await?;
        click_to(c, crumb, "/", Locator::Css("h1")).await?;
        ensure!(
            text(c, "h1").await? == dept.name,
            "the crumb did not lead to the top"
        );
        Ok(())
    })
    .await;
}

/// Looks up, at the department, a person of a steady school by their name typed without
/// diacritics, then opens their record page: `kind` is `students` or `staff`, `all` a
/// query the API matches every person of the kind by (their id prefix).
async fn find_without_diacritics(c: &Client, fx: &Fixture, kind: &str, all: &str) -> Result<()> {
    let dept = fx.department();
    let school = fx.steady_schools()[0];
    let hits = fx.api(
        dept,
        &format!("records/{kind}?q={all}&unit={}&limit=1000", school.id),
    )?;
    let names: Vec<String> = hits[kind]
        .as_array()
        .with_context(|| format!("no {kind} array in {hits}"))?
        .iter()
        .filter_map(|h| h["full_name"].as_str().map(str::to_string))
        .collect();
    // A name that needs its diacritics to be written correctly, and is rare enough that
    // the first page of results must hold it.
    let name = names
        .iter()
        .filter(|n| plain(n) != n.to_lowercase())
        .min_by_key(|n| names.iter().filter(|m| plain(m) == plain(n)).count())
        .with_context(|| format!("no name with diacritics among the school's {kind}"))?
        .clone();
    login(c, dept).await?;
    c.goto(&format!("{}/records?unit={}", dept.url, school.id))
        .await?;
    find(c, &format!("#kind-{kind}")).await?.click().await?;
    let q = find(c, "input[name=q]").await?;
    q.send_keys(&plain(&name)).await?;
    mark_page(c).await?;
    q.send_keys("\u{E007}").await?; // Enter
    let cell = format!(
        "//section[@data-kind='{kind}']//table//td[.//a[normalize-space()='{name}'] or normalize-space()='{name}']"
    );
    navigated(c, "/records?", Locator::XPath(&cell))
        .await
        .with_context(|| format!("typing {:?} did not find {name}", plain(&name)))?;
    // Its record page names the school whose node signed it.
    let link = c
        .find(Locator::XPath(&cell))
        .await?
        .find(Locator::Css("a"))
        .await?;
    click_to(
        c,
        link,
        &format!("/records/{kind}/"),
        Locator::Css("#provenance"),
    )
    .await?;
    let body = text(c, "main").await?;
    ensure!(body.contains(&name), "the record page does not show {name}");
    ensure!(
        text(c, "#provenance").await?.contains(&school.name),
        "the provenance does not name the school"
    );
    Ok(())
}

#[tokio::test]
async fn a_student_is_found_without_diacritics() {
    browse("search_student", async |c, fx| {
        find_without_diacritics(c, fx, "students", "hs-").await
    })
    .await;
}

#[tokio::test]
async fn a_teacher_is_found_without_diacritics() {
    browse("search_staff", async |c, fx| {
        find_without_diacritics(c, fx, "staff", "cb-").await
    })
    .await;
}

#[tokio::test]
async fn an_import_with_a_bad_row_shows_its_row_and_column() {
    browse("import_errors", async |c, fx| {
        let school = fx.steady_schools()[1];
        let before = fx.stats(school, &school.id)?;
        let hits = fx.api(school, "records/students?q=hs-&limit=3")?;
        let class = |i: usize| -> Result<(u64, String)> {
            let h = &hits["students"][i];
            Ok((
                h["grade"].as_u64().context("grade")?,
                h["class_id"].as_str().context("class_id")?.to_string(),
            ))
        };
        let mut csv = String::from(
            "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n",
        );
        for (i, name) in ["Lò Văn Pả", "Hoàng Thị Nguyệt", "Đinh Công Tráng"]
            .iter()
            .enumerate()
        {
            let (grade, cls) = class(i)?;
            csv.push_str(&format!(
                "hs-new-{i},{name},{},2012-09-0{},{grade},{cls},Kinh,enrolled\n",
                if i == 1 { "F" } else { "M" },
                i + 1
            ));
        }
        let (grade, cls) = class(0)?;
        csv.push_str(&format!(
            "hs-new-9,Trần Thị Lỗi,F,2015-02-30,{grade},{cls},Kinh,enrolled\n"
        ));
        let file = fx.dir.join("students-bad-row.csv");
        std::fs::write(&file, csv)?;

        login(c, school).await?;
        c.goto(&format!("{}/data", school.url)).await?;
        find(c, "select[name=kind]")
            .await?
            .select_by_value("students")
            .await?;
        find(c, "input[type=file][name=file]")
            .await?
            .send_keys(file.to_str().unwrap())
            .await?;
        // Record what the progress UI does: the script shows the bar, moves it (upload
        // progress, then indeterminate while the server parses), and hides it again; and
        // mark the page, which a form posted without the script would replace.
        mark_page(c).await?;
        c.execute(
            "window.__eduiocProgress = [];
             new MutationObserver(function (ms) {
               ms.forEach(function (m) {
                 window.__eduiocProgress.push(m.target.id + ' ' + m.attributeName + '=' +
                   m.target.getAttribute(m.attributeName));
               });
             }).observe(document.getElementById('import-progress'),
               { attributes: true, subtree: true, attributeFilter: ['hidden', 'value'] });
             return true;",
            vec![],
        )
        .await?;
        find(c, "form[action='/data/import'] button[type=submit]")
            .await?
            .click()
            .await?;
        let rows = {
            find(c, "#import-result table.errors tbody tr").await?;
            c.find_all(Locator::Css("table.errors tbody tr")).await?
        };
        ensure!(rows.len() == 1, "{} error rows, expected 1", rows.len());
        let cells = rows[0].find_all(Locator::Css("td")).await?;
        ensure!(
            cells.len() >= 3,
            "an error row without row, column and message cells"
        );
        ensure!(
            cells[0].text().await?.trim() == "4",
            "the error is not on row 4"
        );
        ensure!(
            cells[1].text().await?.trim() == "birth_date",
            "the error does not name the column birth_date"
        );
        // Said in the clerk's language, naming the field in words.
        let message = cells[2].text().await?;
        ensure!(
            message.contains("Ngày sinh") && message.contains("2015-02-30"),
            "the message is not Vietnamese or does not quote the value: {message:?}"
        );
        // The script sent the file (with a progress bar) and showed the outcome in place:
        // the same document, the bar shown, moved to its end, and hidden once done.
        ensure!(
            path(c).await? == "/data",
            "the import left the page: the script did not handle it"
        );
        let seen = c
            .execute(
                "return [window.__eduiocLeft === true, window.__eduiocProgress || [],
                         document.getElementById('import-progress').hidden];",
                vec![],
            )
            .await?;
        ensure!(
            seen[0] == true,
            "the page was reloaded: the result is not the script's"
        );
        let steps: Vec<&str> = seen[1]
            .as_array()
            .context("no progress record")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        println!("progress UI: {steps:?}");
        let at = |step: &str| steps.iter().position(|s| *s == step);
        let shown = at("import-progress hidden=null")
            .context(format!("the progress bar was never shown: {steps:?}"))?;
        let full = at("import-bar value=100")
            .or_else(|| at("import-bar value=null"))
            .context(format!(
                "the bar never reached its end of the upload: {steps:?}"
            ))?;
        let hidden = steps
            .iter()
            .rposition(|s| *s == "import-progress hidden=")
            .context(format!("the bar was not hidden when done: {steps:?}"))?;
        ensure!(
            shown < full && full < hidden && seen[2] == true,
            "the progress UI went out of order: {steps:?}"
        );
        // All or nothing: the three good rows were not applied either.
        let after = fx.stats(school, &school.id)?;
        ensure!(
            tiles_of(&after) == tiles_of(&before),
            "a refused import changed the figures"
        );
        let found = fx.api(school, "records/students?q=hs-new&limit=10")?;
        ensure!(
            found["students"].as_array().is_some_and(Vec::is_empty),
            "rows of a refused import are in the data: {found}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn an_edit_at_a_school_changes_the_departments_figure() {
    browse("edit_student", async |c, fx| {
        let dept = fx.department();
        let school = fx.steady_schools()[2];
        let hits = fx.api(school, "records/students?q=hs-&limit=1000")?;
        let student = hits["students"]
            .as_array()
            .context("no students")?
            .iter()
            .find(|h| h["status"] == "enrolled")
            .context("no enrolled student")?
            .clone();
        let id = student["student_id"].as_str().unwrap().to_string();
        let dropouts = |v: &Value| v["students"]["dropped_out"].as_u64().unwrap_or(0);
        let before = dropouts(&fx.stats(dept, &school.id)?);

        login(c, school).await?;
        c.goto(&format!("{}/data/student?id={id}", school.url))
            .await?;
        find(c, "select[name=status]")
            .await?
            .select_by_value("dropped_out")
            .await?;
        let save = find(c, "form[action='/data/student'] button[type=submit]").await?;
        click_to(
            c,
            save,
            &format!("/records/students/{}/{id}?saved=1", school.id),
            Locator::Css("#provenance"),
        )
        .await
        .context("the form was not saved")?;

        // The department's page of that school shows one more dropout.
        login(c, dept).await?;
        c.goto(&format!("{}/unit/{}", dept.url, school.id)).await?;
        eventually(PROPAGATE, async || {
            c.refresh().await?;
            let shown = digits(&text(c, ".v[data-k=dropouts]").await?)?;
            ensure!(
                shown == before + 1,
                "the department shows {shown} dropouts, expected {}",
                before + 1
            );
            Ok(())
        })
        .await
    })
    .await;
}

#[tokio::test]
async fn a_notification_is_sent_read_and_the_sender_sees_it() {
    browse("notification", async |c, fx| {
        let dept = fx.department();
        let school = fx.steady_schools()[3];
        let district = fx.node(school.parent.as_deref().unwrap());
        let title = format!("Báo cáo sĩ số tháng {}", SEED % 12 + 1);

        login(c, dept).await?;
        c.goto(&format!("{}/notifications", dept.url)).await?;
        find(c, "select[name=to_unit]")
            .await?
            .select_by_value(&district.id)
            .await?;
        find(c, "input[name=title]")
            .await?
            .send_keys(&title)
            .await?;
        find(c, "textarea[name=body]")
            .await?
            .send_keys("Đề nghị các trường cập nhật sĩ số trước ngày 25.")
            .await?;
        let send = find(c, "form[action='/notifications'] button[type=submit]").await?;
        click_to(c, send, "/notifications?sent=1", Locator::Css("p.ok")).await?;

        // The school's inbox shows it unread; the school marks it read.
        login(c, school).await?;
        let xp = format!("//article[contains(@class,'unread')][.//*[normalize-space()='{title}']]");
        eventually(PROPAGATE, async || {
            c.goto(&format!("{}/notifications", school.url)).await?;
            c.find(Locator::XPath(&xp))
                .await
                .with_context(|| format!("{title:?} is not unread in {}'s inbox", school.id))?;
            Ok(())
        })
        .await?;
        let read = c
            .find(Locator::XPath(&xp))
            .await?
            .find(Locator::Css("form button[type=submit]"))
            .await?;
        click_to(
            c,
            read,
            "/notifications",
            Locator::XPath(&format!(
                "//article[contains(@class,'notice read')][.//*[normalize-space()='{title}']]"
            )),
        )
        .await
        .context("the notice is not marked read")?;

        // The department sees the school among its readers.
        c.goto(&format!("{}/notifications", dept.url)).await?;
        eventually(PROPAGATE, async || {
            c.refresh().await?;
            let row = c
                .find(Locator::XPath(&format!(
                    "//table//tr[.//*[normalize-space()='{title}']]"
                )))
                .await
                .context("the sent notification is not listed")?;
            let read_by = match row.find(Locator::Css("td div.small:not(.muted)")).await {
                Ok(e) => e.text().await?,
                Err(_) => String::new(),
            };
            ensure!(
                read_by.contains(&school.name),
                "read by {read_by:?}, not {}",
                school.name
            );
            scroll_to(c, &row).await
        })
        .await
    })
    .await;
}

#[tokio::test]
async fn the_language_switches_to_english_and_stays() {
    browse("language", async |c, fx| {
        let district = fx.nodes.iter().find(|n| n.level == "district").unwrap();
        login(c, district).await?;
        let lang = async || -> Result<String> {
            Ok(find(c, "html")
                .await?
                .attr("lang")
                .await?
                .unwrap_or_default())
        };
        ensure!(lang().await? == "vi", "the UI is not Vietnamese by default");
        let nav_vi = text(c, "nav.main").await?;
        let switch = find(c, "a.lang").await?;
        click_to(c, switch, "/", Locator::Css("html[lang=en] nav.main"))
            .await
            .context("still not English")?;
        let nav_en = text(c, "nav.main").await?;
        ensure!(
            nav_en != nav_vi,
            "the navigation was not translated: {nav_en:?}"
        );
        ensure!(
            nav_en.contains("Overview"),
            "English navigation lacks Overview: {nav_en:?}"
        );
        // It stays English on the next page, and the network tree lists every node below.
        c.goto(&format!("{}/network", district.url)).await?;
        ensure!(
            lang().await? == "en",
            "English did not persist to the next page"
        );
        let listed = c.find_all(Locator::Css("li[data-unit]")).await?.len();
        let expected = 1 + fx.children(&district.id).len();
        ensure!(
            listed == expected,
            "the network tree lists {listed} units, expected {expected}"
        );
        // And back.
        let switch = find(c, "a.lang").await?;
        click_to(c, switch, "/", Locator::Css("html[lang=vi] nav.main"))
            .await
            .context("did not switch back to Vietnamese")?;
        ensure!(lang().await? == "vi", "did not switch back to Vietnamese");
        Ok(())
    })
    .await;
}
