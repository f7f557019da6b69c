//! The web UI in a real browser: headless Chromium driven over WebDriver (Debian's `chromium`
//! and `chromium-driver`, which `scripts/test.sh` installs), against a real `tiport serve`.
//!
//! Here: [`Browser`], a synchronous face on fantoccini for the tests (one chromedriver and one
//! browser per test, one test at a time), and the tests, one file per page. Each test saves a
//! screenshot of the pages it sees under `target/tmp/screenshots/`.

mod imports;
mod intel;
mod layout;
mod overview;
mod readme;
mod signin;
mod text;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// One browser at a time: two cores do not run several Chromiums and the service well.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub(crate) struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    /// The test's name, which its screenshots carry.
    name: String,
    _turn: MutexGuard<'static, ()>,
}

impl Browser {
    /// A fresh headless browser of 1280×800 for test `name`.
    pub(crate) fn start(name: &str) -> Browser {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start chromedriver ({e}): the browser tests need Debian's chromium and \
                     chromium-driver (scripts/test.sh installs them)"
                )
            });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = runtime.block_on(connect(port));
        Browser {
            runtime,
            client: Some(client),
            driver,
            name: name.to_owned(),
            _turn: turn,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("browser open")
    }

    pub(crate) fn goto(&self, url: &str) {
        self.runtime.block_on(self.c().goto(url)).unwrap();
    }

    pub(crate) fn url(&self) -> String {
        self.runtime
            .block_on(self.c().current_url())
            .unwrap()
            .to_string()
    }

    /// Types `text` into the field `css` finds (after what it holds).
    pub(crate) fn fill(&self, css: &str, text: &str) {
        self.runtime.block_on(async {
            let field = self.c().find(Locator::Css(css)).await.unwrap();
            field.send_keys(text).await.unwrap();
        });
    }

    /// Clicks what `css` finds.
    pub(crate) fn click(&self, css: &str) {
        self.runtime.block_on(async {
            self.c()
                .find(Locator::Css(css))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        });
    }

    /// The text of what `css` finds.
    pub(crate) fn text(&self, css: &str) -> String {
        self.runtime.block_on(async {
            self.c()
                .find(Locator::Css(css))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    }

    /// The result of a script run in the page, given `args` as `arguments`.
    pub(crate) fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.runtime
            .block_on(self.c().execute(script, args))
            .unwrap()
    }

    /// The value a script passes to its callback (`arguments[arguments.length - 1]`).
    pub(crate) fn eval_async(&self, script: &str) -> Value {
        self.runtime
            .block_on(self.c().execute_async(script, vec![]))
            .unwrap()
    }

    /// Waits until the text of what `css` finds satisfies `done`; that text.
    pub(crate) fn wait_for_text(&self, css: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let text = self.runtime.block_on(async {
                match self.c().find(Locator::Css(css)).await {
                    Ok(e) => e.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                }
            });
            if done(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "{css} never got there: {text:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A fresh browser for test `name`, signed in to `s` as its first start's admin user.
    pub(crate) fn signed_in(name: &str, s: &crate::service::Service) -> Browser {
        let b = Browser::start(name);
        b.sign_in(s);
        b
    }

    /// Signs in through the form as the first start's admin user.
    pub(crate) fn sign_in(&self, s: &crate::service::Service) {
        self.goto(&format!("{}/login", s.base));
        self.fill("#username", "admin");
        self.fill("#password", &s.cred("password"));
        self.click("form button[type=submit]");
        self.wait_for_path("/");
    }

    /// Waits until the page's URL ends with `path`. The bound is generous: an import form's
    /// answer comes once the store has recorded the import, which waits for an import that is
    /// writing, and a loaded machine may take a while.
    /// Searches Threat intelligence for `text` from its search box, as a person does, and
    /// returns the first row's name once the answer to the search is shown (not the list the
    /// search was typed on).
    pub(crate) fn search_intel(&self, text: &str) -> String {
        self.fill("#q", text);
        self.click("form.search button[type=submit]");
        let deadline = Instant::now() + Duration::from_secs(180);
        while !self.url().contains("q=") {
            assert!(
                Instant::now() < deadline,
                "the search never answered: {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.wait_for_text("#objects tbody tr .name", |t| !t.is_empty())
    }

    pub(crate) fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let url = self.url();
            if url.ends_with(path) {
                return;
            }
            assert!(Instant::now() < deadline, "never reached {path}: at {url}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Presses Tab, as a keyboard user moving to the next control does.
    pub(crate) fn tab(&self) {
        self.runtime.block_on(async {
            let focused = self.c().active_element().await.unwrap();
            focused.send_keys("\u{E004}").await.unwrap();
        });
    }

    /// Makes the window `width` × `height` pixels.
    pub(crate) fn resize(&self, width: u32, height: u32) {
        self.runtime
            .block_on(self.c().set_window_size(width, height))
            .unwrap();
    }

    /// Saves what the browser shows as `target/tmp/screenshots/<test>-<what>.png`.
    pub(crate) fn screenshot(&self, what: &str) {
        let png = self.runtime.block_on(self.c().screenshot()).unwrap();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{}-{what}.png", self.name)), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        self.driver.kill().expect("stop chromedriver");
        self.driver.wait().expect("reap chromedriver");
    }
}

/// A session of a headless Chromium through the chromedriver on `port`, once it answers.
async fn connect(port: u16) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            // Root in a container has no sandbox to give; the pages are our own.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,800"],
        }),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return c,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "chromedriver never answered: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
