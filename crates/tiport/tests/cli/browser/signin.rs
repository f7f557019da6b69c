//! Signing in and out in the browser, with the first start's credentials.

use super::Browser;
use crate::service::Service;

#[test]
fn sign_in_with_the_initial_credentials_then_sign_out() {
    let s = Service::start(&[]);
    let b = Browser::start("signin");
    b.goto(&format!("{}/", s.base));
    b.wait_for_path("/login");
    b.screenshot("login");
    b.fill("#username", "admin");
    b.fill("#password", &s.cred("password"));
    b.click("form button[type=submit]");
    b.wait_for_path("/");
    assert_eq!(b.text("h1"), "Overview of default");
    assert_eq!(b.text("header .who"), "admin");
    b.screenshot("overview");

    b.click("form.signout button");
    b.wait_for_path("/login");
    // Back to a page of the session: it is over.
    b.goto(&format!("{}/", s.base));
    b.wait_for_path("/login");
}
