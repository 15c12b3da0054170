//! `orch fmt [--check] FILES…`: format workflow files in place.

use std::io::Read;
use std::path::PathBuf;

use crate::diagnostics::{self, Colour};
use crate::error::CliError;
use crate::files::{self, Source};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Workflow files, or folders searched for `.orch` files; `-` formats standard input to
    /// standard output.
    #[arg(required = true, value_name = "FILES")]
    files: Vec<PathBuf>,
    /// Change nothing: list the files that would change, and fail if there are any.
    #[arg(long)]
    check: bool,
}

pub fn run(args: &Args, colour: Colour) -> Result<u8, CliError> {
    if args.files.len() == 1 && args.files[0].as_os_str() == "-" {
        return format_stdin(args.check, colour);
    }
    // Read everything first, so that a missing file changes nothing.
    let sources = files::read_all(&args.files)?;
    let mut unformatted = Vec::new();
    let mut broken = Vec::new();
    for source in &sources {
        match orch_dsl::format(&source.text) {
            Err(errors) => {
                diagnostics::emit(colour, &errors, source);
                broken.push(source);
            }
            Ok(formatted) if formatted == source.text => {}
            Ok(_) if args.check => unformatted.push(source.name.clone()),
            Ok(formatted) => write_in_place(source, &formatted)?,
        }
    }
    let listing: String = unformatted.iter().map(|name| format!("{name}\n")).collect();
    crate::write_output(None, listing.as_bytes())?;
    if !broken.is_empty() {
        let names: Vec<String> = broken.iter().map(|s| format!("`{}`", s.name)).collect();
        return Err(CliError::failure(format!(
            "{} not formatted: {} syntax errors",
            names.join(", "),
            if broken.len() == 1 {
                "it has"
            } else {
                "they have"
            }
        )));
    }
    if !unformatted.is_empty() {
        let n = unformatted.len();
        return Err(CliError::failure(format!(
            "{n} file{} would be reformatted",
            if n == 1 { "" } else { "s" }
        )));
    }
    Ok(0)
}

/// Replaces the file's text by writing a sibling file and renaming it over the original, so
/// that an interrupted write cannot leave half a file. The original's permissions are kept.
fn write_in_place(source: &Source, text: &str) -> Result<(), CliError> {
    let error = |e: std::io::Error| {
        CliError::new(format!(
            "cannot write `{}`: {}",
            source.name,
            files::describe_io(&e)
        ))
    };
    // Write through a symbolic link to the file it names.
    let path = std::fs::canonicalize(&source.path).unwrap_or_else(|_| source.path.clone());
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{file_name}.orch-fmt-{}", std::process::id()));
    std::fs::write(&temp, text).map_err(error)?;
    let renamed = std::fs::metadata(&path)
        .and_then(|meta| std::fs::set_permissions(&temp, meta.permissions()))
        .and_then(|()| std::fs::rename(&temp, &path));
    if let Err(e) = renamed {
        let _ = std::fs::remove_file(&temp);
        return Err(error(e));
    }
    Ok(())
}

fn format_stdin(check: bool, colour: Colour) -> Result<u8, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::new(format!("cannot read standard input: {e}")))?;
    let source = Source {
        path: PathBuf::from("-"),
        name: "<stdin>".into(),
        text,
    };
    match orch_dsl::format(&source.text) {
        Err(errors) => {
            diagnostics::emit(colour, &errors, &source);
            Err(CliError::failure(
                "standard input not formatted: it has syntax errors",
            ))
        }
        Ok(formatted) if check => {
            if formatted == source.text {
                Ok(0)
            } else {
                crate::write_output(None, b"<stdin>\n")?;
                Err(CliError::failure("standard input would be reformatted"))
            }
        }
        Ok(formatted) => {
            crate::write_output(None, formatted.as_bytes())?;
            Ok(0)
        }
    }
}
