//! `orch check FILES…`: parse and check files together, print every diagnostic and each
//! workflow's bounds.

use std::path::PathBuf;

use orch_dsl::{Diagnostics, LineIndex, Signature, ir};
use serde::Serialize;

use crate::diagnostics::{self, Colour, JsonDiagnostic};
use crate::error::{CliError, FAILURE};
use crate::files::{self, Source};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Workflow files, or folders searched for `.orch` files; calls may cross files.
    #[arg(required = true, value_name = "FILES")]
    files: Vec<PathBuf>,
    /// Fail on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// `human`: diagnostics with snippets on stderr, a summary on stdout; `json`: one JSON
    /// document on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

/// What checking one file found.
pub struct Checked {
    pub diagnostics: Diagnostics,
    /// The checked workflows; `None` when the file has errors.
    pub program: Option<ir::Program>,
}

/// Parses and checks every source, each against the workflows of the others, as
/// `orch_dsl::build` does. A file with syntax errors still lends the workflows that did parse
/// to the others, so a call into it is not reported as undefined too.
pub fn check_together(sources: &[Source]) -> Vec<Checked> {
    let parsed: Vec<_> = sources
        .iter()
        .map(|s| orch_dsl::parse_recovering(&s.text))
        .collect();
    let signatures: Vec<Vec<Signature>> = parsed
        .iter()
        .map(|(file, _)| file.as_ref().map(orch_dsl::signatures).unwrap_or_default())
        .collect();
    parsed
        .into_iter()
        .enumerate()
        .map(|(i, (file, syntax))| {
            let file = match file {
                Some(file) if syntax.is_empty() => file,
                _ => {
                    return Checked {
                        diagnostics: syntax,
                        program: None,
                    };
                }
            };
            let externals: Vec<Signature> = signatures
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, s)| s.iter().cloned())
                .collect();
            match orch_dsl::check(&file, &externals) {
                Ok(compiled) => Checked {
                    diagnostics: compiled.warnings,
                    program: Some(compiled.program),
                },
                Err(diagnostics) => Checked {
                    diagnostics,
                    program: None,
                },
            }
        })
        .collect()
}

/// Counts of errors and warnings.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
}

impl Counts {
    pub fn of<'a>(checked: impl IntoIterator<Item = &'a Checked>) -> Counts {
        let mut counts = Counts::default();
        for d in checked.into_iter().flat_map(|c| c.diagnostics.iter()) {
            if d.is_error() {
                counts.errors += 1;
            } else {
                counts.warnings += 1;
            }
        }
        counts
    }

    /// `2 errors and 1 warning`, `1 error`, `3 warnings`.
    pub fn describe(self) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        match (self.errors, self.warnings) {
            (e, 0) => plural(e, "error"),
            (0, w) => plural(w, "warning"),
            (e, w) => format!("{} and {}", plural(e, "error"), plural(w, "warning")),
        }
    }
}

/// Prints every diagnostic, in file order, to standard error.
pub fn emit_all(colour: Colour, sources: &[Source], checked: &[Checked]) {
    for (source, result) in sources.iter().zip(checked) {
        if !result.diagnostics.is_empty() {
            diagnostics::emit(colour, &result.diagnostics, source);
        }
    }
}

/// The error ending a command whose files have errors.
pub fn errors_found(counts: Counts, sources: &[Source], checked: &[Checked]) -> CliError {
    let failing = checked.iter().filter(|c| c.program.is_none()).count();
    let what = if sources.len() == 1 {
        format!("`{}`", sources[0].name)
    } else {
        format!("{failing} of {} files", sources.len())
    };
    CliError::failure(format!(
        "{what} could not be checked: {}",
        counts.describe()
    ))
}

pub fn run(args: &Args, colour: Colour) -> Result<u8, CliError> {
    let sources = files::read_all(&args.files)?;
    let checked = check_together(&sources);
    let counts = Counts::of(&checked);
    let failed = counts.errors > 0 || (args.deny_warnings && counts.warnings > 0);
    match args.format {
        Format::Json => print_json(&sources, &checked, counts)?,
        Format::Human => {
            emit_all(colour, &sources, &checked);
            let summary: String = checked
                .iter()
                .filter_map(|c| c.program.as_ref())
                .flat_map(|p| &p.workflows)
                .map(|w| format!("{}\n", summary_line(w)))
                .collect();
            crate::write_output(None, summary.as_bytes())?;
            if counts.errors > 0 {
                return Err(errors_found(counts, &sources, &checked));
            }
            if failed {
                return Err(CliError::failure(format!(
                    "{} denied by `--deny-warnings`",
                    counts.describe()
                )));
            }
        }
    }
    Ok(if failed { FAILURE } else { 0 })
}

/// `BuildWebsite: 5 states, worst case 13 steps`.
pub fn summary_line(workflow: &ir::Workflow) -> String {
    let states = workflow.states.len();
    let steps = workflow.worst_case_steps;
    format!(
        "{}: {states} state{}, worst case {steps} step{}",
        workflow.name,
        if states == 1 { "" } else { "s" },
        if steps == 1 { "" } else { "s" },
    )
}

#[derive(Serialize)]
struct JsonReport {
    ok: bool,
    errors: usize,
    warnings: usize,
    files: Vec<JsonFile>,
    diagnostics: Vec<JsonDiagnostic>,
    workflows: Vec<JsonWorkflow>,
}

#[derive(Serialize)]
struct JsonFile {
    path: String,
    ok: bool,
}

#[derive(Serialize)]
struct JsonWorkflow {
    file: String,
    name: String,
    states: usize,
    worst_case_steps: u64,
    max_steps: Option<u64>,
}

fn print_json(sources: &[Source], checked: &[Checked], counts: Counts) -> Result<(), CliError> {
    let mut report = JsonReport {
        ok: counts.errors == 0,
        errors: counts.errors,
        warnings: counts.warnings,
        files: Vec::new(),
        diagnostics: Vec::new(),
        workflows: Vec::new(),
    };
    for (source, result) in sources.iter().zip(checked) {
        let index = LineIndex::new(&source.text);
        report.files.push(JsonFile {
            path: source.name.clone(),
            ok: result.program.is_some(),
        });
        report.diagnostics.extend(
            result
                .diagnostics
                .iter()
                .map(|d| JsonDiagnostic::new(d, source, &index)),
        );
        let workflows = result.program.iter().flat_map(|p| &p.workflows);
        report.workflows.extend(workflows.map(|w| JsonWorkflow {
            file: source.name.clone(),
            name: w.name.to_string(),
            states: w.states.len(),
            worst_case_steps: w.worst_case_steps,
            max_steps: w.max_steps,
        }));
    }
    let mut text = serde_json::to_string_pretty(&report)
        .map_err(|e| CliError::new(format!("cannot write the report: {e}")))?;
    text.push('\n');
    crate::write_output(None, text.as_bytes())
}
