//! The worker bindings of `orch.toml`, checked against a program and bound on an engine: the
//! same code for `orch run`, `orch resume` and `orch serve`. A role-bound worker learns the
//! outcomes the program declares for it, so the checks and the binding both need the program
//! the engine runs.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use orch_dsl::ir;
use orch_runtime::store::Store;
use orch_runtime::{Engine, Options};

use super::config::{self, Binding, Config};
use super::{chat, http, process};
use crate::error::CliError;

/// The worker bindings of one `orch.toml`, or none when there is no such file.
pub struct Bindings {
    config: Option<Config>,
}

/// Why a worker cannot be called as `orch.toml` binds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerProblem {
    /// `orch.toml` does not bind it.
    Unbound,
    /// Its command cannot be started; the message names the command and where it was looked for.
    Command(String),
    /// Its role (or a role of its pool) cannot serve it; the message names the worker and the
    /// role.
    Role(String),
}

impl WorkerProblem {
    /// The problem as one line, for a worker that is bound.
    pub fn message(&self, worker: &str) -> String {
        match self {
            WorkerProblem::Unbound => format!("worker `{worker}` is not bound in `orch.toml`"),
            WorkerProblem::Command(message) | WorkerProblem::Role(message) => message.clone(),
        }
    }
}

impl Bindings {
    /// Reads `explicit`, else the `orch.toml` next to `workflow_file`, else the one in the
    /// current directory; no bindings when there is none.
    pub fn read(
        explicit: Option<&Path>,
        workflow_file: Option<&Path>,
    ) -> Result<Bindings, CliError> {
        let config = match config::locate(explicit, workflow_file)? {
            Some(path) => Some(Config::read(&path)?),
            None => None,
        };
        Ok(Bindings { config })
    }

    /// Why worker `name` of `program` cannot be called, if it cannot: it is not bound, its
    /// command is missing, or its role names no model or answers plain text while `program`
    /// gives the worker outcomes other than `ok`.
    pub fn problem(&self, program: &ir::Program, name: &str) -> Option<WorkerProblem> {
        let Some(binding) = self.config.as_ref().and_then(|c| c.workers.get(name)) else {
            return Some(WorkerProblem::Unbound);
        };
        if let Binding::Command(spec) = binding
            && let Err(problem) = find_program(&spec.program, &spec.cwd)
        {
            return Some(WorkerProblem::Command(format!(
                "worker `{name}` cannot start `{}`: {problem}",
                spec.program.display()
            )));
        }
        chat::problem(program, name, binding).map(WorkerProblem::Role)
    }

    /// Fails when a worker a run of `workflow` may call is not bound, or cannot be called as it
    /// is bound (see [`Bindings::problem`]). `file`: the workflow file, for the messages.
    pub fn check(
        &self,
        program: &ir::Program,
        workflow: &ir::Workflow,
        file: &Path,
    ) -> Result<(), CliError> {
        let needed = needed_workers(program, workflow);
        let list = |names: &[&String]| {
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(config) = &self.config else {
            if needed.is_empty() {
                return Ok(());
            }
            let names: Vec<&String> = needed.iter().collect();
            return Err(CliError::new(format!(
                "workflow `{}` uses worker{} {}, but there is no `{}` next to `{}` or in the \
                 current directory to bind {} (see `--config`)",
                workflow.name,
                if names.len() == 1 { "" } else { "s" },
                list(&names),
                config::FILE_NAME,
                file.display(),
                if names.len() == 1 { "it" } else { "them" },
            )));
        };
        let problems: Vec<(&String, WorkerProblem)> = needed
            .iter()
            .filter_map(|name| self.problem(program, name).map(|p| (name, p)))
            .collect();
        let missing: Vec<&String> = problems
            .iter()
            .filter(|(_, p)| *p == WorkerProblem::Unbound)
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            let one = missing.len() == 1;
            return Err(CliError::new(format!(
                "worker{} {} used by `{}` {} not bound in `{}`: add a `[workers.{}]` section",
                if one { "" } else { "s" },
                list(&missing),
                workflow.name,
                if one { "is" } else { "are" },
                config.path.display(),
                missing[0],
            )));
        }
        match problems.first() {
            Some((name, problem)) => Err(CliError::new(problem.message(name))),
            None => Ok(()),
        }
    }

    /// An engine with every worker of `orch.toml` bound, role-bound ones answering the outcomes
    /// `program` gives them, and a stand-in that fails for each worker of `program` that
    /// `orch.toml` does not bind (the engine wants every worker of a loaded program bound).
    /// Needs a tokio runtime.
    pub fn engine(
        &self,
        options: Options,
        store: Option<Arc<dyn Store>>,
        program: &ir::Program,
    ) -> Engine {
        let mut engine = Engine::with_options(options);
        if let Some(store) = store {
            engine = engine.with_store(store);
        }
        self.bind(&engine, program);
        engine
    }

    fn bind(&self, engine: &Engine, program: &ir::Program) {
        if let Some(config) = &self.config {
            for (name, binding) in &config.workers {
                match binding {
                    Binding::Command(spec) => {
                        engine.bind(name.clone(), process::ProcessWorker::new(spec.clone()));
                    }
                    Binding::Http(spec) => {
                        engine.bind(name.clone(), http::HttpWorker::new(spec.clone()));
                    }
                    Binding::Role(spec) => {
                        let outcomes = chat::outcomes(program, name);
                        let worker = chat::worker(
                            &spec.role,
                            &spec.prices,
                            spec.timeout,
                            outcomes.as_deref(),
                        );
                        engine.bind(name.clone(), worker);
                    }
                    Binding::Pool(spec) => {
                        let outcomes = chat::outcomes(program, name);
                        engine.bind(name.clone(), chat::pool(spec, outcomes.as_deref()));
                    }
                }
            }
        }
        let bound = |name: &str| {
            self.config
                .as_ref()
                .is_some_and(|c| c.workers.contains_key(name))
        };
        for worker in program.workflows.iter().flat_map(|w| &w.workers) {
            if !bound(&worker.name) {
                let message = WorkerProblem::Unbound.message(&worker.name);
                engine.bind(worker.name.clone(), move |_call: orch_runtime::Call| {
                    let message = message.clone();
                    async move { Err(orch_runtime::WorkerError::permanent(message)) }
                });
            }
        }
    }
}

/// The workers a run of `workflow` may call: its own and those of the workflows it calls.
fn needed_workers(program: &ir::Program, workflow: &ir::Workflow) -> BTreeSet<String> {
    let mut needed = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut todo = vec![workflow];
    while let Some(workflow) = todo.pop() {
        if !seen.insert(workflow.name.clone()) {
            continue;
        }
        needed.extend(workflow.workers.iter().map(|w| w.name.to_string()));
        for state in &workflow.states {
            if let ir::StateKind::Call {
                workflow: called, ..
            } = &state.kind
                && let Some(called) = program.workflow(called)
            {
                todo.push(called);
            }
        }
    }
    needed
}

/// Checks that a program exists before the run starts, as the process would look it up.
fn find_program(program: &Path, cwd: &Path) -> Result<(), String> {
    if !cwd.is_dir() {
        return Err(format!("its folder `{}` does not exist", cwd.display()));
    }
    if program.components().count() > 1 {
        return if program.is_file() {
            Ok(())
        } else {
            Err("no such file".into())
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|dir| dir.join(program).is_file()) {
        Ok(())
    } else {
        Err("not found on the `PATH`".into())
    }
}
