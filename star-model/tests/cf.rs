//! CF encoders: LightGCN propagation against a dense reference, BPR training that learns,
//! and save → load round trips.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use star_cf::data::synthetic::{generate, SyntheticConfig};
use star_cf::graph::CfGraph;
use star_cf::prelude::*;
use star_model::cf::sampler::{epoch_triples, to_batch};
use star_model::cf::{Adjacency, CfEmbeddings, CfEncoder, LightGcnConfig, MfConfig};

fn to_vec(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn small_graph() -> (Dataset, CfGraph) {
    let mut b = DatasetBuilder::new("g");
    let mut t = 0;
    for (u, items) in [
        ("a", vec!["x", "y", "z"]),
        ("b", vec!["x"]),
        ("c", vec!["y", "w"]),
        ("d", vec!["x", "y", "z", "w"]),
    ] {
        for i in items.into_iter().chain(["p", "q"]) {
            b.add_interaction(u, i, None, t);
            t += 1;
        }
    }
    let ds = b.build(&PreprocessOptions::default()).unwrap();
    let g = CfGraph::from_split(&Split::temporal_leave_one_out(&ds));
    (ds, g)
}

#[test]
fn lightgcn_propagation_equals_dense_reference() {
    let device = Device::flex();
    let (_ds, g) = small_graph();
    let (nu, ni) = (g.num_users(), g.num_items());
    let n = nu + ni;
    let (dim, layers) = (3, 3);
    let model = LightGcnConfig::new(nu, ni)
        .with_dim(dim)
        .with_layers(layers)
        .init(Adjacency::from_graph(&g, &device), &device);

    // Dense Â = D^-1/2 A D^-1/2 over users then items.
    let mut a = vec![0.0f64; n * n];
    for u in 0..nu {
        for &i in g.items_of(UserId::from(u)) {
            let j = nu + i as usize;
            let w = 1.0
                / ((g.items_of(UserId::from(u)).len() * g.users_of(ItemId(i)).len()) as f64).sqrt();
            a[u * n + j] = w;
            a[j * n + u] = w;
        }
    }
    let e0: Vec<f64> = to_vec(Tensor::cat(
        vec![
            model.user_embedding.weight.val(),
            model.item_embedding.weight.val(),
        ],
        0,
    ))
    .into_iter()
    .map(f64::from)
    .collect();
    let mut e = e0.clone();
    let mut sum = e0;
    for _ in 0..layers {
        let mut next = vec![0.0; n * dim];
        for r in 0..n {
            for c in 0..n {
                for k in 0..dim {
                    next[r * dim + k] += a[r * n + c] * e[c * dim + k];
                }
            }
        }
        for (s, x) in sum.iter_mut().zip(&next) {
            *s += x;
        }
        e = next;
    }
    let expect: Vec<f64> = sum.iter().map(|x| x / (layers + 1) as f64).collect();
    let got = to_vec(model.propagate());
    assert_eq!(got.len(), expect.len());
    for (g, e) in got.iter().zip(&expect) {
        assert!((*g as f64 - e).abs() < 1e-5, "{g} vs {e}");
    }
    // the held-out-only items p, q have no train edges: their propagated rows are E0/(K+1)
    let (users, items) = model.embeddings();
    assert_eq!(users.dims(), [nu, dim]);
    assert_eq!(items.dims(), [ni, dim]);
}

/// The sparse product (Flex's CSR pass, with its own backward pass) against the tensor
/// reference (gather, scale, scatter-add, differentiated by autodiff): values and gradients.
#[test]
fn sparse_propagation_and_its_gradient_equal_the_reference() {
    use burn::backend::Dispatch;
    use star_model::cf::spmm::spmm_reference;
    let device = Device::flex().autodiff();
    let ds = generate(&SyntheticConfig {
        users: 60,
        items: 90,
        min_len: 5,
        max_len: 30,
        seed: 3,
        ..Default::default()
    })
    .unwrap();
    let g = CfGraph::from_split(&Split::temporal_leave_one_out(&ds));
    let adj = Adjacency::from_graph(&g, &device);
    let n = adj.num_nodes;
    let d = 7;
    let x0 = Tensor::<2>::random(
        [n, d],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let r = Tensor::<2>::random(
        [n, d],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let run = |reference: bool| {
        let x = x0.clone().detach().require_grad();
        let y = if reference {
            Tensor::from_dispatch(spmm_reference::<Dispatch>(
                x.clone().into_dispatch(),
                adj.cols.clone().into_dispatch(),
                adj.rows.clone().into_dispatch(),
                adj.weight.clone().into_dispatch(),
            ))
        } else {
            adj.propagate(x.clone())
        };
        // two layers, so the backward pass runs the product on a gradient that is not constant
        let y = if reference {
            Tensor::from_dispatch(spmm_reference::<Dispatch>(
                y.into_dispatch(),
                adj.cols.clone().into_dispatch(),
                adj.rows.clone().into_dispatch(),
                adj.weight.clone().into_dispatch(),
            ))
        } else {
            adj.propagate(y)
        };
        let grads = (y.clone() * r.clone()).sum().backward();
        let gx: Tensor<2> = Tensor::from_inner(x.grad(&grads).expect("x has a gradient"));
        (to_vec(y.inner()), to_vec(gx))
    };
    let (y_fast, g_fast) = run(false);
    let (y_ref, g_ref) = run(true);
    assert_eq!(y_fast.len(), n * d);
    for (a, b) in y_fast.iter().zip(&y_ref).chain(g_fast.iter().zip(&g_ref)) {
        assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    }
    // not a zero gradient
    assert!(g_fast.iter().any(|v| v.abs() > 1e-3));
}

/// Trains with plain Adam steps and returns (first-epoch loss, last-epoch loss, AUC of held-out
/// valid items against random unseen items).
fn train_and_auc<M: CfEncoder + Module>(
    mut model: M,
    ds: &Dataset,
    split: &Split,
    g: &CfGraph,
    epochs: usize,
) -> (f32, f32, f32) {
    let device = Device::flex().autodiff();
    let mut optim = AdamConfig::new().init();
    let mut losses = Vec::new();
    for epoch in 0..epochs {
        let triples = epoch_triples(g, 7, epoch);
        let mut total = 0.0;
        let mut batches = 0;
        for chunk in triples.chunks(512) {
            let out = model.bpr(&to_batch(chunk, &device), 1e-4);
            total += out.loss.clone().into_scalar::<f32>();
            batches += 1;
            let grads = GradientsParams::from_grads(out.loss.backward(), &model);
            model = optim.step(0.01, model, grads);
        }
        losses.push(total / batches as f32);
    }
    let emb = model.valid().export();
    let (u, i) = (to_vec(emb.users.val()), to_vec(emb.items.val()));
    let dim = emb.users.val().dims()[1];
    let score =
        |a: usize, b: usize| -> f32 { (0..dim).map(|k| u[a * dim + k] * i[b * dim + k]).sum() };
    let (mut wins, mut total) = (0.0f32, 0.0f32);
    for user in split.eval_users(SplitKind::Valid) {
        let target = split.target(user, SplitKind::Valid).unwrap();
        let seen: std::collections::HashSet<ItemId> =
            ds.user_interactions(user).iter().map(|x| x.item).collect();
        for j in (0..ds.num_items())
            .step_by(7)
            .map(ItemId::from)
            .filter(|j| !seen.contains(j))
        {
            let (sp, sn) = (score(user.idx(), target.idx()), score(user.idx(), j.idx()));
            wins += if sp > sn {
                1.0
            } else if sp == sn {
                0.5
            } else {
                0.0
            };
            total += 1.0;
        }
    }
    println!("loss per epoch {losses:?}, valid AUC {}", wins / total);
    (losses[0], *losses.last().unwrap(), wins / total)
}

fn synthetic() -> (Dataset, Split, CfGraph) {
    let ds = generate(&SyntheticConfig {
        users: 150,
        items: 300,
        seed: 5,
        ..Default::default()
    })
    .unwrap();
    let split = Split::temporal_leave_one_out(&ds);
    let g = CfGraph::from_split(&split);
    (ds, split, g)
}

#[test]
fn bpr_mf_learns_to_rank_held_out_positives() {
    let (ds, split, g) = synthetic();
    let device = Device::flex().autodiff();
    let model = MfConfig::new(g.num_users(), g.num_items())
        .with_dim(32)
        .init(&device);
    let (first, last, auc) = train_and_auc(model, &ds, &split, &g, 8);
    assert!(last < 0.8 * first, "loss {first} -> {last}");
    assert!(auc > 0.75, "valid AUC {auc}");
}

#[test]
fn bpr_mf_item_bias_adds_to_the_dot_product_and_rides_along_as_a_dimension() {
    let (ds, split, g) = synthetic();
    let device = Device::flex();
    let dim = 8;
    let mut model = MfConfig::new(g.num_users(), g.num_items())
        .with_dim(dim)
        .with_item_bias(true)
        .init(&device);
    // zero-initialised; give it known values: b_i = i / 100
    let b0 = to_vec(model.item_bias.as_ref().unwrap().weight.val());
    assert!(b0.iter().all(|&b| b == 0.0));
    let n = g.num_items();
    let bias: Vec<f32> = (0..n).map(|i| i as f32 / 100.0).collect();
    model.item_bias = Some(burn::nn::Embedding {
        weight: burn::module::Param::from_tensor(Tensor::from_data(
            TensorData::new(bias.clone(), [n, 1]),
            &device,
        )),
    });
    let (users, items) = model.embeddings();
    assert_eq!(users.dims()[1], dim + 1);
    assert_eq!(items.dims()[1], dim + 1);
    let (u, i) = (to_vec(users), to_vec(items));
    let (ue, ie) = (
        to_vec(model.user_embedding.weight.val()),
        to_vec(model.item_embedding.weight.val()),
    );
    let triples = epoch_triples(&g, 3, 0);
    let out = model.bpr(&to_batch(&triples[..64], &device), 0.0);
    let pos: Vec<f32> = out
        .pos_scores
        .into_data()
        .convert::<f32>()
        .try_to_vec()
        .unwrap();
    for (t, got) in triples[..64].iter().zip(pos) {
        let (a, p) = (t.user as usize, t.positive as usize);
        let dot: f32 = (0..dim).map(|k| ue[a * dim + k] * ie[p * dim + k]).sum();
        assert!(
            (got - (dot + bias[p])).abs() < 1e-5,
            "{got} vs {dot} + {}",
            bias[p]
        );
        // the exported embeddings give the same score as a plain dot product
        let exported: f32 = (0..=dim)
            .map(|k| u[a * (dim + 1) + k] * i[p * (dim + 1) + k])
            .sum();
        assert!((exported - got).abs() < 1e-5);
    }
    // and it trains
    let model = MfConfig::new(g.num_users(), g.num_items())
        .with_dim(32)
        .with_item_bias(true)
        .init(&Device::flex().autodiff());
    let (first, last, auc) = train_and_auc(model, &ds, &split, &g, 8);
    assert!(last < 0.8 * first, "loss {first} -> {last}");
    assert!(auc > 0.75, "valid AUC {auc}");
}

#[test]
fn lightgcn_learns_to_rank_held_out_positives() {
    let (ds, split, g) = synthetic();
    let device = Device::flex().autodiff();
    let model = LightGcnConfig::new(g.num_users(), g.num_items())
        .with_dim(32)
        .with_layers(2)
        .init(Adjacency::from_graph(&g, &device), &device);
    let (first, last, auc) = train_and_auc(model, &ds, &split, &g, 5);
    assert!(last < 0.8 * first, "loss {first} -> {last}");
    assert!(auc > 0.75, "valid AUC {auc}");
}

#[test]
fn save_load_gives_identical_scores() {
    let device = Device::flex();
    let (_ds, g) = small_graph();
    let dir = tempfile::tempdir().unwrap();

    let mf = MfConfig::new(g.num_users(), g.num_items())
        .with_dim(8)
        .init(&device);
    let path = dir.path().join("mf.bpk");
    mf.clone().save_file(&path).unwrap();
    let loaded = MfConfig::new(g.num_users(), g.num_items())
        .with_dim(8)
        .init(&device)
        .try_load_file(&path)
        .unwrap();
    assert_eq!(to_vec(mf.embeddings().1), to_vec(loaded.embeddings().1));

    let cfg = LightGcnConfig::new(g.num_users(), g.num_items()).with_dim(8);
    let lg = cfg.init(Adjacency::from_graph(&g, &device), &device);
    let path = dir.path().join("lightgcn.bpk");
    lg.clone().save_file(&path).unwrap();
    let loaded = cfg
        .init(Adjacency::from_graph(&g, &device), &device)
        .try_load_file(&path)
        .unwrap();
    assert_eq!(to_vec(lg.propagate()), to_vec(loaded.propagate()));

    // exported embeddings through safetensors
    let emb = lg.export();
    let path = dir.path().join("cf.safetensors");
    emb.save_safetensors(&path).unwrap();
    let back = CfEmbeddings::load_safetensors(&path, &device).unwrap();
    let users = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2], [3]), &device);
    let items = Tensor::<1, Int>::from_data(
        TensorData::new(
            (0..g.num_items() as i64).collect::<Vec<_>>(),
            [g.num_items()],
        ),
        &device,
    );
    assert_eq!(
        to_vec(emb.scores(users.clone(), items.clone())),
        to_vec(back.scores(users, items))
    );
    let err = CfEmbeddings::load_safetensors(&dir.path().join("missing.safetensors"), &device)
        .unwrap_err();
    assert!(
        matches!(&err, star_model::Error::Safetensors { path, .. } if path.ends_with("missing.safetensors")),
        "{err:?}"
    );
    assert!(err.to_string().contains("missing.safetensors"), "{err}");
}
