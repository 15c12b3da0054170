//! Compiles the `.orch` workflows of the examples into `OUT_DIR/orch/`.

fn main() -> Result<(), orch_dsl::build::Error> {
    orch_dsl::build::Config::new()
        .input("examples/workflows")
        .emit_dot(true)
        .emit_mermaid(true)
        .compile()
        .map(|_| ())
}
