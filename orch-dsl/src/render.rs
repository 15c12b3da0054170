//! Rendering diagnostics with source snippets, as rustc does:
//!
//! ```text
//! error[E0001]: expected `;`, found `task`
//!   --> website.orch:4:5
//!    |
//!  4 |     task specs by ProductManager {
//!    |     ^^^^ expected `;`
//! ```

use codespan_reporting::diagnostic::{
    Diagnostic as Report, Label as ReportLabel, Severity as ReportSeverity,
};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Chars, Config};

use crate::diagnostic::{Diagnostic, Severity};

/// Renders diagnostics of the text `source`, named `name` in locations (`name:line:col`).
///
/// ```
/// let source = "workflow A { start x }";
/// let errors = orch_dsl::parse(source).unwrap_err();
/// let text = orch_dsl::render(&errors, "a.orch", source);
/// assert!(text.contains("error[E0001]"));
/// assert!(text.contains("a.orch:1:22"));
/// ```
pub fn render<'a>(
    diagnostics: impl IntoIterator<Item = &'a Diagnostic>,
    name: &str,
    source: &str,
) -> String {
    let file = SimpleFile::new(name, source);
    let config = Config {
        chars: Chars::ascii(),
        ..Config::default()
    };
    let mut out = String::new();
    for diagnostic in diagnostics {
        // Rendering only fails for spans outside the text; clamp so it cannot.
        let report = to_report(diagnostic, source.len());
        if term::emit_to_string(&mut out, &config, &file, &report).is_err() {
            out.push_str(&format!("{diagnostic}\n"));
        }
    }
    out
}

fn to_report(diagnostic: &Diagnostic, len: usize) -> Report<()> {
    let clamp =
        |span: crate::Span| span.start().min(len)..span.end().min(len).max(span.start().min(len));
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
