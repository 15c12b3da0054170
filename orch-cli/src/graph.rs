//! `orch graph FILE --format dot|mermaid|svg`: draw a checked workflow.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use orch_dsl::ir;

use crate::check::{self, Counts};
use crate::diagnostics::Colour;
use crate::error::CliError;
use crate::files;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The workflow file; more files may follow when its calls name workflows in them.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The workflow to draw, when there are several.
    #[arg(long, short)]
    workflow: Option<String>,
    /// The kind of diagram (default: from the extension of `-o`, else `dot`).
    #[arg(long, short, value_enum)]
    format: Option<Format>,
    /// Write the diagram to this file instead of standard output.
    #[arg(long, short, value_name = "OUT")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Graphviz DOT.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
    /// SVG drawn by graphviz `dot -Tsvg` (graphviz must be installed).
    Svg,
}

pub fn run(args: &Args, colour: Colour) -> Result<u8, CliError> {
    let sources = files::read_all(&args.files)?;
    let checked = check::check_together(&sources);
    let counts = Counts::of(&checked);
    if counts.errors > 0 {
        check::emit_all(colour, &sources, &checked);
        return Err(check::errors_found(counts, &sources, &checked));
    }
    let workflows: Vec<&ir::Workflow> = checked
        .iter()
        .filter_map(|c| c.program.as_ref())
        .flat_map(|p| &p.workflows)
        .collect();
    let workflow = choose_workflow(&workflows, args.workflow.as_deref())?;
    let format = args
        .format
        .or_else(|| args.output.as_deref().and_then(format_of))
        .unwrap_or(Format::Dot);
    let diagram = match format {
        Format::Dot => orch_dsl::emit::generate_dot(workflow).into_bytes(),
        Format::Mermaid => orch_dsl::emit::generate_mermaid(workflow).into_bytes(),
        Format::Svg => render_svg(&orch_dsl::emit::generate_dot(workflow))?,
    };
    crate::write_output(args.output.as_ref(), &diagram)?;
    Ok(0)
}

/// The workflow named `name`, or the only one.
pub fn choose_workflow<'a>(
    workflows: &[&'a ir::Workflow],
    name: Option<&str>,
) -> Result<&'a ir::Workflow, CliError> {
    let list = || {
        workflows
            .iter()
            .map(|w| format!("`{}`", w.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (name, workflows) {
        (Some(name), _) => workflows
            .iter()
            .find(|w| w.name == name)
            .copied()
            .ok_or_else(|| {
                let mut message =
                    format!("no workflow named `{name}`; the file defines {}", list());
                let names = workflows.iter().map(|w| w.name.as_str());
                if let Some(close) = orch_dsl::suggest::closest(name, names) {
                    message = format!("{message} (did you mean `{close}`?)");
                }
                CliError::new(message)
            }),
        (None, [only]) => Ok(only),
        (None, []) => Err(CliError::new("the file defines no workflow")),
        (None, _) => Err(CliError::new(format!(
            "the file defines several workflows; choose one with `--workflow`: {}",
            list()
        ))),
    }
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()? {
        "dot" | "gv" => Some(Format::Dot),
        "mmd" | "mermaid" => Some(Format::Mermaid),
        "svg" => Some(Format::Svg),
        _ => None,
    }
}

/// Pipes DOT through graphviz `dot -Tsvg`.
fn render_svg(dot: &str) -> Result<Vec<u8>, CliError> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => CliError::new(
                "`--format svg` needs graphviz's `dot` command, which is not installed \
                 (install graphviz, or use `--format dot` or `--format mermaid`)",
            ),
            _ => CliError::new(format!("cannot run graphviz `dot`: {e}")),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // `dot` reads everything before writing, so writing first cannot deadlock.
        let _ = stdin.write_all(dot.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| CliError::new(format!("graphviz `dot` failed: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(CliError::new(format!(
            "graphviz `dot` failed ({}): {}",
            output.status,
            stderr.trim()
        )));
    }
    Ok(output.stdout)
}
