//! Compact tables the passes share, so that each name is resolved once and most passes read a
//! few dense arrays instead of the syntax tree.
//!
//! A large workflow's tree is spread over many small heap blocks; a pass that only needs a
//! state's kind, or the id a transition leads to, would otherwise walk all of them again.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
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
    /// The ids, hashed by their names.
    ids: HashTable<u32>,
}

impl NameTable {
    /// A table for about `count` names of `bytes` in all.
    pub fn with_capacity(count: usize, bytes: usize) -> NameTable {
        NameTable {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(count),
            ids: HashTable::with_capacity(count),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The names in id order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|id| name(&self.text, &self.ends, id as u32))
    }

    pub fn get(&self, name: &str) -> Option<usize> {
        let (text, ends) = (&self.text, &self.ends);
        self.ids
            .find(FxBuildHasher.hash_one(name), |&id| {
                self::name(text, ends, id) == name
            })
            .map(|&id| id as usize)
    }

    /// Adds `name` unless the table has it: `Ok` with its new id (the number of names before
    /// it), or `Err` with the id it has. One search, where a lookup and then an insertion
    /// would make two.
    pub fn insert_new(&mut self, name: &str) -> Result<usize, usize> {
        let hash = FxBuildHasher.hash_one(name);
        let (text, ends) = (&self.text, &self.ends);
        let entry = self.ids.entry(
            hash,
            |&id| self::name(text, ends, id) == name,
            |&id| FxBuildHasher.hash_one(self::name(text, ends, id)),
        );
        match entry {
            Entry::Occupied(first) => Err(*first.get() as usize),
            Entry::Vacant(room) => {
                let id = self.ends.len();
                room.insert(id as u32);
                self.text.push_str(name);
                self.ends.push(self.text.len() as u32);
                Ok(id)
            }
        }
    }
}

/// Name `id` of a table's buffer.
fn name<'t>(text: &'t str, ends: &[u32], id: u32) -> &'t str {
    let id = id as usize;
    let start = if id == 0 { 0 } else { ends[id - 1] as usize };
    &text[start..ends[id] as usize]
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
    /// The worker a task, map or loop runs ([`super::Scope::worker_of`]), or [`NONE`].
    pub worker: u32,
}

#[cfg(test)]
mod tests {
    use super::NameTable;

    #[test]
    fn insert_new_gives_ids_in_order_and_finds_names_declared_before() {
        // A table without room grows as names arrive, hashing those it has again.
        let mut table = NameTable::default();
        let names: Vec<String> = (0..100).map(|i| format!("state_{i}")).collect();
        for (i, name) in names.iter().enumerate() {
            assert_eq!(table.insert_new(name), Ok(i));
        }
        assert_eq!(table.insert_new("state_7"), Err(7));
        assert_eq!(table.insert_new(""), Ok(100));
        assert_eq!(table.insert_new(""), Err(100));
        for (i, name) in names.iter().enumerate() {
            assert_eq!(table.get(name), Some(i));
        }
        assert_eq!(table.get("state_100"), None);
        assert!(
            table
                .names()
                .eq(names.iter().map(String::as_str).chain([""]))
        );
    }
}
