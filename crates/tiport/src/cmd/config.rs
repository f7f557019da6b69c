//! `--config FILE`: settings from a TOML file, between the defaults and the environment.
//!
//! Layering: defaults, then the file, then `TIPORT_*` variables, then flags. The file's keys are
//! the flags' names without the dashes in front (`requests-per-minute = 100`); an unknown key is
//! an error with its name, so a typo does not silently leave the default in place.

use anyhow::{anyhow, bail, Context, Result};
use clap::parser::ValueSource;
use std::path::Path;
use std::time::Duration;

/// One value of the file, with the key it came from for messages.
pub struct Value<'a> {
    key: &'a str,
    file: &'a Path,
    value: &'a toml::Value,
}

impl Value<'_> {
    fn wrong(&self, want: &str) -> anyhow::Error {
        anyhow!(
            "{}: {} must be {want}, not {:?}",
            self.file.display(),
            self.key,
            self.value
        )
    }

    pub fn text(&self) -> Result<&str> {
        self.value.as_str().ok_or_else(|| self.wrong("a string"))
    }

    /// A string, or an array of strings.
    pub fn texts(&self) -> Result<Vec<&str>> {
        match self.value {
            toml::Value::String(s) => Ok(vec![s]),
            toml::Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().ok_or_else(|| self.wrong("an array of strings")))
                .collect(),
            _ => Err(self.wrong("a string or an array of strings")),
        }
    }

    /// Each string of [`Value::texts`], parsed; an error names the file and the key.
    pub fn parsed_each<T: std::str::FromStr>(&self) -> Result<Vec<T>>
    where
        T::Err: std::fmt::Display,
    {
        self.texts()?
            .into_iter()
            .map(|t| {
                t.parse()
                    .map_err(|e| anyhow!("{}: {}: {e}", self.file.display(), self.key))
            })
            .collect()
    }

    pub fn integer<T: TryFrom<i64>>(&self) -> Result<T> {
        self.value
            .as_integer()
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| self.wrong("a non-negative integer in range"))
    }

    pub fn boolean(&self) -> Result<bool> {
        self.value
            .as_bool()
            .ok_or_else(|| self.wrong("true or false"))
    }

    pub fn duration(&self) -> Result<Duration> {
        humantime::parse_duration(self.text()?)
            .map_err(|_| self.wrong("a duration such as 30s, 10m, 24h or 30d"))
    }

    pub fn parsed<T: std::str::FromStr>(&self) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        self.text()?
            .parse()
            .map_err(|e: T::Err| self.wrong(&format!("valid ({e})")))
    }
}

/// Reads `file` and hands each key to `apply(key, value, given)`, where `given` says whether a
/// flag or an environment variable already set it (then the file must not); `apply` answers
/// whether it knows the key.
pub fn apply(
    file: &Path,
    matches: &clap::ArgMatches,
    mut apply: impl FnMut(&str, &Value, bool) -> Result<bool>,
) -> Result<()> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the configuration file {}", file.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", file.display()))?;
    for (key, value) in &table {
        let id = key.replace('-', "_");
        let given = matches!(
            matches
                .try_get_raw(&id)
                .ok()
                .and_then(|_| matches.value_source(&id)),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        let v = Value { key, file, value };
        if !apply(key, &v, given)? {
            bail!("{}: unknown setting {key:?}", file.display());
        }
    }
    Ok(())
}

/// A duration as a person writes it (`30s`, `10m`, `24h`, `30d`, `1h 30m`), for flags, the
/// environment and the file alike; the error says what is expected, since humantime's own
/// ("expected number at 0") does not.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("\"{text}\" is not a duration such as 30s, 10m, 24h or 30d ({e})"))
}
