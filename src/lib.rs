//! orch: deterministic workflows over probabilistic workers.
//!
//! This crate re-exports [`orch_runtime`], the engine, its `workflow!` macro and its
//! `include_workflow!`. The compiler is [`orch_dsl`]; use it from `build.rs` to compile
//! `.orch` files.

pub use orch_runtime::*;
