//! Upload bodies and object answers (items 8–11, 13, 14): repeated keys, long and disguised
//! source names, the legacy route's JSON success, identifiers in any case, STIX 2.1 answers.

use super::*;

#[test]
fn a_body_naming_a_key_twice_is_refused_and_nothing_is_lost_silently() {
    let (s, token) = Service::start_with_token(&[]);
    let cases = [
        (
            format!(
                r#"{{"sourcesystem":"x","stixobjects":[{},{},{}],"stixobjects":[{},{},{}]}}"#,
                ind(1),
                ind(2),
                ind(3),
                ind(4),
                ind(5),
                ind(6)
            ),
            "stixobjects",
        ),
        (
            format!(
                r#"{{"sourcesystem":"x","stixobjects":[{}],"value":[{}]}}"#,
                ind(1),
                ind(2)
            ),
            "value",
        ),
        (
            format!(
                r#"{{"sourcesystem":"x","indicators":[{}],"stixobjects":[{}]}}"#,
                ind(1),
                ind(2)
            ),
            "indicators",
        ),
        (
            format!(
                r#"{{"sourcesystem":"a","SourceSystem":"b","stixobjects":[{}]}}"#,
                ind(1)
            ),
            "SourceSystem",
        ),
        (
            format!(
                r#"{{"sourcesystem":"a","stixobjects":[{}],"sourcesystem":"b"}}"#,
                ind(1)
            ),
            "sourcesystem",
        ),
        (
            format!(
                r#"{{"sourcesystem":"a","stixobjects":[{}],"value":"not even an array"}}"#,
                ind(1)
            ),
            "value",
        ),
    ];
    for (body, key) in &cases {
        let (status, answer) = upload_raw(&s, &token, body);
        assert_eq!(status, 400, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("\"{key}\"")), "{key}: {message}");
    }
    assert!(
        crate::service::exported(&s).is_empty(),
        "nothing of a refused body is stored"
    );
    // The legacy route refuses the same way.
    let legacy = format!(
        "{}/{}/threatintelligence:upload-indicators?api-version=2022-07-01",
        s.base,
        s.cred("workspace_id")
    );
    let body = format!(
        r#"{{"SourceSystem":"x","Value":[{}],"Indicators":[{}]}}"#,
        ind(1),
        ind(2)
    );
    assert_eq!(s.post(&legacy, Some(&token), body.as_bytes()).0, 400);
}

/// Uploads one indicator with `source` as its `sourcesystem`: status and answer.
fn upload_from(s: &Service, token: &str, source: &str) -> (u16, Value) {
    let body = json!({"sourcesystem": source, "stixobjects": [indicator(1)]});
    upload_raw(s, token, &body.to_string())
}

#[test]
fn a_long_sourcesystem_is_refused_for_its_length() {
    let (s, token) = Service::start_with_token(&[]);
    let (status, answer) = upload_from(&s, &token, &"s".repeat(5000));
    assert_eq!(status, 400, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("5000 bytes") && message.contains("at most 1024"),
        "{message}"
    );
    // At the limit it is accepted and kept whole.
    let at_limit = "s".repeat(1024);
    let (status, answer) = upload_from(&s, &token, &at_limit);
    assert_eq!(status, 200, "{answer}");
    let page = s.get_json(
        &format!(
            "/workspaces/{}/threat-intelligence/objects?source={at_limit}",
            s.cred("workspace_id")
        ),
        &token,
    );
    assert_eq!(page["objects"].as_array().unwrap().len(), 1, "{page}");
}

#[test]
fn the_reserved_source_name_is_refused_in_every_disguise() {
    let (s, token) = Service::start_with_token(&[]);
    for name in [
        "Microsoft\u{a0}Sentinel",
        "Microsoft Sentinel\u{200b}",
        "MICROSOFT  SENTINEL",
        "\u{feff}Microsoft Sentinel",
        "Ｍｉｃｒｏｓｏｆｔ Ｓｅｎｔｉｎｅｌ",
    ] {
        let (status, answer) = upload_from(&s, &token, name);
        assert_eq!(status, 400, "{name:?}: {answer}");
        assert!(answer.to_string().contains("reserved"), "{answer}");
    }
    assert!(crate::service::exported(&s).is_empty());
}

#[test]
fn the_legacy_route_answers_success_with_a_json_body() {
    let (s, token) = Service::start_with_token(&[]);
    let url = format!(
        "{}/{}/threatintelligence:upload-indicators?api-version=2022-07-01",
        s.base,
        s.cred("workspace_id")
    );
    let body = json!({"SourceSystem": "legacy", "Value": [indicator(3)]}).to_string();
    let mut r = s.send_post(&url, Some(&token), "application/json", body.as_bytes());
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let answer: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(answer, json!({}));
    // The current route keeps the seed's empty 200.
    let (status, answer) = s.upload(
        &token,
        &json!({"sourcesystem": "t", "stixobjects": [indicator(4)]}),
    );
    assert_eq!((status, answer.as_str()), (200, ""));
}

#[test]
fn identifiers_that_differ_only_in_case_are_one_object() {
    let (s, token) = Service::start_with_token(&[]);
    let ws = s.cred("workspace_id");
    let lower = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
    let mut first = indicator(1);
    first["id"] = json!(lower);
    let mut second = first.clone();
    second["id"] = json!(lower.to_uppercase().replacen("INDICATOR", "indicator", 1));
    second["modified"] = json!("2024-02-01T00:00:00.000Z");
    second["name"] = json!("newer");
    for o in [&first, &second] {
        let (status, answer) =
            s.upload(&token, &json!({"sourcesystem": "case", "stixobjects": [o]}));
        assert_eq!((status, answer.as_str()), (200, ""));
    }
    let objects = format!("/workspaces/{ws}/threat-intelligence/objects");
    let page = s.get_json(&objects, &token);
    assert_eq!(page["objects"].as_array().unwrap().len(), 1, "{page}");
    for spelling in [lower.to_owned(), second["id"].as_str().unwrap().to_owned()] {
        let v = s.get_json(&format!("{objects}/{spelling}/versions"), &token);
        assert_eq!(
            v["versions"].as_array().unwrap().len(),
            2,
            "{spelling}: {v}"
        );
        let current = s.get_json(&format!("{objects}/{spelling}"), &token);
        assert_eq!(current["name"], "newer");
        // The answer names the object by its canonical id.
        assert_eq!(current["id"], lower);
    }
}

#[test]
fn objects_are_answered_as_stix_2_1_and_as_stored_on_request() {
    let (s, token) = Service::start_with_token(&[]);
    let ws = s.cred("workspace_id");
    // A STIX 2.0 malware, as MITRE ATT&CK's 2.0 bundle has them: no spec_version, `labels`,
    // no `is_family`, timestamps to the second.
    let id = "malware--92ec0cbd-2c30-44a2-b270-73f4ec949841";
    let malware = json!({"type": "malware", "id": id, "name": "Emissary",
        "created": "2017-05-31T21:32:40Z", "modified": "2018-10-17T00:14:20Z",
        "labels": ["malware"]});
    let (status, answer) = s.upload(
        &token,
        &json!({"sourcesystem": "attack", "stixobjects": [malware]}),
    );
    assert_eq!((status, answer.as_str()), (200, ""));
    let objects = format!("/workspaces/{ws}/threat-intelligence/objects");
    let v = s.get_json(&format!("{objects}/{id}"), &token);
    assert_eq!(v["spec_version"], "2.1");
    assert_eq!(v["malware_types"], json!(["malware"]));
    assert_eq!(v["is_family"], true);
    assert_eq!(v["created"], "2017-05-31T21:32:40.000Z");
    assert!(v.get("labels").is_none());
    let page = s.get_json(&objects, &token);
    assert_eq!(page["objects"][0], v, "the list answers the same form");
    // The stored text on request, and in the versions.
    let stored = s.get_json(&format!("{objects}/{id}?original=true"), &token);
    assert_eq!(stored["labels"], json!(["malware"]));
    assert_eq!(stored["created"], "2017-05-31T21:32:40Z");
    let versions = s.get_json(&format!("{objects}/{id}/versions"), &token);
    assert_eq!(versions["versions"][0], stored);
    let (status, _) = s.get(&format!("{objects}/{id}?original=maybe"), Some(&token));
    assert_eq!(status, 400);
}
