//! The orch workflow compiler as a library.
//!
//! One pipeline serves every way a workflow reaches orch — the `workflow!` macro, `.orch` files
//! compiled by `build.rs`, text loaded at run time and the `orch` command:
//!
//! ```text
//! source ─▶ parse (pest) ─▶ AST with spans ─▶ checks ─▶ IR ─▶ Rust tokens / DOT / Mermaid / JSON
//! ```
//!
//! ```
//! let source = r#"
//!     workflow Hello {
//!         worker Greeter;
//!         start greet;
//!         task greet by Greeter { ok -> done; fail -> failed; }
//!         succeed done output "{{greet.output}}";
//!         fail failed;
//!     }
//! "#;
//! let file = orch_dsl::parse(source).unwrap();
//! assert_eq!(file.workflows[0].name.name, "Hello");
//! ```

pub mod ast;
pub mod build;
mod check;
pub mod codegen;
mod diagnostic;
pub mod emit;
pub mod expand;
pub mod ir;
mod printer;
mod render;
mod span;
pub mod suggest;
mod syntax;

pub use check::{Compiled, Signature, check, compile, signatures};
pub use diagnostic::{Code, Diagnostic, Diagnostics, Label, Severity};
pub use printer::{format, print};
pub use span::{LineCol, LineIndex, Span};
pub use syntax::{RESERVED_WORDS, parse, parse_recovering};

pub use render::render;
