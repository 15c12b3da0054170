//! The `orch` command: check, draw, format and run workflows written in `.orch` files.
//!
//! Runs can be kept in a run store (`--store runs.db`): paused with Ctrl-C, resumed, signalled
//! while no process runs them, listed, shown and deleted.
//!
//! Exit codes: 0 when the command did what was asked; 1 when the workflows have errors, a
//! file needs formatting (`fmt --check`) or a run did not succeed; 2 when the command could
//! not do its job (bad arguments, a missing file, an invalid `orch.toml`, no graphviz, no such
//! stored run); 130 when a run was cancelled or paused with Ctrl-C.

mod check;
mod diagnostics;
mod durable;
mod error;
mod files;
mod fmt;
mod graph;
mod resume;
mod run;
mod runs;
mod service;
mod signal;
mod tokens;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::diagnostics::Colour;
use crate::error::CliError;

/// Checks, draws, formats and runs orch workflows.
#[derive(Debug, Parser)]
#[command(
    name = "orch",
    version,
    about,
    propagate_version = true,
    after_help = "Exit codes: 0 done; 1 the workflows have errors, a file needs formatting or \
                  a run did not succeed; 2 the command could not do its job; 130 a run was \
                  cancelled or paused with Ctrl-C.\n\nSee docs/cli.md for `orch.toml`, run \
                  stores and the worker protocols."
)]
struct Cli {
    /// When to colour diagnostics on standard error.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true)]
    color: ColorWhen,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ColorWhen {
    /// Colour when standard error is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse and check workflow files together; print each workflow's bounds.
    Check(check::Args),
    /// Draw a checked workflow as graphviz DOT, Mermaid or SVG.
    Graph(graph::Args),
    /// Format workflow files in place.
    Fmt(fmt::Args),
    /// Run a workflow with the workers bound in `orch.toml`.
    Run(run::Args),
    /// Continue a run kept in a run store: paused, or left running by a process that died.
    Resume(resume::Args),
    /// Send a signal to a run kept in a run store; it gets it when it waits for it.
    Signal(signal::Args),
    /// List, show and delete the runs of a run store.
    #[command(subcommand)]
    Runs(runs::Command),
    /// Serve an HTTP API over a run store: definitions, runs, events, with tokens and limits.
    Serve(service::Args),
    /// Make, revoke and list the API tokens of `orch serve`.
    #[command(subcommand)]
    Token(tokens::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let colour = match cli.color {
        ColorWhen::Always => Colour::Always,
        ColorWhen::Never => Colour::Never,
        ColorWhen::Auto => Colour::detect(),
    };
    let outcome = match cli.command {
        Command::Check(args) => check::run(&args, colour),
        Command::Graph(args) => graph::run(&args, colour),
        Command::Fmt(args) => fmt::run(&args, colour),
        Command::Run(args) => run::run(args, colour),
        Command::Resume(args) => resume::run(args, colour),
        Command::Signal(args) => signal::run(&args, colour),
        Command::Runs(command) => runs::run(command),
        Command::Serve(args) => service::run(args, colour),
        Command::Token(command) => tokens::run(command),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            error.print(colour);
            ExitCode::from(error.code)
        }
    }
}

/// Where a command writes its main output: a file given with `-o`, or standard output.
fn write_output(path: Option<&PathBuf>, content: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    match path {
        Some(path) => std::fs::write(path, content)
            .map_err(|e| CliError::new(format!("cannot write `{}`: {e}", path.display()))),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(content)
                .and_then(|()| out.flush())
                .or_else(ignore_broken_pipe)
                .map_err(|e| CliError::new(format!("cannot write to standard output: {e}")))
        }
    }
}

/// A closed pipe (`orch … | head`) is not an error worth reporting.
fn ignore_broken_pipe(error: std::io::Error) -> std::io::Result<()> {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(error)
    }
}
