//! The values that cross the [`crate::Store`] interface.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use stix::{StixId, Timestamp, Tlp};
use uuid::Uuid;

macro_rules! uuid_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random identifier.
            pub fn random() -> Self {
                $name(Uuid::new_v4())
            }

            /// Parses the hyphenated form (any case); braces, URNs and other spellings are
            /// refused so that one identifier has one text.
            pub fn parse(s: &str) -> Result<Self, ParseIdError> {
                let u = Uuid::try_parse(s).map_err(|_| ParseIdError { what: $what, text: s.into() })?;
                if s.len() != 36 {
                    return Err(ParseIdError { what: $what, text: s.into() });
                }
                Ok($name(u))
            }

            pub fn from_uuid(u: Uuid) -> Self {
                $name(u)
            }

            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, ParseIdError> {
                Self::parse(s)
            }
        }
    };
}

uuid_newtype!(
    /// A workspace: the unit of isolation. No query, import or error file crosses workspaces.
    WorkspaceId,
    "workspace id"
);
uuid_newtype!(
    /// A file import.
    ImportId,
    "import id"
);

/// An identifier that is not a hyphenated UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be a UUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6, not {text:?}")]
pub struct ParseIdError {
    what: &'static str,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub created: Timestamp,
}

/// Where stored objects came from: the source every object of a write is stamped with (the
/// upload's `sourcesystem` or the import's source) and the import or request that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub source: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Import(ImportId),
    /// An upload request, by the id the service gave it.
    Request(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Import(id) => write!(f, "import:{id}"),
            Origin::Request(id) => write!(f, "request:{id}"),
        }
    }
}

impl Origin {
    pub fn parse(s: &str) -> Option<Origin> {
        if let Some(id) = s.strip_prefix("import:") {
            return ImportId::parse(id).ok().map(Origin::Import);
        }
        s.strip_prefix("request:")
            .map(|id| Origin::Request(id.to_owned()))
    }
}

/// What an indicator's pattern lets it be found by.
///
/// IP addresses and CIDR blocks are kept as networks (host bits cleared) so that a lookup of one
/// address finds every block that contains it; every other value is kept in lower case, so the
/// lookup is exact up to case (domain names, e-mail addresses and hex hashes are case-blind; a
/// URL differing only in case is found too, which errs toward telling the analyst).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObservableKey {
    Ip {
        network: IpAddr,
        prefix: u8,
    },
    Text(String),
    /// An object a relationship refers to (its `source_ref` or `target_ref`), by its id: so
    /// that an object's relationships are found in both directions without a scan. No
    /// observable search makes this key.
    Reference(StixId),
    /// An object's `name` in lower case (see [`ObservableKey::name`]): a search for the
    /// beginning of a name is a range of the index. No observable search makes this key.
    Name(String),
}

impl ObservableKey {
    /// An address or a CIDR block; `None` when `prefix` is longer than the address.
    pub fn ip(addr: IpAddr, prefix: u8) -> Option<ObservableKey> {
        let network = match addr {
            IpAddr::V4(a) if prefix <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) if prefix <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
            _ => return None,
        };
        Some(ObservableKey::Ip { network, prefix })
    }

    /// Any other value, folded to lower case.
    pub fn text(value: &str) -> ObservableKey {
        ObservableKey::Text(value.to_lowercase())
    }

    /// The key as bytes, ordered so that one family's blocks of one prefix length sort
    /// together: `4|6, prefix, network` for IPs, `t, value` for text.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ObservableKey::Ip {
                network: IpAddr::V4(a),
                prefix,
            } => {
                out.push(4);
                out.push(*prefix);
                out.extend_from_slice(&a.octets());
            }
            ObservableKey::Ip {
                network: IpAddr::V6(a),
                prefix,
            } => {
                out.push(6);
                out.push(*prefix);
                out.extend_from_slice(&a.octets());
            }
            ObservableKey::Text(s) => {
                out.push(b't');
                out.extend_from_slice(s.as_bytes());
            }
            ObservableKey::Reference(id) => {
                out.push(b'r');
                out.extend_from_slice(id.as_str().as_bytes());
            }
            ObservableKey::Name(n) => {
                out.push(b'n');
                out.extend_from_slice(n.as_bytes());
            }
        }
    }

    /// The name key of an object named `name`: the name in lower case, its words separated by
    /// one space, cut to [`MAX_NAME_KEY_BYTES`]; none for a blank name. A search finds the
    /// names that begin with its text. One key per object: each row of the index costs an
    /// import about 1.5 µs, and a key for each word of a name (so that "c2" would find "Emotet
    /// C2 server") made an import of 250 MB of STIX take 1.56 times as long, against 1.23
    /// for this one (BENCHMARKS.md, "What name search and the order of storing cost").
    pub fn name(name: &str) -> Option<ObservableKey> {
        let text = name_text(name);
        if text.is_empty() {
            return None;
        }
        let cut = text.floor_char_boundary(MAX_NAME_KEY_BYTES);
        Some(ObservableKey::Name(text[..cut].to_owned()))
    }

    /// Where a name search for `text` walks the index, in its order of (key, seq): after the
    /// previous page's last hit, or just before the first key that begins with `text`; before
    /// the first key that does not. `None` when `text` is blank.
    pub fn name_walk(text: &str, past: Option<(&[u8], i64)>) -> Option<NameWalk> {
        let (first, end) = ObservableKey::name_range(text)?;
        let (after_key, after_seq) = match past {
            Some((k, s)) if k >= first.as_slice() => (k.to_vec(), s),
            _ => (first, i64::MIN),
        };
        Some(NameWalk {
            after_key,
            after_seq,
            end,
        })
    }

    /// The range of name keys that begin with `text` (lower-cased, cut as keys are): from the
    /// first key, inclusive, to the end, exclusive; `None` when `text` is blank.
    pub fn name_range(text: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        let lower = name_text(text);
        if lower.is_empty() {
            return None;
        }
        let cut = lower.floor_char_boundary(MAX_NAME_KEY_BYTES);
        let from = ObservableKey::Name(lower[..cut].to_owned()).to_bytes();
        // The keys that begin with `from` sort before `from` followed by 0xFF, a byte no UTF-8
        // text holds.
        let mut to = from.clone();
        to.push(0xFF);
        Some((from, to))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// The keys a lookup of this one probes, encoded: an address or block is found by every
    /// block that contains it, so one key per prefix length; anything else, itself.
    pub fn probes(&self) -> Vec<Vec<u8>> {
        match self {
            ObservableKey::Ip { network, prefix } => (0..=*prefix)
                .rev()
                .filter_map(|p| ObservableKey::ip(*network, p))
                .map(|k| k.to_bytes())
                .collect(),
            ObservableKey::Text(_) | ObservableKey::Reference(_) | ObservableKey::Name(_) => {
                vec![self.to_bytes()]
            }
        }
    }
}

/// A name as its keys hold it: in lower case, its words separated by one space.
fn name_text(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The longest name key, in bytes of text: a search for a longer text looks up its beginning.
pub const MAX_NAME_KEY_BYTES: usize = 100;

/// A content fingerprint: for objects tiport derives itself (CSV rows), whose `modified` is the
/// time of the import, two imports of an unchanged row have the same fingerprint.
pub type ContentHash = [u8; 32];

/// An object version to store. Built by the caller from a record that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct NewObject {
    /// The caller's index for the record (its `recordIndex`), echoed in rejections.
    pub record: u64,
    pub id: StixId,
    pub modified: Timestamp,
    pub created: Timestamp,
    /// The version the record was read as: `"2.1"` or `"2.0"` (a 2.0 record is stored with
    /// normalized 2.1 members added to its JSON).
    pub spec_version: &'static str,
    pub revoked: bool,
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    pub confidence: Option<u8>,
    pub tlp: Option<Tlp>,
    pub labels: Vec<String>,
    pub observables: Vec<ObservableKey>,
    /// The object as compact JSON text.
    pub json: String,
    /// Set for objects tiport derived itself; see [`Derived`].
    pub derived: Option<Derived>,
}

impl NewObject {
    /// A version with only what every object has: read as STIX 2.1, not revoked, without
    /// validity, confidence, TLP, labels or observables, not derived, and record 0. Callers
    /// that have more set it over this with struct update syntax.
    pub fn new(id: StixId, created: Timestamp, modified: Timestamp, json: String) -> NewObject {
        NewObject {
            record: 0,
            id,
            modified,
            created,
            spec_version: "2.1",
            revoked: false,
            valid_from: None,
            valid_until: None,
            confidence: None,
            tlp: None,
            labels: Vec::new(),
            observables: Vec::new(),
            json,
            derived: None,
        }
    }
}

/// An object whose `modified` is the time it was derived (a CSV row), not a version its producer
/// chose. Such an object is *unchanged*, and nothing is stored, when the current version has the
/// same [`ContentHash`]; when it did change, the new version keeps the first version's `created`
/// (STIX requires `created` to be the same in every version): the store rewrites the bytes
/// `json[created_at]`, which must hold exactly the quoted `created` timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub content_hash: ContentHash,
    pub created_at: std::ops::Range<usize>,
}

/// What became of one object of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new version was stored; `current` says whether it is now the current one.
    Stored { current: bool },
    /// The same `id` and `modified` (or, for a derived object, the same content) was already
    /// stored; nothing changed.
    Unchanged,
    /// Refused by the versioning rules; the message is worded like a validation error.
    Rejected(String),
}

/// The totals of a write, with the rejected records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    pub stored: u64,
    pub unchanged: u64,
    /// `(record, message)` for every object the versioning rules refused, in input order.
    pub rejected: Vec<(u64, String)>,
}

impl WriteSummary {
    pub fn add(&mut self, record: u64, outcome: &Outcome) {
        match outcome {
            Outcome::Stored { .. } => self.stored += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Rejected(m) => self.rejected.push((record, m.clone())),
        }
    }
}

/// One stored version, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    pub id: StixId,
    pub object_type: String,
    pub modified: Timestamp,
    pub created: Timestamp,
    pub spec_version: String,
    pub revoked: bool,
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    pub confidence: Option<u8>,
    pub tlp: Option<Tlp>,
    pub labels: Vec<String>,
    pub source: String,
    pub origin: Option<Origin>,
    /// When this version was stored.
    pub stored: Timestamp,
    /// The version's place in the order of storing: a later version has a larger one. It is
    /// the engine's own number, meaningful only to compare and to resume a scan from.
    pub seq: i64,
    pub current: bool,
    pub json: String,
}

/// Which current objects a scan returns. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectFilter {
    pub object_type: Option<String>,
    pub source: Option<String>,
    /// Objects with this label (exactly).
    pub label: Option<String>,
    pub revoked: Option<bool>,
    /// Indicators valid at this instant: `valid_from` at or before it, and no `valid_until` or
    /// one after it. Objects without a validity period do not match.
    pub valid_at: Option<Timestamp>,
    /// Objects whose validity ended by this instant (`valid_until` at or before it).
    pub expired_at: Option<Timestamp>,
    /// Objects with this TLP (its name: `clear`, `green`, `amber`, `amber+strict`, `red`;
    /// TLP 1.0's `white` is `clear`).
    pub tlp: Option<String>,
    /// The order of the scan, and where the previous page ended.
    pub order: ObjectOrder,
    /// When a scan stops walking and says where it got to ([`Walked::OutOfTime`]): so that
    /// filters few objects pass cannot make one page read a whole workspace of millions. It is
    /// checked after each object walked, passing the filters or not, so a scan walks at least
    /// one. `None`: no bound.
    pub deadline: Option<std::time::Instant>,
}

impl ObjectFilter {
    /// Whether `o` passes every filter (the order and the deadline aside). Engines may check
    /// some filters in their own queries first, but the answer is this one's.
    pub fn matches(&self, o: &StoredObject) -> bool {
        self.object_type
            .as_ref()
            .is_none_or(|t| *t == o.object_type)
            && self.source.as_ref().is_none_or(|s| *s == o.source)
            && self.label.as_ref().is_none_or(|l| o.labels.contains(l))
            && self.revoked.is_none_or(|r| r == o.revoked)
            && self.valid_at.as_ref().is_none_or(|t| {
                o.valid_from.as_ref().is_some_and(|from| from <= t)
                    && o.valid_until.as_ref().is_none_or(|until| until > t)
            })
            && self
                .expired_at
                .as_ref()
                .is_none_or(|t| o.valid_until.as_ref().is_some_and(|until| until <= t))
            && self
                .tlp
                .as_ref()
                .is_none_or(|name| o.tlp.is_some_and(|t| t.name() == name))
    }
}

/// How a scan of current objects ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Walked {
    /// At the end of its range, or because the caller said stop.
    Done,
    /// Its deadline passed: the position, in the scan's order, of the last object walked (it
    /// may not have passed the filters), past which a scan resumes.
    OutOfTime(ObjectPosition),
}

/// A position in an [`ObjectOrder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectPosition {
    Id(StixId),
    Seq(i64),
}

/// The order of a scan of current objects, with the position the previous page ended at (its
/// last object): the scan goes on past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectOrder {
    /// By id, so by type first (ids are `<type>--<uuid>`).
    Id {
        descending: bool,
        past: Option<StixId>,
    },
    /// By when each object's current version was stored (its [`StoredObject::seq`]).
    Stored {
        newest_first: bool,
        past: Option<i64>,
    },
}

impl Default for ObjectOrder {
    fn default() -> Self {
        ObjectOrder::Id {
            descending: false,
            past: None,
        }
    }
}

impl ObjectOrder {
    /// Ascending ids after `id`: the next page of a scan in id order.
    pub fn after(id: StixId) -> ObjectOrder {
        ObjectOrder::Id {
            descending: false,
            past: Some(id),
        }
    }

    /// Where `o` stands in this order.
    pub fn position_of(&self, o: &StoredObject) -> ObjectPosition {
        match self {
            ObjectOrder::Id { .. } => ObjectPosition::Id(o.id.clone()),
            ObjectOrder::Stored { .. } => ObjectPosition::Seq(o.seq),
        }
    }

    /// The ids a scan in id order walks, as an open range (`low` < id < `high`): past the
    /// cursor (after it, or before it when descending), and within the type's ids when a
    /// type is asked for (the ids of type `t` are exactly those after `t--` and before `t-.`;
    /// `.` follows `-`). Type names and ids are ASCII letters, digits and hyphens, so `~` is
    /// after every id. Ids compare byte by byte.
    pub fn id_range(
        object_type: Option<&str>,
        descending: bool,
        past: Option<&StixId>,
    ) -> (String, String) {
        let (mut low, mut high) = match object_type {
            Some(t) => (format!("{t}--"), format!("{t}-.")),
            None => (String::new(), "~".to_owned()),
        };
        if let Some(p) = past {
            let p = p.as_str();
            if descending {
                if p < high.as_str() {
                    high = p.to_owned();
                }
            } else if p > low.as_str() {
                low = p.to_owned();
            }
        }
        (low, high)
    }
}

/// The part of the index a name search walks ([`ObservableKey::name_walk`]): the rows after
/// (`after_key`, `after_seq`) and before the key `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameWalk {
    pub after_key: Vec<u8>,
    pub after_seq: i64,
    pub end: Vec<u8>,
}

/// A current object a name search found: the index key that matched (the lower-cased name
/// from one of its words on, see [`ObservableKey::Name`]) and the version's `seq`, which
/// together are the position of the hit in the search's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameHit {
    pub id: StixId,
    pub key: Vec<u8>,
    pub seq: i64,
}

/// Declares a vocabulary once: the enum, and its words as every layer reads and writes them
/// (the store's columns, the API's JSON and query strings, the command line's flags). It gives
/// `as_str`/`parse`, `Display` and `FromStr` (whose error lists the words), serde's
/// `Serialize`/`Deserialize` as the word, `ALL` in declaration order, and, with the `clap`
/// feature, clap's `ValueEnum`, so a flag takes exactly the words the API takes.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $ty:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ty { $($(#[$vmeta])* $variant),* }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),* }
            }

            /// The words, for messages: `csv or json`, `a, b or c`.
            pub fn words() -> String {
                or_list($ty::ALL.iter().map(|v| v.as_str()))
            }

            pub fn parse(s: &str) -> Option<$ty> {
                match s { $($text => Some($ty::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownWord;

            fn from_str(s: &str) -> Result<$ty, UnknownWord> {
                $ty::parse(s).ok_or_else(|| UnknownWord {
                    given: s.to_owned(),
                    words: $ty::ALL.iter().map(|v| v.as_str()).collect(),
                })
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        #[cfg(feature = "clap")]
        impl clap::ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [$ty] {
                $ty::ALL
            }

            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(self.as_str()))
            }
        }
    };
}

/// `a`, `a or b`, `a, b or c`.
fn or_list<'a>(words: impl Iterator<Item = &'a str>) -> String {
    let words: Vec<&str> = words.collect();
    match words.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, init)) => format!("{} or {last}", init.join(", ")),
        None => String::new(),
    }
}

/// A word that is not one of a vocabulary's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not {}", or_list(words.iter().copied()))]
pub struct UnknownWord {
    pub given: String,
    pub words: Vec<&'static str>,
}

text_enum! {
    /// What an import's file holds.
    pub enum ImportFormat { Csv = "csv", Json = "json" }
}
text_enum! {
    /// What an import does with a file that has invalid records: store the valid ones, or
    /// nothing.
    pub enum ImportMode { ValidOnly = "valid-only", AllOrNothing = "all-or-nothing" }
}
text_enum! {
    /// Where an import stands; the last three are final.
    pub enum ImportStatus {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        PartiallySucceeded = "partially-succeeded",
        Failed = "failed",
    }
}
text_enum! {
    /// Roles are granted per workspace.
    pub enum Role { Contributor = "contributor", Reader = "reader" }
}

impl ImportStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ImportStatus::Succeeded | ImportStatus::PartiallySucceeded | ImportStatus::Failed
        )
    }
}

/// A new import, as it is queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImport {
    pub id: ImportId,
    pub workspace: WorkspaceId,
    pub source: String,
    pub file_name: String,
    pub format: ImportFormat,
    pub mode: ImportMode,
    /// The kept copy of the file, deleted by the retention sweep.
    pub file_path: Option<PathBuf>,
    pub created: Timestamp,
    /// Who queued it: an import whose owner is gone is failed by
    /// [`crate::Store::fail_abandoned_imports`].
    pub owner: String,
}

/// How an import ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFinish {
    pub status: ImportStatus,
    pub total: u64,
    /// Valid records now in the store: newly stored or already there unchanged.
    pub imported: u64,
    pub invalid: u64,
    /// Of `imported`, those that changed nothing: already stored, or (CSV) a row repeating an
    /// earlier row's observable, merged into its indicator.
    pub unchanged: u64,
    /// Of `imported`, STIX 2.0 records stored with normalized 2.1 members.
    pub upgraded: u64,
    /// Why the import failed as a whole (an unreadable file, an interruption), if it did.
    pub message: Option<String>,
    pub error_path: Option<PathBuf>,
    pub finished: Timestamp,
}

impl ImportFinish {
    /// An end with `status` after a file of `imported` records, every one of them valid:
    /// nothing invalid, unchanged or upgraded, no message and no error file. Callers that
    /// count more set it over this with struct update syntax, as [`ImportFinish::failed`] does.
    pub fn new(status: ImportStatus, imported: u64, finished: Timestamp) -> ImportFinish {
        ImportFinish {
            status,
            total: imported,
            imported,
            invalid: 0,
            unchanged: 0,
            upgraded: 0,
            message: None,
            error_path: None,
            finished,
        }
    }

    /// The end of an import that failed before it wrote anything: `message` says why.
    pub fn failed(message: &str, finished: Timestamp) -> ImportFinish {
        ImportFinish {
            message: Some(message.to_owned()),
            ..ImportFinish::new(ImportStatus::Failed, 0, finished)
        }
    }
}

/// An import record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    pub id: ImportId,
    pub workspace: WorkspaceId,
    pub source: String,
    pub file_name: String,
    pub format: ImportFormat,
    pub mode: ImportMode,
    pub status: ImportStatus,
    pub total: u64,
    pub imported: u64,
    pub invalid: u64,
    pub unchanged: u64,
    pub upgraded: u64,
    pub message: Option<String>,
    pub created: Timestamp,
    pub started: Option<Timestamp>,
    pub finished: Option<Timestamp>,
    /// `None` once the retention sweep deleted the file (or it was never kept).
    pub file_path: Option<PathBuf>,
    pub error_path: Option<PathBuf>,
    /// Who queued or runs the import while it is open; cleared when it ends.
    pub owner: Option<String>,
}

text_enum! {
    /// The sort orders of the list of imports (the seed's Manage file imports pane).
    #[derive(Default)]
    pub enum ImportSort {
        Source = "source",
        Name = "name",
        Imported = "imported",
        Total = "total",
        #[default]
        Created = "created",
    }
}

/// One page of the list of imports: those after `after` (in the list's order), at most
/// `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportPage {
    pub after: Option<ImportKey>,
    pub limit: usize,
}

impl ImportPage {
    /// The first `limit` imports.
    pub fn first(limit: usize) -> ImportPage {
        ImportPage { after: None, limit }
    }
}

/// Where a record stands in the list of imports: its value of the sort column, then its
/// creation time and id, which break ties (in the same direction), so the order is total
/// and a page can start after any record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportKey {
    pub value: SortValue,
    pub created: Timestamp,
    pub id: ImportId,
}

/// A value of the sort column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortValue {
    Text(String),
    Count(u64),
    Time(Timestamp),
}

impl ImportKey {
    /// The key of `r` in a list sorted by `sort`.
    pub fn of(r: &ImportRecord, sort: ImportSort) -> ImportKey {
        let value = match sort {
            ImportSort::Source => SortValue::Text(r.source.clone()),
            ImportSort::Name => SortValue::Text(r.file_name.clone()),
            ImportSort::Imported => SortValue::Count(r.imported),
            ImportSort::Total => SortValue::Count(r.total),
            ImportSort::Created => SortValue::Time(r.created),
        };
        ImportKey {
            value,
            created: r.created,
            id: r.id,
        }
    }
}

text_enum! {
    /// The direction of a sorted list.
    #[derive(Default)]
    pub enum Order {
        Asc = "asc",
        #[default]
        Desc = "desc",
    }
}

/// How long import records and their files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub records: std::time::Duration,
    pub files: std::time::Duration,
}

impl Default for Retention {
    /// The seed's: records 30 days, the file and its error file 24 hours.
    fn default() -> Self {
        Retention {
            records: std::time::Duration::from_secs(30 * 24 * 3600),
            files: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

/// What a retention sweep removed. The store forgets file paths; deleting the files themselves
/// is the caller's job (the store does no file I/O beyond its own database).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    pub records_deleted: u64,
    pub files_expired: Vec<PathBuf>,
}

/// A client or user that can be granted roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable id: the client id of a client, the user name of a user.
    pub id: String,
    pub kind: PrincipalKind,
    pub name: String,
    /// The argon2 PHC string of its secret or password (never the secret itself).
    pub secret_hash: Option<String>,
    pub created: Timestamp,
}

/// A web session, from sign-in to sign-out or expiry. The cookie holds a random token; the
/// store holds only its hash, so that whoever reads the database cannot sign in with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The token's hash (hex SHA-256), the session's key.
    pub id_hash: String,
    /// The signed-in user (a principal of kind `user`).
    pub principal: String,
    /// The workspace the user works in, once chosen.
    pub workspace: Option<WorkspaceId>,
    /// The token every state-changing form of the session must carry.
    pub csrf: String,
    pub created: Timestamp,
    /// When the session ends, whatever is done with it meanwhile.
    pub expires: Timestamp,
}

text_enum! {
    /// Who a principal is: a local client or user, or a principal of a trusted external
    /// OpenID Connect issuer, named `<sub>@<issuer>`, which has no secret here.
    pub enum PrincipalKind { Client = "client", User = "user", External = "external" }
}

#[cfg(test)]
mod vocabulary_tests {
    use super::*;

    #[test]
    fn each_vocabulary_reads_and_writes_its_own_words() {
        for s in ImportStatus::ALL {
            assert_eq!(s.as_str().parse::<ImportStatus>(), Ok(*s));
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<ImportStatus>(&json).unwrap(), *s);
        }
        assert_eq!(ImportMode::words(), "valid-only or all-or-nothing");
        assert_eq!(
            ImportSort::words(),
            "source, name, imported, total or created"
        );
        let e = "boss".parse::<Role>().unwrap_err();
        assert_eq!(e.to_string(), "\"boss\" is not contributor or reader");
        assert!(serde_json::from_str::<Order>("\"up\"").is_err());
        assert_eq!(ImportSort::default(), ImportSort::Created);
        assert_eq!(Order::default(), Order::Desc);
    }
}

#[cfg(test)]
mod name_key_tests {
    use super::*;

    fn text(name: &str) -> Option<String> {
        ObservableKey::name(name).map(|k| match k {
            ObservableKey::Name(n) => n,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn a_name_is_keyed_in_lower_case_with_single_spaces() {
        assert_eq!(
            text("  Emotet \t C2\nSERVER ").as_deref(),
            Some("emotet c2 server")
        );
        assert_eq!(text(" \t "), None);
        // Long names are cut at a character's boundary.
        let long = text(&"é".repeat(80)).unwrap();
        assert!(long.len() <= MAX_NAME_KEY_BYTES && long.len() >= MAX_NAME_KEY_BYTES - 1);
    }

    #[test]
    fn a_search_range_holds_exactly_the_keys_that_begin_with_its_text() {
        let (from, to) = ObservableKey::name_range(" C2  Serv ").unwrap();
        let inside = |name: &str| {
            let b = ObservableKey::name(name).unwrap().to_bytes();
            b >= from && b < to
        };
        assert!(inside("C2 server"));
        assert!(inside("c2 serv"));
        assert!(!inside("c2 ser"));
        assert!(!inside("Emotet C2 server"));
        assert!(inside("C2 Servé"));
        assert!(ObservableKey::name_range("  ").is_none());
    }
}
