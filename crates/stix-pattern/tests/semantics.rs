//! Semantic checks, per profile and version.

use stix_pattern::{parse, validate, Options, Profile, SpecVersion};

const COMPAT_21: Options = Options::new(Profile::Compatible, SpecVersion::V21);
const STRICT_21: Options = Options::new(Profile::Strict, SpecVersion::V21);
const COMPAT_20: Options = Options::new(Profile::Compatible, SpecVersion::V20);
const STRICT_20: Options = Options::new(Profile::Strict, SpecVersion::V20);

/// Every error message (with column) for `src` under `opts`; empty when valid.
fn errors(src: &str, opts: Options) -> Vec<String> {
    match validate(src, opts) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn ok(src: &str, opts: Options) {
    let e = errors(src, opts);
    assert!(e.is_empty(), "{src} under {opts:?}: {e:?}");
}

const SHA256: &str = "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f";

// ----- profiles: object types and properties -------------------------------------------------

#[test]
fn compatible_accepts_unknown_types_and_properties() {
    for src in [
        "[app:id = 'x']",
        "[x_whatever:detected = 1]",
        "[file:Name = 'x']",
        "[Foo:Bar = 1]",
    ] {
        ok(src, COMPAT_21);
        ok(src, COMPAT_20);
    }
}

#[test]
fn strict_21_mirrors_stix2_validator() {
    ok("[file:name = 'x']", STRICT_21);
    ok("[file:'name' = 'x']", STRICT_21);
    ok(
        "[network-traffic:dst_ref.value = '203.0.113.33']",
        STRICT_21,
    );
    // With its default options the validator accepts any well-formed property name, and any
    // well-formed type name.
    ok("[file:foo_bar = 'x']", STRICT_21);
    ok("[x-acme-widget:size = 1]", STRICT_21);
    ok("[widget:size = 1]", STRICT_21);
    assert_eq!(
        errors("[app:id = 'x']", STRICT_21),
        ["at column 1: 'id' is not a valid observable property name: custom properties are 3 to 250 characters of lower-case letters, digits and underscores"]
    );
    assert_eq!(
        errors("[x_whatever:detected = 1]", STRICT_21),
        ["at column 1: 'x_whatever' is not a valid observable type name: custom types are 3 to 250 characters of lower-case letters, digits and single hyphens"]
    );
    assert_eq!(
        errors("[file:Name = 'x']", STRICT_21),
        ["at column 1: 'Name' is not a valid observable property name: custom properties are 3 to 250 characters of lower-case letters, digits and underscores"]
    );
    // Properties STIX defines pass even when they break the custom-name rule.
    ok("[user-account:id = 'x']", STRICT_21);
    // A bad type is reported once, however often it is used.
    assert_eq!(
        errors("[Ab:foo = 1 AND Ab:bar = 2] OR [Ab:baz = 3]", STRICT_21).len(),
        1
    );
}

#[test]
fn strict_20_requires_custom_prefixes() {
    ok("[file:name = 'x']", STRICT_20);
    ok("[process:binary_ref.name = 'x']", STRICT_20);
    ok("[x-acme-widget:size = 1]", STRICT_20);
    ok("[file:x_acme_size = 1]", STRICT_20);
    assert_eq!(
        errors("[x-widget:size = 1]", STRICT_20),
        ["at column 1: Custom Observable Object type 'x-widget' should start with 'x-' followed by a source unique identifier (like a domain name with dots replaced by hyphens), a hyphen and then the name"]
    );
    assert_eq!(
        errors("[file:foo_bar = 'x']", STRICT_20),
        ["at column 1: Cyber Observable Object custom property 'foo_bar' should start with 'x_' followed by a source unique identifier (like a domain name with dots replaced by underscores), an underscore and then the name"]
    );
    // Custom types need no prefix on their properties.
    ok("[x-acme-widget:size = 1]", STRICT_20);
    // 2.0 and 2.1 define different properties.
    ok("[file:created = t'2016-01-01T00:00:00Z']", STRICT_20);
    assert_eq!(errors("[process:image_ref.name = 'x']", STRICT_20).len(), 1);
}

// ----- hashes ------------------------------------------------------------------------------

#[test]
fn hash_values_both_profiles() {
    for opts in [COMPAT_21, STRICT_21, COMPAT_20, STRICT_20] {
        ok(&format!("[file:hashes.'SHA-256' = '{SHA256}']"), opts);
        ok(
            "[file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f']",
            opts,
        );
        ok(
            "[file:hashes.MD5 = 'CEAD3F77F6CDA6EC00F57D76C9A6879F']",
            opts,
        );
        assert_eq!(
            errors("[file:hashes.'SHA-256' = 'f00']", opts),
            ["at column 25: 'f00' is not a valid SHA-256 hash: expected 64 hexadecimal digits"]
        );
        assert_eq!(
            errors("[file:hashes.MD5 = 'zzad3f77f6cda6ec00f57d76c9a6879f']", opts),
            ["at column 19: 'zzad3f77f6cda6ec00f57d76c9a6879f' is not a valid MD5 hash: expected 32 hexadecimal digits"]
        );
    }
    // Every member of a set is checked; LIKE and MATCHES operands are patterns, not values.
    assert_eq!(
        errors(
            "[file:hashes.MD5 IN ('cead3f77f6cda6ec00f57d76c9a6879f', 'abc')]",
            COMPAT_21
        ),
        ["at column 57: 'abc' is not a valid MD5 hash: expected 32 hexadecimal digits"]
    );
    ok("[file:hashes.MD5 LIKE 'cead%']", COMPAT_21);
    ok("[file:hashes.MD5 MATCHES '^cead']", COMPAT_21);
    assert_eq!(
        errors("[file:hashes.MD5 = 5]", COMPAT_21),
        ["at column 19: a MD5 hash must be a string, found integer 5"]
    );
    // Deeper paths and other object types.
    assert_eq!(
        errors(
            "[file:extensions.'ntfs-ext'.alternate_data_streams[0].hashes.'SHA-1' = 'ab']",
            COMPAT_21
        )
        .len(),
        1
    );
    assert_eq!(
        errors("[x509-certificate:hashes.'SHA-256' = 'ab']", COMPAT_21).len(),
        1
    );
    ok("[file:hashes[*] = 'anything']", COMPAT_21);
}

#[test]
fn hash_algorithm_forms() {
    let md6_32 = "a".repeat(32);
    let md6_128 = "a".repeat(128);
    ok(&format!("[file:hashes.MD6 = '{md6_32}']"), COMPAT_20);
    ok(&format!("[file:hashes.MD6 = '{md6_128}']"), COMPAT_20);
    assert_eq!(
        errors(&format!("[file:hashes.MD6 = '{}']", "a".repeat(33)), COMPAT_20),
        [format!(
            "at column 19: '{}' is not a valid MD6 hash: expected 32, 40, 56, 64, 96 or 128 hexadecimal digits",
            "a".repeat(33)
        )]
    );
    ok(
        "[file:hashes.SSDEEP = '3072:FRmnZtLbyK+7m1pS2S/0B6:FRmnZtLbyKSm1pS2SB']",
        COMPAT_21,
    );
    assert_eq!(
        errors("[file:hashes.SSDEEP = 'not ssdeep!']", COMPAT_21),
        ["at column 22: 'not ssdeep!' is not a valid SSDEEP hash: expected 1 to 128 characters of letters, digits, '/', '+', ':' and '.'"]
    );
    // TLSH has had several encodings; any string is accepted.
    ok("[file:hashes.TLSH = 'T1anything']", STRICT_21);
    // Unknown algorithms are not checked in the compatible profile.
    ok("[file:hashes.FOO = 'x']", COMPAT_21);
}

#[test]
fn hash_name_spellings() {
    // Compatible: common variants are recognised, and their values checked.
    for name in ["SHA256", "sha256", "'sha-256'", "'Sha-256'", "SHA_256"] {
        ok(&format!("[file:hashes.{name} = '{SHA256}']"), COMPAT_21);
        assert_eq!(
            errors(&format!("[file:hashes.{name} = 'f00']"), COMPAT_21).len(),
            1,
            "{name}"
        );
    }
    // Strict agrees with stix2-validator, which judges no hash name inside a pattern (only the
    // first step of a path, `hashes`), with its default options and with --strict: any
    // spelling, and any custom name, is valid; a value under a known algorithm is checked.
    for name in [
        "SHA256",
        "sha256",
        "'sha-256'",
        "'SHA-256'",
        "'Sha256'",
        "md5_x",
    ] {
        ok(&format!("[file:hashes.{name} = '{SHA256}']"), STRICT_21);
    }
    assert_eq!(errors("[file:hashes.sha256 = 'f00']", STRICT_21).len(), 1);
    for opts in [STRICT_20, STRICT_21] {
        ok("[file:hashes.ssdeep = '3:abc:def']", opts);
        ok("[file:hashes.SSDEEP = '3:abc:def']", opts);
        ok("[file:hashes.'a b' = 'x']", opts);
        ok("[file:hashes.ab = 'x']", opts);
    }
    // A 2.0-only algorithm is a well-formed custom name in 2.1, and its value is still checked.
    ok(
        &format!("[file:hashes.'SHA-224' = '{}']", "a".repeat(56)),
        STRICT_21,
    );
    assert_eq!(errors("[file:hashes.'SHA-224' = 'ab']", STRICT_21).len(), 1);
}

// ----- IP addresses --------------------------------------------------------------------------

#[test]
fn ip_addresses_and_cidrs() {
    for opts in [COMPAT_21, STRICT_21] {
        ok("[ipv4-addr:value = '198.51.100.1']", opts);
        ok("[ipv4-addr:value = '198.51.100.0/24']", opts);
        ok("[ipv4-addr:value ISSUBSET '198.51.100.0/24']", opts);
        ok("[ipv4-addr:value NOT ISSUPERSET '198.51.100.7']", opts);
        ok("[ipv6-addr:value = '2001:db8::/32']", opts);
        ok("[ipv6-addr:value IN ('2001:db8::1', '::1')]", opts);
        assert_eq!(
            errors("[ipv4-addr:value = '999.1.1.1']", opts),
            ["at column 19: '999.1.1.1' is not a valid IPv4 address or CIDR block"]
        );
        assert_eq!(
            errors("[ipv4-addr:value = '10.0.0.0/33']", opts),
            ["at column 19: '10.0.0.0/33' is not a valid IPv4 CIDR block: the prefix length must be a number from 0 to 32"]
        );
        assert_eq!(
            errors("[ipv6-addr:value = '2001:db8::/129']", opts).len(),
            1
        );
        assert_eq!(
            errors("[ipv6-addr:value = '198.51.100.1']", opts),
            ["at column 19: '198.51.100.1' is not a valid IPv6 address or CIDR block"]
        );
        assert_eq!(
            errors("[ipv4-addr:value ISSUBSET 'example.com']", opts).len(),
            1
        );
        assert_eq!(
            errors("[ipv4-addr:value IN ('1.2.3.4', '1.2.3')]", opts),
            ["at column 32: '1.2.3' is not a valid IPv4 address or CIDR block"]
        );
        assert_eq!(
            errors("[ipv4-addr:value = 16909060]", opts),
            ["at column 19: ipv4-addr:value must be compared with a string, found integer 16909060"]
        );
    }
    // Only `value` of the IP types is an address; patterns and other paths are not checked.
    ok("[ipv4-addr:value LIKE '10.%']", COMPAT_21);
    ok("[ipv4-addr:value MATCHES '^10\\\\.']", COMPAT_21);
    ok("[network-traffic:dst_ref.value = 'not an ip']", COMPAT_21);
    ok("[ipv4-addr:resolves_to_refs[*].value = 'x']", COMPAT_21);
}

// ----- timestamps and qualifiers ---------------------------------------------------------------

#[test]
fn timestamps_are_real_instants() {
    ok("[a:b = t'2024-02-29T00:00:00Z']", COMPAT_21);
    assert_eq!(
        errors("[a:b = t'2023-02-29T00:00:00Z']", COMPAT_21),
        ["at column 7: the timestamp t'2023-02-29T00:00:00Z' is not valid: February 2023 has only 28 days"]
    );
    assert_eq!(
        errors("[a:b IN (t'2023-04-31T00:00:00Z')]", COMPAT_21).len(),
        1
    );
    ok("[a:b = t'2016-12-31T23:59:60Z']", COMPAT_21);
    assert_eq!(
        errors("[a:b = t'2016-12-31T12:00:60Z']", COMPAT_21).len(),
        1
    );
}

#[test]
fn start_stop() {
    ok(
        "[a:b = 1] START t'2016-06-01T01:30:00Z' STOP t'2016-06-01T01:30:00.001Z'",
        COMPAT_21,
    );
    assert_eq!(
        errors(
            "[a:b = 1] START t'2016-06-01T01:30:00Z' STOP t'2016-06-01T01:30:00.000Z'",
            COMPAT_21
        ),
        ["at column 10: START t'2016-06-01T01:30:00Z' must be before STOP t'2016-06-01T01:30:00.000Z'"]
    );
    assert_eq!(
        errors(
            "[a:b = 1] START t'2017-01-01T00:00:00Z' STOP t'2016-01-01T00:00:00Z'",
            COMPAT_21
        )
        .len(),
        1
    );
    assert_eq!(
        errors(
            "[a:b = 1] START t'2017-02-30T00:00:00Z' STOP t'2017-02-31T00:00:00Z'",
            COMPAT_21
        ),
        [
            "at column 10: START timestamp t'2017-02-30T00:00:00Z' is not valid: February 2017 has only 28 days",
            "at column 10: STOP timestamp t'2017-02-31T00:00:00Z' is not valid: February 2017 has only 28 days",
        ]
    );
}

#[test]
fn repeats_and_within_are_positive() {
    ok("[a:b = 1] REPEATS 1 TIMES WITHIN 0.5 SECONDS", COMPAT_21);
    assert_eq!(
        errors("[a:b = 1] REPEATS 0 TIMES", COMPAT_21),
        ["at column 10: REPEATS needs a positive count, found 0"]
    );
    assert_eq!(
        errors("[a:b = 1] WITHIN 0 SECONDS", COMPAT_21),
        ["at column 10: WITHIN needs a positive number of seconds, found 0"]
    );
    assert_eq!(errors("[a:b = 1] WITHIN 0.0 SECONDS", COMPAT_21).len(), 1);
}

#[test]
fn duplicate_qualifiers_in_21_only() {
    let dup = "[a:b = 1] WITHIN 5 SECONDS WITHIN 6 SECONDS";
    assert_eq!(
        errors(dup, COMPAT_21),
        ["at column 27: duplicate qualifier: WITHIN is already applied to this observation"]
    );
    ok(dup, COMPAT_20);
    assert_eq!(
        errors("([a:b = 1] REPEATS 2 TIMES REPEATS 3 TIMES)", COMPAT_21).len(),
        1
    );
    assert_eq!(
        errors(
            "[a:b = 1] START t'2016-06-01T01:30:00Z' STOP t'2016-06-01T02:30:00Z' START t'2016-06-01T01:30:00Z' STOP t'2016-06-01T02:30:00Z'",
            COMPAT_21
        )
        .len(),
        1
    );
    // Different kinds are fine, and so is qualifying a group again.
    ok("[a:b = 1] REPEATS 2 TIMES WITHIN 5 SECONDS", COMPAT_21);
    ok("([a:b = 1] REPEATS 2 TIMES) REPEATS 3 TIMES", COMPAT_21);
    ok("([a:b = 1]) WITHIN 5 SECONDS WITHIN 6 SECONDS", COMPAT_21);
    ok(
        "([a:b = 1] AND [a:c = 2]) WITHIN 5 SECONDS WITHIN 6 SECONDS",
        COMPAT_21,
    );
}

// ----- MATCHES and EXISTS --------------------------------------------------------------------

#[test]
fn matches_takes_a_valid_regex() {
    ok(r"[a:b MATCHES '^Final Report.+\\.exe$']", COMPAT_21);
    // PCRE features regex-syntax does not support are accepted, not rejected.
    ok(r"[a:b MATCHES '(?<=foo)bar(?!baz)']", COMPAT_21);
    ok(r"[a:b MATCHES '(\\w)\\1']", COMPAT_21);
    ok(r"[a:b MATCHES 'a++b']", COMPAT_21);
    assert_eq!(
        errors("[a:b MATCHES '(abc']", COMPAT_21),
        ["at column 13: invalid regular expression for MATCHES: unclosed group (at character 0 of the expression)"]
    );
    assert_eq!(errors("[a:b MATCHES '[z-a]']", COMPAT_21).len(), 1);
    // LIKE patterns are not regular expressions.
    ok("[a:b LIKE '(abc']", COMPAT_21);
}

#[test]
fn exists_is_21_only() {
    ok("[EXISTS file:name]", COMPAT_21);
    assert_eq!(
        errors("[NOT EXISTS file:name]", COMPAT_20),
        ["at column 1: EXISTS is not part of STIX 2.0 patterning (it was added in 2.1)"]
    );
}

// ----- all errors at once ------------------------------------------------------------------

#[test]
fn validate_returns_every_semantic_error() {
    let src = "[ipv4-addr:value = '999.1.1.1' OR file:hashes.MD5 = 'x'] REPEATS 0 TIMES \
               AND [file:ctime = t'2023-02-29T00:00:00Z']";
    let e = errors(src, STRICT_21);
    assert_eq!(e.len(), 4, "{e:#?}");
    // In pattern order.
    assert!(e[0].contains("REPEATS"));
    assert!(e[1].contains("999.1.1.1"));
    assert!(e[2].contains("MD5"));
    assert!(e[3].contains("2023-02-29"));
    // A syntax error comes alone.
    assert_eq!(errors("[a:b = ", STRICT_21).len(), 1);
}

#[test]
fn check_runs_on_a_parsed_pattern() {
    let p = parse("[app:id = 'x']").unwrap();
    assert!(p.check(COMPAT_21).is_empty());
    assert_eq!(p.check(STRICT_21).len(), 1);
    assert_eq!(Options::default(), COMPAT_21);
}
