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

use pest::Parser;
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
    pest::set_error_detail(true);
    let scan = lexical::scan(source);
    if !scan.errors.is_empty() {
        let mut diags = Diagnostics::from(scan.errors);
        diags.sort();
        return (None, diags);
    }
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut blanked: Option<String> = None;
    let file = loop {
        let text = blanked.as_deref().unwrap_or(source);
        let result = OrchParser::parse(Rule::file, text);
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
