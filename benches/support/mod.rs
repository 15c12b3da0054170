//! What the benchmarks share: generated workflows, the transition machine, timing helpers and
//! the workloads themselves, so that the divan benches and the table measure the same code.
#![allow(dead_code)]

pub mod durable;
pub mod generate;
pub mod machine;
pub mod measure;
pub mod minimal;
pub mod workloads;
