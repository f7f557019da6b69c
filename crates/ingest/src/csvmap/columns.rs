//! The columns of the two CSV templates: their names, which template has which, and how a
//! header cell names one.
//!
//! Invariants: the discriminants of [`Col`] are `0..N_COLS` in declaration order, so that
//! `c as usize` indexes arrays of `N_COLS` entries, and `ALL_COLUMNS` lists them all; the hash
//! columns are listed in the order the pattern ORs them, which is part of the mapped
//! indicator's text (and so of its id).

/// A column of either template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Col {
    ThreatTypes,
    Tags,
    Name,
    Description,
    Confidence,
    Revoked,
    ValidFrom,
    ValidUntil,
    TlpLevel,
    Severity,
    ObservableType,
    ObservableValue,
    FileName,
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

pub(super) const N_COLS: usize = 17;

/// The columns both templates have, in their order; each template's own columns follow them.
const COMMON_COLUMNS: [Col; 10] = [
    Col::ThreatTypes,
    Col::Tags,
    Col::Name,
    Col::Description,
    Col::Confidence,
    Col::Revoked,
    Col::ValidFrom,
    Col::ValidUntil,
    Col::TlpLevel,
    Col::Severity,
];

const ONLY_OTHER_COLUMNS: [Col; 2] = [Col::ObservableType, Col::ObservableValue];

const ONLY_FILE_COLUMNS: [Col; 5] = [Col::FileName, Col::Md5, Col::Sha1, Col::Sha256, Col::Sha512];

pub(super) const OTHER_COLUMNS: [Col; 12] = joined(COMMON_COLUMNS, ONLY_OTHER_COLUMNS);

pub(super) const FILE_COLUMNS: [Col; 15] = joined(COMMON_COLUMNS, ONLY_FILE_COLUMNS);

const ALL_COLUMNS: [Col; N_COLS] = joined(OTHER_COLUMNS, ONLY_FILE_COLUMNS);

/// `a` then `b`, at compile time: each list of columns is written once, and a length that is
/// not `A + B` fails the build.
const fn joined<const A: usize, const B: usize, const N: usize>(
    a: [Col; A],
    b: [Col; B],
) -> [Col; N] {
    assert!(A + B == N, "the joined list's length is the sum of the two");
    let mut out = [Col::ThreatTypes; N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

/// The hash columns, in the order the pattern ORs them, with their STIX hash names.
pub(super) const HASH_COLUMNS: [(Col, &str); 4] = [
    (Col::Md5, "MD5"),
    (Col::Sha1, "SHA-1"),
    (Col::Sha256, "SHA-256"),
    (Col::Sha512, "SHA-512"),
];

impl Col {
    pub(super) fn name(self) -> &'static str {
        match self {
            Col::ThreatTypes => "threatTypes",
            Col::Tags => "tags",
            Col::Name => "name",
            Col::Description => "description",
            Col::Confidence => "confidence",
            Col::Revoked => "revoked",
            Col::ValidFrom => "validFrom",
            Col::ValidUntil => "validUntil",
            Col::TlpLevel => "tlpLevel",
            Col::Severity => "severity",
            Col::ObservableType => "observableType",
            Col::ObservableValue => "observableValue",
            Col::FileName => "fileName",
            Col::Md5 => "MD5",
            Col::Sha1 => "SHA-1",
            Col::Sha256 => "SHA-256",
            Col::Sha512 => "SHA-512",
        }
    }

    /// The column a header cell names: the template's spelling in any case, and for hashes
    /// also the spellings producers use (`sha256`, `SHA_256`).
    pub(super) fn from_header(h: &str) -> Option<Col> {
        if let Some(c) = ALL_COLUMNS
            .iter()
            .find(|c| c.name().eq_ignore_ascii_case(h))
        {
            return Some(*c);
        }
        match stix::canonical_algorithm(h)?.0 {
            "MD5" => Some(Col::Md5),
            "SHA-1" => Some(Col::Sha1),
            "SHA-256" => Some(Col::Sha256),
            "SHA-512" => Some(Col::Sha512),
            _ => None,
        }
    }

    /// Columns that only the csv-other template has.
    pub(super) fn only_other(self) -> bool {
        ONLY_OTHER_COLUMNS.contains(&self)
    }

    /// Columns that only the csv-file template has.
    pub(super) fn only_file(self) -> bool {
        ONLY_FILE_COLUMNS.contains(&self)
    }
}
