//! What the CSV tests share: the scope that mapped indicators' ids are made in, and the fixed
//! moment rows are mapped at, so that ids and timestamps are the same on every run.

use ingest::csvmap::IdScope;
use stix::Timestamp;

pub fn scope() -> IdScope {
    IdScope {
        workspace: "ws-1".into(),
        source: "unit tests".into(),
    }
}

pub fn now() -> Timestamp {
    Timestamp::parse("2024-05-01T10:00:00.000Z").unwrap()
}
