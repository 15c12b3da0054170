//! `orch token create|revoke|list`: the API tokens of `orch serve`, kept in the run store's
//! file as hashes. A token is printed once, when it is made.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::durable::show_time;
use crate::error::CliError;
use crate::service::tables::{Permission, Tables, TokenInfo};

const MAX_PRINCIPAL_LEN: usize = 64;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Make a token for a principal and print it (only this once).
    Create(CreateArgs),
    /// Revoke a token, named by its id (`tok-…`) or by its text; it stops working at once.
    Revoke(RevokeArgs),
    /// List the tokens: ids, principals, permissions, never the tokens themselves.
    List(ListArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Who uses the token; the limit on concurrent runs counts per principal.
    #[arg(long, value_name = "NAME")]
    principal: String,
    /// What the token allows: `meta` (definitions), `run` (start and control runs), `read`
    /// (look at definitions and runs); comma-separated or repeated.
    #[arg(
        long = "permission",
        value_name = "LIST",
        value_enum,
        value_delimiter = ',',
        required = true
    )]
    permissions: Vec<Permission>,
    /// The run store `orch serve` uses (created if missing).
    #[arg(long, value_name = "PATH", default_value = "runs.db")]
    store: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The token's id (`tok-…`, as `orch token list` shows it) or the token itself.
    #[arg(value_name = "TOKEN")]
    token: String,
    /// The run store.
    #[arg(long, value_name = "PATH", default_value = "runs.db")]
    store: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The run store.
    #[arg(long, value_name = "PATH", default_value = "runs.db")]
    store: PathBuf,
    /// `human`: a table; `json`: a list of objects.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

pub fn run(command: Command) -> Result<u8, CliError> {
    match command {
        Command::Create(args) => create(&args),
        Command::Revoke(args) => revoke(&args),
        Command::List(args) => list(&args),
    }
}

/// The token tables of the store at `path`; `create`: a missing store becomes a new one.
fn tables(path: &Path, create: bool) -> Result<Tables, CliError> {
    // Opening the store first checks that the file is an orch store, or makes it one.
    drop(crate::durable::open(path, create)?);
    Tables::open(path).map_err(|e| {
        CliError::new(format!(
            "cannot open the token tables in `{}`: {e}",
            path.display()
        ))
    })
}

fn create(args: &CreateArgs) -> Result<u8, CliError> {
    let valid = |c: char| c.is_ascii_alphanumeric() || "_-.@".contains(c);
    if args.principal.is_empty()
        || args.principal.len() > MAX_PRINCIPAL_LEN
        || !args.principal.chars().all(valid)
    {
        return Err(CliError::new(format!(
            "a principal is 1 to {MAX_PRINCIPAL_LEN} letters, digits and `_-.@`: `{}`",
            args.principal
        )));
    }
    let permissions: BTreeSet<Permission> = args.permissions.iter().copied().collect();
    let tables = tables(&args.store, true)?;
    let (info, secret) = tables
        .create_token(&args.principal, &permissions)
        .map_err(|e| CliError::new(format!("cannot make a token: {e}")))?;
    crate::write_output(None, format!("{secret}\n").as_bytes())?;
    eprintln!(
        "token {} for `{}` with permissions {}; it is shown only this once",
        info.id,
        info.principal,
        show(&info.permissions)
    );
    Ok(0)
}

fn revoke(args: &RevokeArgs) -> Result<u8, CliError> {
    let tables = tables(&args.store, false)?;
    match tables
        .revoke(&args.token)
        .map_err(|e| CliError::new(format!("cannot revoke the token: {e}")))?
    {
        Some((info, true)) => eprintln!("token {} of `{}` revoked", info.id, info.principal),
        Some((info, false)) => {
            eprintln!(
                "token {} of `{}` was already revoked",
                info.id, info.principal
            )
        }
        None => {
            return Err(CliError::new(format!(
                "no token `{}` in `{}` (`orch token list` shows the ids)",
                args.token,
                args.store.display()
            )));
        }
    }
    Ok(0)
}

fn list(args: &ListArgs) -> Result<u8, CliError> {
    let tables = tables(&args.store, false)?;
    let tokens = tables
        .list()
        .map_err(|e| CliError::new(format!("cannot list the tokens: {e}")))?;
    let text = match args.format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&json!(tokens))
                .map_err(|e| CliError::new(format!("cannot write the list: {e}")))?;
            text.push('\n');
            text
        }
        Format::Human if tokens.is_empty() => {
            eprintln!("no tokens; `orch token create` makes one");
            String::new()
        }
        Format::Human => table(&tokens),
    };
    crate::write_output(None, text.as_bytes())?;
    Ok(0)
}

fn table(tokens: &[TokenInfo]) -> String {
    let rows: Vec<[String; 5]> = tokens
        .iter()
        .map(|t| {
            [
                t.id.clone(),
                t.principal.clone(),
                show(&t.permissions),
                show_time(t.created_ms),
                t.revoked_ms.map_or_else(|| "-".to_string(), show_time),
            ]
        })
        .collect();
    let head = ["ID", "PRINCIPAL", "PERMISSIONS", "CREATED", "REVOKED"].map(String::from);
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            std::iter::once(&head)
                .chain(&rows)
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    std::iter::once(&head)
        .chain(&rows)
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            format!("{}\n", cells.join("  ").trim_end())
        })
        .collect()
}

fn show(permissions: &[Permission]) -> String {
    permissions
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
