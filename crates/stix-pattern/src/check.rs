//! Semantic checks: everything a pattern can get wrong after it parses.
//!
//! Both profiles check what the crate knows: hash values for recognised algorithms, IP addresses
//! and CIDR blocks of `ipv4-addr:value`/`ipv6-addr:value`, that timestamps are real instants,
//! that START is before STOP, that REPEATS and WITHIN are positive, that MATCHES holds a valid
//! regular expression, that one observation does not carry the same qualifier twice, and that
//! 2.0 patterns do not use `EXISTS`. The strict profile adds what stix2-validator's `patterns`
//! check requires: known or well-formed object types and first properties. It does not judge
//! hash algorithm names (`file:hashes.sha256` is as valid as `file:hashes.'SHA-256'`):
//! stix2-validator checks properties only at the first step of a path (`hashes`), with its
//! default options and with `--strict` alike, and the strict profile is what it accepts. A
//! value under a name that spells a known algorithm is checked in both profiles.
//!
//! Every check appends to one list, so a pattern with three problems gets three messages.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::ast::{
    Comparison, ComparisonExpression, ComparisonOperator, Literal, ObservationExpression, Operand,
    PathComponent, Qualifier, Span,
};
use crate::error::{truncate, Error};
use crate::timestamp::Timestamp;
use crate::type_name::is_type_name;
use crate::vocab::{self, HashValue};
use crate::{Options, Profile, SpecVersion};

/// Runs every check for `opts` over `expr`, whose spans index into `src`.
pub(crate) fn check(src: &str, expr: &ObservationExpression<'_>, opts: Options) -> Vec<Error> {
    let mut checker = Checker {
        src,
        opts,
        errors: Vec::new(),
        reported_types: Vec::new(),
    };
    checker.observation_expression(expr);
    checker.errors
}

struct Checker<'s, 'p> {
    src: &'s str,
    opts: Options,
    errors: Vec<Error>,
    /// Object types already reported as invalid, so that each is reported once (as
    /// stix2-validator does), however many comparisons use it.
    reported_types: Vec<&'p str>,
}

impl<'s, 'p> Checker<'s, 'p> {
    fn strict(&self) -> bool {
        self.opts.profile == Profile::Strict
    }

    fn error(&mut self, span: Span, message: String) {
        self.errors
            .push(Error::at_byte(self.src, span.start, message));
    }

    /// Reports `lit` where `rule` (e.g. "a SHA-256 hash must be a string") wants a string,
    /// naming what was found instead.
    fn not_a_string(&mut self, span: Span, rule: fmt::Arguments<'_>, lit: &Literal<'_>) {
        let found = truncate(&lit.to_string());
        self.error(span, format!("{rule}, found {} {found}", lit.kind()));
    }

    // ----- observation level -----------------------------------------------------------------

    fn observation_expression(&mut self, expr: &'p ObservationExpression<'p>) {
        match expr {
            ObservationExpression::Observation(c) => self.comparison_expression(c),
            ObservationExpression::And(v)
            | ObservationExpression::Or(v)
            | ObservationExpression::FollowedBy(v) => {
                v.iter().for_each(|e| self.observation_expression(e))
            }
            ObservationExpression::Qualified { .. } => self.qualified(expr),
        }
    }

    /// Checks a chain of qualifiers and the expression they qualify.
    fn qualified(&mut self, top: &'p ObservationExpression<'p>) {
        // Collect the chain, outermost qualifier first.
        let mut chain: Vec<(&'p Qualifier<'p>, bool)> = Vec::new();
        let mut base = top;
        while let ObservationExpression::Qualified {
            expression,
            qualifier,
            grouped,
        } = base
        {
            chain.push((qualifier, *grouped));
            base = expression;
        }
        if self.opts.version == SpecVersion::V21
            && matches!(base, ObservationExpression::Observation(_))
        {
            self.duplicate_qualifiers(&chain);
        }
        for (q, _) in chain.iter().rev() {
            self.qualifier(q);
        }
        self.observation_expression(base);
    }

    /// STIX 2.1 (as stix2-patterns checks it): the qualifiers applied directly to one
    /// observation, up to the first parenthesised group, must be of different kinds. So
    /// `[a] WITHIN 1 SECONDS WITHIN 2 SECONDS` is invalid, while
    /// `([a] WITHIN 1 SECONDS) WITHIN 2 SECONDS` qualifies a group and is fine.
    fn duplicate_qualifiers(&mut self, chain: &[(&'p Qualifier<'p>, bool)]) {
        // `chain` is outermost first; walk it innermost first and stop at the first group.
        let mut direct: Vec<&Qualifier<'_>> = Vec::with_capacity(chain.len());
        for &(q, grouped) in chain.iter().rev() {
            if grouped {
                break;
            }
            let kind = std::mem::discriminant(q);
            if direct.iter().any(|d| std::mem::discriminant(*d) == kind) {
                self.error(
                    q.span(),
                    format!(
                        "duplicate qualifier: {} is already applied to this observation",
                        q.keyword()
                    ),
                );
            }
            direct.push(q);
        }
    }

    /// `WITHIN` and `REPEATS` must be positive; `START` and `STOP` must be real instants in order.
    fn qualifier(&mut self, q: &Qualifier<'_>) {
        match *q {
            Qualifier::Within { seconds, span } => {
                if seconds <= 0.0 {
                    self.error(
                        span,
                        format!("WITHIN needs a positive number of seconds, found {seconds}"),
                    );
                }
            }
            Qualifier::Repeats { times, span } => {
                if times == 0 {
                    self.error(span, "REPEATS needs a positive count, found 0".to_owned());
                }
            }
            Qualifier::StartStop { start, stop, span } => {
                let a = self.timestamp("START", start, span);
                let b = self.timestamp("STOP", stop, span);
                if let (Some(a), Some(b)) = (a, b) {
                    if a >= b {
                        self.error(
                            span,
                            format!("START t'{start}' must be before STOP t'{stop}'"),
                        );
                    }
                }
            }
        }
    }

    /// Parses a timestamp's text, reporting it when it is not a real instant.
    fn timestamp<'t>(&mut self, what: &str, text: &'t str, span: Span) -> Option<Timestamp<'t>> {
        match Timestamp::parse_explained(text) {
            Ok(ts) => Some(ts),
            Err(why) => {
                self.error(
                    span,
                    format!("{what} timestamp t'{}' is not valid: {why}", truncate(text)),
                );
                None
            }
        }
    }

    // ----- comparison level ------------------------------------------------------------------

    fn comparison_expression(&mut self, expr: &'p ComparisonExpression<'p>) {
        match expr {
            ComparisonExpression::Comparison(c) => self.comparison(c),
            ComparisonExpression::And(v) | ComparisonExpression::Or(v) => {
                v.iter().for_each(|e| self.comparison_expression(e))
            }
        }
    }

    fn comparison(&mut self, c: &'p Comparison<'p>) {
        if c.operator == ComparisonOperator::Exists && self.opts.version == SpecVersion::V20 {
            self.error(
                c.span,
                "EXISTS is not part of STIX 2.0 patterning (it was added in 2.1)".to_owned(),
            );
        }
        if self.strict() {
            let known = vocab::observable_properties(self.opts.version, c.path.object_type);
            if known.is_none() {
                self.object_type(c);
            }
            self.first_property(c, known);
        }
        let hash = hash_name(c);
        let ip = ip_kind(c);
        let (single, set): (_, &[(Literal<'p>, Span)]) = match &c.operand {
            Operand::None => (None, &[]),
            Operand::Literal(lit, span) => (Some((lit, *span)), &[]),
            Operand::Set(items) => (None, items),
        };
        let all = single.into_iter().chain(set.iter().map(|(l, s)| (l, *s)));
        for (lit, span) in all {
            if let Literal::Timestamp(text) = lit {
                self.timestamp("the", text, span);
            }
            if let Some(name) = hash {
                if matches!(
                    c.operator,
                    ComparisonOperator::Equal
                        | ComparisonOperator::NotEqual
                        | ComparisonOperator::In
                ) {
                    self.hash_value(name, lit, span);
                }
            }
            if let Some(v6) = ip {
                self.ip_value(v6, c, lit, span);
            }
            if c.operator == ComparisonOperator::Matches {
                if let Literal::String(re) = lit {
                    self.regex(re, span);
                }
            }
        }
    }

    // ----- strict: object types and properties ------------------------------------------------

    /// A type STIX does not define must be a well-formed custom one.
    fn object_type(&mut self, c: &'p Comparison<'p>) {
        let ty = c.path.object_type;
        if self.reported_types.contains(&ty) {
            return;
        }
        let message = if !is_type_name(ty) {
            format!(
                "'{}' is not a valid observable type name: custom types are 3 to 250 \
                 characters of lower-case letters, digits and single hyphens",
                truncate(ty)
            )
        } else if self.opts.version == SpecVersion::V20 && !has_custom_type_prefix(ty) {
            // stix2-validator's 2.0 check requires the `x-<source>-<name>` form.
            format!(
                "Custom Observable Object type '{}' should start with 'x-' followed by a source \
                 unique identifier (like a domain name with dots replaced by hyphens), a hyphen \
                 and then the name",
                truncate(ty)
            )
        } else {
            return;
        };
        self.reported_types.push(ty);
        self.error(c.path.span, message);
    }

    /// The first property must be one the type defines (`known`, when STIX defines the type)
    /// or a well-formed custom one.
    fn first_property(&mut self, c: &Comparison<'_>, known: Option<&[&str]>) {
        let Some(prop) = c.path.first_property() else {
            return;
        };
        if known.is_some_and(|props| props.contains(&prop)) {
            return;
        }
        if !is_property_name(prop) {
            self.error(
                c.path.span,
                format!(
                    "'{}' is not a valid observable property name: custom properties are 3 to 250 \
                     characters of lower-case letters, digits and underscores",
                    truncate(prop)
                ),
            );
        } else if known.is_some()
            && self.opts.version == SpecVersion::V20
            && !has_custom_property_prefix(prop)
        {
            self.error(
                c.path.span,
                format!(
                    "Cyber Observable Object custom property '{}' should start with 'x_' followed \
                     by a source unique identifier (like a domain name with dots replaced by \
                     underscores), an underscore and then the name",
                    truncate(prop)
                ),
            );
        }
    }

    // ----- hashes ------------------------------------------------------------------------------

    /// Both profiles: a value for a recognised algorithm must have its form.
    fn hash_value(&mut self, name: &str, lit: &Literal<'_>, span: Span) {
        let Some(algorithm) = vocab::hash_algorithm(name) else {
            return;
        };
        let Literal::String(value) = lit else {
            self.not_a_string(
                span,
                format_args!("a {} hash must be a string", truncate(name)),
                lit,
            );
            return;
        };
        let expected = match algorithm.value {
            HashValue::Hex(lengths) => {
                let ok =
                    lengths.contains(&value.len()) && value.bytes().all(|b| b.is_ascii_hexdigit());
                if ok {
                    return;
                }
                format!("{} hexadecimal digits", or_list(lengths))
            }
            HashValue::Ssdeep => {
                let ok = (1..=128).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"/+:.".contains(&b));
                if ok {
                    return;
                }
                "1 to 128 characters of letters, digits, '/', '+', ':' and '.'".to_owned()
            }
            HashValue::Free => return,
        };
        self.error(
            span,
            format!(
                "'{}' is not a valid {} hash: expected {expected}",
                truncate(value),
                truncate(name)
            ),
        );
    }

    // ----- IP addresses ------------------------------------------------------------------------

    /// `ipv4-addr:value` and `ipv6-addr:value` compare with addresses or CIDR blocks.
    fn ip_value(&mut self, v6: bool, c: &Comparison<'_>, lit: &Literal<'_>, span: Span) {
        if !matches!(
            c.operator,
            ComparisonOperator::Equal
                | ComparisonOperator::NotEqual
                | ComparisonOperator::In
                | ComparisonOperator::IsSubset
                | ComparisonOperator::IsSuperset
        ) {
            return;
        }
        let Literal::String(value) = lit else {
            self.not_a_string(
                span,
                format_args!(
                    "{}:value must be compared with a string",
                    c.path.object_type
                ),
                lit,
            );
            return;
        };
        if let Err(why) = check_ip(value, v6) {
            self.error(span, why);
        }
    }

    // ----- regular expressions -----------------------------------------------------------------

    /// MATCHES takes a PCRE regular expression. regex-syntax checks the syntax; constructs PCRE
    /// has and regex-syntax lacks are accepted unchecked rather than rejected.
    fn regex(&mut self, re: &str, span: Span) {
        if let Err(why) = check_regex(re) {
            self.error(
                span,
                format!("invalid regular expression for MATCHES: {why}"),
            );
        }
    }
}

/// The hash algorithm name of a `…hashes.NAME` path, if the path ends that way.
fn hash_name<'p>(c: &'p Comparison<'p>) -> Option<&'p str> {
    match c.path.components.as_slice() {
        [.., PathComponent::Property(h), PathComponent::Property(name)] if h == "hashes" => {
            Some(name)
        }
        _ => None,
    }
}

/// For `ipv4-addr:value` `Some(false)`, for `ipv6-addr:value` `Some(true)`.
fn ip_kind(c: &Comparison<'_>) -> Option<bool> {
    let v6 = match c.path.object_type {
        "ipv4-addr" => false,
        "ipv6-addr" => true,
        _ => return None,
    };
    match c.path.components.as_slice() {
        [PathComponent::Property(p)] if p == "value" => Some(v6),
        _ => None,
    }
}

/// Checks an IPv4 or IPv6 address, optionally with a `/prefix`.
pub(crate) fn check_ip(value: &str, v6: bool) -> Result<(), String> {
    let (family, max) = if v6 { ("IPv6", 128) } else { ("IPv4", 32) };
    let (addr, prefix) = match value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (value, None),
    };
    let addr_ok = if v6 {
        addr.parse::<Ipv6Addr>().is_ok()
    } else {
        addr.parse::<Ipv4Addr>().is_ok()
    };
    if !addr_ok {
        return Err(format!(
            "'{}' is not a valid {family} address or CIDR block",
            truncate(value)
        ));
    }
    if let Some(p) = prefix {
        let len = (!p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u32>().ok())
            .flatten();
        match len {
            Some(n) if n <= max => {}
            _ => {
                return Err(format!(
                    "'{}' is not a valid {family} CIDR block: the prefix length must be a number \
                     from 0 to {max}",
                    truncate(value)
                ))
            }
        }
    }
    Ok(())
}

/// Checks a MATCHES expression with regex-syntax's parser, tolerating PCRE features it lacks.
pub(crate) fn check_regex(re: &str) -> Result<(), String> {
    use regex_syntax::ast::ErrorKind as K;
    let Err(err) = regex_syntax::ast::parse::Parser::new().parse(re) else {
        return Ok(());
    };
    let at = err.span().start.offset;
    let tolerated = match err.kind() {
        // PCRE has lookaround, backreferences, many more escapes (\Q…\E, \h, \R, \K, \e, \G…),
        // more group syntax ((?>…), (?#…), (?|…), (?P=name), (?(cond)…)), `[\b]`, and `\xZ`.
        K::UnsupportedLookAround
        | K::UnsupportedBackreference
        | K::EscapeUnrecognized
        | K::FlagUnrecognized
        | K::ClassEscapeInvalid
        | K::EscapeHexInvalidDigit
        | K::EscapeHexEmpty
        | K::EscapeHexInvalid => true,
        // PCRE reads a `{` that does not start a valid quantifier as a literal brace.
        K::RepetitionCountUnclosed | K::RepetitionCountDecimalEmpty => true,
        K::RepetitionMissing => re.as_bytes().get(at) == Some(&b'{'),
        // `\x` at the end is NUL in PCRE; a lone trailing backslash is an error there too.
        K::EscapeUnexpectedEof => re.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 0,
        _ => false,
    };
    if tolerated {
        Ok(())
    } else {
        Err(format!(
            "{} (at character {} of the expression)",
            err.kind(),
            re.get(..at).map_or(at, |s| s.chars().count())
        ))
    }
}

/// `^[a-z0-9_]{3,250}$`: stix2-validator's property-name rule.
fn is_property_name(p: &str) -> bool {
    (3..=250).contains(&p.len())
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `^x\-.+\-.+$`.
fn has_custom_type_prefix(t: &str) -> bool {
    t.strip_prefix("x-")
        .and_then(|rest| rest.get(1..))
        .is_some_and(|rest| rest.find('-').is_some_and(|i| i + 1 < rest.len()))
}

/// `^x_.+_.+$`.
fn has_custom_property_prefix(p: &str) -> bool {
    p.strip_prefix("x_")
        .and_then(|rest| rest.get(1..))
        .is_some_and(|rest| rest.find('_').is_some_and(|i| i + 1 < rest.len()))
}

/// "32", "32 or 40", "32, 40 or 56".
fn or_list(ns: &[usize]) -> String {
    match ns {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(ToString::to_string).collect();
            format!("{} or {last}", init.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips() {
        assert!(check_ip("198.51.100.1", false).is_ok());
        assert!(check_ip("198.51.100.0/24", false).is_ok());
        assert!(check_ip("198.51.100.1/32", false).is_ok());
        assert!(check_ip("0.0.0.0/0", false).is_ok());
        assert!(check_ip("999.1.1.1", false).is_err());
        assert!(check_ip("1.1.1", false).is_err());
        assert!(check_ip("01.1.1.1", false).is_err());
        assert!(check_ip("1.1.1.1/33", false).is_err());
        assert!(check_ip("1.1.1.1/", false).is_err());
        assert!(check_ip("1.1.1.1/+1", false).is_err());
        assert!(check_ip("2001:db8::1", false).is_err());
        assert!(check_ip("2001:db8::1", true).is_ok());
        assert!(check_ip("2001:0db8:dead:beef:0000:0000:0000:0000/64", true).is_ok());
        assert!(check_ip("::ffff:1.2.3.4", true).is_ok());
        assert!(check_ip("2001:db8::/129", true).is_err());
        assert!(check_ip("2001:db8:::1", true).is_err());
        assert_eq!(
            check_ip("999.1.1.1", false).unwrap_err(),
            "'999.1.1.1' is not a valid IPv4 address or CIDR block"
        );
    }

    #[test]
    fn regexes() {
        for ok in [
            r".+\@example\.com$",
            r"\xd4\xc3\xb2\xa1",
            r"(?=abc)x",
            r"(?<!a)b",
            r"(\w)\1",
            r"a++b",
            r"(?>abc)",
            r"\Qa.b\E",
            r"a{",
            r"{foo}",
            r"[\b]",
            r"\x",
            r"(?P<n>a)(?P=n)",
            r"^Final Report.+\.exe$",
        ] {
            assert!(check_regex(ok).is_ok(), "{ok}");
        }
        for bad in [
            r"(abc", r"abc)", r"[a-", r"*abc", r"a{3,2}", r"[z-a]", "\\", r"a\\\",
        ] {
            assert!(check_regex(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_regex("(abc").unwrap_err(),
            "unclosed group (at character 0 of the expression)"
        );
    }

    #[test]
    fn names() {
        assert!(is_property_name("x_acme_size"));
        assert!(!is_property_name("id"));
        assert!(!is_property_name("Name"));
        assert!(has_custom_type_prefix("x-acme-widget"));
        assert!(!has_custom_type_prefix("x-widget"));
        assert!(!has_custom_type_prefix("x--a"));
        assert!(has_custom_type_prefix("x-a--"));
        assert!(has_custom_property_prefix("x_acme_size"));
        assert!(!has_custom_property_prefix("x_size"));
        assert_eq!(or_list(&[32]), "32");
        assert_eq!(or_list(&[32, 40, 56]), "32, 40 or 56");
    }
}
