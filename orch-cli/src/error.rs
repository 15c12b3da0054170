//! Errors that stop a command, each printed as one `error: …` line.

use std::io::Write;

use codespan_reporting::term::termcolor::{Color, ColorSpec, WriteColor};

use crate::diagnostics::Colour;

/// The workflows have errors, a file needs formatting, or a run did not succeed.
pub const FAILURE: u8 = 1;
/// The command could not do its job: a missing file, bad input, an invalid `orch.toml`.
pub const UNUSABLE: u8 = 2;
/// The run was cancelled with Ctrl-C (128 + SIGINT, as shells report it).
pub const CANCELLED: u8 = 130;

/// An error that ends the command with `code`.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    /// An error of the command itself (exit code 2).
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            code: UNUSABLE,
        }
    }

    /// An error about what the command was given to check or run (exit code 1).
    pub fn failure(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            code: FAILURE,
        }
    }

    pub fn print(&self, colour: Colour) {
        print_line(colour, "error", Color::Red, &self.message);
    }
}

/// Prints `prefix: message` to standard error, the prefix bold and coloured when `colour` is on.
pub fn print_line(colour: Colour, prefix: &str, color: Color, message: &str) {
    let mut err = colour.stderr();
    let mut spec = ColorSpec::new();
    spec.set_fg(Some(color)).set_bold(true);
    let _ = err.set_color(&spec);
    let _ = write!(err, "{prefix}");
    let _ = err.reset();
    let _ = writeln!(err, ": {message}");
}
