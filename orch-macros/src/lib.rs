//! The `workflow!` macro of orch. Use it through `orch_runtime::workflow!`.
