//! The CSV branch of `tiport validate`: rows mapped to indicators by the import's own rules, so
//! that `validate` and `import` judge a file the same way.

use anyhow::Result;
use ingest::csvmap::{CsvReader, IdScope};
use std::io::Read;
use stix::{Json, Options, Profile, Timestamp};

/// Reports each row to `report(index, line, None)` when valid or `Some(messages)` when not.
pub fn run(
    input: impl Read,
    profile: Profile,
    report: &mut dyn FnMut(usize, u64, Option<&[String]>) -> Result<()>,
) -> Result<()> {
    // validate works offline and stores nothing, so the ids it derives only need to be stable
    // within the run.
    let scope = IdScope {
        workspace: "validate".into(),
        source: "validate".into(),
    };
    let reader = CsvReader::new(input, None, scope, Timestamp::now())?;
    let strict = Options {
        profile: Profile::Strict,
    };
    for row in reader {
        let row = row?;
        match row.outcome {
            Ok(mapped) if profile == Profile::Strict => {
                // The mapping already passed the compatible profile; the strict one may still
                // object (for example to an empty list), and says so in STIX terms.
                let json = Json::parse(&mapped.json)?;
                let verdict = stix::validate(&json, strict, None);
                if verdict.is_valid() {
                    report(row.index, row.line, None)?;
                } else {
                    report(row.index, row.line, Some(&verdict.messages()))?;
                }
            }
            Ok(_) => report(row.index, row.line, None)?,
            Err(invalid) => report(row.index, row.line, Some(&invalid.messages()))?,
        }
    }
    Ok(())
}
