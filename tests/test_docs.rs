//! Keeps the language reference and the error index true: their examples are run through the
//! compiler, and their lists are compared with the compiler's own.
//!
//! - every ```` ```orch ```` block of `docs/language.md` compiles without errors or warnings
//!   (so it must be a complete workflow; fragments go in ```` ```text ```` blocks);
//! - every ```` ```orch ```` block of `docs/errors.md` is reported with the code of its section,
//!   and only with it, and the ```` ```text ```` block that follows it is the rendered report
//!   (file name `example.orch`);
//! - the reserved words listed in `docs/language.md` are `orch_dsl::RESERVED_WORDS`;
//! - every `orch_dsl::Code` has a section `## CODE: summary` in `docs/errors.md`.

use std::path::Path;

use orch_dsl::{Code, Diagnostics, RESERVED_WORDS};

/// A fenced code block of a Markdown file.
struct Block {
    /// The info string after the opening fence (`orch`, `text`, …).
    info: String,
    text: String,
    /// The 1-based line of the opening fence.
    line: usize,
    /// The closest `## ` heading above the block.
    section: String,
}

fn read_doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The `## ` headings outside code blocks, in order.
fn headings(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
        } else if !in_block && let Some(heading) = line.strip_prefix("## ") {
            out.push(heading.trim().to_string());
        }
    }
    out
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (Some(_), Some(rest)) if rest.trim().is_empty() => out.extend(open.take()),
            (Some(block), _) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_string(),
                    text: String::new(),
                    line: i + 1,
                    section: section.clone(),
                });
            }
            (None, None) => {
                if let Some(heading) = line.strip_prefix("## ") {
                    section = heading.trim().to_string();
                }
            }
        }
    }
    assert!(open.is_none(), "a code block is never closed");
    out
}

/// Rendered diagnostics compared line by line, ignoring trailing whitespace.
fn normalize(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n").trim_end().to_string()
}

/// Everything the compiler reports for `source`: its errors, or the warnings of a success.
fn report(source: &str) -> Diagnostics {
    match orch_dsl::compile(source) {
        Ok(compiled) => compiled.warnings,
        Err(diagnostics) => diagnostics,
    }
}

#[test]
fn language_examples_compile() {
    let doc = read_doc("language.md");
    let examples: Vec<Block> = blocks(&doc)
        .into_iter()
        .filter(|b| b.info == "orch")
        .collect();
    assert!(
        !examples.is_empty(),
        "docs/language.md has no orch examples"
    );
    let mut failures = String::new();
    for block in &examples {
        let diagnostics = report(&block.text);
        if !diagnostics.is_empty() {
            let name = format!("docs/language.md:{}", block.line);
            failures.push_str(&orch_dsl::render(&diagnostics, &name, &block.text));
        }
    }
    assert!(
        failures.is_empty(),
        "examples in docs/language.md are not clean (line numbers count from the opening fence; \
         put fragments in ```text blocks):\n{failures}"
    );
}

#[test]
fn error_examples_report_their_code() {
    let doc = read_doc("errors.md");
    let all = blocks(&doc);
    let mut checked = 0;
    for (i, block) in all.iter().enumerate().filter(|(_, b)| b.info == "orch") {
        let at = format!("docs/errors.md:{}", block.line);
        let written = block.section.split(':').next().unwrap_or_default();
        let code = Code::from_code(written)
            .unwrap_or_else(|| panic!("{at}: example outside an error code's section"));
        let diagnostics = report(&block.text);
        let codes: Vec<Code> = diagnostics.iter().map(|d| d.code).collect();
        assert!(
            !codes.is_empty() && codes.iter().all(|&c| c == code),
            "{at}: the example for {code} reports {codes:?}"
        );
        let rendered = orch_dsl::render(&diagnostics, "example.orch", &block.text);
        let shown = all
            .get(i + 1)
            .filter(|next| next.info == "text")
            .unwrap_or_else(|| {
                panic!("{at}: the example must be followed by a ```text block with its report")
            });
        assert_eq!(
            normalize(&shown.text),
            normalize(&rendered),
            "{at}: the report shown at docs/errors.md:{} is not the compiler's; paste this:\n{rendered}",
            shown.line
        );
        checked += 1;
    }
    assert!(checked > 0, "docs/errors.md has no orch examples");
}

#[test]
fn reserved_words_are_the_compilers() {
    let doc = read_doc("language.md");
    let listed = blocks(&doc)
        .into_iter()
        .find(|b| b.section == "Reserved words" && b.info == "text")
        .expect("docs/language.md has a ```text block under `## Reserved words`");
    let mut listed: Vec<&str> = listed.text.split_whitespace().collect();
    let count = listed.len();
    listed.sort_unstable();
    listed.dedup();
    assert_eq!(count, listed.len(), "a reserved word is listed twice");
    let mut reserved: Vec<&str> = RESERVED_WORDS.to_vec();
    reserved.sort_unstable();
    assert_eq!(listed, reserved);
}

#[test]
fn every_code_has_a_section() {
    let headings = headings(&read_doc("errors.md"));
    let missing: Vec<String> = Code::ALL
        .iter()
        .map(|code| format!("{code}: {}", code.summary()))
        .filter(|heading| !headings.contains(heading))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/errors.md has no section for:\n## {}",
        missing.join("\n## ")
    );
    for heading in &headings {
        let written = heading.split(':').next().unwrap_or_default();
        let looks_like_code =
            written.len() == 5 && written[1..].bytes().all(|b| b.is_ascii_digit());
        assert!(
            !looks_like_code || Code::from_code(written).is_some(),
            "docs/errors.md has a section for `{written}`, which is not a code"
        );
    }
}
