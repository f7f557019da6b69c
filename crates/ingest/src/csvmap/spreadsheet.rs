//! CSV meant to be opened in a spreadsheet (error files, exports): cells neutralized against
//! formula injection, and a writer that quotes every cell.
//!
//! Invariants: a neutralized cell is the original with at most one `'` in front, so that
//! nothing the analyst wrote is lost; a cell that needs no change is borrowed, not copied.

use std::borrow::Cow;

/// Makes a cell safe to open in a spreadsheet: a cell that starts with `=`, `+`, `-`, `@`, a tab
/// or a carriage return (OWASP's list), or a NUL (which OWASP ASVS 1.2.10 adds), can be read as
/// a formula (CSV injection), so it gets a leading `'`, which spreadsheets take as "this is
/// text". So does a cell in which a separator (`,`, `;`, a tab, `|`, a line break) is followed
/// by one of those characters (after spaces or a quote, if any): a spreadsheet that splits
/// cells on another separator than ours (`;` in much of Europe) would start a new cell there,
/// a formula (OWASP: "attackers could use this to start a new cell"). The writers also quote
/// every cell ([`spreadsheet_safe_writer`]), so no separator inside a cell splits it. A cell
/// that already starts with `'` is left alone: it is already text to a spreadsheet.
pub fn neutralize_cell(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let starts = matches!(
        b.first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\0')
    );
    if starts || (b.first() != Some(&b'\'') && formula_after_separator(b)) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Whether a separator in `b` is followed, after spaces and quotes, by a formula character.
fn formula_after_separator(b: &[u8]) -> bool {
    b.iter().enumerate().any(|(i, c)| {
        matches!(c, b',' | b';' | b'\t' | b'|' | b'\r' | b'\n')
            && b[i + 1..]
                .iter()
                .find(|c| !matches!(c, b' ' | b'"' | b'\''))
                .is_some_and(|c| matches!(c, b'=' | b'+' | b'-' | b'@'))
    })
}

/// A CSV writer for files meant to be opened in a spreadsheet (error files, exports): every
/// cell quoted, so that a spreadsheet splitting on another separator still sees our cells.
pub fn spreadsheet_safe_writer<W: std::io::Write>(w: W, flexible: bool) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .flexible(flexible)
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralizes_formulas() {
        for formula in [
            // A formula character first.
            "=1+2",
            "+1",
            "-1",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "\0x",
            // A separator followed by a formula starts a cell in a spreadsheet that splits
            // there.
            "a;=1+1",
            "a,=1+1",
            "a\t@SUM(1)",
            "x| -2+3",
            "a;\"=cmd",
            "1\n=2",
            "b; '+1",
        ] {
            assert_eq!(
                neutralize_cell(formula),
                format!("'{formula}"),
                "{formula:?}"
            );
        }
        // Text to a spreadsheet already, or no formula anywhere: borrowed as it is.
        for kept in [
            "'=x",
            " =x",
            "plain",
            "a;b",
            "a, b",
            "1-2",
            "a=1",
            "x;y=2",
            "e-mail@example.com",
            "a;1",
            "",
        ] {
            assert!(
                matches!(neutralize_cell(kept), Cow::Borrowed(k) if k == kept),
                "{kept:?}"
            );
        }
    }
}
