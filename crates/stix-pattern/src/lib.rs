//! The STIX 2.x patterning language. (Being written: the public API below is fixed; bodies are
//! being filled in.)

use std::borrow::Cow;
use std::fmt;

/// Which validation profile to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Profile {
    /// Accepts unknown object types and properties.
    #[default]
    Compatible,
    /// Requires STIX-defined (or properly named custom) types and properties.
    Strict,
}

/// Which STIX version's patterning grammar to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub enum SpecVersion {
    /// STIX 2.0.
    V20,
    /// STIX 2.1.
    #[default]
    V21,
}

/// Options for [`validate`] and [`Pattern::check`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// The validation profile.
    pub profile: Profile,
    /// The spec version.
    pub version: SpecVersion,
}

/// A syntax or semantic error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at column {offset}: {message}")]
pub struct Error {
    offset: usize,
    message: String,
}

impl Error {
    /// 0-based character column.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// The message without the column.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ComparisonOperator {
    Equal,
    NotEqual,
    LessThan,
    LessThanOrEqual,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    Like,
    Matches,
    IsSubset,
    IsSuperset,
    Exists,
}

/// A literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal<'a> {
    String(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Binary(&'a str),
    Hex(&'a str),
    Timestamp(&'a str),
}

/// One component of an object path.
#[derive(Clone, Debug, PartialEq)]
pub enum PathComponent<'a> {
    Property(Cow<'a, str>),
    Index(i64),
    AnyIndex,
}

/// An object path.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectPath<'a> {
    pub object_type: &'a str,
    pub components: Vec<PathComponent<'a>>,
}

/// The right-hand side of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand<'a> {
    None,
    Literal(Literal<'a>),
    Set(Vec<Literal<'a>>),
}

/// One comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison<'a> {
    pub path: ObjectPath<'a>,
    pub negated: bool,
    pub operator: ComparisonOperator,
    pub operand: Operand<'a>,
}

/// A comparison expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ComparisonExpression<'a> {
    Comparison(Comparison<'a>),
    And(Vec<ComparisonExpression<'a>>),
    Or(Vec<ComparisonExpression<'a>>),
}

/// A qualifier.
#[derive(Clone, Debug, PartialEq)]
pub enum Qualifier<'a> {
    Within(f64),
    Repeats(i64),
    StartStop(&'a str, &'a str),
}

/// An observation expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ObservationExpression<'a> {
    Observation(ComparisonExpression<'a>),
    And(Vec<ObservationExpression<'a>>),
    Or(Vec<ObservationExpression<'a>>),
    FollowedBy(Vec<ObservationExpression<'a>>),
    Qualified(Box<ObservationExpression<'a>>, Qualifier<'a>),
}

/// A parsed pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern<'a> {
    expression: ObservationExpression<'a>,
}

/// An observable extracted from a pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct Observable<'a> {
    pub object_type: &'a str,
    pub path: String,
    pub operator: ComparisonOperator,
    pub negated: bool,
    pub value: Literal<'a>,
}

/// Syntax only.
pub fn parse(src: &str) -> Result<Pattern<'_>, Error> {
    let _ = src;
    Err(Error { offset: 0, message: "not yet implemented".into() })
}

/// Syntax, then every semantic check for the profile.
pub fn validate(src: &str, opts: Options) -> Result<Pattern<'_>, Vec<Error>> {
    let p = parse(src).map_err(|e| vec![e])?;
    let errs = p.check(opts);
    if errs.is_empty() { Ok(p) } else { Err(errs) }
}

impl<'a> Pattern<'a> {
    /// Semantic checks.
    pub fn check(&self, opts: Options) -> Vec<Error> {
        let _ = opts;
        Vec::new()
    }
    /// Observables.
    pub fn observables(&self) -> Vec<Observable<'a>> {
        Vec::new()
    }
    /// The root expression.
    pub fn expression(&self) -> &ObservationExpression<'a> {
        &self.expression
    }
}

impl fmt::Display for Pattern<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.expression)
    }
}
