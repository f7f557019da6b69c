//! End-to-end tests of the `tiport` binary, driven as a user or a script would drive it.
//!
//! One test binary (modules below) so the workspace links one executable for all of them.

mod bad_input;
mod browser;
mod differential;
mod faults;
mod hardening;
mod helpers;
mod hostile;
mod import;
mod messages;
mod seeds;
mod service;
mod web;
