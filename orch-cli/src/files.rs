//! Reading workflow files: paths given on the command line, folders searched for `.orch` files.

use std::path::{Path, PathBuf};

use crate::error::CliError;

/// One workflow source file.
#[derive(Debug)]
pub struct Source {
    pub path: PathBuf,
    /// The path as shown in messages (`file.orch:12:9`).
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn read(path: &Path) -> Result<Source, CliError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::new(format!(
                "cannot read `{}`: {}",
                path.display(),
                describe_io(&e)
            ))
        })?;
        // `orch fmt .` finds `./a.orch`; show it as `a.orch`.
        let shown = path.strip_prefix(".").unwrap_or(path);
        Ok(Source {
            path: path.to_path_buf(),
            name: shown.display().to_string(),
            text,
        })
    }
}

/// The files named by `paths`: files as given, folders searched for `.orch` files at any depth
/// (sorted). Every path must exist; a folder must hold at least one workflow file.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = files.len();
            collect(path, &mut files)?;
            files[before..].sort();
            if files.len() == before {
                return Err(CliError::new(format!(
                    "no `.orch` files in `{}`",
                    path.display()
                )));
            }
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(CliError::new(format!(
                "cannot read `{}`: no such file or directory",
                path.display()
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    Ok(files)
}

/// Reads every file named by `paths` (see [`expand`]).
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<Source>, CliError> {
    expand(paths)?.iter().map(|p| Source::read(p)).collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CliError> {
    let error = |e: std::io::Error| {
        CliError::new(format!(
            "cannot read `{}`: {}",
            dir.display(),
            describe_io(&e)
        ))
    };
    for entry in std::fs::read_dir(dir).map_err(error)? {
        let path = entry.map_err(error)?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "orch") {
            out.push(path);
        }
    }
    Ok(())
}

/// An I/O error as a short lowercase phrase: `no such file or directory`.
pub fn describe_io(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::NotFound => "no such file or directory".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::InvalidData => "the file is not UTF-8 text".into(),
        _ => {
            // `Os { code: 21, … }` prints as "Is a directory (os error 21)".
            let text = error.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}
