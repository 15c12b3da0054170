//! `orch.toml`: which real program or service does the work of each worker.
//!
//! ```toml
//! [workers.Coder]
//! command = ["python3", "coder.py"]   # a process per call
//! env = { MODEL = "small" }           # optional
//! cwd = "workers"                     # optional, relative to this file (default: its folder)
//! timeout = "5m"                      # optional: the process is killed after it
//!
//! [workers.Reviewer]
//! url = "http://127.0.0.1:8080/review"            # a POST per call
//! headers = { Authorization = "Bearer token" }    # optional
//! timeout = "30s"                                 # optional
//!
//! [workers.Writer]
//! role = "writer"                                 # a language model in a `[roles.writer]`
//! ```
//!
//! Roles, prices and pools of roles are described in `chat.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::chat::{self, PoolSpec, RoleKeys, RoleSpec};
use crate::error::CliError;
use crate::files::describe_io;

/// The file name looked for next to the workflow file and in the current directory.
pub const FILE_NAME: &str = "orch.toml";

/// A parsed `orch.toml`.
#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    pub workers: BTreeMap<String, Binding>,
}

/// How one worker is done.
#[derive(Debug, Clone, PartialEq)]
pub enum Binding {
    Command(CommandSpec),
    Http(HttpSpec),
    /// A language model in a role.
    Role(Box<RoleSpec>),
    /// Several roles behind one worker name.
    Pool(PoolSpec),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommandSpec {
    /// The program; a relative path with a `/` is resolved against `cwd`.
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpSpec {
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub timeout: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    workers: BTreeMap<String, RawWorker>,
    #[serde(default)]
    roles: BTreeMap<String, orch_runtime::chat::Role>,
    #[serde(default)]
    prices: orch_runtime::chat::Prices,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorker {
    command: Option<Vec<String>>,
    url: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<PathBuf>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    timeout: Option<RawDuration>,
    role: Option<String>,
    pool: Option<Vec<String>>,
    route: Option<String>,
    field: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(u64),
    Text(String),
}

/// The `orch.toml` to use: the one given, else the one next to `workflow_file` (when there is
/// one), else the one in the current directory, else none.
pub fn locate(
    explicit: Option<&Path>,
    workflow_file: Option<&Path>,
) -> Result<Option<PathBuf>, CliError> {
    if let Some(path) = explicit {
        if !path.is_file() {
            return Err(CliError::new(format!(
                "cannot read `{}`: no such file",
                path.display()
            )));
        }
        return Ok(Some(path.to_path_buf()));
    }
    if let Some(file) = workflow_file {
        let beside = file
            .parent()
            .map_or_else(|| PathBuf::from(FILE_NAME), |dir| dir.join(FILE_NAME));
        if beside.is_file() {
            return Ok(Some(beside));
        }
    }
    let here = PathBuf::from(FILE_NAME);
    Ok(here.is_file().then_some(here))
}

impl Config {
    pub fn read(path: &Path) -> Result<Config, CliError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::new(format!(
                "cannot read `{}`: {}",
                path.display(),
                describe_io(&e)
            ))
        })?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Config::parse(&text, path, &dir)
    }

    /// Parses the text of `path`; relative paths in it are taken from `dir`.
    pub fn parse(text: &str, path: &Path, dir: &Path) -> Result<Config, CliError> {
        let invalid =
            |message: String| CliError::new(format!("invalid `{}`: {message}", path.display()));
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            match e.span() {
                Some(span) => {
                    let at = orch_dsl::LineIndex::new(text).line_col(span.start);
                    invalid(format!("line {}, column {}: {message}", at.line, at.column))
                }
                None => invalid(message),
            }
        })?;
        let roles = chat::roles(raw.roles).map_err(invalid)?;
        let mut workers = BTreeMap::new();
        for (name, worker) in raw.workers {
            let binding = binding(worker, dir, &roles, &raw.prices)
                .map_err(|m| invalid(format!("worker `{name}`: {m}")))?;
            workers.insert(name, binding);
        }
        Ok(Config {
            path: path.to_path_buf(),
            workers,
        })
    }
}

fn binding(
    raw: RawWorker,
    dir: &Path,
    roles: &BTreeMap<String, orch_runtime::chat::Role>,
    prices: &orch_runtime::chat::Prices,
) -> Result<Binding, String> {
    let timeout = raw.timeout.map(parse_timeout).transpose()?;
    let keys = RoleKeys {
        role: raw.role,
        pool: raw.pool,
        route: raw.route,
        field: raw.field,
    };
    if keys.any() {
        let others: Vec<&str> = [
            ("command", raw.command.is_some()),
            ("url", raw.url.is_some()),
            ("env", !raw.env.is_empty()),
            ("cwd", raw.cwd.is_some()),
            ("headers", !raw.headers.is_empty()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect();
        return chat::binding(keys, &others, timeout, roles, prices);
    }
    match (raw.command, raw.url) {
        (Some(_), Some(_)) => Err("set `command` or `url`, not both".into()),
        (None, None) => Err(
            "set `command` (a program to run), `url` (a service to call), `role` (a language \
             model in a `[roles.NAME]`) or `pool` (several roles)"
                .into(),
        ),
        (Some(command), None) => {
            if !raw.headers.is_empty() {
                return Err("`headers` is for `url` workers".into());
            }
            let mut parts = command.into_iter();
            let program = parts
                .next()
                .filter(|p| !p.is_empty())
                .ok_or("`command` is empty: give the program and its arguments")?;
            let cwd = match raw.cwd {
                Some(cwd) => dir.join(cwd),
                None => dir.to_path_buf(),
            };
            let program = PathBuf::from(program);
            // A relative path such as `./coder.sh` is meant from the worker's folder, not from
            // wherever `orch` runs.
            let program = if program.is_relative() && program.components().count() > 1 {
                cwd.join(program.strip_prefix(".").unwrap_or(&program))
            } else {
                program
            };
            Ok(Binding::Command(CommandSpec {
                program,
                args: parts.collect(),
                env: raw.env,
                cwd,
                timeout,
            }))
        }
        (None, Some(url)) => {
            if !raw.env.is_empty() || raw.cwd.is_some() {
                return Err("`env` and `cwd` are for `command` workers".into());
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "`url` must start with `http://` or `https://`: `{url}`"
                ));
            }
            Ok(Binding::Http(HttpSpec {
                url,
                headers: raw.headers,
                timeout,
            }))
        }
    }
}

fn parse_timeout(raw: RawDuration) -> Result<Duration, String> {
    let duration = match raw {
        RawDuration::Seconds(s) => Duration::from_secs(s),
        RawDuration::Text(text) => parse_duration(&text).ok_or_else(|| {
            format!("`timeout` must be a number of seconds or a duration such as `30s`, `5m`, `1h30m`; found `{text}`")
        })?,
    };
    if duration.is_zero() {
        return Err("`timeout` must be more than zero".into());
    }
    Ok(duration)
}

/// Parses `1h30m`, `45s`, `500ms`, `2d`: numbers each followed by a unit.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms = match &rest[..unit] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        total = total.checked_add(number.checked_mul(ms)?)?;
        rest = &rest[unit..];
    }
    Some(Duration::from_millis(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("orch.toml"), Path::new("/w")).map_err(|e| e.message)
    }

    #[test]
    fn durations_take_every_unit() {
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1s500ms"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("30"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("5 m"), None);
        assert_eq!(parse_duration("3w"), None);
    }

    #[test]
    fn command_workers_resolve_paths_from_the_config_folder() {
        let config = parse(
            r#"
            [workers.Coder]
            command = ["./coder.sh", "--fast"]
            cwd = "tools"
            timeout = 90
            env = { MODEL = "small" }

            [workers.Lint]
            command = ["python3", "lint.py"]
            "#,
        )
        .unwrap();
        let Binding::Command(coder) = &config.workers["Coder"] else {
            panic!("`Coder` runs a command")
        };
        assert_eq!(coder.program, Path::new("/w/tools/coder.sh"));
        assert_eq!(coder.args, ["--fast"]);
        assert_eq!(coder.cwd, Path::new("/w/tools"));
        assert_eq!(coder.timeout, Some(Duration::from_secs(90)));
        let Binding::Command(lint) = &config.workers["Lint"] else {
            panic!("`Lint` runs a command")
        };
        assert_eq!(lint.program, Path::new("python3"));
        assert_eq!(lint.cwd, Path::new("/w"));
    }

    #[test]
    fn http_workers_take_headers() {
        let config = parse(
            r#"
            [workers.Reviewer]
            url = "http://127.0.0.1:8080/review"
            headers = { Authorization = "Bearer x" }
            timeout = "30s"
            "#,
        )
        .unwrap();
        assert_eq!(
            config.workers["Reviewer"],
            Binding::Http(HttpSpec {
                url: "http://127.0.0.1:8080/review".into(),
                headers: [("Authorization".to_string(), "Bearer x".to_string())].into(),
                timeout: Some(Duration::from_secs(30)),
            })
        );
    }

    #[test]
    fn mistakes_are_one_line_errors() {
        let cases = [
            (
                "[workers.A]\ncommand = []\n",
                "worker `A`: `command` is empty",
            ),
            ("[workers.A]\n", "worker `A`: set `command`"),
            (
                "[workers.A]\ncommand = [\"x\"]\nurl = \"http://a\"\n",
                "not both",
            ),
            ("[workers.A]\nurl = \"ftp://a\"\n", "must start with"),
            (
                "[workers.A]\ncommand = [\"x\"]\ntimeout = \"soon\"\n",
                "found `soon`",
            ),
            (
                "[workers.A]\ncommand = [\"x\"]\ntimeout = 0\n",
                "more than zero",
            ),
            (
                "[workers.A]\ncommand = [\"x\"]\nheaders = { a = \"b\" }\n",
                "for `url` workers",
            ),
            (
                "[workers.A]\ncomand = [\"x\"]\n",
                "line 2, column 1: unknown field `comand`",
            ),
            ("[workers.A\n", "line 1, column"),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?} gave {error:?}");
            assert!(!error.contains('\n'), "{error:?} is one line");
        }
    }
}
