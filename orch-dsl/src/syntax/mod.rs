//! Parsing: source text → [`ast::File`](crate::ast::File).
//!
//! A lexical scan runs first (unterminated strings and comments, unbalanced delimiters), then
//! the pest grammar in `grammar.pest`, then lowering into the AST. After a syntax error the
//! statement around it is blanked out and the text parsed again, so one run reports the syntax
//! errors of every statement, not just the first.

mod errors;
pub use errors::RESERVED_WORDS;
pub(crate) mod lexical;
mod lower;
pub(crate) mod strings;

use std::sync::atomic::{AtomicUsize, Ordering};

use pest::Parser;
use pest::error::Error;
use pest::iterators::Pairs;
use pest_derive::Parser;

use crate::ast::File;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};

#[derive(Parser)]
#[grammar = "grammar.pest"]
pub(crate) struct OrchParser;

/// At most this many syntax errors are reported for one text.
const MAX_SYNTAX_ERRORS: usize = 30;

/// Parses a source text into its syntax tree, or returns every error found.
///
/// ```
/// let file = orch_dsl::parse(r#"
///     workflow Hello {
///         worker Greeter;
///         start greet;
///         task greet by Greeter { ok -> done; fail -> failed; }
///         succeed done output "{{greet.output}}";
///         fail failed;
///     }
/// "#).unwrap();
/// assert_eq!(file.workflows[0].name.name, "Hello");
/// assert_eq!(file.workflows[0].states().count(), 3);
/// ```
pub fn parse(source: &str) -> Result<File, Diagnostics> {
    match parse_recovering(source) {
        (Some(file), diags) if diags.is_empty() => Ok(file),
        (_, diags) => Err(diags),
    }
}

/// Parses as much as it can: the syntax tree of the text with every statement that has a
/// syntax error left out (when one could be built), and every diagnostic found.
pub fn parse_recovering(source: &str) -> (Option<File>, Diagnostics) {
    if source.len() > crate::Span::MAX_SOURCE {
        // Spans hold 32-bit offsets: a longer text could not be pointed into.
        let end = crate::Span::new(crate::Span::MAX_SOURCE, crate::Span::MAX_SOURCE);
        let too_long = Diagnostic::error(
            Code::Syntax,
            end,
            format!(
                "the source text is {} bytes long, more than the {} bytes a workflow file may have",
                source.len(),
                crate::Span::MAX_SOURCE
            ),
        )
        .with_label("the text goes on past here")
        .with_help("split the workflows into several files");
        return (None, Diagnostics::from(vec![too_long]));
    }
    let scan = lexical::scan(source);
    if !scan.errors.is_empty() {
        let mut diags = Diagnostics::from(scan.errors);
        diags.sort();
        return (None, diags);
    }
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut blanked: Option<String> = None;
    let mut detailed = None;
    let file = loop {
        let text = blanked.as_deref().unwrap_or(source);
        let result = parse_text(text, &mut detailed);
        let error = match result {
            Ok(mut pairs) => {
                let mut lowerer = lower::Lowerer { diags: Vec::new() };
                let file = pairs
                    .next()
                    .map(|pair| lowerer.file(pair, scan.comments.clone()));
                diags.extend(lowerer.diags);
                break file;
            }
            Err(error) => error,
        };
        let offset = errors::offset(&error);
        diags.push(errors::syntax_error(&error, source, &scan.tokens));
        if diags.len() >= MAX_SYNTAX_ERRORS {
            break None;
        }
        let Some(region) = lexical::statement_around(text, &scan.tokens, offset) else {
            break None;
        };
        if region.text(text).trim().is_empty() {
            break None;
        }
        let text = blanked.get_or_insert_with(|| source.to_string());
        blank(text, region);
    };
    let mut diags = Diagnostics::from(diags);
    diags.sort();
    (file, diags)
}

/// Runs the grammar over `text`.
///
/// With its error detail on, pest records every token it tries, for the "expected …" lists of
/// syntax errors: a `String` per literal tried, hundreds of small allocations per state, which
/// made parsing twice as slow and scattered the syntax tree's blocks among them. So a text is
/// parsed without it first (pest's default), and with it once the text is known to have an
/// error: that parse, and the parses of the text with erroneous statements blanked out after
/// it, which look for more errors.
fn parse_text<'t>(
    text: &'t str,
    detailed: &mut Option<Detailed>,
) -> Result<Pairs<'t, Rule>, Error<Rule>> {
    parse_text_with(text, detailed, |text| OrchParser::parse(Rule::file, text))
}

/// [`parse_text`] with the grammar run by `parse`.
fn parse_text_with<'t>(
    text: &'t str,
    detailed: &mut Option<Detailed>,
    mut parse: impl FnMut(&'t str) -> Result<Pairs<'t, Rule>, Error<Rule>>,
) -> Result<Pairs<'t, Rule>, Error<Rule>> {
    if detailed.is_none() {
        match parse(text) {
            Err(error) if error.parse_attempts().is_none() => {}
            result => return result,
        }
        *detailed = Some(Detailed::on());
    }
    let mut tries = 1;
    loop {
        // Set before each try: another thread's detailed parse, ending, may have turned the
        // setting off between this one's turning it on and pest's reading it.
        pest::set_error_detail(true);
        match parse(text) {
            // Only if other threads' parses kept turning it off is an error without the
            // detail reported, with fewer expectations listed.
            Err(error) if error.parse_attempts().is_none() && tries < DETAIL_TRIES => tries += 1,
            result => return result,
        }
    }
}

/// How many times [`parse_text`] parses a text with an error again to get pest's details.
const DETAIL_TRIES: usize = 4;

/// pest's error detail is one setting for the whole process: it stays on while any thread
/// parses a text with an error, and the last one to finish turns it off again.
struct Detailed;

static DETAILED: AtomicUsize = AtomicUsize::new(0);

impl Detailed {
    fn on() -> Detailed {
        DETAILED.fetch_add(1, Ordering::SeqCst);
        Detailed
    }
}

impl Drop for Detailed {
    fn drop(&mut self) {
        if DETAILED.fetch_sub(1, Ordering::SeqCst) == 1 {
            pest::set_error_detail(false);
        }
    }
}

/// Replaces the text of `region` with spaces, keeping line breaks and byte offsets.
fn blank(text: &mut String, region: crate::Span) {
    let replaced: String = text[region.start()..region.end()]
        .chars()
        .map(|c| {
            if c == '\n' {
                "\n".to_string()
            } else {
                " ".repeat(c.len_utf8())
            }
        })
        .collect();
    text.replace_range(region.start()..region.end(), &replaced);
}

/// Held by the unit tests that parse texts with errors or set pest's error detail, which is one
/// setting for the whole test process, so that they do not change each other's counts.
#[cfg(test)]
pub(crate) static DETAIL_SETTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;

    fn serialized() -> std::sync::MutexGuard<'static, ()> {
        DETAIL_SETTING.lock().unwrap_or_else(|e| e.into_inner())
    }

    const INVALID: &str = "workflow W { worker X; start a; task a by X { ok => b; } }";

    /// Runs [`parse_text_with`] over `text`, with pest's error detail turned off before each of
    /// the first `interfered` calls, as another thread's detailed parse ending would; returns
    /// the result, whether it carries pest's details, and the number of calls.
    fn parse_interfered(text: &str, interfered: usize) -> (bool, Option<bool>, usize) {
        let _serialized = serialized();
        let mut detailed = None;
        let mut calls = 0;
        let result = parse_text_with(text, &mut detailed, |text| {
            calls += 1;
            if calls <= interfered {
                pest::set_error_detail(false);
            }
            OrchParser::parse(Rule::file, text)
        });
        let details = result.as_ref().err().map(|e| e.parse_attempts().is_some());
        (result.is_ok(), details, calls)
    }

    #[test]
    fn a_valid_text_is_parsed_once() {
        let valid = "workflow W { worker X; start a; task a by X { ok -> b; } succeed b; }";
        assert_eq!(parse_interfered(valid, 1), (true, None, 1));
    }

    #[test]
    fn an_error_is_parsed_again_until_pest_gives_its_details() {
        // The first parse, without details, then two tries that lost the setting.
        assert_eq!(parse_interfered(INVALID, 3), (false, Some(true), 4));
    }

    #[test]
    fn an_error_is_reported_without_details_once_the_tries_are_used_up() {
        assert_eq!(
            parse_interfered(INVALID, usize::MAX),
            (false, Some(false), 1 + DETAIL_TRIES)
        );
    }

    #[test]
    fn an_error_is_parsed_once_more_when_details_are_on_already() {
        let _serialized = serialized();
        let mut detailed = Some(Detailed::on());
        let mut calls = 0;
        let result = parse_text_with(INVALID, &mut detailed, |text| {
            calls += 1;
            OrchParser::parse(Rule::file, text)
        });
        assert!(result.unwrap_err().parse_attempts().is_some());
        assert_eq!(calls, 1);
    }
}
