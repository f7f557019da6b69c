//! Property tests: the canonical text reads back as the same tree, and no input makes the
//! crate panic.

use std::borrow::Cow;

use proptest::prelude::*;
use stix_pattern::{
    parse, Comparison, ComparisonExpression, ComparisonOperator, Literal, ObjectPath,
    ObservationExpression, Operand, Options, PathComponent, Pattern, Profile, Qualifier, Span,
    SpecVersion,
};

const TYPES: &[&str] = &[
    "file",
    "ipv4-addr",
    "x-acme-widget",
    "network-traffic",
    "a",
    "_x",
    "x_y-",
    "true-ish",
];
const TIMESTAMPS: &[&str] = &[
    "2016-06-01T01:30:00Z",
    "2016-06-01T01:30:00.123Z",
    "1999-12-31T23:59:60.5Z",
    "2023-02-29T00:00:00Z",
];
const BINARIES: &[&str] = &["AA==", "AAE=", "AAEC", "dGhpcyBpcyBhIHRlc3Q="];
const HEXES: &[&str] = &["", "00", "ffD8", "0123456789abcdef"];

/// Text for names and string values: anything, with the characters that need escaping or
/// quoting well represented.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
        Just("AND".to_owned()),
        Just("true".to_owned()),
        Just("SHA-256".to_owned()),
        "[ '\\\\a-z\\-é\u{1F600}\n]{0,10}",
        any::<String>(),
    ]
}

fn literal(allow_bool: bool) -> BoxedStrategy<Literal<'static>> {
    let mut options = vec![
        text().prop_map(|s| Literal::String(Cow::Owned(s))).boxed(),
        any::<i64>().prop_map(Literal::Int).boxed(),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Literal::Float)
            .boxed(),
        (-1e6f64..1e6).prop_map(Literal::Float).boxed(),
        prop::sample::select(BINARIES)
            .prop_map(Literal::Binary)
            .boxed(),
        prop::sample::select(HEXES).prop_map(Literal::Hex).boxed(),
        prop::sample::select(TIMESTAMPS)
            .prop_map(Literal::Timestamp)
            .boxed(),
    ];
    if allow_bool {
        options.push(any::<bool>().prop_map(Literal::Bool).boxed());
    }
    prop::strategy::Union::new(options).boxed()
}

fn path_component() -> impl Strategy<Value = PathComponent<'static>> {
    prop_oneof![
        3 => text().prop_map(|s| PathComponent::Property(Cow::Owned(s))),
        1 => any::<i64>().prop_map(PathComponent::Index),
        1 => Just(PathComponent::AnyIndex),
    ]
}

fn object_path() -> impl Strategy<Value = ObjectPath<'static>> {
    (
        prop::sample::select(TYPES),
        text(),
        prop::collection::vec(path_component(), 0..4),
    )
        .prop_map(|(object_type, first, rest)| {
            let mut components = vec![PathComponent::Property(Cow::Owned(first))];
            components.extend(rest);
            ObjectPath {
                object_type,
                components,
                span: Span::default(),
            }
        })
}

fn comparison() -> impl Strategy<Value = Comparison<'static>> {
    use ComparisonOperator as Op;
    let op = prop::sample::select(vec![
        Op::Equal,
        Op::NotEqual,
        Op::LessThan,
        Op::LessThanOrEqual,
        Op::GreaterThan,
        Op::GreaterThanOrEqual,
        Op::In,
        Op::Like,
        Op::Matches,
        Op::IsSubset,
        Op::IsSuperset,
        Op::Exists,
    ]);
    (object_path(), any::<bool>(), op).prop_flat_map(|(path, negated, operator)| {
        let operand: BoxedStrategy<Operand<'static>> = match operator {
            Op::Equal | Op::NotEqual => literal(true)
                .prop_map(|l| Operand::Literal(l, Span::default()))
                .boxed(),
            Op::LessThan | Op::LessThanOrEqual | Op::GreaterThan | Op::GreaterThanOrEqual => {
                literal(false)
                    .prop_map(|l| Operand::Literal(l, Span::default()))
                    .boxed()
            }
            Op::In => prop::collection::vec(literal(true), 0..4)
                .prop_map(|v| Operand::Set(v.into_iter().map(|l| (l, Span::default())).collect()))
                .boxed(),
            Op::Exists => Just(Operand::None).boxed(),
            _ => text()
                .prop_map(|s| Operand::Literal(Literal::String(Cow::Owned(s)), Span::default()))
                .boxed(),
        };
        operand.prop_map(move |operand| Comparison {
            path: path.clone(),
            negated,
            operator,
            operand,
            span: Span::default(),
        })
    })
}

/// Two or three expressions from `inner`, combined by `join` (an `And`, `Or` or `FollowedBy`).
fn joined<T: std::fmt::Debug>(
    inner: impl Strategy<Value = T>,
    join: fn(Vec<T>) -> T,
) -> impl Strategy<Value = T> {
    prop::collection::vec(inner, 2..4).prop_map(join)
}

fn comparison_expression() -> impl Strategy<Value = ComparisonExpression<'static>> {
    use ComparisonExpression as E;
    comparison()
        .prop_map(E::Comparison)
        .prop_recursive(3, 12, 3, |inner| {
            prop_oneof![joined(inner.clone(), E::And), joined(inner, E::Or)]
        })
}

fn qualifier() -> impl Strategy<Value = Qualifier<'static>> {
    prop_oneof![
        (0u32..100_000).prop_map(|n| Qualifier::Within {
            seconds: f64::from(n),
            span: Span::default()
        }),
        (0f64..1e9).prop_map(|seconds| Qualifier::Within {
            seconds,
            span: Span::default()
        }),
        any::<u64>().prop_map(|times| Qualifier::Repeats {
            times,
            span: Span::default()
        }),
        (
            prop::sample::select(TIMESTAMPS),
            prop::sample::select(TIMESTAMPS)
        )
            .prop_map(|(start, stop)| Qualifier::StartStop {
                start,
                stop,
                span: Span::default()
            }),
    ]
}

fn observation_expression() -> impl Strategy<Value = ObservationExpression<'static>> {
    use ObservationExpression as E;
    comparison_expression()
        .prop_map(E::Observation)
        .prop_recursive(4, 16, 3, |inner| {
            prop_oneof![
                joined(inner.clone(), E::And),
                joined(inner.clone(), E::Or),
                joined(inner.clone(), E::FollowedBy),
                (inner, qualifier(), any::<bool>()).prop_map(|(e, qualifier, grouped)| {
                    // Combinations always need parentheses to be qualified.
                    let grouped = grouped || matches!(e, E::And(_) | E::Or(_) | E::FollowedBy(_));
                    E::Qualified {
                        expression: Box::new(e),
                        qualifier,
                        grouped,
                    }
                }),
            ]
        })
}

/// The pieces [`pattern_like`] strings together: the grammar's brackets, keywords, paths and
/// literal shapes.
const PATTERN_PIECES: &[&str] = &[
    "[",
    "]",
    "(",
    ")",
    " AND ",
    " OR ",
    " NOT ",
    " FOLLOWEDBY ",
    " WITHIN 5 SECONDS",
    " REPEATS 2 TIMES",
    " START t'2016-01-01T00:00:00Z' STOP t'2017-01-01T00:00:00Z'",
    "EXISTS ",
    " IN (1, 'a')",
    "file:hashes.'SHA-256'",
    "ipv4-addr:value",
    "a:b[*].c[0]",
    " = ",
    " MATCHES ",
    "'999.1.1.1'",
    "'x\\''",
    "/*",
    "*/",
];

/// Pattern-like noise: the grammar's characters, keywords and literal shapes.
fn pattern_like() -> impl Strategy<Value = String> {
    // Each listed piece is as likely as a run of random grammar characters, as when each was
    // an arm of its own.
    let listed = u32::try_from(PATTERN_PIECES.len()).unwrap();
    let piece = prop_oneof![
        listed => prop::sample::select(PATTERN_PIECES).prop_map(str::to_owned),
        1 => "[\\[\\]()':.,=!<>*/\\\\ a-zA-Z0-9_\\-+é\u{3000}]{1,4}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

/// Everything the crate does with a pattern must work on whatever `parse` accepts.
fn exercise(src: &str) {
    if let Ok(p) = parse(src) {
        for profile in [Profile::Compatible, Profile::Strict] {
            for version in [SpecVersion::V20, SpecVersion::V21] {
                let _ = p.check(Options { profile, version });
            }
        }
        let _ = p.observables();
        let text = p.to_string();
        let again = parse(&text).unwrap_or_else(|e| panic!("{src:?} → {text:?}: {e}"));
        assert_eq!(again, p, "{src:?} → {text:?}");
        assert_eq!(again.to_string(), text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn display_then_parse_is_identity(expr in observation_expression()) {
        let pattern = Pattern::new(expr);
        let text = pattern.to_string();
        let parsed = parse(&text);
        prop_assert!(parsed.is_ok(), "{text}: {:?}", parsed.err());
        let parsed = parsed.unwrap();
        prop_assert_eq!(&parsed, &pattern, "{}", text);
        // Canonical text is a fixed point.
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(src in any::<String>()) {
        exercise(&src);
    }

    #[test]
    fn parse_never_panics_on_pattern_like_text(src in pattern_like()) {
        exercise(&src);
    }

    #[test]
    fn parse_never_panics_on_damaged_patterns(
        expr in observation_expression(),
        cut in any::<prop::sample::Index>(),
        junk in "[\\[\\]()'\\\\ a-z]{0,2}",
    ) {
        let text = Pattern::new(expr).to_string();
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let damaged = format!("{}{}{}", &text[..at], junk, &text[at..]);
        exercise(&damaged);
        exercise(&text[..at]);
    }
}
