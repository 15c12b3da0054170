//! The `workflow!` macro of orch. Use it through `orch_runtime::workflow!`; the expansion lives
//! in `orch_dsl::expand`, where it is a plain function with tests.

use proc_macro::TokenStream;

/// Compiles workflows written inline into typed Rust modules, checked when the crate compiles.
///
/// See `orch_runtime::workflow!` for the documentation and an example.
#[proc_macro]
pub fn workflow(input: TokenStream) -> TokenStream {
    orch_dsl::expand::expand_workflow(input.into()).into()
}
