//! Showing diagnostics: rendered with source snippets (coloured on a terminal), or as JSON for
//! editors and tools.

use std::io::{IsTerminal, Write};

use codespan_reporting::diagnostic::{
    Diagnostic as Report, Label as ReportLabel, Severity as ReportSeverity,
};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::termcolor::{Buffer, ColorChoice, StandardStream};
use codespan_reporting::term::{self, Chars, Config};
use orch_dsl::{Diagnostic, LineIndex, Severity, Span};
use serde::Serialize;

use crate::files::Source;

/// Whether standard error gets colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Always,
    Never,
}

impl Colour {
    /// Colour when standard error is a terminal and `NO_COLOR` is unset or empty.
    pub fn detect() -> Colour {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if !no_color && std::io::stderr().is_terminal() {
            Colour::Always
        } else {
            Colour::Never
        }
    }

    pub fn stderr(self) -> StandardStream {
        StandardStream::stderr(match self {
            Colour::Always => ColorChoice::Always,
            Colour::Never => ColorChoice::Never,
        })
    }
}

/// Prints diagnostics of one source to standard error, with snippets and `file:line:col`.
pub fn emit<'a>(
    colour: Colour,
    diagnostics: impl IntoIterator<Item = &'a Diagnostic>,
    source: &Source,
) {
    let text = match colour {
        Colour::Never => orch_dsl::render(diagnostics, &source.name, &source.text).into_bytes(),
        Colour::Always => render_coloured(diagnostics, source),
    };
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(&text);
    let _ = err.flush();
}

/// The same rendering as [`orch_dsl::render`], with ANSI colours.
fn render_coloured<'a>(
    diagnostics: impl IntoIterator<Item = &'a Diagnostic>,
    source: &Source,
) -> Vec<u8> {
    let file = SimpleFile::new(&source.name, &source.text);
    let config = Config {
        chars: Chars::ascii(),
        ..Config::default()
    };
    let mut buffer = Buffer::ansi();
    for diagnostic in diagnostics {
        let report = to_report(diagnostic, source.text.len());
        if term::emit_to_write_style(&mut buffer, &config, &file, &report).is_err() {
            let _ = writeln!(buffer, "{diagnostic}");
        }
    }
    buffer.into_inner()
}

fn to_report(diagnostic: &Diagnostic, len: usize) -> Report<()> {
    let clamp = |span: Span| {
        let start = span.start().min(len);
        start..span.end().min(len).max(start)
    };
    let severity = match diagnostic.severity {
        Severity::Error => ReportSeverity::Error,
        Severity::Warning => ReportSeverity::Warning,
    };
    let mut labels =
        vec![ReportLabel::primary((), clamp(diagnostic.span)).with_message(&diagnostic.label)];
    labels.extend(
        diagnostic.secondary.iter().map(|label| {
            ReportLabel::secondary((), clamp(label.span)).with_message(&label.message)
        }),
    );
    let mut notes: Vec<String> = diagnostic
        .notes
        .iter()
        .map(|n| format!("note: {n}"))
        .collect();
    notes.extend(diagnostic.help.iter().map(|h| format!("help: {h}")));
    Report::new(severity)
        .with_code(diagnostic.code.as_str())
        .with_message(&diagnostic.message)
        .with_labels(labels)
        .with_notes(notes)
}

/// A diagnostic as `orch check --format json` reports it.
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    pub file: String,
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub label: String,
    pub start: Position,
    pub end: Position,
    pub secondary: Vec<JsonLabel>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

/// A place in a source: byte offset, 1-based line, and 1-based column counted in characters.
#[derive(Debug, Serialize)]
pub struct Position {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Serialize)]
pub struct JsonLabel {
    pub message: String,
    pub start: Position,
    pub end: Position,
}

impl JsonDiagnostic {
    pub fn new(diagnostic: &Diagnostic, source: &Source, index: &LineIndex<'_>) -> JsonDiagnostic {
        let (start, end) = positions(diagnostic.span, index);
        JsonDiagnostic {
            file: source.name.clone(),
            code: diagnostic.code.as_str(),
            severity: diagnostic.severity,
            message: diagnostic.message.clone(),
            label: diagnostic.label.clone(),
            start,
            end,
            secondary: diagnostic
                .secondary
                .iter()
                .map(|label| {
                    let (start, end) = positions(label.span, index);
                    JsonLabel {
                        message: label.message.clone(),
                        start,
                        end,
                    }
                })
                .collect(),
            notes: diagnostic.notes.clone(),
            help: diagnostic.help.clone(),
        }
    }
}

fn positions(span: Span, index: &LineIndex<'_>) -> (Position, Position) {
    let at = |offset: usize| {
        let place = index.line_col(offset);
        Position {
            offset,
            line: place.line,
            column: place.column,
        }
    };
    (at(span.start()), at(span.end()))
}
