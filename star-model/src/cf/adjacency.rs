//! The symmetrically normalised bipartite adjacency used by LightGCN, as an edge list.

use burn::prelude::*;
use star_cf::graph::CfGraph;
use star_cf::ItemId;

/// `Â = D^{-1/2} A D^{-1/2}` of the user–item graph over `num_users + num_items` nodes (users
/// first), stored as directed edges `src → dst` with weight `1 / sqrt(deg(src) · deg(dst))`
/// (both directions of every train edge). Propagation is a gather of `src` rows, a scale, and a
/// scatter-add into `dst` rows — never a dense N×N matrix.
#[derive(Module, Debug)]
pub struct Adjacency {
    /// Source node of each directed edge `[2E]`.
    pub src: Tensor<1, Int>,
    /// Destination node of each directed edge `[2E]`.
    pub dst: Tensor<1, Int>,
    /// Edge weights `[2E, 1]`.
    pub weight: Tensor<2>,
    /// Number of nodes (`num_users + num_items`).
    pub num_nodes: usize,
}

impl Adjacency {
    /// Builds the adjacency of a train graph on `device`.
    pub fn from_graph(graph: &CfGraph, device: &Device) -> Adjacency {
        let nu = graph.num_users();
        let mut src = Vec::with_capacity(2 * graph.num_edges());
        let mut dst = Vec::with_capacity(2 * graph.num_edges());
        let mut w = Vec::with_capacity(2 * graph.num_edges());
        for u in 0..nu {
            let du = graph.user_items().degree(u) as f32;
            for &i in graph.user_items().row(u) {
                let di = graph.popularity(ItemId(i)) as f32;
                let weight = 1.0 / (du * di).sqrt();
                let item_node = (nu + i as usize) as i64;
                src.extend([u as i64, item_node]);
                dst.extend([item_node, u as i64]);
                w.extend([weight, weight]);
            }
        }
        let e = w.len();
        Adjacency {
            src: Tensor::from_data(TensorData::new(src, [e]), device),
            dst: Tensor::from_data(TensorData::new(dst, [e]), device),
            weight: Tensor::from_data(TensorData::new(w, [e, 1]), device),
            num_nodes: nu + graph.num_items(),
        }
    }

    /// One propagation step `Â · x` for node features `x` `[num_nodes, d]`.
    pub fn propagate(&self, x: Tensor<2>) -> Tensor<2> {
        let [n, d] = x.dims();
        let messages = x.select(0, self.src.clone()) * self.weight.clone();
        Tensor::zeros([n, d], &messages.device()).select_assign(
            0,
            self.dst.clone(),
            messages,
            burn::tensor::IndexingUpdateOp::Add,
        )
    }
}
