//! Rust names for workflow names: `BuildWebsite` → module `build_website`, state `specs` →
//! variant `Specs`, worker `ProductManager` → method `product_manager`.

use proc_macro2::{Ident, Span};

/// Words that cannot be identifiers, even raw.
const NOT_RAW: [&str; 5] = ["self", "Self", "super", "crate", "_"];

const KEYWORDS: [&str; 51] = [
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual",
];

/// `specs` → `Specs`, `changes_requested` → `ChangesRequested`.
pub fn pascal(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'X');
    }
    out
}

/// `ProductManager` → `product_manager`, `HTTPFetch` → `http_fetch`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && !out.ends_with('_') && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// An identifier for `name`, raw when it is a keyword, with a trailing `_` when even a raw
/// identifier cannot be written.
pub fn ident(name: &str) -> Ident {
    if NOT_RAW.contains(&name) {
        Ident::new(&format!("{name}_"), Span::call_site())
    } else if KEYWORDS.contains(&name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// Distinct identifiers for names that may collide once converted (`a_b` and `aB` both give
/// `AB`): later ones get a numeric suffix.
pub fn distinct(names: impl IntoIterator<Item = String>) -> Vec<Ident> {
    let mut seen = std::collections::HashSet::new();
    names
        .into_iter()
        .map(|name| {
            let mut candidate = name.clone();
            let mut n = 2;
            while !seen.insert(candidate.clone()) {
                candidate = format!("{name}{n}");
                n += 1;
            }
            ident(&candidate)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_case() {
        assert_eq!(pascal("changes_requested"), "ChangesRequested");
        assert_eq!(pascal("specs"), "Specs");
        assert_eq!(snake("ProductManager"), "product_manager");
        assert_eq!(snake("HTTPFetch"), "http_fetch");
        assert_eq!(snake("Coder2"), "coder2");
        assert_eq!(ident("type").to_string(), "r#type");
        assert_eq!(ident("Self").to_string(), "Self_");
        let names = distinct(["AB".to_string(), "AB".to_string()]);
        assert_eq!(names[1].to_string(), "AB2");
    }
}
