//! Byte spans and line/column lookup.

use serde::Serialize;

/// A half-open byte range `start..end` into a source text.
///
/// The offsets are stored in 32 bits, so that the many spans of a syntax tree take 8 bytes
/// each; a source text is at most [`Span::MAX_SOURCE`] bytes long (the parser rejects a longer
/// one).
///
/// ```
/// use orch_dsl::Span;
/// let span = Span::new(9, 14);
/// assert_eq!((span.start(), span.end(), span.len()), (9, 14, 5));
/// assert_eq!(span.text("workflow Hello {}"), "Hello");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The longest source text spans can point into: 4 GiB − 1 bytes.
    pub const MAX_SOURCE: usize = u32::MAX as usize;

    /// The span `start..end`; offsets past [`Span::MAX_SOURCE`] are clamped to it.
    pub const fn new(start: usize, end: usize) -> Span {
        const fn offset(at: usize) -> u32 {
            if at > Span::MAX_SOURCE {
                u32::MAX
            } else {
                at as u32
            }
        }
        Span {
            start: offset(start),
            end: offset(end),
        }
    }

    /// The byte offset where the span starts.
    pub const fn start(self) -> usize {
        self.start as usize
    }

    /// The byte offset just past the span's end.
    pub const fn end(self) -> usize {
        self.end as usize
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The text this span covers in `source` (empty when out of range).
    pub fn text(self, source: &str) -> &str {
        source.get(self.start()..self.end()).unwrap_or("")
    }
}

impl From<pest::Span<'_>> for Span {
    fn from(span: pest::Span<'_>) -> Span {
        Span::new(span.start(), span.end())
    }
}

/// A 1-based line and column; the column counts characters, not bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

/// Finds the line and column of byte offsets in one source text.
///
/// ```
/// use orch_dsl::LineIndex;
/// let index = LineIndex::new("workflow A {\n    start x;\n}\n");
/// let at = index.line_col(17);
/// assert_eq!((at.line, at.column), (2, 5));
/// ```
#[derive(Clone, Debug)]
pub struct LineIndex<'a> {
    source: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(source: &'a str) -> LineIndex<'a> {
        let line_starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex {
            source,
            line_starts,
        }
    }

    /// The line and column of `offset` (clamped to the text, and to a character boundary).
    pub fn line_col(&self, offset: usize) -> LineCol {
        let mut offset = offset.min(self.source.len());
        while !self.source.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let column = self.source[self.line_starts[line]..offset].chars().count() + 1;
        LineCol {
            line: line + 1,
            column,
        }
    }

    /// The byte range of 1-based `line`, without its line break.
    pub fn line_span(&self, line: usize) -> Option<Span> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let end = self
            .line_starts
            .get(line)
            .map_or(self.source.len(), |&next| next - 1);
        Some(Span::new(start, end.max(start)))
    }
}
