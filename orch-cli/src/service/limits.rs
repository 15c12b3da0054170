//! Limits against hostile or careless definitions and inputs: what a definition may hold, what
//! a run may consume, and how many runs a principal may have running at once.

use std::time::Duration;

use orch_dsl::ir;
use serde::Serialize;

/// The limits, as `orch serve` flags with safe defaults.
#[derive(Clone, Debug, clap::Args)]
pub struct Limits {
    /// The largest definition text, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024)]
    pub max_definition_bytes: usize,
    /// The most states of a definition, all its workflows together.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub max_states: usize,
    /// The most branches of one `parallel` state.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_parallel_branches: usize,
    /// The most items one `map` state may fan out to; a run over it fails through the map's
    /// failure path.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_map_items: usize,
    /// The most steps of a run: a definition's `max_steps` is lowered to it, and a definition
    /// without one gets it.
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_steps: u64,
    /// The longest a run may take (`30s`, `5m`, `24h`, `7d`): a definition's `timeout` is
    /// lowered to it, and a definition without one gets it.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub max_run_timeout: Duration,
    /// The largest run input or signal payload, as JSON, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_input_bytes: usize,
    /// The largest output a worker may return, as JSON, in bytes; a larger one fails the call.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_output_bytes: usize,
    /// The most runs one principal may have running at once; one more is refused with 429.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_concurrent_runs: usize,
}

impl Limits {
    /// The largest request body: room for a definition or an input at its limit, escaped as a
    /// JSON string, and the fields around it.
    pub fn max_body_bytes(&self) -> usize {
        self.max_definition_bytes
            .max(self.max_input_bytes)
            .saturating_mul(2)
            .saturating_add(64 * 1024)
    }

    /// The limits the engine enforces while runs go on.
    pub fn engine(&self) -> orch_runtime::Limits {
        orch_runtime::Limits {
            max_map_items: Some(self.max_map_items),
            max_input_bytes: Some(self.max_input_bytes),
            max_output_bytes: Some(self.max_output_bytes),
        }
    }

    fn max_run_timeout_ms(&self) -> u64 {
        u64::try_from(self.max_run_timeout.as_millis()).unwrap_or(u64::MAX)
    }

    /// What a checked program breaks of these limits, one message each.
    pub fn problems(&self, program: &ir::Program) -> Vec<String> {
        let mut problems = Vec::new();
        let states: usize = program.workflows.iter().map(|w| w.states.len()).sum();
        if states > self.max_states {
            problems.push(format!(
                "the definition has {states} states, more than the limit of {}",
                self.max_states
            ));
        }
        for workflow in &program.workflows {
            for state in &workflow.states {
                if let ir::StateKind::Parallel { branches, .. } = &state.kind
                    && branches.len() > self.max_parallel_branches
                {
                    problems.push(format!(
                        "`parallel {}` in workflow `{}` has {} branches, more than the limit of {}",
                        state.name,
                        workflow.name,
                        branches.len(),
                        self.max_parallel_branches
                    ));
                }
            }
        }
        problems
    }

    /// Lowers every workflow's `max_steps` and `timeout` to the caps (and sets them where the
    /// definition has none); returns each workflow's bounds as declared and as applied.
    pub fn cap(&self, program: &mut ir::Program) -> Vec<Bounds> {
        let timeout_cap = self.max_run_timeout_ms();
        program
            .workflows
            .iter_mut()
            .map(|workflow| {
                let declared_max_steps = workflow.max_steps;
                let declared_timeout_ms = workflow.timeout_ms;
                workflow.max_steps =
                    Some(declared_max_steps.map_or(self.max_steps, |n| n.min(self.max_steps)));
                workflow.timeout_ms =
                    Some(declared_timeout_ms.map_or(timeout_cap, |ms| ms.min(timeout_cap)));
                Bounds {
                    workflow: workflow.name.to_string(),
                    states: workflow.states.len(),
                    worst_case_steps: workflow.worst_case_steps,
                    declared_max_steps,
                    max_steps: workflow.max_steps.unwrap_or(self.max_steps),
                    declared_timeout_ms,
                    timeout_ms: workflow.timeout_ms.unwrap_or(timeout_cap),
                }
            })
            .collect()
    }
}

/// A workflow's size and bounds, as declared and as the server runs it.
#[derive(Clone, Debug, Serialize)]
pub struct Bounds {
    pub workflow: String,
    pub states: usize,
    /// The most steps any run can take, as the checker proved.
    pub worst_case_steps: u64,
    pub declared_max_steps: Option<u64>,
    /// `max_steps` as applied: the declared one lowered to the cap.
    pub max_steps: u64,
    pub declared_timeout_ms: Option<u64>,
    /// The run timeout as applied.
    pub timeout_ms: u64,
}

/// Parses `500ms`, `30s`, `5m`, `24h`, `7d`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("`{text}` is not a duration such as `30s`, `5m`, `24h` or `7d`");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms: u64 = match &rest[..unit] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(invalid()),
        };
        total = number
            .checked_mul(ms)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(invalid)?;
        rest = &rest[unit..];
    }
    if total == 0 {
        return Err(format!(
            "`{text}` is zero; give a duration longer than that"
        ));
    }
    Ok(Duration::from_millis(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        limits: Limits,
    }

    fn defaults() -> Limits {
        Flags::parse_from(["serve"]).limits
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn caps_lower_bounds_and_fill_missing_ones() {
        let limits = Limits {
            max_steps: 50,
            max_run_timeout: Duration::from_secs(60),
            ..defaults()
        };
        let mut program = orch_dsl::compile(
            "workflow A { max_steps 500; timeout 10s; start done; succeed done; }
             workflow B { start done; succeed done; }",
        )
        .unwrap()
        .program;
        let bounds = limits.cap(&mut program);
        assert_eq!(program.workflows[0].max_steps, Some(50));
        assert_eq!(program.workflows[0].timeout_ms, Some(10_000));
        assert_eq!(program.workflows[1].max_steps, Some(50));
        assert_eq!(program.workflows[1].timeout_ms, Some(60_000));
        assert_eq!(bounds[0].declared_max_steps, Some(500));
        assert_eq!(bounds[1].declared_timeout_ms, None);
    }

    #[test]
    fn the_body_limit_leaves_room_for_escaped_text() {
        let limits = defaults();
        assert!(limits.max_body_bytes() >= 2 * limits.max_definition_bytes);
        assert_eq!(limits.engine().max_map_items, Some(1000));
    }
}
