fn main() {
    let path = std::env::args().nth(1).unwrap();
    let source = std::fs::read_to_string(&path).unwrap();
    match orch_dsl::parse(&source) {
        Ok(file) => println!("{}", serde_json::to_string_pretty(&file).unwrap()),
        Err(d) => print!("{}", orch_dsl::render(&d, &path, &source)),
    }
}
