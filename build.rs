//! Compiles the `.orch` workflows of the examples into `OUT_DIR/orch/`, and the valid test
//! fixtures into `OUT_DIR/fixtures/orch/`, where `tests/test_codegen.rs` includes them.

use std::path::PathBuf;

fn main() -> Result<(), orch_dsl::build::Error> {
    orch_dsl::build::Config::new()
        .input("examples/workflows")
        .emit_dot(true)
        .emit_mermaid(true)
        .compile()?;
    let out_dir = std::env::var_os("OUT_DIR").ok_or(orch_dsl::build::Error::NoOutDir)?;
    orch_dsl::build::Config::new()
        .input("tests/fixtures/valid")
        .out_dir(PathBuf::from(out_dir).join("fixtures"))
        .compile()?;
    Ok(())
}
