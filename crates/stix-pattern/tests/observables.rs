//! Observable extraction.

use stix_pattern::{parse, ComparisonOperator, Literal, Observable};

fn observables(src: &str) -> Vec<Observable<'_>> {
    parse(src)
        .unwrap_or_else(|e| panic!("{src}: {e}"))
        .observables()
}

#[test]
fn single_values() {
    assert_eq!(
        observables("[ipv4-addr:value = '198.51.100.1']"),
        [Observable {
            object_type: "ipv4-addr",
            path: "value".to_owned(),
            operator: ComparisonOperator::Equal,
            negated: false,
            value: Literal::String("198.51.100.1".into()),
        }]
    );
    let o = observables(
        "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
    );
    assert_eq!(
        (o[0].object_type, o[0].path.as_str()),
        ("file", "hashes.'SHA-256'")
    );
    let o = observables("[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0]");
    assert_eq!(
        o[0].path,
        "extensions.'windows-pebinary-ext'.sections[*].entropy"
    );
    assert_eq!(o[0].operator, ComparisonOperator::GreaterThan);
    assert_eq!(o[0].value, Literal::Float(7.0));
}

#[test]
fn paths_are_canonical() {
    // Quoted and bare spellings of the same path index the same way.
    assert_eq!(
        observables("[file:hashes.'MD5' = 'x']")[0].path,
        observables("[file:hashes.MD5 = 'x']")[0].path
    );
    assert_eq!(observables("[file:'name' = 'x']")[0].path, "name");
}

#[test]
fn sets_negation_and_structure() {
    let o = observables(
        "[domain-name:value NOT IN ('a.example', 'b.example')] OR \
         ([url:value LIKE 'http://%' AND NOT EXISTS url:x] FOLLOWEDBY [mutex:name != 'm']) WITHIN 5 SECONDS",
    );
    let summary: Vec<_> = o
        .iter()
        .map(|o| {
            (
                o.object_type,
                o.path.as_str(),
                o.operator,
                o.negated,
                o.value.to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "domain-name",
                "value",
                ComparisonOperator::In,
                true,
                "'a.example'".to_owned()
            ),
            (
                "domain-name",
                "value",
                ComparisonOperator::In,
                true,
                "'b.example'".to_owned()
            ),
            (
                "url",
                "value",
                ComparisonOperator::Like,
                false,
                "'http://%'".to_owned()
            ),
            (
                "mutex",
                "name",
                ComparisonOperator::NotEqual,
                false,
                "'m'".to_owned()
            ),
        ]
    );
    // EXISTS and empty sets mention no value.
    assert!(observables("[EXISTS file:name AND file:size IN ()]").is_empty());
}

#[test]
fn values_borrow_from_the_pattern() {
    let src = String::from("[url:value = 'http://x.example/a']");
    let o = observables(&src);
    let Literal::String(s) = &o[0].value else {
        panic!()
    };
    assert!(matches!(s, std::borrow::Cow::Borrowed(_)));
}
