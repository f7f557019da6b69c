//! Progress bars for long work: drawn on a terminal, silent otherwise.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{self, Read};

/// A bar over a byte count (`len` = file size) or a spinner when the size is unknown (stdin).
/// indicatif hides it when stderr is not a terminal, so pipes and CI logs stay clean.
pub fn bar(len: Option<u64>, what: &str) -> ProgressBar {
    let pb = match len {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr_with_hz(5)),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5)),
    };
    let template = if len.is_some() {
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg} {spinner} {bytes} {bytes_per_sec}"
    };
    pb.set_style(
        ProgressStyle::with_template(template)
            .expect("static template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

/// A counter of items (objects exported), drawn on a terminal only.
pub fn counter(what: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5));
    pb.set_style(
        ProgressStyle::with_template("{msg} {spinner} {pos} objects, {per_sec}")
            .expect("static template"),
    );
    pb.set_message(what.to_owned());
    pb
}

/// A reader that reports how much it has read to a progress bar.
pub struct Counting<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R> Counting<R> {
    pub fn new(inner: R, bar: ProgressBar) -> Self {
        Counting { inner, bar }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}
