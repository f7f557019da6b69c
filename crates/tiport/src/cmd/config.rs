//! `--config FILE`: settings from a TOML file, between the defaults and the environment.
//!
//! Layering: defaults, then the file, then `TIPORT_*` variables, then flags. The file's keys are
//! the flags' names without the dashes in front (`requests-per-minute = 100`).
//!
//! # How: the file becomes flags
//!
//! The subcommand's clap arguments are the one typed definition of every setting: its name, its
//! environment variable, its default, its parser and its help. Rather than a second table of
//! keys, [`with_file_settings`] turns each of the file's settings into the flag of the same
//! name and puts those flags before the ones given on the command line (as ripgrep does with
//! its configuration file), so clap parses the file with the same parsers and the same checks:
//!
//! - a key that is not a flag of the subcommand is refused by name (a typo must not silently
//!   leave the default in place);
//! - a value is checked by the flag's own parser, and a bad one is refused naming the file and
//!   the key;
//! - a setting whose environment variable is set is left out, so the environment wins;
//! - a flag given on the command line comes after the file's and overrides it (the subcommand
//!   has `args_override_self`); a repeatable setting (`trust-issuer`) adds to the file's.

use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

/// `argv` with the settings of the configuration file (given by `--config FILE` or
/// `TIPORT_CONFIG`) inserted as flags after the subcommand's name. Unchanged when the
/// subcommand takes no configuration file or none is given.
pub fn with_file_settings(argv: Vec<OsString>, cli: &clap::Command) -> Result<Vec<OsString>> {
    let Some(sub) = argv
        .get(1)
        .and_then(|s| s.to_str())
        .and_then(|name| cli.find_subcommand(name))
    else {
        return Ok(argv);
    };
    let takes_config = sub.get_arguments().any(|a| a.get_long() == Some("config"));
    let Some(file) = takes_config.then(|| config_file(&argv[2..])).flatten() else {
        return Ok(argv);
    };
    let settings = file_settings(Path::new(&file), sub)?;
    let mut out = Vec::with_capacity(argv.len() + settings.len());
    out.extend_from_slice(&argv[..2]);
    out.extend(settings);
    out.extend_from_slice(&argv[2..]);
    Ok(out)
}

/// The file `--config FILE` (or `--config=FILE`) names among `args`, else `TIPORT_CONFIG`.
fn config_file(args: &[OsString]) -> Option<OsString> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().cloned();
        }
        if let Some(v) = a.to_str().and_then(|s| s.strip_prefix("--config=")) {
            return Some(v.into());
        }
    }
    std::env::var_os("TIPORT_CONFIG").filter(|v| !v.is_empty())
}

/// The file's settings as flags of `sub`, each checked by the flag's own parser.
fn file_settings(file: &Path, sub: &clap::Command) -> Result<Vec<OsString>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the configuration file {}", file.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", file.display()))?;
    let mut flags = Vec::new();
    for (key, value) in &table {
        let arg = sub
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && key != "config")
            .ok_or_else(|| anyhow!("{}: unknown setting {key:?}", file.display()))?;
        // The environment sits above the file.
        if arg
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|v| !v.is_empty())
        {
            continue;
        }
        let wrong = |want: &str| {
            anyhow!(
                "{}: {key} must be {want}, not {}",
                file.display(),
                shown(value)
            )
        };
        if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
            match value.as_bool() {
                Some(true) => flags.push(format!("--{key}").into()),
                Some(false) => {}
                None => return Err(wrong("true or false")),
            }
            continue;
        }
        let repeatable = matches!(arg.get_action(), clap::ArgAction::Append);
        let values = match value {
            toml::Value::Array(items) if repeatable => items.iter().collect(),
            toml::Value::Array(_) => return Err(wrong("one value")),
            v => vec![v],
        };
        for v in values {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(x) => x.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => return Err(wrong("a string or a number")),
            };
            let flag = format!("--{key}={text}");
            if let Err(e) = check(arg, &flag) {
                bail!("{}: {key}: {}", file.display(), parser_message(&e));
            }
            flags.push(flag.into());
        }
    }
    Ok(flags)
}

/// Parses `flag` with `arg` alone, so that a bad value is found (and reported with the file's
/// name) before the whole command line is parsed. The argument's ties to others (`requires`)
/// are dropped: they are checked when the whole command line is.
fn check(arg: &clap::Arg, flag: &str) -> Result<(), clap::Error> {
    let arg = arg
        .clone()
        .required(false)
        .requires(clap::builder::Resettable::<clap::Id>::Reset);
    clap::Command::new("check")
        .no_binary_name(true)
        .arg(arg)
        .try_get_matches_from([flag])
        .map(drop)
}

/// A TOML value as a message shows it.
fn shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => format!("the date {d:?}"),
        toml::Value::Array(_) => "an array".to_owned(),
        toml::Value::Table(_) => "a table".to_owned(),
    }
}

/// What a flag's parser said of a value, without clap's framing (`error: invalid value …`).
fn parser_message(e: &clap::Error) -> String {
    match std::error::Error::source(e) {
        Some(inner) => inner.to_string(),
        None => e
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_owned(),
    }
}

/// A duration as a person writes it (`30s`, `10m`, `24h`, `30d`, `1h 30m`), for flags, the
/// environment and the file alike; the error says what is expected, since humantime's own
/// ("expected number at 0") does not.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("\"{text}\" is not a duration such as 30s, 10m, 24h or 30d ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    /// `tiport serve --config FILE --listen [::1]:1` with `toml` in FILE, the file's settings
    /// put in (the directory goes with it).
    fn serve_with(toml: &str) -> (tempfile::TempDir, Result<Vec<OsString>>) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tiport.toml");
        std::fs::write(&file, toml).unwrap();
        let args = argv(&[
            "tiport",
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--listen",
            "[::1]:1",
        ]);
        let argv = with_file_settings(args, &crate::Cli::command());
        (dir, argv)
    }

    /// Only the flags the file put in.
    fn settings(toml: &str) -> Result<Vec<OsString>> {
        serve_with(toml).1.map(|a| a[2..a.len() - 4].to_vec())
    }

    #[test]
    fn settings_become_flags_before_the_given_ones() {
        let flags = settings(
            "requests-per-minute = 7\nlisten = \"127.0.0.1:9\"\nallow-readable-store = true\n\
             trust-issuer = [\"https://a.example/ https://a.example/keys\", \"https://b.example/ https://b.example/keys\"]\n",
        )
        .unwrap();
        assert_eq!(
            flags,
            argv(&[
                "--allow-readable-store",
                "--listen=127.0.0.1:9",
                "--requests-per-minute=7",
                "--trust-issuer=https://a.example/ https://a.example/keys",
                "--trust-issuer=https://b.example/ https://b.example/keys",
            ])
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_by_name() {
        for (toml, said) in [
            (
                "requests-per-minut = 2\n",
                "tiport.toml: unknown setting \"requests-per-minut\"",
            ),
            ("config = \"other.toml\"\n", "unknown setting \"config\""),
            (
                "header-timeout = \"soon\"\n",
                "tiport.toml: header-timeout: \"soon\" is not a duration",
            ),
            (
                "requests-per-minute = \"many\"\n",
                "tiport.toml: requests-per-minute: invalid digit",
            ),
            ("listen = [\"a\", \"b\"]\n", "listen must be one value"),
            (
                "allow-readable-store = 1\n",
                "allow-readable-store must be true or false",
            ),
        ] {
            let e = settings(toml).unwrap_err().to_string();
            assert!(e.contains(said), "{toml}: {e}");
        }
    }

    #[test]
    fn the_command_line_overrides_the_file() {
        let (_dir, argv) = serve_with("listen = \"127.0.0.1:9\"\nrequests-per-minute = 7\n");
        let matches = crate::Cli::command()
            .try_get_matches_from(argv.unwrap())
            .unwrap();
        let serve = matches.subcommand_matches("serve").unwrap();
        let listen: std::net::SocketAddr = "[::1]:1".parse().unwrap();
        assert_eq!(
            serve.get_one::<std::net::SocketAddr>("listen"),
            Some(&listen)
        );
        assert_eq!(serve.get_one::<u32>("requests_per_minute"), Some(&7));
    }

    #[test]
    fn a_command_without_a_configuration_file_is_left_alone() {
        let cli = crate::Cli::command();
        let args = argv(&["tiport", "validate", "--config", "x.toml", "f.json"]);
        assert_eq!(with_file_settings(args.clone(), &cli).unwrap(), args);
        let args = argv(&["tiport", "serve", "--listen", "[::1]:1"]);
        assert_eq!(with_file_settings(args.clone(), &cli).unwrap(), args);
    }
}
