//! The one error type, for syntax and semantic problems alike.

use std::fmt::Write as _;

/// A problem with a pattern: where it is and what is wrong.
///
/// Displays as `at column N: <message>`, where N is the 0-based column counted in characters
/// (not bytes), so that it lines up with what an analyst sees in an editor.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at column {offset}: {message}")]
pub struct Error {
    offset: usize,
    message: String,
}

impl Error {
    /// Builds an error at a character column.
    pub(crate) fn new(offset: usize, message: String) -> Self {
        Error { offset, message }
    }

    /// Builds an error at a byte offset into `src`, converting it to a character column.
    ///
    /// Errors are rare, so counting characters here keeps the hot path free of any bookkeeping.
    #[cold]
    pub(crate) fn at_byte(src: &str, byte: usize, message: String) -> Self {
        Error::new(char_column(src, byte), message)
    }

    /// The 0-based character column the error refers to.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The message, without the column.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The character column of byte offset `byte` in `src`. Offsets past the end (or inside a
/// character, which the crate never produces) fall back to counting up to the nearest boundary.
pub(crate) fn char_column(src: &str, byte: usize) -> usize {
    if byte >= src.len() {
        return src.chars().count() + (byte - src.len());
    }
    let mut b = byte;
    while !src.is_char_boundary(b) {
        b -= 1;
    }
    src[..b].chars().count()
}

/// Shortens text quoted in an error message so that one huge token cannot produce a huge
/// message.
pub(crate) fn truncate(text: &str) -> String {
    const MAX: usize = 40;
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
