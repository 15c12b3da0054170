//! Immediate dominators by Lengauer and Tarjan's algorithm with path compression,
//! O(m log n).
//!
//! petgraph's `simple_fast` (Cooper, Harvey and Kennedy) intersects the dominator-tree paths of
//! every predecessor on every pass. In a workflow, `failed` and the other terminals have a
//! predecessor in almost every state, deep in a tree as deep as the workflow is long, which
//! made checking quadratic in the number of states.

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

const NONE: usize = usize::MAX;

/// The immediate dominator of every node: `None` for `root` and for nodes it cannot reach.
pub(super) fn immediate_dominators(graph: &DiGraph<(), ()>, root: usize) -> Vec<Option<usize>> {
    let n = graph.node_count();
    // Depth-first preorder: `number[v]` is v's number, `vertex[i]` the node numbered i.
    let mut number = vec![NONE; n];
    let mut vertex = Vec::with_capacity(n);
    let mut parent = Vec::with_capacity(n);
    let mut stack = vec![(root, NONE)];
    while let Some((v, from)) = stack.pop() {
        if number[v] != NONE {
            continue;
        }
        number[v] = vertex.len();
        vertex.push(v);
        parent.push(from);
        stack.extend(
            graph
                .neighbors(NodeIndex::new(v))
                .map(|w| (w.index(), number[v]))
                .filter(|&(w, _)| number[w] == NONE),
        );
    }
    let reached = vertex.len();
    // From here on, nodes are named by their preorder numbers.
    let mut semi: Vec<usize> = (0..reached).collect();
    let mut idom = vec![NONE; reached];
    let mut ancestor = vec![NONE; reached];
    let mut label: Vec<usize> = (0..reached).collect();
    // The nodes whose semidominator is `v`, as lists linked through `next`: a node is in one
    // bucket at most once, and a list per node would be an allocation per node.
    let mut bucket = vec![NONE; reached];
    let mut next = vec![NONE; reached];
    let mut path = Vec::new();
    for w in (1..reached).rev() {
        for v in graph.neighbors_directed(NodeIndex::new(vertex[w]), Direction::Incoming) {
            let v = number[v.index()];
            if v == NONE {
                continue;
            }
            let u = eval(v, &mut ancestor, &mut label, &semi, &mut path);
            if semi[u] < semi[w] {
                semi[w] = semi[u];
            }
        }
        next[w] = bucket[semi[w]];
        bucket[semi[w]] = w;
        let p = parent[w];
        ancestor[w] = p;
        let mut v = std::mem::replace(&mut bucket[p], NONE);
        while v != NONE {
            let u = eval(v, &mut ancestor, &mut label, &semi, &mut path);
            idom[v] = if semi[u] < semi[v] { u } else { p };
            v = next[v];
        }
    }
    for w in 1..reached {
        if idom[w] != semi[w] {
            idom[w] = idom[idom[w]];
        }
    }
    let mut result = vec![None; n];
    for w in 1..reached {
        result[vertex[w]] = Some(vertex[idom[w]]);
    }
    result
}

/// The node with the least semidominator on the forest path above `v`, compressing the path.
fn eval(
    v: usize,
    ancestor: &mut [usize],
    label: &mut [usize],
    semi: &[usize],
    path: &mut Vec<usize>,
) -> usize {
    if ancestor[v] == NONE {
        return v;
    }
    // Iterative path compression: a recursive one could overflow on long workflows.
    path.clear();
    let mut x = v;
    while ancestor[ancestor[x]] != NONE {
        path.push(x);
        x = ancestor[x];
    }
    for &y in path.iter().rev() {
        let a = ancestor[y];
        if semi[label[a]] < semi[label[y]] {
            label[y] = label[a];
        }
        ancestor[y] = ancestor[a];
    }
    label[v]
}

#[cfg(test)]
mod tests {
    use super::*;
    use petgraph::algo::dominators::simple_fast;

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
            let ours = immediate_dominators(&graph, root);
            let theirs = simple_fast(&graph, NodeIndex::new(root));
            for (v, ours) in ours.into_iter().enumerate() {
                let expected = theirs
                    .immediate_dominator(NodeIndex::new(v))
                    .map(|d| d.index());
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
        let idom = immediate_dominators(&graph, 0);
        assert_eq!(idom[0], None);
        assert_eq!(idom[n - 1], Some(n - 2));
        assert_eq!(idom[n], Some(0));
    }
}
