//! Diagnostics: one problem of one record, in the upload API's wording.

use std::fmt;

/// One problem of a record: which property, why, and the value that was there.
///
/// Displays as the hosted upload API words it:
/// `Error for Property=<name>: <reason>. Actual value: <value>.` (a missing value is `NULL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    property: String,
    reason: String,
    actual: String,
}

impl Diagnostic {
    pub fn new(
        property: impl Into<String>,
        reason: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        Diagnostic {
            property: property.into(),
            reason: reason.into(),
            actual: actual.into(),
        }
    }

    /// A required property that is absent.
    pub fn missing(property: impl Into<String>) -> Self {
        Diagnostic::new(property, "Required property is missing", "NULL")
    }

    pub fn property(&self) -> &str {
        &self.property
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub fn actual(&self) -> &str {
        &self.actual
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Error for Property={}: {}. Actual value: {}.",
            self.property,
            self.reason.trim_end_matches('.'),
            self.actual
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_reads_as_the_seed_says() {
        assert_eq!(
            Diagnostic::missing("id").to_string(),
            "Error for Property=id: Required property is missing. Actual value: NULL."
        );
    }
}
