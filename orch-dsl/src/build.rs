//! Compiling `.orch` files from a `build.rs`.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), orch_dsl::build::Error> {
//!     orch_dsl::build::compile("workflows")
//! }
//! ```
//!
//! ```ignore
//! // src/main.rs: the code generated from workflows/build_website.orch
//! orch_runtime::include_workflow!("build_website");
//! ```
//!
//! Every file found is parsed and checked together, so a `call` may name a workflow of another
//! file. Errors are printed with source snippets and `file.orch:line:column` locations and fail
//! the build; warnings are passed to cargo. Nothing is written unless every file is valid, and
//! a file is rewritten only when its content changes, so unchanged workflows cause no rebuild.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::ast;
use crate::check::Signature;
use crate::diagnostic::Diagnostics;
use crate::ir;

/// Why compiling workflows failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no output directory: set one with `Config::out_dir` or run from a build script")]
    NoOutDir,
    #[error("no `.orch` files in {0}")]
    NoInputs(String),
    #[error("`{first}` and `{second}` would both generate `{stem}.rs`; rename one")]
    SameStem {
        stem: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// The workflows have errors; they were printed to standard error as they were found.
    #[error("{errors} error{s} in the workflows:\n{rendered}", s = if *errors == 1 { "" } else { "s" })]
    Invalid { errors: usize, rendered: String },
}

/// Compiles every `.orch` file under `path` (a file or a folder) into `OUT_DIR/orch/`.
pub fn compile(path: impl AsRef<Path>) -> Result<(), Error> {
    Config::new().input(path).compile().map(|_| ())
}

/// Settings for compiling `.orch` files.
#[derive(Clone, Debug, Default)]
pub struct Config {
    inputs: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    dot: bool,
    mermaid: bool,
    deny_warnings: bool,
    quiet: bool,
}

/// One source file and what became of it.
struct Source {
    path: PathBuf,
    name: String,
    text: String,
    file: Option<ast::File>,
}

impl Config {
    pub fn new() -> Config {
        Config::default()
    }

    /// Adds a `.orch` file, or a folder whose `.orch` files (at any depth) are compiled.
    pub fn input(&mut self, path: impl AsRef<Path>) -> &mut Config {
        self.inputs.push(path.as_ref().to_path_buf());
        self
    }

    /// Where to write (default: `$OUT_DIR`); files go into its `orch/` subfolder.
    pub fn out_dir(&mut self, dir: impl AsRef<Path>) -> &mut Config {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Also write each workflow's graphviz diagram as `orch/<workflow>.dot`.
    pub fn emit_dot(&mut self, yes: bool) -> &mut Config {
        self.dot = yes;
        self
    }

    /// Also write each workflow's Mermaid flowchart as `orch/<workflow>.mmd`.
    pub fn emit_mermaid(&mut self, yes: bool) -> &mut Config {
        self.mermaid = yes;
        self
    }

    /// Fail the build on warnings too.
    pub fn deny_warnings(&mut self, yes: bool) -> &mut Config {
        self.deny_warnings = yes;
        self
    }

    /// Do not print `cargo:` instructions (for use outside build scripts).
    pub fn quiet(&mut self, yes: bool) -> &mut Config {
        self.quiet = yes;
        self
    }

    /// Compiles every input; returns the paths of the files written (unchanged ones excluded).
    pub fn compile(&self) -> Result<Vec<PathBuf>, Error> {
        let out = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(Error::NoOutDir)?,
        }
        .join("orch");
        let mut sources = self.read_sources()?;
        let programs = self.check(&mut sources)?;
        let all = ir::Program {
            workflows: programs
                .values()
                .flat_map(|p| p.workflows.clone())
                .collect(),
        };
        let mut written = Vec::new();
        for (stem, program) in &programs {
            let tokens = program
                .workflows
                .iter()
                .map(|w| crate::codegen::generate_workflow(&all, w));
            let code = crate::codegen::to_source(quote::quote! { #(#tokens)* });
            write_if_changed(&out.join(format!("{stem}.rs")), &code, &mut written)?;
            for workflow in &program.workflows {
                let name = crate::codegen::snake(&workflow.name);
                if self.dot {
                    let dot = crate::emit::generate_dot(workflow);
                    write_if_changed(&out.join(format!("{name}.dot")), &dot, &mut written)?;
                }
                if self.mermaid {
                    let mermaid = crate::emit::generate_mermaid(workflow);
                    write_if_changed(&out.join(format!("{name}.mmd")), &mermaid, &mut written)?;
                }
            }
        }
        Ok(written)
    }

    fn say(&self, line: &str) {
        if !self.quiet {
            println!("cargo:{line}");
        }
    }

    fn read_sources(&self) -> Result<Vec<Source>, Error> {
        let mut paths = Vec::new();
        for input in &self.inputs {
            self.say(&format!("rerun-if-changed={}", input.display()));
            collect(input, &mut paths)?;
        }
        paths.sort();
        paths.dedup();
        if paths.is_empty() {
            let inputs: Vec<String> = self
                .inputs
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect();
            return Err(Error::NoInputs(inputs.join(", ")));
        }
        let base = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
        paths
            .into_iter()
            .map(|path| {
                self.say(&format!("rerun-if-changed={}", path.display()));
                let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
                    path: path.clone(),
                    source,
                })?;
                let shown = base
                    .as_ref()
                    .and_then(|b| path.strip_prefix(b).ok())
                    .unwrap_or(&path);
                Ok(Source {
                    name: shown.display().to_string(),
                    path,
                    text,
                    file: None,
                })
            })
            .collect()
    }

    /// Parses and checks every source together; programs by output stem.
    fn check(&self, sources: &mut [Source]) -> Result<BTreeMap<String, ir::Program>, Error> {
        let mut reports: Vec<(usize, Diagnostics)> = Vec::new();
        for (i, source) in sources.iter_mut().enumerate() {
            match crate::parse(&source.text) {
                Ok(file) => source.file = Some(file),
                Err(diags) => reports.push((i, diags)),
            }
        }
        let signatures: Vec<(usize, Signature)> = sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.file.as_ref().map(|f| (i, f)))
            .flat_map(|(i, f)| {
                crate::check::signatures_of(f)
                    .into_iter()
                    .map(move |sig| (i, sig))
            })
            .collect();
        let mut programs: BTreeMap<String, (ir::Program, PathBuf)> = BTreeMap::new();
        for (i, source) in sources.iter().enumerate() {
            let Some(file) = &source.file else { continue };
            let externals: Vec<Signature> = signatures
                .iter()
                .filter(|(j, _)| *j != i)
                .map(|(_, s)| s.clone())
                .collect();
            match crate::check(file, &externals) {
                Ok(compiled) => {
                    if !compiled.warnings.is_empty() {
                        reports.push((i, compiled.warnings));
                    }
                    let stem = source
                        .path
                        .file_stem()
                        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
                    if let Some((_, first)) = programs.get(&stem) {
                        return Err(Error::SameStem {
                            stem,
                            first: first.clone(),
                            second: source.path.clone(),
                        });
                    }
                    programs.insert(stem, (compiled.program, source.path.clone()));
                }
                Err(diags) => reports.push((i, diags)),
            }
        }
        self.report(sources, reports)?;
        Ok(programs
            .into_iter()
            .map(|(stem, (program, _))| (stem, program))
            .collect())
    }

    /// Prints every diagnostic; fails when there are errors (or warnings, if denied).
    fn report(
        &self,
        sources: &[Source],
        mut reports: Vec<(usize, Diagnostics)>,
    ) -> Result<(), Error> {
        reports.sort_by_key(|(i, _)| *i);
        let mut rendered = String::new();
        let mut errors = 0;
        for (i, diags) in &reports {
            let source = &sources[*i];
            for d in diags.iter() {
                let failing = d.is_error() || self.deny_warnings;
                if failing {
                    errors += 1;
                    rendered.push_str(&crate::render([d], &source.name, &source.text));
                } else {
                    let at = crate::LineIndex::new(&source.text).line_col(d.span.start());
                    self.say(&format!(
                        "warning={}:{}:{}: {d}",
                        source.name, at.line, at.column
                    ));
                }
            }
        }
        if errors == 0 {
            return Ok(());
        }
        eprint!("{rendered}");
        Err(Error::Invalid { errors, rendered })
    }
}

/// Every `.orch` file at `path`, descending into folders.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(read_error)? {
        let entry = entry.map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let child = entry.path();
        if child.is_dir() {
            collect(&child, out)?;
        } else if child.extension().is_some_and(|e| e == "orch") {
            out.push(child);
        }
    }
    Ok(())
}

fn write_if_changed(path: &Path, content: &str, written: &mut Vec<PathBuf>) -> Result<(), Error> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    let write_error = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write_error)?;
    }
    std::fs::write(path, content).map_err(write_error)?;
    written.push(path.to_path_buf());
    Ok(())
}
