//! The abstract syntax tree and its canonical text form.
//!
//! The tree borrows from the pattern text: object types and the bodies of `t''`, `h''` and `b''`
//! literals are `&str` slices, and string literals and quoted property names are `Cow`s that
//! only own their text when it contained an escape.
//!
//! Parentheses are not nodes: they only group, and [`fmt::Display`] puts back exactly those that
//! the structure needs. An `AND`, `OR` or `FOLLOWEDBY` node holds all the operands of a chain
//! (`a AND b AND c` is one node with three children), so that long chains do not make the tree
//! deep; a child of the same kind therefore stands for a parenthesised group.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use crate::lexer::Keyword;

/// A byte range in the pattern text that a node came from.
///
/// Spans are metadata, not meaning: **every `Span` compares equal to every other**, so that two
/// trees that differ only in where they came from (for example a parsed pattern and the parse of
/// its canonical text) are equal. Compare `start`/`end` directly when positions matter. Trees
/// built by hand can use `Span::default()`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl PartialEq for Span {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Span {}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
}

/// A comparison operator. `NOT` is not an operator of its own but a flag on the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ComparisonOperator {
    /// `=` (also written `==`).
    Equal,
    /// `!=` (also written `<>`).
    NotEqual,
    /// `<`.
    LessThan,
    /// `<=`.
    LessThanOrEqual,
    /// `>`.
    GreaterThan,
    /// `>=`.
    GreaterThanOrEqual,
    /// `IN (…)`.
    In,
    /// `LIKE '…'` (SQL-style `%` and `_` wildcards).
    Like,
    /// `MATCHES '…'` (a PCRE regular expression).
    Matches,
    /// `ISSUBSET '…'` (for IP addresses: contained in the CIDR).
    IsSubset,
    /// `ISSUPERSET '…'` (for IP addresses: contains the CIDR).
    IsSuperset,
    /// `EXISTS path` (STIX 2.1 only).
    Exists,
}

impl ComparisonOperator {
    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ComparisonOperator::Equal => "=",
            ComparisonOperator::NotEqual => "!=",
            ComparisonOperator::LessThan => "<",
            ComparisonOperator::LessThanOrEqual => "<=",
            ComparisonOperator::GreaterThan => ">",
            ComparisonOperator::GreaterThanOrEqual => ">=",
            ComparisonOperator::In => "IN",
            ComparisonOperator::Like => "LIKE",
            ComparisonOperator::Matches => "MATCHES",
            ComparisonOperator::IsSubset => "ISSUBSET",
            ComparisonOperator::IsSuperset => "ISSUPERSET",
            ComparisonOperator::Exists => "EXISTS",
        }
    }
}

impl fmt::Display for ComparisonOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A literal value.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal<'a> {
    /// `'…'`, unescaped (`\'` and `\\` resolved).
    String(Cow<'a, str>),
    /// An integer such as `42` or `-1`.
    Int(i64),
    /// A float such as `7.0` or `-.5`; always finite.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// The base64 text inside `b'…'`.
    Binary(&'a str),
    /// The hex digits inside `h'…'`.
    Hex(&'a str),
    /// The text inside `t'…'`, e.g. `2016-06-01T01:30:00Z`; see [`crate::Timestamp`].
    Timestamp(&'a str),
}

impl Literal<'_> {
    /// The string value, for string literals.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Literal::String(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the literal's kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Literal::String(_) => "string",
            Literal::Int(_) => "integer",
            Literal::Float(_) => "float",
            Literal::Bool(_) => "boolean",
            Literal::Binary(_) => "binary",
            Literal::Hex(_) => "hex",
            Literal::Timestamp(_) => "timestamp",
        }
    }
}

/// Writes `s` as a string literal: quoted, with `\` and `'` escaped.
pub(crate) fn write_quoted(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('\'')?;
    let mut rest = s;
    while let Some(i) = rest.find(['\'', '\\']) {
        out.write_str(&rest[..i])?;
        out.write_char('\\')?;
        out.write_str(&rest[i..=i])?;
        rest = &rest[i + 1..];
    }
    out.write_str(rest)?;
    out.write_char('\'')
}

/// Writes a float so that it reads back as the same float: Rust's shortest round-trip form,
/// which never uses an exponent, plus `.0` when it would otherwise read back as an integer.
pub(crate) fn write_float(out: &mut impl fmt::Write, x: f64) -> fmt::Result {
    let mut buf = String::new();
    write!(buf, "{x}")?;
    out.write_str(&buf)?;
    if !buf.contains('.') && x.is_finite() {
        out.write_str(".0")?;
    }
    Ok(())
}

impl fmt::Display for Literal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write_quoted(f, s),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => write_float(f, *x),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Binary(s) => write!(f, "b'{s}'"),
            Literal::Hex(s) => write!(f, "h'{s}'"),
            Literal::Timestamp(s) => write!(f, "t'{s}'"),
        }
    }
}

/// One step of an object path after the object type.
#[derive(Clone, Debug, PartialEq)]
pub enum PathComponent<'a> {
    /// A property or dictionary key: `name`, `.name` or `.'SHA-256'` (unescaped).
    Property(Cow<'a, str>),
    /// A list index: `[0]` (negative indexes are syntactically allowed).
    Index(i64),
    /// Any list element: `[*]`.
    AnyIndex,
}

/// True when `s` can be written without quotes: an identifier without hyphens that is not a
/// keyword or boolean.
pub(crate) fn is_bare_property(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !Keyword::is_reserved(s)
}

/// An object path: `type:property(.key|[index])*`.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectPath<'a> {
    /// The object type, e.g. `file` or `ipv4-addr`.
    pub object_type: &'a str,
    /// The components after the `:`. Never empty; the first is always a
    /// [`PathComponent::Property`].
    pub components: Vec<PathComponent<'a>>,
    /// Where the whole path is in the pattern.
    pub span: Span,
}

impl ObjectPath<'_> {
    /// The first property after the `:`, e.g. `hashes` in `file:hashes.MD5`.
    pub fn first_property(&self) -> Option<&str> {
        match self.components.first() {
            Some(PathComponent::Property(p)) => Some(p),
            _ => None,
        }
    }

    /// The canonical text of the components after the `:`, e.g. `hashes.'SHA-256'` or
    /// `extensions.'windows-pebinary-ext'.sections[*].entropy`. Property names are written bare
    /// when they can be and quoted otherwise, so equal paths give equal text.
    pub fn property_path(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_components(&mut s);
        s
    }

    fn write_components(&self, out: &mut impl fmt::Write) -> fmt::Result {
        for (i, c) in self.components.iter().enumerate() {
            match c {
                PathComponent::Property(p) => {
                    if i > 0 {
                        out.write_char('.')?;
                    }
                    if is_bare_property(p) {
                        out.write_str(p)?;
                    } else {
                        write_quoted(out, p)?;
                    }
                }
                PathComponent::Index(n) => write!(out, "[{n}]")?,
                PathComponent::AnyIndex => out.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for ObjectPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.object_type)?;
        f.write_char(':')?;
        self.write_components(f)
    }
}

/// The right-hand side of a comparison.
///
/// Which variant goes with which operator is fixed: `EXISTS` has [`Operand::None`], `IN` has
/// [`Operand::Set`], every other operator has [`Operand::Literal`].
#[derive(Clone, Debug, PartialEq)]
pub enum Operand<'a> {
    /// No operand (`EXISTS`).
    None,
    /// One literal and where it is.
    Literal(Literal<'a>, Span),
    /// The members of an `IN (…)` set, each with where it is; may be empty.
    Set(Vec<(Literal<'a>, Span)>),
}

/// One comparison: `path [NOT] op operand` or `[NOT] EXISTS path`.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison<'a> {
    /// The object path on the left.
    pub path: ObjectPath<'a>,
    /// Whether `NOT` was written before the operator (or before `EXISTS`).
    pub negated: bool,
    /// The operator.
    pub operator: ComparisonOperator,
    /// The right-hand side; see [`Operand`] for which operator has which.
    pub operand: Operand<'a>,
    /// Where the whole comparison is.
    pub span: Span,
}

impl fmt::Display for Comparison<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let not = if self.negated { "NOT " } else { "" };
        if self.operator == ComparisonOperator::Exists {
            return write!(f, "{not}EXISTS {}", self.path);
        }
        write!(f, "{} {not}{}", self.path, self.operator)?;
        match &self.operand {
            Operand::None => Ok(()),
            Operand::Literal(lit, _) => write!(f, " {lit}"),
            Operand::Set(items) => {
                f.write_str(" (")?;
                for (i, (lit, _)) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{lit}")?;
                }
                f.write_char(')')
            }
        }
    }
}

/// Comparisons combined with `AND` and `OR` inside `[ ]`. `AND` binds tighter than `OR`.
#[derive(Clone, Debug, PartialEq)]
pub enum ComparisonExpression<'a> {
    /// A single comparison.
    Comparison(Comparison<'a>),
    /// Two or more operands joined by `AND`.
    And(Vec<ComparisonExpression<'a>>),
    /// Two or more operands joined by `OR`.
    Or(Vec<ComparisonExpression<'a>>),
}

impl<'a> ComparisonExpression<'a> {
    fn precedence(&self) -> u8 {
        match self {
            ComparisonExpression::Or(_) => 0,
            ComparisonExpression::And(_) => 1,
            ComparisonExpression::Comparison(_) => 2,
        }
    }

    /// Calls `f` on every comparison, left to right.
    pub fn for_each_comparison<'s>(&'s self, f: &mut impl FnMut(&'s Comparison<'a>)) {
        match self {
            ComparisonExpression::Comparison(c) => f(c),
            ComparisonExpression::And(v) | ComparisonExpression::Or(v) => {
                v.iter().for_each(|e| e.for_each_comparison(f))
            }
        }
    }
}

impl fmt::Display for ComparisonExpression<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (items, op) = match self {
            ComparisonExpression::Comparison(c) => return write!(f, "{c}"),
            ComparisonExpression::And(v) => (v, " AND "),
            ComparisonExpression::Or(v) => (v, " OR "),
        };
        write_joined(f, items, op, self.precedence(), Self::precedence)
    }
}

/// Writes `items` separated by `op`, the operator of a node that binds as tightly as
/// `precedence`; `precedence_of` tells how tightly each item binds.
#[inline]
fn write_joined<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    op: &str,
    precedence: u8,
    precedence_of: fn(&T) -> u8,
) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(op)?;
        }
        // A child that binds no tighter than its parent was a parenthesised group.
        if precedence_of(e) <= precedence {
            write!(f, "({e})")?;
        } else {
            write!(f, "{e}")?;
        }
    }
    Ok(())
}

/// A qualifier on an observation expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Qualifier<'a> {
    /// `WITHIN n SECONDS`; `n` may be an integer or a float.
    Within {
        /// The number of seconds.
        seconds: f64,
        /// Where the qualifier is.
        span: Span,
    },
    /// `REPEATS n TIMES`.
    Repeats {
        /// The number of repetitions.
        times: u64,
        /// Where the qualifier is.
        span: Span,
    },
    /// `START t'…' STOP t'…'`; the fields hold the text inside the quotes.
    StartStop {
        /// The start timestamp text.
        start: &'a str,
        /// The stop timestamp text.
        stop: &'a str,
        /// Where the qualifier is.
        span: Span,
    },
}

impl Qualifier<'_> {
    /// Where the qualifier is.
    pub fn span(&self) -> Span {
        match self {
            Qualifier::Within { span, .. }
            | Qualifier::Repeats { span, .. }
            | Qualifier::StartStop { span, .. } => *span,
        }
    }

    /// The qualifier's keyword, for messages.
    pub fn keyword(&self) -> &'static str {
        match self {
            Qualifier::Within { .. } => "WITHIN",
            Qualifier::Repeats { .. } => "REPEATS",
            Qualifier::StartStop { .. } => "START/STOP",
        }
    }
}

impl fmt::Display for Qualifier<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Within { seconds, .. } => {
                // An integral number of seconds is written as an integer, which reads back as
                // the same f64; anything else uses the float form.
                f.write_str("WITHIN ")?;
                if seconds.fract() == 0.0 && seconds.is_finite() && *seconds >= 0.0 {
                    write!(f, "{seconds}")?;
                } else {
                    write_float(f, *seconds)?;
                }
                f.write_str(" SECONDS")
            }
            Qualifier::Repeats { times, .. } => write!(f, "REPEATS {times} TIMES"),
            Qualifier::StartStop { start, stop, .. } => {
                write!(f, "START t'{start}' STOP t'{stop}'")
            }
        }
    }
}

/// Observations combined with `AND`, `OR` and `FOLLOWEDBY`, and qualified.
///
/// Precedence, loosest first: `FOLLOWEDBY`, `OR`, `AND`, then qualifiers, which apply to the
/// observation or parenthesised group directly before them.
#[derive(Clone, Debug, PartialEq)]
pub enum ObservationExpression<'a> {
    /// `[ comparison-expression ]`.
    Observation(ComparisonExpression<'a>),
    /// Two or more operands joined by `AND`.
    And(Vec<ObservationExpression<'a>>),
    /// Two or more operands joined by `OR`.
    Or(Vec<ObservationExpression<'a>>),
    /// Two or more operands joined by `FOLLOWEDBY`.
    FollowedBy(Vec<ObservationExpression<'a>>),
    /// An expression with one qualifier; several qualifiers nest, innermost first.
    Qualified {
        /// What the qualifier applies to.
        expression: Box<ObservationExpression<'a>>,
        /// The qualifier.
        qualifier: Qualifier<'a>,
        /// Whether `expression` was written in parentheses. Grouping matters to one rule only:
        /// in STIX 2.1 one observation may not carry the same kind of qualifier twice, so
        /// `[a] REPEATS 2 TIMES REPEATS 3 TIMES` is invalid while
        /// `([a] REPEATS 2 TIMES) REPEATS 3 TIMES` qualifies a group and is valid. Always true
        /// when `expression` is an `AND`, `OR` or `FOLLOWEDBY`, which need parentheses.
        grouped: bool,
    },
}

impl<'a> ObservationExpression<'a> {
    fn precedence(&self) -> u8 {
        match self {
            ObservationExpression::FollowedBy(_) => 0,
            ObservationExpression::Or(_) => 1,
            ObservationExpression::And(_) => 2,
            ObservationExpression::Qualified { .. } | ObservationExpression::Observation(_) => 3,
        }
    }

    /// Calls `f` on every comparison expression inside `[ ]`, left to right.
    pub fn for_each_observation<'s>(&'s self, f: &mut impl FnMut(&'s ComparisonExpression<'a>)) {
        match self {
            ObservationExpression::Observation(c) => f(c),
            ObservationExpression::And(v)
            | ObservationExpression::Or(v)
            | ObservationExpression::FollowedBy(v) => {
                v.iter().for_each(|e| e.for_each_observation(f))
            }
            ObservationExpression::Qualified { expression, .. } => {
                expression.for_each_observation(f)
            }
        }
    }
}

impl fmt::Display for ObservationExpression<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (items, op) = match self {
            ObservationExpression::Observation(c) => return write!(f, "[{c}]"),
            ObservationExpression::Qualified {
                expression: e,
                qualifier: q,
                grouped,
            } => {
                // A qualifier binds to the primary before it, so a combination needs parentheses;
                // a qualified expression does not (`[a] WITHIN 1 SECONDS REPEATS 2 TIMES`)
                // unless it was grouped.
                return if *grouped || e.precedence() < 3 {
                    write!(f, "({e}) {q}")
                } else {
                    write!(f, "{e} {q}")
                };
            }
            ObservationExpression::And(v) => (v, " AND "),
            ObservationExpression::Or(v) => (v, " OR "),
            ObservationExpression::FollowedBy(v) => (v, " FOLLOWEDBY "),
        };
        write_joined(f, items, op, self.precedence(), Self::precedence)
    }
}
