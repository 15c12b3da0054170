fn main() {
    let path = std::env::args().nth(1).unwrap();
    let source = std::fs::read_to_string(&path).unwrap();
    match orch_dsl::compile(&source) {
        Ok(c) => {
            print!("{}", orch_dsl::render(&c.warnings, &path, &source));
            for w in &c.program.workflows {
                println!(
                    "workflow {}: {} states, worst case {} steps",
                    w.name,
                    w.states.len(),
                    w.worst_case_steps
                );
            }
            if std::env::args().any(|a| a == "--json") {
                println!("{}", serde_json::to_string_pretty(&c.program).unwrap());
            }
        }
        Err(d) => print!("{}", orch_dsl::render(&d, &path, &source)),
    }
}
