//! Source names: what every stored object records as where it came from (an upload's
//! `sourcesystem`, an import's source).
//!
//! # Key decision: compare what a person would read, not the bytes
//!
//! The upload API reserves "Microsoft Sentinel" for the hosted service's own intelligence. A
//! byte comparison let `"Microsoft\u{a0}Sentinel"` (a no-break space) and
//! `"Microsoft Sentinel\u{200b}"` (a zero-width space) through: names that read as the
//! reserved one. A name is therefore compared in a folded form: Unicode compatibility
//! normalization (NFKD, which turns a no-break space into a space, full-width letters into
//! ASCII, and an accented letter into the letter and its mark), then removed: format
//! characters (general category Cf: zero-width spaces and joiners, direction marks, soft
//! hyphens), every default-ignorable code point (assigned or not: what a renderer shows as
//! nothing), combining and enclosing marks (Mn, Me: "Micro\u{301}soft" reads as "Microsoft")
//! and control characters; characters that show as blank though they are letters or symbols
//! (the Hangul fillers, the blank Braille pattern) made spaces, and for the fillers, which
//! some fonts draw as nothing, also removed (either reading counts); every run of white space
//! one space, trimmed, lower case. Look-alike letters of other scripts (a Cyrillic "о") are not
//! folded; no normalization does.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The longest source name accepted, in bytes of UTF-8. Every stored version records its
/// source, and lists are filtered and sorted by it: a name is a label, not a document.
pub const MAX_BYTES: usize = 1024;

/// The source name the upload API reserves.
pub const RESERVED: &str = "Microsoft Sentinel";

/// Why a source name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("is empty")]
    Empty,
    #[error("is {0} bytes long; at most {MAX_BYTES} are accepted")]
    TooLong(usize),
    #[error("contains a control character (U+{0:04X})")]
    Control(u32),
    #[error("may not be \"{RESERVED}\", which is reserved")]
    Reserved,
}

/// A source name: trimmed, not empty, at most [`MAX_BYTES`], no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceName(String);

impl SourceName {
    /// The name of an import or an upload; white space around it is dropped.
    pub fn parse(text: &str) -> Result<SourceName, SourceError> {
        let name = text.trim();
        if name.is_empty() {
            return Err(SourceError::Empty);
        }
        if name.len() > MAX_BYTES {
            return Err(SourceError::TooLong(name.len()));
        }
        if let Some(c) = name.chars().find(|c| c.is_control()) {
            return Err(SourceError::Control(c as u32));
        }
        Ok(SourceName(name.to_owned()))
    }

    /// As [`SourceName::parse`], and not the reserved name in any disguise.
    pub fn parse_unreserved(text: &str) -> Result<SourceName, SourceError> {
        let name = SourceName::parse(text)?;
        if is_reserved(name.as_str()) {
            return Err(SourceError::Reserved);
        }
        Ok(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Whether `name` reads as the reserved name (see the module documentation).
pub fn is_reserved(name: &str) -> bool {
    let reserved = RESERVED.to_lowercase();
    // The Hangul fillers are drawn as a wide blank by some fonts and as nothing by others:
    // either reading may be the one a person sees.
    fold(name, Some(' ')) == reserved || fold(name, None) == reserved
}

/// The form names are compared in, with the blank letters made `blank` (or removed).
fn fold(name: &str, blank: Option<char>) -> String {
    use GeneralCategory::{Control, EnclosingMark, Format, NonspacingMark};
    let visible: String = name
        .nfkd()
        .filter_map(|c| {
            if is_blank_letter(c) {
                return blank;
            }
            if c.is_whitespace() {
                return Some(' ');
            }
            if is_default_ignorable(c) {
                return None;
            }
            match c.general_category() {
                Format | NonspacingMark | EnclosingMark | Control => None,
                _ => Some(c),
            }
        })
        .collect();
    // Removing a character can bring two pieces together that normalize further.
    let normalized: String = visible.nfkc().collect();
    normalized
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Characters that are not white space but show as blank (or as nothing).
fn is_blank_letter(c: char) -> bool {
    matches!(
        c,
        '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{2800}'
    )
}

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, 15.1): what a renderer
/// shows as nothing when it does not support it, assigned or not (general categories do not
/// cover the unassigned ones, such as U+E0080).
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserved_name_in_disguise_is_still_reserved() {
        for disguised in [
            "Microsoft Sentinel",
            "microsoft sentinel",
            "  MICROSOFT   SENTINEL ",
            "Microsoft\u{a0}Sentinel",
            "Microsoft Sentinel\u{200b}",
            "\u{feff}Microsoft Sentinel",
            "Micro\u{ad}soft Sentinel",
            "Microsoft\u{2003}Sentinel",
            "Microsoft\tSentinel",
            "Ｍｉｃｒｏｓｏｆｔ Ｓｅｎｔｉｎｅｌ",
            "Microsoft\u{200d} Sentinel",
            "\u{202e}Microsoft Sentinel",
            "Micro\u{301}soft Sentinel",
            "Micr\u{f3}soft Sentinel",
            "Microsoft Sentinel\u{34f}",
            "Microsoft Sentinel\u{20dd}",
            "Microsoft\u{3164}Sentinel",
            "Microsoft\u{2800}Sentinel",
            "Microsoft\u{ffa0}Sentinel",
            "Microsoft\u{115f}\u{1160}Sentinel",
            "Micro\u{3164}soft Sentinel",
            "Microsoft Sentinel\u{e0080}",
            "Microsoft\u{2065} Sentinel",
            "Microsoft Sentinel\u{fff0}",
            "Microsoft Sentinel\u{fe0f}",
            "Microsoft \u{1d173}Sentinel",
        ] {
            assert!(is_reserved(disguised), "{disguised:?}");
        }
        for other in [
            "Microsoft Sentinel feed",
            "MicrosoftSentinel",
            "Microsoft Defender",
            "Sentinel",
        ] {
            assert!(!is_reserved(other), "{other:?}");
        }
    }

    #[test]
    fn names_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(SourceName::parse("  feed ").unwrap().as_str(), "feed");
        assert_eq!(SourceName::parse(" \t "), Err(SourceError::Empty));
        assert_eq!(
            SourceName::parse(&"x".repeat(MAX_BYTES + 1)),
            Err(SourceError::TooLong(MAX_BYTES + 1))
        );
        assert!(SourceName::parse(&"é".repeat(MAX_BYTES / 2)).is_ok());
        assert_eq!(SourceName::parse("a\nb"), Err(SourceError::Control(0x0a)));
        assert_eq!(
            SourceName::parse_unreserved("Microsoft\u{a0}Sentinel"),
            Err(SourceError::Reserved)
        );
        assert_eq!(
            SourceError::TooLong(5000).to_string(),
            "is 5000 bytes long; at most 1024 are accepted"
        );
    }
}
