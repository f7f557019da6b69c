//! The grammar, production by production, and the syntax error messages.

use std::borrow::Cow;

use stix_pattern::{
    parse, Comparison, ComparisonExpression, ComparisonOperator, Literal, ObservationExpression,
    Operand, PathComponent, Qualifier, MAX_DEPTH,
};

/// The single comparison of a one-observation, one-comparison pattern.
fn comparison(src: &str) -> Comparison<'_> {
    let p = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    match p.into_expression() {
        ObservationExpression::Observation(ComparisonExpression::Comparison(c)) => c,
        other => panic!("{src}: not a single comparison: {other:?}"),
    }
}

/// The literal operand of a single comparison.
fn literal(src: &str) -> Literal<'_> {
    match comparison(src).operand {
        Operand::Literal(lit, _) => lit,
        other => panic!("{src}: not a literal operand: {other:?}"),
    }
}

/// The error message of a pattern that must not parse.
fn error(src: &str) -> String {
    match parse(src) {
        Ok(p) => panic!("{src} parsed as {p:?}"),
        Err(e) => e.to_string(),
    }
}

/// The canonical text of a pattern that must parse.
fn canonical(src: &str) -> String {
    parse(src)
        .unwrap_or_else(|e| panic!("{src}: {e}"))
        .to_string()
}

// ----- literals -----------------------------------------------------------------------------

#[test]
fn string_literals() {
    assert_eq!(literal("[a:b = 'x']"), Literal::String(Cow::Borrowed("x")));
    assert_eq!(literal("[a:b = '']"), Literal::String(Cow::Borrowed("")));
    assert_eq!(
        literal(r"[a:b = 'it\'s a \\ path']"),
        Literal::String(Cow::Owned(r"it's a \ path".to_owned()))
    );
    assert_eq!(
        literal("[a:b = 'ünïcødé \u{1F600} and\nnewline']"),
        Literal::String(Cow::Borrowed("ünïcødé \u{1F600} and\nnewline"))
    );
    // Only escaped text is owned.
    assert!(matches!(
        literal("[a:b = 'plain']"),
        Literal::String(Cow::Borrowed(_))
    ));
    assert!(matches!(
        literal(r"[a:b = 'a\\b']"),
        Literal::String(Cow::Owned(_))
    ));
}

#[test]
fn numeric_literals() {
    assert_eq!(literal("[a:b = 0]"), Literal::Int(0));
    assert_eq!(literal("[a:b = 42]"), Literal::Int(42));
    assert_eq!(literal("[a:b = +42]"), Literal::Int(42));
    assert_eq!(literal("[a:b = -42]"), Literal::Int(-42));
    assert_eq!(literal("[a:b = -0]"), Literal::Int(0));
    assert_eq!(
        literal("[a:b = 9223372036854775807]"),
        Literal::Int(i64::MAX)
    );
    assert_eq!(
        literal("[a:b = -9223372036854775808]"),
        Literal::Int(i64::MIN)
    );
    assert_eq!(literal("[a:b = 7.5]"), Literal::Float(7.5));
    assert_eq!(literal("[a:b = .5]"), Literal::Float(0.5));
    assert_eq!(literal("[a:b = +.5]"), Literal::Float(0.5));
    assert_eq!(literal("[a:b = -.5]"), Literal::Float(-0.5));
    assert_eq!(literal("[a:b = 007.25]"), Literal::Float(7.25));
}

#[test]
fn other_literals() {
    assert_eq!(literal("[a:b = true]"), Literal::Bool(true));
    assert_eq!(literal("[a:b != false]"), Literal::Bool(false));
    assert_eq!(literal("[a:b = b'AAEC']"), Literal::Binary("AAEC"));
    assert_eq!(literal("[a:b = b'AA==']"), Literal::Binary("AA=="));
    assert_eq!(literal("[a:b = b'AAE=']"), Literal::Binary("AAE="));
    assert_eq!(literal("[a:b = h'00fF']"), Literal::Hex("00fF"));
    assert_eq!(literal("[a:b = h'']"), Literal::Hex(""));
    assert_eq!(
        literal("[a:b = t'2016-01-20T12:31:12.123Z']"),
        Literal::Timestamp("2016-01-20T12:31:12.123Z")
    );
    assert_eq!(
        literal("[a:b < t'2016-01-20T12:31:12Z']"),
        Literal::Timestamp("2016-01-20T12:31:12Z")
    );
}

#[test]
fn malformed_literals() {
    assert_eq!(
        error("[a:b = 'x]"),
        "at column 7: unterminated string literal: missing closing quote"
    );
    assert_eq!(
        error(r"[a:b = 'a\x']"),
        r"at column 9: invalid escape '\x' in string literal: only \\ and \' are allowed"
    );
    assert_eq!(
        error("[x_whatever:detected == t'2457-73-22T32:81:84.1Z']"),
        "at column 24: malformed timestamp literal t'2457-73-22T32:81:84.1Z': expected t'YYYY-MM-DDThh:mm:ss[.fraction]Z'"
    );
    assert_eq!(
        error("[artifact:payload_bin = b'====']"),
        "at column 24: malformed binary literal b'====': expected non-empty, padded base64"
    );
    assert_eq!(
        error("[a:b = h'abc']"),
        "at column 7: malformed hex literal h'abc': expected an even number of hexadecimal digits"
    );
    assert_eq!(
        error("[a:b = 99999999999999999999]"),
        "at column 7: integer 99999999999999999999 is out of range for a 64-bit signed integer"
    );
    assert_eq!(
        error("[a:b = 0123]"),
        "at column 8: expected 'AND', 'OR' or ']' but found '123'"
    );
    // Booleans are lower case only.
    assert_eq!(
        error("[a:b = TRUE]"),
        "at column 7: expected a literal value after '=' but found 'TRUE'"
    );
}

// ----- comparisons ----------------------------------------------------------------------------

#[test]
fn every_operator() {
    use ComparisonOperator as Op;
    // Each operator with every spelling the grammar has for it.
    let cases: [(Op, &[&str]); 10] = [
        (Op::Equal, &["=", "=="]),
        (Op::NotEqual, &["!=", "<>"]),
        (Op::LessThan, &["<"]),
        (Op::LessThanOrEqual, &["<="]),
        (Op::GreaterThan, &[">"]),
        (Op::GreaterThanOrEqual, &[">="]),
        (Op::Like, &["LIKE"]),
        (Op::Matches, &["MATCHES"]),
        (Op::IsSubset, &["ISSUBSET"]),
        (Op::IsSuperset, &["ISSUPERSET"]),
    ];
    for (op, spellings) in cases {
        for text in spellings {
            for (not, negated) in [("", false), ("NOT ", true)] {
                let src = format!("[a:b {not}{text} 'x']");
                let c = comparison(&src);
                assert_eq!((c.operator, c.negated), (op, negated), "{src}");
            }
        }
    }
}

#[test]
fn in_sets() {
    let c = comparison("[file:size NOT IN (1, 'two', 3.0, true, h'ff')]");
    assert_eq!(c.operator, ComparisonOperator::In);
    assert!(c.negated);
    let Operand::Set(items) = c.operand else {
        panic!("not a set")
    };
    let lits: Vec<_> = items.into_iter().map(|(l, _)| l).collect();
    assert_eq!(
        lits,
        [
            Literal::Int(1),
            Literal::String("two".into()),
            Literal::Float(3.0),
            Literal::Bool(true),
            Literal::Hex("ff"),
        ]
    );
    assert_eq!(comparison("[a:b IN ()]").operand, Operand::Set(vec![]));
    assert_eq!(
        comparison("[a:b IN('x')]").operand,
        Operand::Set(vec![(Literal::String("x".into()), Default::default())])
    );
    assert_eq!(
        error("[a:b IN ('x',)]"),
        "at column 13: expected a literal value after 'IN' but found ')'"
    );
    assert_eq!(
        error("[a:b IN ('x' 'y')]"),
        "at column 13: expected ',' or ')' in the set but found string 'y'"
    );
    assert_eq!(
        error("[a:b IN 'x']"),
        "at column 8: expected '(' after 'IN' but found string 'x'"
    );
}

#[test]
fn exists() {
    let c = comparison("[EXISTS file:name]");
    assert_eq!(
        (c.operator, c.negated, c.operand),
        (ComparisonOperator::Exists, false, Operand::None)
    );
    let c = comparison("[NOT EXISTS file:extensions.'ntfs-ext']");
    assert_eq!((c.operator, c.negated), (ComparisonOperator::Exists, true));
    assert_eq!(
        error("[file:name EXISTS]"),
        "at column 11: expected a comparison operator or 'NOT' but found 'EXISTS'"
    );
    assert_eq!(
        error("[NOT file:name = 'x']"),
        "at column 5: expected 'EXISTS' after 'NOT' but found 'file'"
    );
}

#[test]
fn operand_kinds_per_operator() {
    // Booleans are not ordered; LIKE, MATCHES, ISSUBSET and ISSUPERSET take strings only.
    assert_eq!(
        error("[a:b < true]"),
        "at column 7: expected a number, string, binary, hex or timestamp literal after '<' (booleans are not ordered) but found 'true'"
    );
    assert_eq!(
        error("[a:b LIKE 5]"),
        "at column 10: expected a string literal after 'LIKE' but found '5'"
    );
    assert_eq!(
        error("[file:name MATCHES /.*\\.dll/]"),
        "at column 19: expected a string literal after 'MATCHES' but found '/'"
    );
    assert_eq!(
        error("[network-traffic:dst_ref.value ISSUBSET ]"),
        "at column 40: expected a string literal after 'ISSUBSET' but found ']'"
    );
    assert!(parse("[a:b > t'2016-01-01T00:00:00Z']").is_ok());
    assert!(parse("[a:b >= b'AA==']").is_ok());
    assert!(parse("[a:b <= h'01']").is_ok());
}

#[test]
fn operator_errors() {
    assert_eq!(
        error("[file:hashes.MD5 =? 'cead3f77f6cda6ec00f57d76c9a6879f']"),
        "at column 18: expected a literal value after '=' but found '?'"
    );
    assert_eq!(
        error("[file:size = ]"),
        "at column 13: expected a literal value after '=' but found ']'"
    );
    assert_eq!(
        error("[file:hashes.MD5 = cead3f77f6cda6ec00f57d76c9a6879f]"),
        "at column 19: expected a literal value after '=' but found 'cead3f77f6cda6ec00f57d76c9a6879f'"
    );
    assert_eq!(
        error("[a:b NOT 'x']"),
        "at column 9: expected a comparison operator after 'NOT' but found string 'x'"
    );
    assert_eq!(
        error("[a:b = 'x' NOT]"),
        "at column 11: expected 'AND', 'OR' or ']' but found 'NOT'"
    );
}

// ----- object paths ---------------------------------------------------------------------------

#[test]
fn object_paths() {
    let c = comparison("[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0]");
    assert_eq!(c.path.object_type, "file");
    assert_eq!(
        c.path.components,
        [
            PathComponent::Property("extensions".into()),
            PathComponent::Property("windows-pebinary-ext".into()),
            PathComponent::Property("sections".into()),
            PathComponent::AnyIndex,
            PathComponent::Property("entropy".into()),
        ]
    );
    assert_eq!(
        c.path.property_path(),
        "extensions.'windows-pebinary-ext'.sections[*].entropy"
    );
    let c = comparison("[x-custom_type:'first'[0][-1][+2].'a b' = 1]");
    assert_eq!(c.path.object_type, "x-custom_type");
    assert_eq!(
        c.path.components,
        [
            PathComponent::Property("first".into()),
            PathComponent::Index(0),
            PathComponent::Index(-1),
            PathComponent::Index(2),
            PathComponent::Property("a b".into()),
        ]
    );
    // Quoting is canonicalised: bare where possible.
    assert_eq!(c.path.property_path(), "first[0][-1][2].'a b'");
    assert_eq!(
        comparison("[file:hashes.'MD5' = 'x']").path.property_path(),
        "hashes.MD5"
    );
    // Whitespace may separate the parts of a path.
    assert_eq!(
        comparison("[file : hashes . 'SHA-256' = 'x']")
            .path
            .property_path(),
        "hashes.'SHA-256'"
    );
    // Keywords must be quoted to be property names.
    assert_eq!(comparison("[a:'AND' = 1]").path.property_path(), "'AND'");
    assert_eq!(
        comparison("[a:b.'true' = 1]").path.property_path(),
        "b.'true'"
    );
}

#[test]
fn object_path_errors() {
    assert_eq!(
        error("[file.size = 1280]"),
        "at column 5: expected ':' after the object type but found '.'"
    );
    assert_eq!(
        error("[file:hashes.SHA-256 = 'x']"),
        "at column 13: expected a property name after '.' but found 'SHA-256' (a name with hyphens must be quoted: 'SHA-256')"
    );
    assert_eq!(
        error("[file:a-b = 'x']"),
        "at column 6: expected a property name after ':' but found 'a-b' (a name with hyphens must be quoted: 'a-b')"
    );
    assert_eq!(
        error("[file:name.AND = 'x']"),
        "at column 11: expected a property name after '.' but found 'AND'"
    );
    assert_eq!(
        error("[AND:b = 1]"),
        "at column 1: expected an object path but found 'AND'"
    );
    assert_eq!(
        error("[a:b[x] = 1]"),
        "at column 5: expected a list index or '*' after '[' but found 'x'"
    );
    assert_eq!(
        error("[a:b[1 = 1]"),
        "at column 7: expected ']' after the list index but found '='"
    );
    assert_eq!(
        error("[a:b[1.5] = 1]"),
        "at column 5: expected a list index or '*' after '[' but found '1.5'"
    );
    assert_eq!(
        error("['a':b = 1]"),
        "at column 1: expected an object path but found string 'a'"
    );
}

// ----- comparison expressions --------------------------------------------------------------

#[test]
fn comparison_precedence() {
    // AND binds tighter than OR.
    let p = parse("[a:b = 1 OR a:c = 2 AND a:d = 3]").unwrap();
    let ObservationExpression::Observation(ComparisonExpression::Or(items)) = p.expression() else {
        panic!("{p:?}")
    };
    assert!(matches!(items[0], ComparisonExpression::Comparison(_)));
    assert!(matches!(&items[1], ComparisonExpression::And(v) if v.len() == 2));
    // Chains are flat; parentheses group.
    let p = parse("[a:b = 1 AND a:c = 2 AND a:d = 3]").unwrap();
    assert!(matches!(
        p.expression(),
        ObservationExpression::Observation(ComparisonExpression::And(v)) if v.len() == 3
    ));
    let p = parse("[(a:b = 1 OR a:c = 2) AND a:d = 3]").unwrap();
    let ObservationExpression::Observation(ComparisonExpression::And(items)) = p.expression()
    else {
        panic!("{p:?}")
    };
    assert!(matches!(&items[0], ComparisonExpression::Or(v) if v.len() == 2));
    assert_eq!(p.to_string(), "[(a:b = 1 OR a:c = 2) AND a:d = 3]");
    // Redundant parentheses disappear from the canonical text.
    assert_eq!(canonical("[((a:b = 1))]"), "[a:b = 1]");
    assert_eq!(
        canonical("[(a:b = 1 AND a:c = 2) AND a:d = 3]"),
        "[(a:b = 1 AND a:c = 2) AND a:d = 3]"
    );
    assert_eq!(
        canonical("[a:b = 1 OR (a:c = 2 AND a:d = 3)]"),
        "[a:b = 1 OR a:c = 2 AND a:d = 3]"
    );
}

#[test]
fn comparison_expression_errors() {
    assert_eq!(
        error("[a:b = 1 AND]"),
        "at column 12: expected an object path but found ']'"
    );
    assert_eq!(
        error("[(a:b = 1]"),
        "at column 9: expected 'AND', 'OR' or ')' but found ']'"
    );
    assert_eq!(
        error("[ipv4-addr:value = '198.51.100.1'"),
        "at column 33: expected 'AND', 'OR' or ']' but found end of pattern"
    );
    assert_eq!(
        error("[]"),
        "at column 1: expected an object path but found ']'"
    );
}

// ----- observation expressions -----------------------------------------------------------

#[test]
fn observation_precedence() {
    // AND binds tighter than OR, which binds tighter than FOLLOWEDBY.
    let p = parse("[a:b = 1] FOLLOWEDBY [a:c = 2] OR [a:d = 3] AND [a:e = 4]").unwrap();
    let ObservationExpression::FollowedBy(items) = p.expression() else {
        panic!("{p:?}")
    };
    assert_eq!(items.len(), 2);
    let ObservationExpression::Or(or) = &items[1] else {
        panic!("{p:?}")
    };
    assert!(matches!(&or[1], ObservationExpression::And(v) if v.len() == 2));
    assert_eq!(
        canonical("([a:b = 1] FOLLOWEDBY [a:c = 2]) OR [a:d = 3]"),
        "([a:b = 1] FOLLOWEDBY [a:c = 2]) OR [a:d = 3]"
    );
    assert_eq!(
        canonical("[a:b = 1] FOLLOWEDBY ([a:c = 2] OR [a:d = 3])"),
        "[a:b = 1] FOLLOWEDBY [a:c = 2] OR [a:d = 3]"
    );
    assert_eq!(
        canonical("(([a:b = 1]))   AND\t[a:c==2]"),
        "[a:b = 1] AND [a:c = 2]"
    );
}

#[test]
fn qualifiers() {
    let p = parse("[a:b = 1] WITHIN 5 SECONDS").unwrap();
    let ObservationExpression::Qualified {
        qualifier, grouped, ..
    } = p.expression()
    else {
        panic!("{p:?}")
    };
    assert!(!grouped);
    assert!(matches!(qualifier, Qualifier::Within { seconds, .. } if *seconds == 5.0));
    assert!(matches!(
        parse("[a:b = 1] WITHIN 2.5 SECONDS").unwrap().expression(),
        ObservationExpression::Qualified { qualifier: Qualifier::Within { seconds, .. }, .. } if *seconds == 2.5
    ));
    assert!(matches!(
        parse("[a:b = 1] REPEATS 3 TIMES").unwrap().expression(),
        ObservationExpression::Qualified {
            qualifier: Qualifier::Repeats { times: 3, .. },
            ..
        }
    ));
    assert!(matches!(
        parse("[a:b = 1] START t'2016-01-01T00:00:00Z' STOP t'2016-02-01T00:00:00Z'")
            .unwrap()
            .expression(),
        ObservationExpression::Qualified {
            qualifier: Qualifier::StartStop {
                start: "2016-01-01T00:00:00Z",
                stop: "2016-02-01T00:00:00Z",
                ..
            },
            ..
        }
    ));
    // A qualifier applies to the primary right before it.
    let p = parse("[a:b = 1] AND [a:c = 2] WITHIN 5 SECONDS").unwrap();
    let ObservationExpression::And(items) = p.expression() else {
        panic!("{p:?}")
    };
    assert!(matches!(items[1], ObservationExpression::Qualified { .. }));
    // Parentheses make it apply to a group, and are kept where they matter.
    let p = parse("([a:b = 1] AND [a:c = 2]) WITHIN 5 SECONDS").unwrap();
    assert!(matches!(
        p.expression(),
        ObservationExpression::Qualified { grouped: true, expression, .. }
            if matches!(**expression, ObservationExpression::And(_))
    ));
    assert_eq!(
        canonical("([a:b = 1] REPEATS 2 TIMES) REPEATS 3 TIMES"),
        "([a:b = 1] REPEATS 2 TIMES) REPEATS 3 TIMES"
    );
    assert_eq!(
        canonical("[a:b = 1] REPEATS 2 TIMES WITHIN 3 SECONDS"),
        "[a:b = 1] REPEATS 2 TIMES WITHIN 3 SECONDS"
    );
    assert_eq!(
        canonical("[a:b=1]WITHIN 5SECONDS"),
        "[a:b = 1] WITHIN 5 SECONDS"
    );
    assert_eq!(
        canonical("[a:b = 1] WITHIN +1.50 SECONDS"),
        "[a:b = 1] WITHIN 1.5 SECONDS"
    );
}

#[test]
fn qualifier_errors() {
    let reg = "[win-registry-key:key = 'hkey_local_machine\\\\foo\\\\bar']";
    assert_eq!(
        error(&format!("{reg} WITHIN ]")),
        "at column 63: expected a positive number of seconds after 'WITHIN' but found ']'"
    );
    assert_eq!(
        error(&format!("{reg} WITHIN 5 HOURS]")),
        "at column 65: expected 'SECONDS' but found 'HOURS'"
    );
    assert_eq!(
        error(&format!("{reg} WITHIN -5 SECONDS]")),
        "at column 63: expected a positive number of seconds after 'WITHIN' but found '-5'"
    );
    assert_eq!(
        error("[a:b = 1] REPEATS 1.5 TIMES"),
        "at column 18: expected a positive integer after 'REPEATS' but found '1.5'"
    );
    assert_eq!(
        error("[a:b = 1] REPEATS 2 SECONDS"),
        "at column 20: expected 'TIMES' but found 'SECONDS'"
    );
    assert_eq!(
        error("[a:b = 1] START '2016-01-01T00:00:00Z' STOP t'2016-01-01T00:00:00Z'"),
        "at column 16: expected a timestamp t'…' after 'START' but found string '2016-01-01T00:00:00Z'"
    );
    assert_eq!(
        error("[a:b = 1] START t'2016-01-01T00:00:00Z'"),
        "at column 39: expected 'STOP' but found end of pattern"
    );
    assert_eq!(
        error("[foo:bar=1] within 2 seconds"),
        "at column 12: expected 'AND', 'OR', 'FOLLOWEDBY', 'WITHIN', 'REPEATS', 'START' or end of pattern but found 'within' (keywords are upper case)"
    );
    assert_eq!(
        error("[a:b = 1] REPEATS 99999999999999999999 TIMES"),
        "at column 18: repeat count 99999999999999999999 is out of range"
    );
}

#[test]
fn observation_errors() {
    assert_eq!(
        error("file:size = 1280"),
        "at column 0: expected '[' or '(' but found 'file'"
    );
    assert_eq!(
        error(""),
        "at column 0: expected '[' or '(' but found end of pattern"
    );
    assert_eq!(
        error("   "),
        "at column 3: expected '[' or '(' but found end of pattern"
    );
    assert_eq!(
        error("[a:b = 1] AND"),
        "at column 13: expected '[' or '(' but found end of pattern"
    );
    assert_eq!(
        error("([a:b = 1]"),
        "at column 10: expected 'AND', 'OR', 'FOLLOWEDBY', 'WITHIN', 'REPEATS', 'START' or ')' but found end of pattern"
    );
    assert_eq!(
        error("[a:b = 1])"),
        "at column 9: expected 'AND', 'OR', 'FOLLOWEDBY', 'WITHIN', 'REPEATS', 'START' or end of pattern but found ')'"
    );
    assert_eq!(
        error("[a:b = 1] [a:c = 2]"),
        "at column 10: expected 'AND', 'OR', 'FOLLOWEDBY', 'WITHIN', 'REPEATS', 'START' or end of pattern but found '['"
    );
    assert_eq!(
        error("[a:b = 1] LAST 5 SECONDS"),
        "at column 10: expected 'AND', 'OR', 'FOLLOWEDBY', 'WITHIN', 'REPEATS', 'START' or end of pattern but found 'LAST'"
    );
}

#[test]
fn trivia_and_comments() {
    assert_eq!(
        canonical("\t[ a:b\u{00A0}=\u{3000}1 /* why */ ]  // trailing\n"),
        "[a:b = 1]"
    );
    assert_eq!(
        error("/* lead */ [a:b = 1]"),
        "at column 0: expected '[' or '(' but found a comment (a pattern must begin with an observation)"
    );
    assert_eq!(
        error("[a:b = 1 /* open"),
        "at column 9: unterminated comment: '/*' has no closing '*/'"
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    // 'é' is two bytes; the column is in characters.
    assert_eq!(
        error("[a:b = 'é' OR]"),
        "at column 13: expected an object path but found ']'"
    );
}

#[test]
fn error_accessors() {
    let e = parse("[a:b = ]").unwrap_err();
    assert_eq!(e.offset(), 7);
    assert_eq!(
        e.message(),
        "expected a literal value after '=' but found ']'"
    );
}

// ----- depth limits ------------------------------------------------------------------------

#[test]
fn a_million_parentheses_is_an_error() {
    let src = "(".repeat(1_000_000);
    let e = parse(&src).unwrap_err();
    assert_eq!(e.offset(), MAX_DEPTH);
    assert!(e.message().contains("nests more than 256 levels"), "{e}");
    let src = format!("[{}", "(".repeat(1_000_000));
    assert!(parse(&src).is_err());
}

#[test]
fn nesting_up_to_the_limit_works() {
    let ok = format!(
        "{}[a:b = 1]{}",
        "(".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    );
    assert_eq!(canonical(&ok), "[a:b = 1]");
    let too_deep = format!(
        "{}[a:b = 1]{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert!(parse(&too_deep).is_err());
    // Observation and comparison parentheses count together.
    let half = MAX_DEPTH / 2 + 1;
    let mixed = format!(
        "{}[{}a:b = 1{}]{}",
        "(".repeat(half),
        "(".repeat(half),
        ")".repeat(half),
        ")".repeat(half)
    );
    assert!(parse(&mixed).is_err());
}

#[test]
fn qualifier_chains_are_bounded() {
    let long = format!("[a:b = 1]{}", " REPEATS 2 TIMES".repeat(100_000));
    let e = parse(&long).unwrap_err();
    assert!(e.message().contains("nests more than 256 levels"), "{e}");
    let fine = format!("[a:b = 1]{}", " REPEATS 2 TIMES".repeat(200));
    assert!(parse(&fine).is_ok());
}

#[test]
fn long_flat_chains_are_fine() {
    let many = vec!["[a:b = 1]"; 100_000].join(" OR ");
    let p = parse(&many).unwrap();
    assert!(matches!(p.expression(), ObservationExpression::Or(v) if v.len() == 100_000));
    let many = format!("[{}]", vec!["a:b = 1"; 100_000].join(" AND "));
    assert!(parse(&many).is_ok());
}
