//! The expansion of `workflow! { … }`, kept here so that it is a plain, testable function; the
//! macro crate only converts between `proc_macro` and `proc_macro2` tokens.
//!
//! The tokens are written out as text one by one, at the lines and columns where the user wrote
//! them, and the byte range of every token is recorded with its `Span`. The text goes through
//! the same parser and checker as `.orch` files; each diagnostic's byte range is mapped back to
//! the tokens it covers, so errors point at the workflow source, and an error inside a template
//! points at its string literal.

use proc_macro2::{Delimiter, Ident, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};

use crate::diagnostic::{Diagnostic, Severity};

/// Expands `workflow! { … }`: the generated modules, or every error plus a skeleton of the
/// types so that code using them reports no follow-on errors.
pub fn expand_workflow(input: TokenStream) -> TokenStream {
    let text = SourceText::from_tokens(input);
    let (file, diags) = crate::parse_recovering(&text.text);
    let file = match file {
        Some(file) if !diags.has_errors() => file,
        partial => {
            let skeleton = partial
                .map(|f| crate::codegen::generate_skeleton(&f))
                .unwrap_or_default();
            let errors = text.errors(diags.iter());
            return quote! { #errors #skeleton };
        }
    };
    match crate::check(&file, &[]) {
        Ok(compiled) => {
            let code = crate::codegen::generate_program(&compiled.program);
            let warnings = text.warnings(compiled.warnings.iter());
            quote! { #code #warnings }
        }
        Err(diags) => {
            let errors = text.errors(diags.iter().filter(|d| d.is_error()));
            let skeleton = crate::codegen::generate_skeleton(&file);
            quote! { #errors #skeleton }
        }
    }
}

/// Workflow text written from tokens, with the span of every token.
pub struct SourceText {
    pub text: String,
    /// Byte range and span of each token, in text order.
    tokens: Vec<(usize, usize, Span)>,
    /// The end of the last placed token: line and column.
    line: usize,
    column: usize,
    /// The start of the last token.
    last_start: (usize, usize),
    /// The last token was a punct joined to the next one.
    joint: bool,
}

impl SourceText {
    pub fn from_tokens(input: TokenStream) -> SourceText {
        let mut text = SourceText {
            text: String::new(),
            tokens: Vec::new(),
            line: 0,
            column: 0,
            last_start: (0, 0),
            joint: false,
        };
        text.write_stream(input);
        text
    }

    fn write_stream(&mut self, stream: TokenStream) {
        let mut tokens = stream.into_iter().peekable();
        while let Some(tree) = tokens.next() {
            if let TokenTree::Punct(p) = &tree
                && p.as_char() == '#'
            {
                let inner =
                    matches!(tokens.peek(), Some(TokenTree::Punct(b)) if b.as_char() == '!');
                if inner {
                    tokens.next(); // `#![doc = "…"]`: `//!` is a plain comment in orch
                    tokens.next();
                    continue;
                }
                if let Some(TokenTree::Group(group)) = tokens.peek()
                    && let Some(doc) = doc_text(group)
                {
                    let span = p.span();
                    tokens.next();
                    for line in doc.split('\n') {
                        self.write(&format!("///{line}"), span);
                        self.newline();
                    }
                    continue;
                }
            }
            self.write_tree(tree);
        }
    }

    fn write_tree(&mut self, tree: TokenTree) {
        match tree {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::None => ("", ""),
                };
                if !open.is_empty() {
                    self.write(open, group.span_open());
                }
                self.write_stream(group.stream());
                if !close.is_empty() {
                    self.write(close, group.span_close());
                }
            }
            TokenTree::Ident(ident) => self.write(&ident.to_string(), ident.span()),
            TokenTree::Literal(literal) => self.write(&literal.to_string(), literal.span()),
            TokenTree::Punct(punct) => {
                self.write(&punct.as_char().to_string(), punct.span());
                self.joint = punct.spacing() == proc_macro2::Spacing::Joint;
            }
        }
    }

    /// Places a token where it was written when its span says where, else after one space
    /// (tokens made by other macros may all share one location).
    fn write(&mut self, token: &str, span: Span) {
        let (start, end) = (span.start(), span.end());
        let at = (start.line, start.column);
        let here = (self.line, self.column);
        if !self.text.is_empty() {
            if self.joint {
                // a punct joined to the previous one, as in `->`
            } else if start.line > 0 && at > here && start.line > self.line {
                self.text.push_str(&"\n".repeat(start.line - self.line));
                self.text.push_str(&" ".repeat(start.column));
            } else if start.line > 0
                && at >= here
                && (at > self.last_start || self.tokens.len() < 2)
            {
                self.text.push_str(&" ".repeat(start.column - self.column));
            } else {
                self.text.push(' ');
            }
        }
        let from = self.text.len();
        self.text.push_str(token);
        self.tokens.push((from, self.text.len(), span));
        if start.line > 0 && (end.line, end.column) >= here {
            (self.line, self.column) = (end.line, end.column);
        }
        self.last_start = at;
        self.joint = false;
    }

    fn newline(&mut self) {
        self.text.push('\n');
        self.line += 1;
        self.column = 0;
    }

    /// The spans of the first and last tokens that a byte range covers.
    fn spans(&self, start: usize, end: usize) -> (Span, Span) {
        let covered: Vec<Span> = self
            .tokens
            .iter()
            .filter(|(from, to, _)| *from < end.max(start + 1) && *to > start)
            .map(|(_, _, span)| *span)
            .collect();
        match (covered.first(), covered.last()) {
            (Some(first), Some(last)) => (*first, *last),
            _ => {
                let next = self
                    .tokens
                    .iter()
                    .find(|(from, _, _)| *from >= start)
                    .or(self.tokens.last());
                let span = next.map_or(Span::call_site(), |(_, _, span)| *span);
                (span, span)
            }
        }
    }

    /// Every error as one `compile_error!`, combined.
    fn errors<'a>(&self, diags: impl Iterator<Item = &'a Diagnostic>) -> TokenStream {
        let mut combined: Option<syn::Error> = None;
        for diagnostic in diags {
            let (first, last) = self.spans(diagnostic.span.start(), diagnostic.span.end());
            let tokens: TokenStream = [Ident::new("x", first), Ident::new("x", last)]
                .into_iter()
                .map(TokenTree::Ident)
                .collect();
            let error = syn::Error::new_spanned(tokens, self.message(diagnostic));
            match &mut combined {
                Some(all) => all.combine(error),
                None => combined = Some(error),
            }
        }
        combined.map_or_else(TokenStream::new, |e| e.to_compile_error())
    }

    /// Warnings, shown by rustc as uses of a deprecated item spanned on the workflow source.
    fn warnings<'a>(&self, diags: impl Iterator<Item = &'a Diagnostic>) -> TokenStream {
        let items = diags.filter(|d| d.severity == Severity::Warning).map(|d| {
            let (first, _) = self.spans(d.span.start(), d.span.end());
            let note = self.message(d);
            let name = Ident::new("warning", first);
            quote_spanned! {first=>
                const _: () = {
                    #[deprecated(note = #note)]
                    #[allow(non_upper_case_globals)]
                    const warning: () = ();
                    #name
                };
            }
        });
        quote! { #(#items)* }
    }

    /// The message with the code, then the label, secondary labels, notes and help as
    /// `= note:` and `= help:` lines: a proc macro on stable has no way to attach them to spans.
    /// rustc indents every line after the first under the message text.
    fn message(&self, d: &Diagnostic) -> String {
        let mut message = format!("{} [{}]", d.message, d.code);
        if !d.label.is_empty() && !d.message.contains(&d.label) {
            message.push_str(&format!("\n= note: {}", d.label));
        }
        for label in &d.secondary {
            let (span, _) = self.spans(label.span.start(), label.span.end());
            let at = span.start();
            message.push_str(&format!(
                "\n= note: {} (line {}, column {})",
                label.message,
                at.line,
                at.column + 1
            ));
        }
        for note in &d.notes {
            message.push_str(&format!("\n= note: {note}"));
        }
        if let Some(help) = &d.help {
            message.push_str(&format!("\n= help: {help}"));
        }
        message
    }
}

/// The text of a `#[doc = "…"]` attribute group.
fn doc_text(group: &proc_macro2::Group) -> Option<String> {
    if group.delimiter() != Delimiter::Bracket {
        return None;
    }
    let mut inner = group.stream().into_iter();
    match (inner.next(), inner.next(), inner.next(), inner.next()) {
        (
            Some(TokenTree::Ident(doc)),
            Some(TokenTree::Punct(eq)),
            Some(TokenTree::Literal(lit)),
            None,
        ) if doc == "doc" && eq.as_char() == '=' => {
            syn::parse2::<syn::LitStr>(lit.into_token_stream())
                .ok()
                .map(|s| s.value())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn writes_tokens_where_they_were() {
        let source = "workflow A {\n    task t by W { retry 2 backoff 1s x1.5; ok -> done; }\n}";
        let text = SourceText::from_tokens(TokenStream::from_str(source).unwrap());
        assert_eq!(text.text.trim(), source);
    }

    #[test]
    fn doc_attributes_become_doc_comments() {
        let tokens = TokenStream::from_str("#[doc = \" Says hello.\"] workflow A {}").unwrap();
        let text = SourceText::from_tokens(tokens);
        assert!(
            text.text.starts_with("/// Says hello.\n"),
            "{:?}",
            text.text
        );
        assert!(crate::parse(&text.text).is_ok());
    }

    #[test]
    fn errors_map_to_tokens() {
        let _serialized = crate::syntax::DETAIL_SETTING
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let tokens = TokenStream::from_str("workflow A { start x }").unwrap();
        let out = expand_workflow(tokens).to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("expected `;`"), "{out}");
    }
}
