//! Compact tables the passes share, so that each name is resolved once and most passes read a
//! few dense arrays instead of the syntax tree.
//!
//! A large workflow's tree is spread over many small heap blocks; a pass that only needs a
//! state's kind, or the id a transition leads to, would otherwise walk all of them again.

use std::hash::BuildHasher;

use rustc_hash::FxBuildHasher;

use crate::ast::StateKind;

/// Stands for "no id" in the `u32` side tables: a name that did not resolve.
pub(crate) const NONE: u32 = u32::MAX;

/// State names to ids. The names are copied into one buffer, so a lookup compares against
/// that buffer rather than against a name somewhere in the tree.
#[derive(Default)]
pub(crate) struct NameTable {
    /// Every name, one after the other.
    text: String,
    /// Where name `id` ends in `text`; it starts where name `id - 1` ends.
    ends: Vec<u32>,
    /// Open addressing: the name's hash (high half) and `id + 1`; `(_, 0)` is an empty slot.
    slots: Vec<(u32, u32)>,
}

impl NameTable {
    /// A table for about `count` names.
    pub fn with_capacity(count: usize, bytes: usize) -> NameTable {
        // At most half full, so probe sequences stay short.
        let size = (2 * count).next_power_of_two().max(8);
        NameTable {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(count),
            slots: vec![(0, 0); size],
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    fn name(&self, id: usize) -> &str {
        let start = if id == 0 {
            0
        } else {
            self.ends[id - 1] as usize
        };
        &self.text[start..self.ends[id] as usize]
    }

    /// The names in id order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|id| self.name(id))
    }

    /// The slot holding `name`, or the empty slot where it would go.
    fn find(&self, name: &str) -> (usize, u32) {
        let hash = FxBuildHasher.hash_one(name);
        let tag = (hash >> 32) as u32;
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let (t, slot) = self.slots[at];
            if slot == 0 || (t == tag && self.name(slot as usize - 1) == name) {
                return (at, tag);
            }
            at = (at + 1) & mask;
        }
    }

    pub fn get(&self, name: &str) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let (at, _) = self.find(name);
        match self.slots[at].1 {
            0 => None,
            slot => Some(slot as usize - 1),
        }
    }

    /// Adds a name that is not in the table yet; its id is the number of names before it.
    pub fn insert(&mut self, name: &str) {
        if 2 * (self.len() + 1) > self.slots.len() {
            self.grow();
        }
        let (at, tag) = self.find(name);
        self.text.push_str(name);
        self.ends.push(self.text.len() as u32);
        self.slots[at] = (tag, self.len() as u32);
    }

    fn grow(&mut self) {
        let size = (2 * self.slots.len()).max(8);
        self.slots = vec![(0, 0); size];
        for id in 0..self.len() {
            let (at, tag) = self.find(self.name(id));
            self.slots[at] = (tag, id as u32 + 1);
        }
    }
}

/// A state's kind without its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Task,
    Choice,
    Parallel,
    Map,
    Loop,
    Wait,
    Call,
    Succeed,
    Fail,
}

impl Kind {
    pub fn of(kind: &StateKind) -> Kind {
        match kind {
            StateKind::Task(_) => Kind::Task,
            StateKind::Choice(_) => Kind::Choice,
            StateKind::Parallel(_) => Kind::Parallel,
            StateKind::Map(_) => Kind::Map,
            StateKind::Loop(_) => Kind::Loop,
            StateKind::Wait(_) => Kind::Wait,
            StateKind::Call(_) => Kind::Call,
            StateKind::Succeed(_) => Kind::Succeed,
            StateKind::Fail(_) => Kind::Fail,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Kind::Succeed | Kind::Fail)
    }
}

/// What the passes after name resolution need to know about a state, in a few bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StateInfo {
    /// Lacks a transition that is reported elsewhere (see [`super::Scope::incomplete_state`]).
    pub incomplete: bool,
    /// Steps the state takes each time it is entered: a loop's iterations, otherwise one.
    pub weight: u64,
    /// Where the state's failures go (its own `fail ->` or the workflow's `on fail`), or
    /// [`NONE`] when there is no such target or it does not resolve.
    pub failure: u32,
    /// Index in [`super::Scope::targets`] of the state's first resolved target.
    pub targets: u32,
}
