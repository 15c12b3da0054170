//! Immediate dominators by Lengauer and Tarjan's algorithm with path compression,
//! O(m log n).
//!
//! petgraph's `simple_fast` (Cooper, Harvey and Kennedy) intersects the dominator-tree paths of
//! every predecessor on every pass. In a workflow, `failed` and the other terminals have a
//! predecessor in almost every state, deep in a tree as deep as the workflow is long, which
//! made checking quadratic in the number of states.

/// Stands for "no node" in the arrays below, and for "no immediate dominator" in the result.
pub(super) const NONE: u32 = u32::MAX;

/// A directed graph as two lists of 32-bit node numbers, the successors and the predecessors
/// of each node in turn, each with where every node's part of it starts (compressed sparse
/// rows): four bytes an edge in each direction, read in order, where a list of linked edges
/// takes sixteen bytes an edge and follows a pointer for each.
pub(super) struct Csr {
    /// Node `v`'s successors are `successors[first_successor[v]..first_successor[v + 1]]`,
    /// the edge added last first.
    first_successor: Vec<u32>,
    successors: Vec<u32>,
    /// The same for predecessors; empty after [`Csr::forget_predecessors`].
    first_predecessor: Vec<u32>,
    predecessors: Vec<u32>,
}

impl Csr {
    /// The graph of `nodes` nodes and the edges `edges()` lists, in the order it lists them;
    /// the edges are listed twice, once to count them and once to place them.
    pub fn new<I>(nodes: usize, edges: impl Fn() -> I) -> Csr
    where
        I: Iterator<Item = (u32, u32)>,
    {
        let mut first_successor = vec![0u32; nodes + 1];
        let mut first_predecessor = vec![0u32; nodes + 1];
        for (from, to) in edges() {
            first_successor[from as usize + 1] += 1;
            first_predecessor[to as usize + 1] += 1;
        }
        for v in 0..nodes {
            first_successor[v + 1] += first_successor[v];
            first_predecessor[v + 1] += first_predecessor[v];
        }
        let count = first_successor[nodes] as usize;
        let mut successors = vec![0u32; count];
        let mut predecessors = vec![0u32; count];
        // Each node's lists fill from their ends, so that the edge added last comes first, as
        // in a graph of linked edges: the witness runs in messages do not depend on the layout.
        let mut successor_end = first_successor[1..].to_vec();
        let mut predecessor_end = first_predecessor[1..].to_vec();
        for (from, to) in edges() {
            let at = &mut successor_end[from as usize];
            *at -= 1;
            successors[*at as usize] = to;
            let at = &mut predecessor_end[to as usize];
            *at -= 1;
            predecessors[*at as usize] = from;
        }
        Csr {
            first_successor,
            successors,
            first_predecessor,
            predecessors,
        }
    }

    pub fn edge_count(&self) -> usize {
        self.successors.len()
    }

    pub fn node_count(&self) -> usize {
        self.first_successor.len() - 1
    }

    pub fn successors(&self, v: usize) -> &[u32] {
        &self.successors[self.first_successor[v] as usize..self.first_successor[v + 1] as usize]
    }

    /// Node `v`'s predecessors; none after [`Csr::forget_predecessors`].
    pub fn predecessors(&self, v: usize) -> &[u32] {
        match self.first_predecessor.get(v..v + 2) {
            Some(&[from, to]) => &self.predecessors[from as usize..to as usize],
            _ => &[],
        }
    }

    /// Frees the predecessor lists, which only the dominators need.
    pub fn forget_predecessors(&mut self) {
        self.first_predecessor = Vec::new();
        self.predecessors = Vec::new();
    }
}

/// The immediate dominator of every node: [`NONE`] for `root` and for nodes it cannot reach.
///
/// Every array is of 32-bit numbers, as the graph's own indices are: the analysis of a large
/// workflow is bounded by the bytes it writes and reads again, not by its instructions.
pub(super) fn immediate_dominators(graph: &Csr, root: usize) -> Vec<u32> {
    let n = graph.node_count();
    // Depth-first preorder: `number[v]` is v's number, `vertex[i]` the node numbered i.
    let mut number = vec![NONE; n];
    let mut vertex: Vec<u32> = Vec::with_capacity(n);
    let mut parent: Vec<u32> = Vec::with_capacity(n);
    // Sized once, as every list here: a node is pushed once for each edge into it at most,
    // and a list grown by doubling would copy itself over and over on a large graph.
    let mut stack = Vec::with_capacity(graph.edge_count() + 1);
    stack.push((root as u32, NONE));
    while let Some((v, from)) = stack.pop() {
        if number[v as usize] != NONE {
            continue;
        }
        let at = vertex.len() as u32;
        number[v as usize] = at;
        vertex.push(v);
        parent.push(from);
        stack.extend(
            graph
                .successors(v as usize)
                .iter()
                .map(|&w| (w, at))
                .filter(|&(w, _)| number[w as usize] == NONE),
        );
    }
    let reached = vertex.len();
    // From here on, nodes are named by their preorder numbers.
    let mut semi: Vec<u32> = (0..reached as u32).collect();
    let mut idom = vec![NONE; reached];
    let mut ancestor = vec![NONE; reached];
    let mut label: Vec<u32> = (0..reached as u32).collect();
    // The nodes whose semidominator is `v`, as lists linked through `next`: a node is in one
    // bucket at most once, and a list per node would be an allocation per node.
    let mut bucket = vec![NONE; reached];
    let mut next = vec![NONE; reached];
    let mut path = Vec::with_capacity(reached);
    for w in (1..reached).rev() {
        for &v in graph.predecessors(vertex[w] as usize) {
            let v = number[v as usize];
            if v == NONE {
                continue;
            }
            let u = eval(v, &mut ancestor, &mut label, &semi, &mut path);
            if semi[u as usize] < semi[w] {
                semi[w] = semi[u as usize];
            }
        }
        let s = semi[w] as usize;
        next[w] = bucket[s];
        bucket[s] = w as u32;
        let p = parent[w];
        ancestor[w] = p;
        let mut v = std::mem::replace(&mut bucket[p as usize], NONE);
        while v != NONE {
            let u = eval(v, &mut ancestor, &mut label, &semi, &mut path);
            idom[v as usize] = if semi[u as usize] < semi[v as usize] {
                u
            } else {
                p
            };
            v = next[v as usize];
        }
    }
    for w in 1..reached {
        if idom[w] != semi[w] {
            idom[w] = idom[idom[w] as usize];
        }
    }
    // Back to the graph's own node numbers, in the array no longer needed.
    let mut result = number;
    result.fill(NONE);
    for w in 1..reached {
        result[vertex[w] as usize] = vertex[idom[w] as usize];
    }
    result
}

/// The node with the least semidominator on the forest path above `v`, compressing the path.
fn eval(v: u32, ancestor: &mut [u32], label: &mut [u32], semi: &[u32], path: &mut Vec<u32>) -> u32 {
    if ancestor[v as usize] == NONE {
        return v;
    }
    // Iterative path compression: a recursive one could overflow on long workflows.
    path.clear();
    let mut x = v;
    while ancestor[ancestor[x as usize] as usize] != NONE {
        path.push(x);
        x = ancestor[x as usize];
    }
    for &y in path.iter().rev() {
        let (y, a) = (y as usize, ancestor[y as usize] as usize);
        if semi[label[a] as usize] < semi[label[y] as usize] {
            label[y] = label[a];
        }
        ancestor[y] = ancestor[a];
    }
    label[v as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use petgraph::algo::dominators::simple_fast;
    use petgraph::graph::{DiGraph, NodeIndex};
    use petgraph::visit::EdgeRef;

    fn csr(graph: &DiGraph<(), ()>) -> Csr {
        Csr::new(graph.node_count(), || {
            graph
                .edge_references()
                .map(|e| (e.source().index() as u32, e.target().index() as u32))
        })
    }

    #[test]
    fn lists_each_nodes_edges_the_last_added_first() {
        let edges = [(0, 1), (0, 2), (2, 0), (1, 2), (0, 1)];
        let mut graph = Csr::new(3, || edges.iter().copied());
        assert_eq!(graph.node_count(), 3);
        assert_eq!(graph.successors(0), [1, 2, 1]);
        assert_eq!(graph.successors(1), [2]);
        assert_eq!(graph.successors(2), [0]);
        assert_eq!(graph.predecessors(1), [0, 0]);
        assert_eq!(graph.predecessors(2), [1, 0]);
        graph.forget_predecessors();
        assert!(graph.predecessors(2).is_empty());
        assert_eq!(graph.successors(0), [1, 2, 1]);
    }

    fn random_graph(nodes: usize, edges: usize, seed: u64) -> DiGraph<(), ()> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = |below: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % below as u64) as usize
        };
        let mut graph = DiGraph::new();
        for _ in 0..nodes {
            graph.add_node(());
        }
        for i in 1..nodes {
            // A spine keeps most nodes reachable; random edges add joins and cycles.
            if next(4) != 0 {
                graph.add_edge(NodeIndex::new(next(i)), NodeIndex::new(i), ());
            }
        }
        for _ in 0..edges {
            graph.add_edge(NodeIndex::new(next(nodes)), NodeIndex::new(next(nodes)), ());
        }
        graph
    }

    #[test]
    fn agrees_with_petgraph() {
        for seed in 0..300 {
            let nodes = 1 + (seed as usize * 7) % 60;
            let graph = random_graph(nodes, nodes * (seed as usize % 4), seed);
            let root = seed as usize % nodes;
            let ours = immediate_dominators(&csr(&graph), root);
            let theirs = simple_fast(&graph, NodeIndex::new(root));
            for (v, ours) in ours.into_iter().enumerate() {
                let expected = theirs
                    .immediate_dominator(NodeIndex::new(v))
                    .map_or(NONE, |d| d.index() as u32);
                assert_eq!(ours, expected, "seed {seed}, node {v}");
            }
        }
    }

    #[test]
    fn a_long_chain_into_one_exit() {
        let n = 100_000;
        let mut graph = DiGraph::new();
        for _ in 0..=n {
            graph.add_node(());
        }
        for i in 0..n - 1 {
            graph.add_edge(NodeIndex::new(i), NodeIndex::new(i + 1), ());
            graph.add_edge(NodeIndex::new(i), NodeIndex::new(n), ());
        }
        let idom = immediate_dominators(&csr(&graph), 0);
        assert_eq!(idom[0], NONE);
        assert_eq!(idom[n - 1], n as u32 - 2);
        assert_eq!(idom[n], 0);
    }
}
