//! The canonical layout of orch source text, used by `orch fmt`.
//!
//! [`print()`] lays out a syntax tree; [`format()`] parses a text and lays it out again, also
//! keeping the blank lines and end-of-line comments of the original. Both keep every plain
//! comment of the file, placed by its span, and both produce text that parses back to the same
//! tree.

use std::fmt::Write as _;

use crate::ast::*;
use crate::diagnostic::Diagnostics;

/// Lists, objects, `with` and `input` blocks stay on one line up to this many columns.
const MAX_WIDTH: usize = 100;
const INDENT: &str = "    ";

/// Prints a syntax tree as canonical orch source text.
///
/// The layout is fixed: four-space indentation, one workflow item per line, a blank line between
/// workflows, the settings of a state in a fixed order (`with`, then the settings of its kind,
/// `retry`, `timeout`, then transitions as written) and the minimal parentheses in conditions.
/// Strings are re-escaped canonically; raw strings stay raw; numbers and durations keep the text
/// they were written with.
///
/// Every comment of `file.comments` appears in the output once, on its own line before the item
/// it precedes (or before the `}` of its block). A syntax tree does not record where lines
/// ended, so a comment that ended a line in the source is printed on the next line; [`format()`]
/// keeps it at the end of its line.
///
/// ```
/// let file = orch_dsl::parse(r#"workflow Hello{worker Greeter;start greet;
///     task greet by Greeter{fail->failed;ok->done;with{name:"Ada"}}
///     succeed done output "{{greet.output}}"; fail failed;}"#).unwrap();
/// assert_eq!(orch_dsl::print(&file), r#"workflow Hello {
///     worker Greeter;
///     start greet;
///     task greet by Greeter {
///         with { name: "Ada" }
///         fail -> failed;
///         ok -> done;
///     }
///     succeed done output "{{greet.output}}";
///     fail failed;
/// }
/// "#);
/// ```
pub fn print(file: &File) -> String {
    Printer::new(&file.comments, None).file(file)
}

/// Parses `source` and prints it in the canonical layout of [`print()`], or returns the parse
/// errors.
///
/// Unlike [`print()`], `format` sees the original text, so it also keeps the blank lines between
/// items (at most one in a row, none just inside a `{` or before a `}`) and leaves a comment that
/// ended a line at the end of that line. Formatting formatted text changes nothing.
///
/// ```
/// let source = "workflow Hello {
///   worker Greeter;   // says hello
///
///
///   start greet;
///   task greet by Greeter { ok -> done; fail -> failed; }
///   succeed done;
///   fail failed;
/// }";
/// let formatted = orch_dsl::format(source).unwrap();
/// assert_eq!(formatted, "workflow Hello {
///     worker Greeter; // says hello
///
///     start greet;
///     task greet by Greeter {
///         ok -> done;
///         fail -> failed;
///     }
///     succeed done;
///     fail failed;
/// }
/// ");
/// assert_eq!(orch_dsl::format(&formatted).unwrap(), formatted);
/// assert!(orch_dsl::format("workflow {").is_err());
/// ```
pub fn format(source: &str) -> Result<String, Diagnostics> {
    let file = crate::parse(source)?;
    Ok(Printer::new(&file.comments, Some(source)).file(&file))
}

/// Writes the output line by line. Each line starts at a source offset and ends at one; with
/// the source at hand those offsets tell where blank lines and end-of-line comments were.
struct Printer<'a> {
    source: Option<&'a str>,
    /// Sorted by position; the ones before `next_comment` are already written.
    comments: Vec<&'a Comment>,
    next_comment: usize,
    out: String,
    indent: usize,
    /// The source offset where the previous line of the current block ended.
    last_end: Option<usize>,
    /// A blank line is due before the next line (between workflows).
    blank_pending: bool,
}

impl<'a> Printer<'a> {
    fn new(comments: &'a [Comment], source: Option<&'a str>) -> Printer<'a> {
        let mut comments: Vec<&Comment> = comments.iter().collect();
        comments.sort_by_key(|comment| comment.span.start());
        Printer {
            source,
            comments,
            next_comment: 0,
            out: String::new(),
            indent: 0,
            last_end: None,
            blank_pending: false,
        }
    }

    fn file(mut self, file: &File) -> String {
        for workflow in &file.workflows {
            self.workflow(workflow);
            self.blank_pending = true;
        }
        self.comments_before(usize::MAX);
        self.out
    }

    // -----------------------------------------------------------------------------------------
    // Lines, blank lines and comments
    // -----------------------------------------------------------------------------------------

    /// Starts a line for text that begins at source offset `at`, after a blank line when due.
    fn open_line(&mut self, at: usize) {
        if (self.blank_pending || self.blank_line_before(at)) && !self.out.is_empty() {
            self.out.push('\n');
        }
        self.blank_pending = false;
        self.indent_line();
    }

    fn indent_line(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str(INDENT);
        }
    }

    /// True when only separators and at least one blank line lie between the previous line of
    /// this block and `at`.
    fn blank_line_before(&self, at: usize) -> bool {
        let (Some(source), Some(end)) = (self.source, self.last_end) else {
            return false;
        };
        source.get(end..at).is_some_and(|gap| {
            gap.chars()
                .all(|c| c.is_whitespace() || c == ',' || c == ';')
                && gap.matches('\n').count() >= 2
        })
    }

    /// Ends the line of text that ends at source offset `end`, after the comments that follow
    /// it on the same source line.
    fn close_line(&mut self, mut end: usize) {
        while let Some(comment) = self.comment_on_line_of(end) {
            self.next_comment += 1;
            self.out.push(' ');
            self.out.push_str(&comment.text);
            end = comment.span.end();
        }
        self.out.push('\n');
        self.last_end = Some(end);
    }

    fn comment_on_line_of(&self, end: usize) -> Option<&'a Comment> {
        let source = self.source?;
        let comment = *self.comments.get(self.next_comment)?;
        let gap = source.get(end..comment.span.start())?;
        let same_line = gap
            .chars()
            .all(|c| c != '\n' && (c.is_whitespace() || matches!(c, ',' | ';' | ')')));
        same_line.then_some(comment)
    }

    /// Writes the comments that start before `limit`, each on its own line.
    fn comments_before(&mut self, limit: usize) {
        while let Some(&comment) = self.comments.get(self.next_comment) {
            if comment.span.start() >= limit {
                break;
            }
            self.next_comment += 1;
            self.open_line(comment.span.start());
            self.out.push_str(&comment.text);
            self.close_line(comment.span.end());
        }
    }

    /// True when a comment not yet written starts inside `span`.
    fn has_comment_in(&self, span: Span) -> bool {
        self.comments[self.next_comment..].iter().any(|comment| {
            span.start() <= comment.span.start() && comment.span.start() < span.end()
        })
    }

    /// Starts an item: its doc comments, the comments before `limit`, then its first line.
    /// `start` is where the item begins in the source.
    fn begin_item(&mut self, docs: &[Doc], start: usize, limit: usize) {
        for doc in docs {
            self.comments_before(doc.span.start());
            self.open_line(doc.span.start());
            self.out.push_str("///");
            self.out.push_str(&doc.text);
            self.out.push('\n');
            self.last_end = None;
        }
        self.comments_before(limit);
        self.open_line(start);
    }

    /// An item on one line; comments inside it go on their own lines before it.
    fn leaf(&mut self, docs: &[Doc], span: Span, text: &str) {
        self.begin_item(docs, span.start(), span.end());
        self.out.push_str(text);
        self.close_line(span.end());
    }

    /// A one-line statement whose span starts after its keyword (`limit 4;`, `until done;`).
    fn keyword_leaf(&mut self, keyword: &str, span: Span, text: &str) {
        let start = self.keyword_start(keyword, span.start());
        self.begin_item(&[], start, span.end());
        self.out.push_str(text);
        self.close_line(span.end());
    }

    fn keyword_start(&self, keyword: &str, at: usize) -> usize {
        let Some(before) = self.source.and_then(|source| source.get(..at)) else {
            return at;
        };
        let before = before.trim_end_matches(|c: char| c.is_whitespace() || c == '(');
        if before.ends_with(keyword) {
            before.len() - keyword.len()
        } else {
            at
        }
    }

    /// Writes `open`, the lines `body` writes, then `close` on a line of its own; or `open` and
    /// `close` together when the block is empty.
    fn delimited(&mut self, open: &str, close: &str, end: usize, body: impl FnOnce(&mut Self)) {
        self.out.push_str(open);
        self.out.push('\n');
        let mark = self.out.len();
        self.indent += 1;
        self.last_end = None;
        body(self);
        self.comments_before(end);
        self.indent -= 1;
        if self.out.len() == mark {
            self.out.pop();
        } else {
            self.indent_line();
        }
        self.out.push_str(close);
    }

    /// True when `flat` plus `suffix` more columns fits on the current line and no comment
    /// waits inside `span`.
    fn fits_flat(&self, flat: &str, suffix: usize, span: Span) -> bool {
        let line_start = self.out.rfind('\n').map_or(0, |i| i + 1);
        let column = self.out[line_start..].chars().count();
        column + flat.chars().count() + suffix <= MAX_WIDTH && !self.has_comment_in(span)
    }

    // -----------------------------------------------------------------------------------------
    // Workflows and items
    // -----------------------------------------------------------------------------------------

    fn workflow(&mut self, workflow: &Workflow) {
        self.begin_item(
            &workflow.docs,
            workflow.span.start(),
            workflow.name.span.start(),
        );
        let _ = write!(self.out, "workflow {}", workflow.name);
        self.delimited(" {", "}", workflow.span.end(), |p| {
            for item in &workflow.items {
                p.item(item);
            }
        });
        self.close_line(workflow.span.end());
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Input(input) => self.input(input),
            Item::Worker(worker) => {
                let text = declaration(
                    "worker",
                    &worker.name,
                    worker.description.as_ref(),
                    worker.outcomes.as_ref(),
                );
                self.leaf(&worker.docs, worker.span, &text);
            }
            Item::Signal(signal) => {
                let text = declaration(
                    "signal",
                    &signal.name,
                    signal.description.as_ref(),
                    signal.outcomes.as_ref(),
                );
                self.leaf(&signal.docs, signal.span, &text);
            }
            Item::Start(start) => self.leaf(&[], start.span, &format!("start {};", start.state)),
            Item::Timeout(timeout) => {
                let text = format!("timeout {};", timeout.duration.text);
                self.leaf(&[], timeout.span, &text);
            }
            Item::MaxSteps(max) => {
                let text = format!("max_steps {};", max.value.value);
                self.leaf(&[], max.span, &text);
            }
            Item::DefaultFail(default) => {
                let text = format!("on fail -> {};", default.target);
                self.leaf(&[], default.span, &text);
            }
            Item::State(state) => self.state(state),
        }
    }

    fn input(&mut self, input: &InputBlock) {
        self.begin_item(&[], input.span.start(), input.span.start());
        self.out.push_str("input ");
        let flat = braced(input.fields.iter().map(input_field));
        let documented = input.fields.iter().any(|field| !field.docs.is_empty());
        if !documented && self.fits_flat(&flat, 0, input.span) {
            self.out.push_str(&flat);
        } else {
            self.delimited("{", "}", input.span.end(), |p| {
                for field in &input.fields {
                    p.leaf(&field.docs, field.span, &format!("{},", input_field(field)));
                }
            });
        }
        self.close_line(input.span.end());
    }

    // -----------------------------------------------------------------------------------------
    // States
    // -----------------------------------------------------------------------------------------

    fn state(&mut self, state: &State) {
        match &state.kind {
            StateKind::Succeed(succeed) => self.terminal(state, "output", succeed.output.as_ref()),
            StateKind::Fail(fail) => self.terminal(state, "error", fail.error.as_ref()),
            kind => {
                self.begin_item(&state.docs, state.span.start(), state.span.start());
                self.out.push_str(&state_header(state));
                self.delimited(" {", "}", state.span.end(), |p| p.state_body(kind));
                self.close_line(state.span.end());
            }
        }
    }

    /// `succeed name output value;` or `fail name error value;`.
    fn terminal(&mut self, state: &State, keyword: &str, value: Option<&Value>) {
        let limit = value.map_or(state.span.end(), |value| value.span().start());
        self.begin_item(&state.docs, state.span.start(), limit);
        self.out.push_str(&state_header(state));
        if let Some(value) = value {
            let _ = write!(self.out, " {keyword} ");
            self.value(value, 1);
        }
        self.out.push(';');
        self.close_line(state.span.end());
    }

    fn state_body(&mut self, kind: &StateKind) {
        match kind {
            StateKind::Task(task) => {
                self.with(task.with.as_ref());
                self.retry_and_timeout(task.retry.as_deref(), task.timeout.as_deref());
                self.transitions(&task.transitions);
            }
            StateKind::Choice(choice) => self.choice_arms(choice),
            StateKind::Parallel(parallel) => {
                for branch in &parallel.branches {
                    self.branch(branch);
                }
                if let Some(join) = &parallel.join {
                    self.leaf(&[], join.span, &join_text(&join.kind));
                }
                self.retry_and_timeout(None, parallel.timeout.as_deref());
                self.transitions(&parallel.transitions);
            }
            StateKind::Map(map) => {
                self.with(map.with.as_ref());
                if let Some(limit) = &map.limit {
                    self.keyword_leaf("limit", limit.span, &format!("limit {};", limit.value));
                }
                self.retry_and_timeout(map.retry.as_deref(), map.timeout.as_deref());
                self.transitions(&map.transitions);
            }
            StateKind::Loop(looped) => self.loop_body(looped),
            StateKind::Wait(wait) => {
                self.retry_and_timeout(None, wait.timeout.as_deref());
                self.transitions(&wait.transitions);
            }
            StateKind::Call(call) => {
                self.with(call.with.as_ref());
                self.retry_and_timeout(None, call.timeout.as_deref());
                self.transitions(&call.transitions);
            }
            StateKind::Succeed(_) | StateKind::Fail(_) => {}
        }
    }

    fn loop_body(&mut self, looped: &Loop) {
        self.with(looped.with.as_ref());
        if let Some(until) = &looped.until {
            let text = format!("until {};", condition(until));
            self.keyword_leaf("until", until.span(), &text);
        }
        if let Some(max) = &looped.max {
            let mut text = format!("max {}", max.count.value);
            if let Some(otherwise) = &max.otherwise {
                let _ = write!(text, " else {otherwise}");
            }
            text.push(';');
            self.leaf(&[], max.span, &text);
        }
        self.retry_and_timeout(looped.retry.as_deref(), looped.timeout.as_deref());
        self.transitions(&looped.transitions);
    }

    fn choice_arms(&mut self, choice: &Choice) {
        for arm in &choice.arms {
            let text = format!(
                "when {} -> {};",
                condition(&arm.condition),
                target(&arm.target)
            );
            self.leaf(&[], arm.span, &text);
        }
        if let Some(otherwise) = &choice.otherwise {
            let text = format!("else -> {};", target(&otherwise.target));
            self.leaf(&[], otherwise.span, &text);
        }
    }

    /// `branch name by Worker;`, or with a block when it has settings.
    fn branch(&mut self, branch: &Branch) {
        let header = format!("branch {} by {}", branch.name, branch.worker);
        if branch.with.is_none() && branch.retry.is_none() && branch.timeout.is_none() {
            self.leaf(&branch.docs, branch.span, &format!("{header};"));
            return;
        }
        self.begin_item(&branch.docs, branch.span.start(), branch.name.span.start());
        self.out.push_str(&header);
        self.delimited(" {", "}", branch.span.end(), |p| {
            p.with(branch.with.as_ref());
            p.retry_and_timeout(branch.retry.as_deref(), branch.timeout.as_deref());
        });
        self.close_line(branch.span.end());
    }

    fn with(&mut self, with: Option<&With>) {
        let Some(with) = with else {
            return;
        };
        self.begin_item(&[], with.span.start(), with.span.start());
        self.out.push_str("with ");
        self.object(&with.entries, with.span, 0);
        self.close_line(with.span.end());
    }

    fn retry_and_timeout(&mut self, retry: Option<&Retry>, timeout: Option<&Timeout>) {
        if let Some(retry) = retry {
            self.leaf(&[], retry.span, &retry_text(retry));
        }
        if let Some(timeout) = timeout {
            let text = format!("timeout {};", timeout.duration.text);
            self.leaf(&[], timeout.span, &text);
        }
    }

    fn transitions(&mut self, transitions: &[Transition]) {
        for transition in transitions {
            let text = format!("{} -> {};", transition.event, target(&transition.target));
            self.leaf(&[], transition.span, &text);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Values
    // -----------------------------------------------------------------------------------------

    /// Writes a value after the text already on the line; a list or object that does not fit
    /// in `suffix` fewer columns than remain, or that holds comments, gets one element per line.
    fn value(&mut self, value: &Value, suffix: usize) {
        match value {
            Value::List { items, span } => self.list(items, *span, suffix),
            Value::Object { entries, span } => self.object(entries, *span, suffix),
            other => self.out.push_str(&flat_value(other)),
        }
    }

    fn list(&mut self, items: &[Value], span: Span, suffix: usize) {
        let flat = flat_list(items);
        if self.fits_flat(&flat, suffix, span) {
            self.out.push_str(&flat);
            return;
        }
        self.delimited("[", "]", span.end(), |p| {
            for item in items {
                let at = item.span();
                p.begin_item(&[], at.start(), at.start());
                p.value(item, 1);
                p.out.push(',');
                p.close_line(at.end());
            }
        });
    }

    fn object(&mut self, entries: &[Entry], span: Span, suffix: usize) {
        let flat = flat_object(entries);
        if self.fits_flat(&flat, suffix, span) {
            self.out.push_str(&flat);
            return;
        }
        self.delimited("{", "}", span.end(), |p| {
            for entry in entries {
                p.begin_item(&[], entry.span.start(), entry.value.span().start());
                let _ = write!(p.out, "{}: ", key(&entry.key));
                p.value(&entry.value, 1);
                p.out.push(',');
                p.close_line(entry.span.end());
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Text of one-line pieces
// ---------------------------------------------------------------------------------------------

fn state_header(state: &State) -> String {
    let name = &state.name;
    match &state.kind {
        StateKind::Task(task) => format!("task {name} by {}", task.worker),
        StateKind::Choice(_) => format!("choice {name}"),
        StateKind::Parallel(_) => format!("parallel {name}"),
        StateKind::Map(map) => {
            format!(
                "map {name} over {} as {} by {}",
                map.over, map.item, map.worker
            )
        }
        StateKind::Loop(looped) => match &looped.var {
            Some(var) => format!("loop {name} by {} as {var}", looped.worker),
            None => format!("loop {name} by {}", looped.worker),
        },
        StateKind::Wait(wait) => format!("wait {name} for {}", wait.signal),
        StateKind::Call(call) => format!("call {name} workflow {}", call.workflow),
        StateKind::Succeed(_) => format!("succeed {name}"),
        StateKind::Fail(_) => format!("fail {name}"),
    }
}

/// `worker Name;`, `worker Name "description";`, `worker Name outcomes [a, b];`.
fn declaration(
    keyword: &str,
    name: &Ident,
    description: Option<&StrLit>,
    outcomes: Option<&Outcomes>,
) -> String {
    let mut text = format!("{keyword} {name}");
    if let Some(description) = description {
        let _ = write!(text, " {}", string_literal(description));
    }
    if let Some(outcomes) = outcomes {
        let labels: Vec<&str> = outcomes.labels.iter().map(|l| l.name.as_str()).collect();
        let _ = write!(text, " outcomes [{}]", labels.join(", "));
    }
    text.push(';');
    text
}

fn input_field(field: &InputField) -> String {
    let mut text = format!("{}: {}", field.name, field.ty.ty.as_str());
    if let Some(default) = &field.default {
        let _ = write!(text, " = {}", literal(default));
    }
    text
}

fn join_text(kind: &JoinKind) -> String {
    match kind {
        JoinKind::All => "join all;".to_string(),
        JoinKind::Any => "join any;".to_string(),
        JoinKind::Count(count) => format!("join {};", count.value),
    }
}

fn retry_text(retry: &Retry) -> String {
    let mut text = format!("retry {}", retry.retries.value);
    if let Some(backoff) = &retry.backoff {
        let _ = write!(text, " backoff {}", backoff.initial.text);
        if let Some(multiplier) = &backoff.multiplier {
            let _ = write!(text, " {}", multiplier.text);
        }
        if let Some(max) = &backoff.max {
            let _ = write!(text, " max {}", max.text);
        }
        if backoff.jitter {
            text.push_str(" jitter");
        }
    }
    text.push(';');
    text
}

fn target(target: &Target) -> String {
    match &target.bound {
        Some(bound) => format!(
            "{} max {} else {}",
            target.state, bound.max.value, bound.otherwise
        ),
        None => target.state.name.to_string(),
    }
}

/// `{ a, b }`, or `{}` without items.
fn braced(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "{}".to_string()
    } else {
        format!("{{ {} }}", items.join(", "))
    }
}

fn flat_value(value: &Value) -> String {
    match value {
        Value::Template(template) => string_literal(&template.lit),
        Value::Number(number) => number.text.to_string(),
        Value::Bool { value, .. } => value.to_string(),
        Value::Null { .. } => "null".to_string(),
        Value::List { items, .. } => flat_list(items),
        Value::Object { entries, .. } => flat_object(entries),
        Value::Path(path) => path.to_string(),
    }
}

fn flat_list(items: &[Value]) -> String {
    let items: Vec<String> = items.iter().map(flat_value).collect();
    format!("[{}]", items.join(", "))
}

fn flat_object(entries: &[Entry]) -> String {
    braced(
        entries
            .iter()
            .map(|entry| format!("{}: {}", key(&entry.key), flat_value(&entry.value))),
    )
}

fn key(key: &Key) -> String {
    if key.quoted {
        plain_string(&key.name)
    } else {
        key.name.to_string()
    }
}

fn literal(literal: &Literal) -> String {
    match literal {
        Literal::Str(lit) => string_literal(lit),
        Literal::Number(number) => number.text.to_string(),
        Literal::Bool { value, .. } => value.to_string(),
        Literal::Null { .. } => "null".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------------

fn string_literal(lit: &StrLit) -> String {
    match lit.raw_hashes {
        Some(hashes) => raw_string(&lit.value, usize::from(hashes)),
        None => plain_string(&lit.value),
    }
}

/// A `"…"` string with canonical escapes; other Unicode stays as it is.
fn plain_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `r#"…"#` with `hashes` hashes, or more when the text itself holds the closing sequence (only
/// possible in a tree built by hand).
fn raw_string(value: &str, hashes: usize) -> String {
    let mut hashes = hashes;
    while value.contains(&format!("\"{}", "#".repeat(hashes))) {
        hashes += 1;
    }
    let fence = "#".repeat(hashes);
    format!("r{fence}\"{value}\"{fence}")
}

// ---------------------------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------------------------

/// Binding strength of a condition; atoms bind tightest.
fn precedence(expr: &Expr) -> u8 {
    match expr {
        Expr::Binary { op, .. } => op.precedence(),
        Expr::Not { .. } => 4,
        Expr::Exists { .. } | Expr::Literal(_) | Expr::Path(_) => 5,
    }
}

/// A condition with the fewest parentheses that parse back to the same tree.
fn condition(expr: &Expr) -> String {
    let mut out = String::new();
    write_condition(&mut out, expr);
    out
}

fn write_condition(out: &mut String, expr: &Expr) {
    match expr {
        Expr::Binary { op, lhs, rhs, .. } => {
            let strength = op.precedence();
            // Chains fold to the left; comparisons do not chain at all.
            let comparison = strength == BinOp::Eq.precedence();
            let lhs_strength = precedence(lhs);
            write_operand(
                out,
                lhs,
                lhs_strength < strength || (comparison && lhs_strength == strength),
            );
            let _ = write!(out, " {} ", op.as_str());
            write_operand(out, rhs, precedence(rhs) <= strength);
        }
        Expr::Not { expr, .. } => {
            out.push('!');
            write_operand(out, expr, matches!(**expr, Expr::Binary { .. }));
        }
        Expr::Exists { path, .. } => {
            let _ = write!(out, "exists {path}");
        }
        Expr::Literal(lit) => out.push_str(&literal(lit)),
        Expr::Path(path) => {
            let _ = write!(out, "{path}");
        }
    }
}

fn write_operand(out: &mut String, expr: &Expr, parenthesize: bool) {
    if parenthesize {
        out.push('(');
        write_condition(out, expr);
        out.push(')');
    } else {
        write_condition(out, expr);
    }
}
