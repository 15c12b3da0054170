fn main() {
    let path = std::env::args().nth(1).unwrap();
    let source = std::fs::read_to_string(&path).unwrap();
    let compiled = orch_dsl::compile(&source).unwrap();
    print!(
        "{}",
        orch_dsl::codegen::to_source(orch_dsl::codegen::generate_program(&compiled.program))
    );
}
