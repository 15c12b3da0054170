#![doc = include_str!("../README.md")]
//!
//! This crate re-exports [`orch_runtime`]: the engine, its `workflow!` macro and its
//! `include_workflow!`. The compiler is the `orch-dsl` crate; use it from `build.rs` to compile
//! `.orch` files.

pub use orch_runtime::*;
