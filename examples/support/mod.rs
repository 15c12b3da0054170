//! The summary every example prints after a run.

use orch_runtime::RunResult;

/// Prints how the run ended, the states it went through, its steps against the bound the
/// compiler proved (`WORST_CASE_STEPS`), and its output (or its error).
pub fn print_summary(result: &RunResult, worst_case_steps: u64) {
    println!();
    println!(
        "status: {:?} at `{}`",
        result.status,
        result.terminal.as_deref().unwrap_or("-")
    );
    println!("path:   {}", result.path().join(" → "));
    println!("steps:  {} (at most {worst_case_steps})", result.steps);
    match (&result.output, &result.error) {
        (Some(output), _) => println!("output: {output}"),
        (None, Some(error)) => println!("error:  {error}"),
        (None, None) => println!("output: -"),
    }
}
