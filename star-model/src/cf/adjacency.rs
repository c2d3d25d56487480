//! The symmetrically normalised bipartite adjacency used by LightGCN, as a sparse matrix.

use super::spmm::SymmetricSpmm;
use burn::backend::Dispatch;
use burn::prelude::*;
use star_cf::graph::CfGraph;
use star_cf::ItemId;

/// `Â = D^{-1/2} A D^{-1/2}` of the user–item graph over `num_users + num_items` nodes (users
/// first): entry `(r, c)` is `1 / sqrt(deg(r) · deg(c))` for every train edge, in both
/// directions, so `Â` is symmetric. Stored in compressed sparse rows; propagation is a sparse
/// product ([`SymmetricSpmm`]), never a dense N×N matrix.
#[derive(Module, Debug)]
pub struct Adjacency {
    /// Where each node's row starts in `cols`/`rows`/`weight` `[num_nodes + 1]`.
    pub row_ptr: Tensor<1, Int>,
    /// Column (source node) of each entry, rows in order `[2E]`.
    pub cols: Tensor<1, Int>,
    /// Row (destination node) of each entry `[2E]`.
    pub rows: Tensor<1, Int>,
    /// Entry values `[2E]`.
    pub weight: Tensor<1>,
    /// Number of nodes (`num_users + num_items`).
    pub num_nodes: usize,
}

impl Adjacency {
    /// Builds the adjacency of a train graph on `device`.
    pub fn from_graph(graph: &CfGraph, device: &Device) -> Adjacency {
        let nu = graph.num_users();
        let n = nu + graph.num_items();
        // entries (row, col, value), user rows then item rows; within a row, by column
        let mut entries: Vec<Vec<(i64, f32)>> = vec![Vec::new(); n];
        for u in 0..nu {
            let du = graph.user_items().degree(u) as f32;
            for &i in graph.user_items().row(u) {
                let di = graph.popularity(ItemId(i)) as f32;
                let weight = 1.0 / (du * di).sqrt();
                let item_node = nu + i as usize;
                entries[u].push((item_node as i64, weight));
                entries[item_node].push((u as i64, weight));
            }
        }
        let e: usize = entries.iter().map(Vec::len).sum();
        let mut row_ptr = Vec::with_capacity(n + 1);
        let (mut cols, mut rows, mut w) = (
            Vec::with_capacity(e),
            Vec::with_capacity(e),
            Vec::with_capacity(e),
        );
        row_ptr.push(0i64);
        for (r, row) in entries.into_iter().enumerate() {
            for (c, v) in row {
                cols.push(c);
                rows.push(r as i64);
                w.push(v);
            }
            row_ptr.push(cols.len() as i64);
        }
        Adjacency {
            row_ptr: Tensor::from_data(TensorData::new(row_ptr, [n + 1]), device),
            cols: Tensor::from_data(TensorData::new(cols, [e]), device),
            rows: Tensor::from_data(TensorData::new(rows, [e]), device),
            weight: Tensor::from_data(TensorData::new(w, [e]), device),
            num_nodes: n,
        }
    }

    /// One propagation step `Â · x` for node features `x` `[num_nodes, d]`.
    pub fn propagate(&self, x: Tensor<2>) -> Tensor<2> {
        Tensor::from_dispatch(<Dispatch as SymmetricSpmm>::symmetric_spmm(
            x.into_dispatch(),
            self.row_ptr.clone().into_dispatch(),
            self.cols.clone().into_dispatch(),
            self.rows.clone().into_dispatch(),
            self.weight.clone().into_dispatch(),
        ))
    }
}
