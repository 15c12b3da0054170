//! Compile-time tests of `workflow!`: every diagnostic code fails the build with its message on
//! the right tokens, a broken workflow leaves usable types behind, and the generated API
//! compiles and runs. Bless the `.stderr` files with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    for family in [
        "syntax", "names", "paths", "data", "settings", "warnings", "skeleton", "combined",
    ] {
        t.compile_fail(format!("tests/ui/{family}/*.rs"));
    }
    t.pass("tests/ui/pass/*.rs");
}

/// Codes that `workflow!` never reports, because rustc rejects the input before the macro
/// runs: an unclosed delimiter or an unterminated string or comment is a lexer error in Rust.
/// `syntax/unclosed_delimiter.rs` shows rustc's error instead.
const REPORTED_BY_RUSTC: [&str; 1] = ["E0002"];

#[test]
fn every_code_has_a_case() {
    let mut stderr = String::new();
    for family in std::fs::read_dir("tests/ui").unwrap() {
        for case in std::fs::read_dir(family.unwrap().path()).unwrap() {
            let path = case.unwrap().path();
            if path.extension().is_some_and(|e| e == "stderr") {
                stderr.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
    }
    let missing: Vec<&str> = orch_dsl::Code::ALL
        .iter()
        .map(|code| code.as_str())
        .filter(|code| !stderr.contains(&format!("[{code}]")))
        .collect();
    assert_eq!(missing, REPORTED_BY_RUSTC, "codes without a UI case");
}
