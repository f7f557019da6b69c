//! The seed documents' own examples: every input must be valid in the compatible profile, and
//! the upload API's error example must be answered exactly as the seed shows.

use stix::{Json, Options};

fn read(name: &str) -> String {
    let path = test_support::seed_samples().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The records of a sample: the members of an upload body's `stixobjects`, or of a JSON array.
fn records<'a>(doc: &'a Json<'a>) -> Vec<&'a Json<'a>> {
    match doc {
        Json::Array(items) => items.iter().collect(),
        Json::Object(_) => doc
            .get("stixobjects")
            .and_then(Json::as_array)
            .expect("upload body has stixobjects")
            .iter()
            .collect(),
        _ => panic!("unexpected sample shape"),
    }
}

#[test]
fn every_seed_input_is_valid_in_the_compatible_profile() {
    let mut checked = 0;
    let mut names: Vec<String> = std::fs::read_dir(test_support::seed_samples())
        .expect("seed samples directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.ends_with("response.json"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 5,
        "expected the seed's input samples, found {names:?}"
    );
    for name in names {
        let text = read(&name);
        let doc = Json::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (i, record) in records(&doc).into_iter().enumerate() {
            let report = stix::validate(record, Options::default(), None);
            assert!(
                report.is_valid(),
                "{name} record {i} is refused: {:?}",
                report.messages()
            );
            checked += 1;
        }
    }
    assert!(checked >= 7, "only {checked} records checked");
}

/// A record that repeats a name in one object is refused where the repetition is, in both
/// profiles: one of the two values would otherwise be dropped without a word.
#[test]
fn a_repeated_name_in_a_sample_record_is_refused_with_its_position() {
    let original = read("upload-request-two-indicators.json");
    let needle = r#""name": "Test Indicator 2","#;
    assert!(original.contains(needle), "sample changed");
    let text = original.replacen(
        needle,
        r#""name": "Test Indicator 2", "name": "Test Indicator 2 (again)","#,
        1,
    );
    let err = Json::parse(&text).expect_err("a repeated name is an error");
    assert!(
        err.to_string()
            .starts_with("the member \"name\" appears more than once in one object at line 50"),
        "{err}"
    );
}

#[test]
fn fourth_indicator_without_id_is_the_seeds_error_example() {
    let text = read("upload-request-two-indicators.json");
    let value: serde_json::Value = serde_json::from_str(&text).expect("parses");
    let objects = value["stixobjects"].as_array().expect("stixobjects");
    // Four indicators built from the sample: the two as sent, the first again with another id,
    // and a fourth without `id`.
    let mut third = objects[0].clone();
    third["id"] = "indicator--20000003-71a2-445c-ab86-927291df48f8".into();
    let mut fourth = objects[1].clone();
    fourth.as_object_mut().expect("object").remove("id");
    let batch = [objects[0].clone(), objects[1].clone(), third, fourth];
    let expected =
        serde_json::from_str::<serde_json::Value>(&read("upload-validation-error-response.json"))
            .expect("error response parses");
    let mut errors = Vec::new();
    for (i, record) in batch.iter().enumerate() {
        let text = record.to_string();
        let json = Json::parse(&text).expect("parses");
        let report = stix::validate(&json, Options::default(), None);
        if !report.is_valid() {
            errors.push(serde_json::json!({"recordIndex": i, "errorMessages": report.messages()}));
        }
    }
    assert_eq!(serde_json::json!({ "errors": errors }), expected);
    assert_eq!(
        expected["errors"][0]["errorMessages"][0],
        "Error for Property=id: Required property is missing. Actual value: NULL."
    );
}
