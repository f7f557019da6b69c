//! The rule engine: property tables and the generic checker that walks them.
//!
//! Each STIX type is described by data, a [`TypeDef`] listing its properties and their
//! [`Ty`]pes, plus at most one function for rules that relate properties to each other
//! (`valid_until` after `valid_from`). One checker walks any table, so that every type gets the
//! same treatment of missing properties, wrong JSON types, empty lists and so on, and so that a
//! record's problems are all reported, not just the first.
//!
//! Messages are built only when a rule fails; a valid record allocates nothing here.

use crate::diag::Diagnostic;
use crate::id::IdRef;
use crate::json::{Json, Object};
use crate::timestamp::Timestamp;
use crate::{Profile, SpecVersion};
use std::fmt;

/// Where a value sits in a record, for messages: `external_references[0].source_name`.
#[derive(Clone, Copy)]
pub(crate) enum Path<'p> {
    Root(&'p str),
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl<'p> Path<'p> {
    pub(crate) fn key(&'p self, k: &'p str) -> Path<'p> {
        Path::Key(self, k)
    }
    pub(crate) fn index(&'p self, i: usize) -> Path<'p> {
        Path::Index(self, i)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(k) => f.write_str(k),
            Path::Key(p, k) => write!(f, "{p}.{k}"),
            Path::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

/// The state of one record's check: the profile, the version it is read as, and the problems
/// found so far.
pub(crate) struct Ctx {
    pub profile: Profile,
    pub version: SpecVersion,
    pub errors: Vec<Diagnostic>,
    /// The last few timestamps [`timestamp_of`] parsed, by the address of their JSON value, so
    /// that a type's rule comparing them (`extra.rs`) does not parse them again.
    pub parsed: [Option<(usize, Timestamp)>; 4],
    pub parsed_count: usize,
    /// Where an indicator's pattern comparisons go, when the caller asked for them.
    pub observables: Option<Vec<crate::validate::PatternObservable>>,
}

impl Ctx {
    pub(crate) fn strict(&self) -> bool {
        self.profile == Profile::Strict
    }

    pub(crate) fn v21(&self) -> bool {
        self.version == SpecVersion::V21
    }

    pub(crate) fn error(&mut self, path: &Path<'_>, reason: impl Into<String>, actual: &Json<'_>) {
        self.errors.push(Diagnostic::new(
            path.to_string(),
            reason,
            actual.display_value(),
        ));
    }

    /// A timestamp [`timestamp_of`] parsed from `v`: what `Timestamp::parse_lenient` makes of
    /// it, since a timestamp the strict parser accepts ends in `Z` and both read it alike.
    pub(crate) fn parsed(&self, v: &Json<'_>) -> Option<Timestamp> {
        let at = v as *const Json<'_> as usize;
        self.parsed
            .iter()
            .flatten()
            .find(|(a, _)| *a == at)
            .map(|&(_, t)| t)
    }

    pub(crate) fn missing(&mut self, path: &Path<'_>) {
        self.errors.push(Diagnostic::missing(path.to_string()));
    }
}

/// Whether a property must be present.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Req {
    /// Optional.
    No,
    /// Required in both profiles: without it the record cannot be stored meaningfully.
    Yes,
}

/// The type of a property's value.
pub(crate) enum Ty {
    Any,
    Str,
    Bool,
    /// An integer within bounds. The compatible profile also accepts a string holding one
    /// (`"confidence": "95"` in the seed's own example).
    Int {
        min: i64,
        max: i64,
    },
    /// Any JSON number within bounds.
    Float {
        min: f64,
        max: f64,
    },
    Timestamp,
    /// An identifier, optionally restricted to some object types (empty = any type).
    Ref(&'static [&'static str]),
    /// An identifier of any type except the listed ones.
    RefNot(&'static [&'static str]),
    /// A string with a format checked by a function; the text is the reason given when the
    /// check fails.
    Fmt(fn(&str) -> bool, &'static str),
    /// A list; STIX forbids empty lists, which only the strict profile enforces.
    List(&'static Ty),
    /// A closed vocabulary (an enumeration): any other value is an error.
    Enum(&'static [&'static str]),
    /// An open vocabulary: any string, the listed values being the suggested ones. The values
    /// document the table; STIX only says SHOULD, so no profile enforces them.
    Ov(#[allow(dead_code)] &'static [&'static str]),
    /// A dictionary with free keys.
    Dict,
    /// A hashes dictionary: algorithm name → hash value.
    Hashes,
    /// A nested object with its own properties; unknown members are allowed.
    Obj(&'static [Prop]),
    /// An RFC 5646 language tag; the compatible profile accepts an empty string.
    Lang,
}

/// One property of a type.
pub(crate) struct Prop {
    pub name: &'static str,
    pub ty: &'static Ty,
    pub req: Req,
}

pub(crate) const fn p(name: &'static str, ty: &'static Ty) -> Prop {
    Prop {
        name,
        ty,
        req: Req::No,
    }
}

pub(crate) const fn r(name: &'static str, ty: &'static Ty) -> Prop {
    Prop {
        name,
        ty,
        req: Req::Yes,
    }
}

/// A rule that relates several properties of one object.
pub(crate) type Extra = fn(&Fields<'_, '_>, &mut Ctx);

/// The description of one STIX object type.
pub(crate) struct TypeDef {
    pub name: &'static str,
    pub props: &'static Table,
    pub extra: Option<Extra>,
}

/// Hash slots of a [`Table`]'s index: a power of two, well above the largest table.
const SLOTS: usize = 128;

/// The most properties a table may list.
const MAX_TABLE: usize = 40;

/// A property name reduced to words that compare without a call: its length, its first and last
/// eight bytes and the eight around its middle (zero-padded when shorter), which together hold
/// every byte of a name of up to 24 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    len: usize,
    head: u64,
    mid: u64,
    tail: u64,
}

impl Key {
    /// The word of `b` starting at `at`; `at + 8` must not pass the end of `b`.
    #[inline(always)]
    const fn word(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes([
            b[at],
            b[at + 1],
            b[at + 2],
            b[at + 3],
            b[at + 4],
            b[at + 5],
            b[at + 6],
            b[at + 7],
        ])
    }

    /// The bytes of `b` (at most 8) as a zero-padded word.
    #[inline(always)]
    const fn short_word(b: &[u8]) -> u64 {
        let n = b.len();
        if n == 8 {
            Key::word(b, 0)
        } else if n >= 4 {
            // Two overlapping halves; the shared bytes are equal, so or-ing them is exact.
            let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64;
            let hi = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]) as u64;
            lo | hi << ((n - 4) * 8)
        } else if n > 0 {
            (b[0] as u64) | (b[n / 2] as u64) << (n / 2 * 8) | (b[n - 1] as u64) << ((n - 1) * 8)
        } else {
            0
        }
    }

    /// [`Key::of_const`] with word loads rather than byte by byte.
    #[inline(always)]
    pub(crate) fn of(name: &str) -> Key {
        let b = name.as_bytes();
        let n = b.len();
        let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        if n < 8 {
            return Key {
                len: n,
                head: Key::short_word(b),
                mid: 0,
                tail: 0,
            };
        }
        if n == 8 {
            return Key {
                len: n,
                head: word(0),
                mid: 0,
                tail: 0,
            };
        }
        Key {
            len: n,
            head: word(0),
            mid: word(n / 2 - 4),
            tail: word(n - 8),
        }
    }

    const fn of_const(name: &str) -> Key {
        let b = name.as_bytes();
        let n = b.len();
        if n <= 8 {
            return Key {
                len: n,
                head: Key::short_word(b),
                mid: 0,
                tail: 0,
            };
        }
        Key {
            len: n,
            head: Key::word(b, 0),
            mid: Key::word(b, n / 2 - 4),
            tail: Key::word(b, n - 8),
        }
    }

    #[inline(always)]
    const fn slot(&self) -> usize {
        let h = (self.head ^ self.tail.rotate_left(23) ^ (self.len as u64))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> (64 - SLOTS.trailing_zeros())) as usize
    }
}

/// A list of properties with an index from name to position, built at compile time, so that
/// an object's members are matched to the table in one walk over them rather than by one
/// search of the members per property.
pub(crate) struct Table {
    pub props: &'static [Prop],
    keys: [Key; MAX_TABLE],
    /// Open addressing by [`Key::slot`], linear probing; position + 1, 0 for an empty slot.
    slots: [u8; SLOTS],
    /// For each property, its position in [`RECORD`] + 1, or 0.
    in_record: [u8; MAX_TABLE],
}

const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Builds a table's index; a table naming a property twice does not compile.
pub(crate) const fn table(props: &'static [Prop]) -> Table {
    assert!(props.len() <= MAX_TABLE, "table too large for Fields");
    let mut slots = [0u8; SLOTS];
    let mut in_record = [0u8; MAX_TABLE];
    let mut keys = [Key {
        len: 0,
        head: 0,
        mid: 0,
        tail: 0,
    }; MAX_TABLE];
    let mut i = 0;
    while i < props.len() {
        let mut j = 0;
        while j < i {
            assert!(
                !same_name(props[i].name, props[j].name),
                "a property listed twice"
            );
            j += 1;
        }
        keys[i] = Key::of_const(props[i].name);
        let mut s = keys[i].slot();
        while slots[s] != 0 {
            s = (s + 1) & (SLOTS - 1);
        }
        slots[s] = (i + 1) as u8;
        let mut r = 0;
        while r < RECORD_PROPS.len() {
            if same_name(props[i].name, RECORD_PROPS[r].name) {
                in_record[i] = (r + 1) as u8;
            }
            r += 1;
        }
        i += 1;
    }
    Table {
        props,
        keys,
        slots,
        in_record,
    }
}

impl Table {
    /// The position of the property named `name`, whose key is `key`.
    #[inline(always)]
    pub(crate) fn index(&self, key: &Key, name: &str) -> Option<usize> {
        let mut s = key.slot();
        loop {
            let e = self.slots[s];
            if e == 0 {
                return None;
            }
            let i = usize::from(e - 1);
            if self.keys[i] == *key && (key.len <= 24 || self.props[i].name == name) {
                return Some(i);
            }
            s = (s + 1) & (SLOTS - 1);
        }
    }
}

static NO_PROPS: Table = table(&[]);

/// The names the record-level checks (validate.rs, extra.rs, strict.rs) look up; their types
/// are not used.
static RECORD: Table = table(RECORD_PROPS);

const RECORD_PROPS: &[Prop] = &[
    p("type", &ANY),
    p("id", &ANY),
    p("spec_version", &ANY),
    p("created", &ANY),
    p("modified", &ANY),
    p("created_by_ref", &ANY),
    p("revoked", &ANY),
    p("labels", &ANY),
    p("confidence", &ANY),
    p("lang", &ANY),
    p("external_references", &ANY),
    p("object_marking_refs", &ANY),
    p("granular_markings", &ANY),
    p("extensions", &ANY),
    p("defanged", &ANY),
    p("severity", &ANY),
    p("action", &ANY),
    p("username", &ANY),
    p("usernames", &ANY),
    p("phone_numbers", &ANY),
    p("addresses", &ANY),
    p("first_seen_precision", &ANY),
    p("last_seen_precision", &ANY),
    p("valid_from_precision", &ANY),
    p("valid_until_precision", &ANY),
    p("definition", &ANY),
    p("definition_type", &ANY),
    p("name", &ANY),
    p("contents", &ANY),
    p("extension_types", &ANY),
    p("extension_properties", &ANY),
    p("objects", &ANY),
    p("object_refs", &ANY),
];

/// A top-level record with the members its checks look up found in one walk: those of
/// [`RECORD`] and, once the type is known, those of the type's table. Lookups of other names
/// fall back to searching the object.
pub(crate) struct Fields<'o, 'a> {
    pub obj: &'o Object<'a>,
    common: [Option<&'o Json<'a>>; MAX_TABLE],
    own_table: &'static Table,
    own: [Option<&'o Json<'a>>; MAX_TABLE],
    /// Members (by position, for the first 64) that are not in [`RECORD`].
    others: u64,
}

impl<'o, 'a> Fields<'o, 'a> {
    #[inline(always)]
    pub(crate) fn new(obj: &'o Object<'a>) -> Self {
        let mut f = Fields {
            obj,
            common: [None; MAX_TABLE],
            own_table: &NO_PROPS,
            own: [None; MAX_TABLE],
            others: 0,
        };
        // A later member of the same name wins, as with `Object::get`.
        for (n, (k, v)) in obj.iter().enumerate() {
            match RECORD.index(&Key::of(k), k) {
                Some(i) => f.common[i] = Some(v),
                None if n < 64 => f.others |= 1 << n,
                None => {}
            }
        }
        f
    }

    /// Finds the members `table` lists, for [`Fields::get`] and [`Fields::check_own`].
    ///
    /// `#[inline]`: it runs once per record from `validate::check`, in another module; without
    /// the hint, whether it was inlined there depended on how the crate's modules happened to
    /// be grouped into codegen units, and splitting `types_sco` into files regrouped them and
    /// cost validation about 0.7% of its instructions.
    #[inline]
    pub(crate) fn find_own(&mut self, table: &'static Table) {
        self.own_table = table;
        for (n, (k, v)) in self.obj.iter().enumerate() {
            // Members of RECORD were found by the first walk.
            if n < 64 && self.others & (1 << n) == 0 {
                continue;
            }
            if let Some(i) = table.index(&Key::of(k), k) {
                self.own[i] = Some(v);
            }
        }
        for (i, &r) in table.in_record[..table.props.len()].iter().enumerate() {
            if r != 0 {
                self.own[i] = self.common[usize::from(r - 1)];
            }
        }
    }

    #[inline(always)]
    pub(crate) fn get(&self, name: &str) -> Option<&'o Json<'a>> {
        let key = Key::of(name);
        if let Some(i) = RECORD.index(&key, name) {
            return self.common[i];
        }
        if let Some(i) = self.own_table.index(&key, name) {
            return self.own[i];
        }
        self.obj.get(name)
    }

    #[inline]
    pub(crate) fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'o str, &'o Json<'a>)> {
        self.obj.iter()
    }

    /// [`check_props`] of common properties, a table whose names are all in [`RECORD`].
    pub(crate) fn check_common(&self, table: &Table, ctx: &mut Ctx) {
        for (prop, &r) in table.props.iter().zip(table.in_record.iter()) {
            debug_assert!(r != 0, "{} is not in RECORD", prop.name);
            check_prop(prop, self.common[usize::from(r) - 1], None, ctx);
        }
    }

    /// [`check_props`] of the table given to [`Fields::find_own`].
    pub(crate) fn check_own(&self, ctx: &mut Ctx) {
        for (prop, v) in self.own_table.props.iter().zip(self.own.iter()) {
            check_prop(prop, *v, None, ctx);
        }
    }
}

// Shared value types, as statics so that tables can point at them.
pub(crate) static STR: Ty = Ty::Str;
pub(crate) static BOOL: Ty = Ty::Bool;
pub(crate) static TS: Ty = Ty::Timestamp;
pub(crate) static ANY_REF: Ty = Ty::Ref(&[]);
pub(crate) static LIST_STR: Ty = Ty::List(&STR);
pub(crate) static LIST_ANY_REF: Ty = Ty::List(&ANY_REF);
pub(crate) static DICT: Ty = Ty::Dict;
pub(crate) static HASHES: Ty = Ty::Hashes;
pub(crate) static LANG: Ty = Ty::Lang;
pub(crate) static ANY: Ty = Ty::Any;
pub(crate) static CONFIDENCE: Ty = Ty::Int { min: 0, max: 100 };

/// `v` as a dictionary, or `None` once `not_a_dictionary` (what `v` must be) is reported at
/// `at`. With `empty_refused` (2.1 allows no empty dictionary), an empty one is reported too,
/// and still returned so that the caller goes on.
#[inline]
pub(crate) fn dictionary_at<'o, 'a>(
    v: &'o Json<'a>,
    at: &Path<'_>,
    not_a_dictionary: &'static str,
    empty_refused: bool,
    ctx: &mut Ctx,
) -> Option<&'o Object<'a>> {
    let Some(o) = v.as_object() else {
        ctx.error(at, not_a_dictionary, v);
        return None;
    };
    if empty_refused && o.is_empty() {
        ctx.error(at, "Must not be an empty dictionary", v);
    }
    Some(o)
}

/// Checks that `obj` has the required properties of `props` and that each present one has the
/// right type. Unknown members are not this function's business.
pub(crate) fn check_props(obj: &Object<'_>, props: &[Prop], at: Option<&Path<'_>>, ctx: &mut Ctx) {
    for prop in props {
        check_prop(prop, obj.get(prop.name), at, ctx);
    }
}

/// Checks one property of a table, given its value if present.
#[inline]
fn check_prop(prop: &Prop, v: Option<&Json<'_>>, at: Option<&Path<'_>>, ctx: &mut Ctx) {
    let here = match at {
        Some(parent) => Path::Key(parent, prop.name),
        None => Path::Root(prop.name),
    };
    match v {
        Some(v) => check_value(v, prop.ty, &here, ctx),
        None => {
            if prop.req == Req::Yes {
                ctx.missing(&here);
            }
        }
    }
}

/// Checks one value against its type.
pub(crate) fn check_value(v: &Json<'_>, ty: &Ty, at: &Path<'_>, ctx: &mut Ctx) {
    match ty {
        Ty::Any => {}
        Ty::Str => {
            if v.as_str().is_none() {
                ctx.error(at, "Must be a string", v);
            }
        }
        Ty::Bool => {
            if v.as_bool().is_none() {
                ctx.error(at, "Must be a boolean (true or false)", v);
            }
        }
        Ty::Int { min, max } => match int_value(v, ctx.strict()) {
            Some(n) if n < *min || n > *max => {
                ctx.error(at, range_reason(*min, *max), v);
            }
            Some(_) => {}
            None => ctx.error(at, "Must be an integer", v),
        },
        Ty::Float { min, max } => match v {
            Json::Number(n) => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if !(f >= *min && f <= *max) {
                    ctx.error(at, format!("Must be a number between {min} and {max}"), v);
                }
            }
            _ => ctx.error(at, "Must be a number", v),
        },
        Ty::Timestamp => check_timestamp(v, at, ctx),
        Ty::Ref(types) => check_ref(v, types, at, ctx),
        Ty::RefNot(types) => {
            if let Some(s) = v.as_str() {
                let ty = s.split("--").next().unwrap_or("");
                if types.contains(&ty) {
                    ctx.error(
                        at,
                        format!("Must not reference an object of type {}", types.join(", ")),
                        v,
                    );
                    return;
                }
            }
            check_ref(v, &[], at, ctx);
        }
        Ty::Fmt(ok, reason) => match v.as_str() {
            Some(s) if ok(s) => {}
            Some(_) => ctx.error(at, *reason, v),
            None => ctx.error(at, "Must be a string", v),
        },
        Ty::List(item) => match v {
            Json::Array(items) => {
                if items.is_empty() && ctx.strict() {
                    ctx.error(at, "Must not be an empty list", v);
                }
                for (i, item_v) in items.iter().enumerate() {
                    check_value(item_v, item, &at.index(i), ctx);
                }
            }
            _ => ctx.error(at, "Must be a list", v),
        },
        Ty::Enum(values) => match v.as_str() {
            Some(s) if values.contains(&s) => {}
            Some(_) => ctx.error(at, format!("Must be one of: {}", values.join(", ")), v),
            None => ctx.error(at, "Must be a string", v),
        },
        Ty::Ov(_) => {
            if v.as_str().is_none() {
                ctx.error(at, "Must be a string", v);
            }
        }
        Ty::Dict => match v.as_object() {
            Some(o) => {
                if o.is_empty() && ctx.strict() {
                    ctx.error(at, "Must not be an empty dictionary", v);
                }
            }
            None => ctx.error(at, "Must be a dictionary (JSON object)", v),
        },
        Ty::Hashes => crate::hashes::check_hashes(v, at, ctx),
        Ty::Obj(props) => match v.as_object() {
            Some(o) => check_props(o, props, Some(at), ctx),
            None => ctx.error(at, "Must be an object", v),
        },
        Ty::Lang => match v.as_str() {
            Some("") if !ctx.strict() => {}
            Some(s) if is_language_tag(s) => {}
            Some(_) => ctx.error(at, "Must be an RFC 5646 language code such as 'en'", v),
            None => ctx.error(at, "Must be a string", v),
        },
    }
}

fn range_reason(min: i64, max: i64) -> String {
    if max == i64::MAX {
        format!("Must be an integer of at least {min}")
    } else {
        format!("Must be an integer between {min} and {max}")
    }
}

/// An integer as JSON writes it; in the compatible profile also a string of digits or a float
/// with no fraction, which some producers send.
pub(crate) fn int_value(v: &Json<'_>, strict: bool) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (!strict && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
        }),
        Json::String(s) if !strict => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// Parses a timestamp with the profile's rules, reporting a problem if there is one.
pub(crate) fn timestamp_of(v: &Json<'_>, at: &Path<'_>, ctx: &mut Ctx) -> Option<Timestamp> {
    let Some(s) = v.as_str() else {
        ctx.error(at, "Must be a timestamp string", v);
        return None;
    };
    let parsed = if ctx.strict() {
        Timestamp::parse(s)
    } else {
        Timestamp::parse_lenient(s)
    };
    if let Ok(t) = parsed {
        let at = v as *const Json<'_> as usize;
        let slot = ctx.parsed_count % ctx.parsed.len();
        ctx.parsed[slot] = Some((at, t));
        ctx.parsed_count += 1;
    }
    match parsed {
        // The reference validator parses timestamps with a library that has no leap seconds.
        Ok(_) if ctx.strict() && s.get(17..19) == Some("60") => {
            ctx.error(at, "Timestamp second must be 00 to 59", v);
            None
        }
        Ok(t) => Some(t),
        Err(e) => {
            ctx.error(at, format!("Timestamp {e}"), v);
            None
        }
    }
}

fn check_timestamp(v: &Json<'_>, at: &Path<'_>, ctx: &mut Ctx) {
    timestamp_of(v, at, ctx);
}

/// Checks an identifier and, when `types` is not empty, the type it points to.
pub(crate) fn check_ref(v: &Json<'_>, types: &[&str], at: &Path<'_>, ctx: &mut Ctx) {
    let Some(s) = v.as_str() else {
        ctx.error(at, "Must be a STIX identifier string", v);
        return;
    };
    match IdRef::parse(s) {
        Ok(id) => {
            if !types.is_empty() && !types.contains(&id.object_type()) {
                ctx.error(
                    at,
                    format!("Must reference an object of type {}", types.join(" or ")),
                    v,
                );
            } else if ctx.strict() && !uuid_allowed(&id, ctx.version) {
                ctx.error(at, uuid_reason(ctx.version), v);
            }
        }
        Err(e) => ctx.error(at, format!("Identifier {e}"), v),
    }
}

/// STIX 2.1 identifiers use RFC 4122 UUIDs (versions 1–5, RFC 4122 variant).
pub(crate) fn uuid_is_rfc4122(id: &IdRef<'_>) -> bool {
    (1..=5).contains(&id.uuid_version()) && id.is_rfc4122_variant()
}

/// The UUIDs the reference validator's identifier schema accepts: RFC 4122 versions 1–5 in
/// STIX 2.1, version 4 only in STIX 2.0. Its type part must also start with a letter in 2.1
/// (a digit is allowed in 2.0).
pub(crate) fn uuid_allowed(id: &IdRef<'_>, version: SpecVersion) -> bool {
    let first = id.object_type().as_bytes()[0];
    match version {
        SpecVersion::V21 => uuid_is_rfc4122(id) && first.is_ascii_lowercase(),
        SpecVersion::V20 => id.uuid_version() == 4 && id.is_rfc4122_variant(),
    }
}

pub(crate) fn uuid_reason(version: SpecVersion) -> &'static str {
    match version {
        SpecVersion::V21 => "UUID part must be an RFC 4122 UUID (version 1 to 5)",
        SpecVersion::V20 => "UUID part must be a version 4 RFC 4122 UUID in STIX 2.0",
    }
}

/// A permissive RFC 5646 check: primary subtag of 2–3 (or 4–8) letters, then subtags of 1–8
/// alphanumerics separated by hyphens.
pub(crate) fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let Some(first) = parts.next() else {
        return false;
    };
    (2..=8).contains(&first.len())
        && first.bytes().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_agree_and_index_finds_every_name() {
        let names = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcde",
            "created",
            "modified",
            "abcdefgh",
            "abcdefghi",
            "granular_markings",
            "object_marking_refs",
            "first_seen_precision",
            "valid_until_precision_and_more",
        ];
        for n in names {
            assert!(Key::of(n) == Key::of_const(n), "{n}");
        }
        for t in crate::types21::TYPES.iter().chain(crate::types20::TYPES) {
            for (i, p) in t.props.props.iter().enumerate() {
                assert!(Key::of(p.name) == Key::of_const(p.name), "{}", p.name);
                assert_eq!(t.props.index(&Key::of(p.name), p.name), Some(i));
            }
        }
        for (i, p) in RECORD.props.iter().enumerate() {
            assert_eq!(RECORD.index(&Key::of(p.name), p.name), Some(i));
        }
        assert_eq!(RECORD.index(&Key::of("typo"), "typo"), None);
    }
}
