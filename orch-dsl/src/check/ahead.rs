//! Prefetching a state's parts before the checker reaches it.
//!
//! A state's syntax tree is a chain of heap blocks: the state points at its transitions and
//! its `with` entries, an entry at its template's parts, a part at its path's segments, a
//! segment at its name. On a workflow larger than the cache, a pass that reads one state after
//! the other waits for each block in turn. The pass instead asks for the blocks of the states
//! ahead of it, one level of the chain per distance: the state itself `(LEVELS + 1) × STRIDE`
//! states ahead, the blocks it points at `STRIDE` states later (its own lines are in the cache
//! by then, so reading them to find those blocks does not wait), the blocks those point at
//! `STRIDE` states later still, and so on, so that by the time the pass reaches a state its
//! blocks have arrived. A prefetch is a hint: it changes no result, only when memory is read.
//!
//! The IR the pass writes needs the same: its blocks reuse memory the previous check's IR was
//! freed from, long out of the cache, and a processor must read a line before it can write
//! part of it. The lowering asks for a block's lines when it allocates the block and before it
//! builds what goes in it ([`for_writing`]), and for the slot of the state a few states ahead
//! in the list of states ([`WRITE_AHEAD`]).

use std::mem::MaybeUninit;

use crate::ast::{self, Expr, StateKind, Value};

/// How many levels of a state's tree below the state itself are fetched ahead.
const LEVELS: usize = 3;
/// States between one level's prefetch and the next's.
const STRIDE: usize = 1;

/// Asks for the blocks of the states ahead of `at` in `states`, each at the level its
/// distance gives (see the module's documentation). Level 0 is the state itself.
pub(super) fn states(states: &[&ast::State], at: usize) {
    for level in 0..=LEVELS {
        if let Some(state) = states.get(at + (LEVELS + 1 - level) * STRIDE) {
            Walk { level }.state(state);
        }
    }
}

/// Asks for the bytes of the name declared `distance` items ahead of `at` (a state's or a
/// worker's), for the pass that reads only the declarations' names.
pub(super) fn name(items: &[ast::Item], at: usize, distance: usize) {
    match items.get(at + distance) {
        Some(ast::Item::State(state)) => prefetch(state.name.name.as_ptr()),
        Some(ast::Item::Worker(worker)) => prefetch(worker.name.name.as_ptr()),
        _ => {}
    }
}

/// One walk over a state's tree: the blocks at depth `level` are prefetched, those above it
/// read to find them, those below it left alone. The state itself is depth 0, a block it
/// points at depth 1.
struct Walk {
    level: usize,
}

impl Walk {
    /// Whether to look into the blocks at `depth`: true when they lie above the level.
    fn read(&self, depth: usize) -> bool {
        depth < self.level
    }

    /// A block at `depth`: prefetched when at the level.
    fn block<T>(&self, depth: usize, block: *const T, bytes: usize) {
        if depth == self.level {
            let start = block.cast::<u8>();
            // Every cache line of the block, up to a few: the rest of a long list is fetched
            // by the processor as it is read in order.
            for offset in (0..bytes.min(12 * LINE)).step_by(LINE) {
                prefetch(start.wrapping_add(offset));
            }
        }
    }

    /// A name: a block of its own only when too long to be stored inline.
    fn text(&self, depth: usize, text: &ast::Name) {
        if text.is_heap_allocated() {
            self.block(depth, text.as_ptr(), text.len().min(LINE));
        }
    }

    fn list<T>(&self, depth: usize, list: &[T], each: impl Fn(&T)) {
        self.block(depth, list.as_ptr(), size_of_val(list));
        if self.read(depth) {
            list.iter().for_each(each);
        }
    }

    fn state(&self, state: &ast::State) {
        self.block(0, state, size_of::<ast::State>());
        if !self.read(0) {
            return;
        }
        self.text(1, &state.name.name);
        // The depth of the block that holds the state's settings: a map's and a loop's are a
        // block of their own.
        let (with, holder) = match &state.kind {
            StateKind::Task(task) => {
                self.text(1, &task.worker.name);
                self.retry(1, &task.retry);
                (task.with.as_ref(), 0)
            }
            StateKind::Map(map) => {
                self.block(1, &**map, size_of::<ast::Map>());
                if !self.read(1) {
                    return;
                }
                self.text(2, &map.worker.name);
                self.retry(2, &map.retry);
                self.path(1, &map.over);
                (map.with.as_ref(), 1)
            }
            StateKind::Loop(lp) => {
                self.block(1, &**lp, size_of::<ast::Loop>());
                if !self.read(1) {
                    return;
                }
                self.text(2, &lp.worker.name);
                self.retry(2, &lp.retry);
                if let Some(max) = &lp.max {
                    self.block(2, &**max, size_of::<ast::LoopMax>());
                }
                if let Some(until) = &lp.until {
                    self.boxed_expr(2, until);
                }
                (lp.with.as_ref(), 1)
            }
            StateKind::Call(call) => {
                self.text(1, &call.workflow.name);
                (call.with.as_ref(), 0)
            }
            StateKind::Wait(wait) => {
                self.text(1, &wait.signal.name);
                (None, 0)
            }
            StateKind::Parallel(parallel) => {
                self.list(1, &parallel.branches, |branch| {
                    self.text(2, &branch.name.name);
                    self.text(2, &branch.worker.name);
                    self.retry(2, &branch.retry);
                    if let Some(timeout) = &branch.timeout {
                        self.block(2, &**timeout, size_of::<ast::Timeout>());
                    }
                    if let Some(with) = &branch.with {
                        self.entries(1, &with.entries);
                    }
                });
                (None, 0)
            }
            StateKind::Choice(choice) => {
                self.list(1, &choice.arms, |arm| {
                    self.expr(1, &arm.condition);
                    self.text(2, &arm.target.state.name);
                });
                if let Some(otherwise) = &choice.otherwise {
                    self.text(1, &otherwise.target.state.name);
                }
                (None, 0)
            }
            StateKind::Succeed(ast::Succeed { output: value })
            | StateKind::Fail(ast::Fail { error: value }) => {
                if let Some(value) = value {
                    self.value(0, value);
                }
                (None, 0)
            }
        };
        if let Some(timeout) = state.kind.timeout() {
            self.block(holder + 1, timeout, size_of::<ast::Timeout>());
        }
        self.list(holder + 1, state.kind.transitions(), |transition| {
            self.text(holder + 2, &transition.target.state.name);
            if let Some(bound) = &transition.target.bound {
                self.text(holder + 2, &bound.otherwise.name);
            }
        });
        if let Some(with) = with {
            self.entries(holder, &with.entries);
        }
    }

    /// A retry setting, a block of its own at `depth`.
    fn retry(&self, depth: usize, retry: &Option<Box<ast::Retry>>) {
        if let Some(retry) = retry {
            self.block(depth, &**retry, size_of::<ast::Retry>());
        }
    }

    /// Entries whose list is pointed at from a block at `depth`.
    fn entries(&self, depth: usize, entries: &[ast::Entry]) {
        self.list(depth + 1, entries, |entry| {
            self.text(depth + 2, &entry.key.name);
            self.value(depth + 1, &entry.value);
        });
    }

    /// A value held inline in a block at `depth`.
    fn value(&self, depth: usize, value: &Value) {
        match value {
            Value::Template(template) => {
                self.list(depth + 1, &template.parts, |part| {
                    if let ast::TemplatePart::Placeholder(path) = part {
                        self.path(depth + 1, path);
                    }
                });
            }
            Value::Path(path) => self.path(depth, path),
            Value::List { items, .. } => self.list(depth + 1, items, |v| self.value(depth + 1, v)),
            Value::Object { entries, .. } => self.entries(depth, entries),
            Value::Number(_) | Value::Bool { .. } | Value::Null { .. } => {}
        }
    }

    /// A path held inline in a block at `depth`.
    fn path(&self, depth: usize, path: &ast::Path) {
        self.text(depth + 1, &path.root.name);
        self.list(depth + 1, &path.segments, |segment| {
            if let ast::Segment::Field(field) = segment {
                self.text(depth + 2, &field.name);
            }
        });
    }

    /// A condition in a block of its own at `depth`.
    fn boxed_expr(&self, depth: usize, expr: &Expr) {
        self.block(depth, expr, size_of::<Expr>());
        if self.read(depth) {
            self.expr(depth, expr);
        }
    }

    /// A condition held inline in a block at `depth`.
    fn expr(&self, depth: usize, expr: &Expr) {
        match expr {
            Expr::Binary { lhs, rhs, .. } => {
                self.boxed_expr(depth + 1, lhs);
                self.boxed_expr(depth + 1, rhs);
            }
            Expr::Not { expr, .. } => self.boxed_expr(depth + 1, expr),
            Expr::Exists { path, .. } | Expr::Path(path) => self.path(depth, path),
            Expr::Literal(_) => {}
        }
    }
}

/// A cache line's bytes.
const LINE: usize = 64;

/// Asks the processor to bring the line holding `at` into the cache.
#[inline(always)]
fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that reads nothing and cannot fault, whatever the address;
    // SSE, which provides it, is part of every x86-64 processor.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// How many states ahead in the IR's list of states the lowering asks for a slot's lines.
pub(super) const WRITE_AHEAD: usize = 6;

/// Asks for the lines of `room`, about to be written: the spare room of a list just
/// allocated, or a block allocated before its contents are built.
pub(super) fn for_writing<T>(room: &[MaybeUninit<T>]) {
    lines_for_writing(room.as_ptr().cast(), size_of_val(room));
}

/// Asks for the lines of the `bytes` at `start`, up to a few, about to be written: a list's
/// later lines are fetched by the processor as it writes them in order.
pub(super) fn lines_for_writing(start: *const u8, bytes: usize) {
    for offset in (0..bytes.min(12 * LINE)).step_by(LINE) {
        prefetch(start.wrapping_add(offset));
    }
}
