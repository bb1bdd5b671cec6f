//! The pages in a real browser: headless Chromium, driven over the DevTools protocol,
//! opens the feed URL as a person would (so the browser's own Accept header picks the
//! page), follows links, types into the search box, and checks that every table and
//! every column of a table is on screen with its description. Screenshots at desktop
//! and phone width go to `target/tmp/docs-screenshots/`.
//!
//! Needs Debian's `chromium` (or `CCFEED_CHROMIUM` naming another binary); without it
//! the test prints a note and passes. `.ci/run` installs it.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

fn chromium_binary() -> Option<PathBuf> {
    let candidate = std::env::var("CCFEED_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let works = Command::new(&candidate)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    works.then(|| PathBuf::from(candidate))
}

/// The browser process, ended when dropped (also when the test fails half-way).
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A headless Chromium with one page, spoken to over its DevTools websocket.
struct Browser {
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    events: Vec<Value>,
    // Dropped in this order: the process before its profile directory.
    _process: Process,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch(binary: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        let mut process = Process(child);
        // Chromium announces its DevTools endpoint on stderr.
        let stderr = process.0.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let endpoint = loop {
            let line = lines
                .next()
                .expect("chromium exited before announcing DevTools")
                .expect("read chromium's stderr");
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                break url.trim().to_string();
            }
        };
        // Keep draining stderr so Chromium never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        // Ask the browser for a fresh page, then speak to that page directly.
        let (mut control, _) =
            tungstenite::connect(endpoint.as_str()).expect("connect to DevTools");
        control
            .send(Message::text(
                json!({ "id": 1, "method": "Target.createTarget", "params": { "url": "about:blank" } })
                    .to_string(),
            ))
            .expect("create a page");
        let target = loop {
            if let Message::Text(text) = control.read().expect("DevTools answer") {
                let message: Value = serde_json::from_str(&text).expect("JSON");
                if message["id"] == 1 {
                    break message["result"]["targetId"]
                        .as_str()
                        .expect("targetId")
                        .to_string();
                }
            }
        };
        let host = endpoint
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("DevTools host")
            .to_string();
        let page = format!("ws://{host}/devtools/page/{target}");
        let (socket, _) = tungstenite::connect(page.as_str()).expect("connect to the page");
        drop(control);
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            // A hang guard, not a timing assertion: a silent browser fails the test.
            stream
                .set_read_timeout(Some(Duration::from_secs(120)))
                .expect("timeout");
        }
        let mut browser = Browser {
            socket,
            next_id: 0,
            events: Vec::new(),
            _process: process,
            _profile: profile,
        };
        browser.call("Page.enable", json!({}));
        browser.call("Runtime.enable", json!({}));
        browser
    }

    fn read(&mut self) -> Value {
        loop {
            match self.socket.read().expect("DevTools message") {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                Message::Close(_) => panic!("DevTools closed the connection"),
                _ => {}
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(Message::text(request.to_string()))
            .expect("send to DevTools");
        loop {
            let message = self.read();
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    panic!("{method} failed: {error}");
                }
                return message["result"].clone();
            }
            self.events.push(message);
        }
    }

    fn wait_for_load(&mut self) {
        loop {
            if let Some(i) = self
                .events
                .iter()
                .position(|e| e["method"] == "Page.loadEventFired")
            {
                self.events.drain(..=i);
                return;
            }
            let message = self.read();
            self.events.push(message);
        }
    }

    /// Runs `action` (which starts a navigation) and waits for the new page's load.
    fn navigating(&mut self, action: impl FnOnce(&mut Browser)) {
        self.events.clear();
        action(self);
        self.wait_for_load();
    }

    fn open(&mut self, url: &str) {
        self.navigating(|b| {
            b.call("Page.navigate", json!({ "url": url }));
        });
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression} threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        );
    }

    /// A full-page PNG (cut at 8,000 px) of the current page.
    fn screenshot(&mut self, path: &Path) {
        let metrics = self.call("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let width = size["width"].as_f64().unwrap_or(1280.0);
        let height = size["height"].as_f64().unwrap_or(900.0).min(8000.0);
        let shot = self.call(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 }
            }),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).expect("write screenshot");
    }
}

fn text_of(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Same text, whitespace aside.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Links, stylesheets, scripts and images of the page that leave the server, and every
/// resource the browser loaded from elsewhere.
const EXTERNAL: &str = r#"[...document.querySelectorAll('a[href], link[href], script[src], img[src]')]
    .map(e => new URL(e.getAttribute('href') || e.getAttribute('src'), location.href))
    .filter(u => u.origin !== location.origin).map(u => u.href)
    .concat(performance.getEntriesByType('resource').map(e => e.name)
        .filter(u => new URL(u).origin !== location.origin))"#;

/// Fetches every link of the page (with a navigation's Accept header) and returns the
/// ones that did not answer 200 (the diagram's links included).
const BROKEN_LINKS: &str = r#"Promise.all([...new Set([...document.querySelectorAll('a[href]')]
    .map(a => new URL(a.getAttribute('href'), location.href).href.split('#')[0]))]
    .map(u => fetch(u, { headers: { Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } }).then(r => [u, r.status])))
    .then(all => ({ count: all.length, broken: all.filter(([, s]) => s !== 200) }))"#;

#[test]
fn the_pages_work_in_a_real_browser() {
    let Some(binary) = chromium_binary() else {
        eprintln!(
            "note: skipping the browser test: Chromium is not installed (apt-get install chromium, or set CCFEED_CHROMIUM)"
        );
        return;
    };
    let Some(app) = TestApp::start(Backend::Sqlite, demo_settings(), |db, model| {
        fill_set(db, model, TENANT, "Calls", 7);
        fill_set(db, model, TENANT, "Agents", 4);
    }) else {
        return;
    };
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let origin = format!("http://{}", app.addr);
    let mut browser = Browser::launch(&binary);

    for (width, height, mobile, suffix) in
        [(1280, 900, false, "desktop"), (390, 844, true, "phone")]
    {
        browser.viewport(width, height, mobile);

        // The feed URL itself, opened like any link: the browser's Accept gets the page.
        browser.open(&format!("{origin}/odata/"));
        assert_eq!(
            text_of(&browser.eval("document.querySelector('h1').innerText")),
            "Contact center reporting feed"
        );
        assert_eq!(
            text_of(&browser.eval("document.getElementById('feed-url').innerText")),
            format!("{origin}/odata/")
        );
        assert_eq!(
            browser.eval("document.scripts.length"),
            0,
            "pages need no script"
        );
        assert_eq!(
            browser.eval(EXTERNAL),
            json!([]),
            "the landing page reaches outside"
        );
        if mobile {
            assert_eq!(
                browser.eval("document.documentElement.scrollWidth <= window.innerWidth"),
                true,
                "the landing page is wider than a phone"
            );
        }
        browser.screenshot(&shots.join(format!("landing-{suffix}.png")));
        let links = browser.eval(BROKEN_LINKS);
        assert_eq!(links["broken"], json!([]), "landing page");

        // One click to the index, by the header's Tables link.
        browser.navigating(|b| {
            b.eval("document.querySelector('header a[href$=\"/docs/tables/\"]').click()");
        });
        assert_eq!(browser.eval("location.pathname"), "/docs/tables/");
        let rows = browser.eval(
            "[...document.querySelectorAll('tr[data-set]')].map(r => [r.dataset.set, \
             r.querySelector('.description').innerText, r.getBoundingClientRect().height > 0])",
        );
        let rows = rows.as_array().expect("rows");
        assert_eq!(rows.len(), app.model.entity_sets().len());
        for (row, set) in rows.iter().zip(app.model.entity_sets()) {
            assert_eq!(row[0], json!(set.name));
            assert_eq!(text_of(&row[1]), squeeze(&set.description), "{}", set.name);
            assert_eq!(row[2], true, "{} is not shown", set.name);
        }
        assert_eq!(
            browser.eval(EXTERNAL),
            json!([]),
            "the index reaches outside"
        );
        browser.screenshot(&shots.join(format!("index-{suffix}.png")));
        let links = browser.eval(BROKEN_LINKS);
        assert_eq!(links["broken"], json!([]), "index page");
        assert!(links["count"].as_u64().unwrap_or(0) > app.model.entity_sets().len() as u64);

        // Search: type a word that only a column's description has, press Enter.
        let agents = app.model.entity_set("Agents").expect("Agents");
        let custom_id = agents.property("customId").expect("customId");
        assert!(custom_id.description.contains("payroll"));
        browser.eval("document.querySelector('input[name=q]').focus()");
        browser.call("Input.insertText", json!({ "text": "payroll" }));
        browser.navigating(|b| {
            for kind in ["keyDown", "keyUp"] {
                b.call(
                    "Input.dispatchKeyEvent",
                    json!({ "type": kind, "key": "Enter", "code": "Enter",
                            "windowsVirtualKeyCode": 13, "text": "\r" }),
                );
            }
        });
        assert_eq!(browser.eval("location.search"), "?q=payroll");
        let hits = browser.eval(
            "[...document.querySelectorAll('li.hit')].map(li => [li.querySelector('a').getAttribute('href'), li.innerText])",
        );
        let hit = hits
            .as_array()
            .and_then(|h| {
                h.iter().find(|h| {
                    h[0].as_str()
                        .is_some_and(|href| href.ends_with("/docs/tables/Agents#customId"))
                })
            })
            .unwrap_or_else(|| panic!("the search did not find Agents.customId: {hits}"));
        assert!(text_of(&hit[1]).contains(&squeeze(&custom_id.description)));
        browser.screenshot(&shots.join(format!("search-{suffix}.png")));

        // The hit leads to the column on its table's page.
        browser.navigating(|b| {
            b.eval("document.querySelector('li.hit a[href$=\"#customId\"]').click()");
        });
        assert_eq!(browser.eval("location.pathname"), "/docs/tables/Agents");
        assert_eq!(
            browser.eval("document.querySelector(':target').dataset.column"),
            "customId"
        );

        // A table page at the feed's own address lists every column with its description.
        let set = app.model.entity_set("AgentSegments").expect("set");
        browser.open(&format!("{origin}/odata/{}", set.name));
        assert_eq!(
            text_of(&browser.eval("document.querySelector('h1').innerText")),
            set.name
        );
        let columns = browser.eval(
            "[...document.querySelectorAll('tr[data-column]')].map(r => [r.dataset.column, \
             r.querySelector('.description').innerText, r.getBoundingClientRect().height > 0])",
        );
        let columns = columns.as_array().expect("columns");
        assert_eq!(columns.len(), set.properties.len());
        for (row, p) in columns.iter().zip(&set.properties) {
            assert_eq!(row[0], json!(p.name));
            assert_eq!(text_of(&row[1]), squeeze(&p.description), "{}", p.name);
            assert_eq!(row[2], true, "{} is not shown", p.name);
        }
        assert_eq!(
            browser.eval(EXTERNAL),
            json!([]),
            "the table page reaches outside"
        );
        if mobile {
            assert_eq!(
                browser.eval("document.documentElement.scrollWidth <= window.innerWidth"),
                true,
                "the table page is wider than a phone"
            );
        }
        browser.screenshot(&shots.join(format!("table-{suffix}.png")));
        let links = browser.eval(BROKEN_LINKS);
        assert_eq!(links["broken"], json!([]), "table page");

        // An example query link runs and shows the feed's answer.
        browser.navigating(|b| {
            b.eval("document.querySelector('ul.examples a').click()");
        });
        let answer: Value = serde_json::from_str(
            browser
                .eval("document.querySelector('pre').innerText")
                .as_str()
                .expect("text"),
        )
        .expect("the example answered JSON");
        assert!(answer["value"].is_array(), "{answer}");
    }
    eprintln!("screenshots: {}", shots.display());
}
