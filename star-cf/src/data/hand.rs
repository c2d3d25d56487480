//! A hand-made five-user world whose counts can be checked by hand, shared by the tests of the
//! evidence store, the teacher's tools and its rule-based roles.
//!
//! Items: x Ex (1990) Drama; y Why (1991) Drama|Comedy; z Zed (1992) Comedy; w Double (1993)
//! Horror; p and q (no metadata) are everybody's held-out valid and test items, in that order.
//! Train sets: a: x y z   b: x y   c: y z w   d: x w   e: x y z.

use super::{Dataset, DatasetBuilder, PreprocessOptions};

/// The hand-made dataset described in the module docs (one interaction per time step, in the
/// order listed).
pub fn dataset() -> Dataset {
    let mut bld = DatasetBuilder::new("hand");
    bld.add_item("x", "Ex", Some(1990), ["Drama"]);
    bld.add_item("y", "Why", Some(1991), ["Drama", "Comedy"]);
    bld.add_item("z", "Zed", Some(1992), ["Comedy"]);
    bld.add_item("w", "Double", Some(1993), ["Horror"]);
    let mut t = 0;
    for (u, items) in [
        ("a", vec!["x", "y", "z"]),
        ("b", vec!["x", "y"]),
        ("c", vec!["y", "z", "w"]),
        ("d", vec!["x", "w"]),
        ("e", vec!["x", "y", "z"]),
    ] {
        for i in items.into_iter().chain(["p", "q"]) {
            bld.add_interaction(u, i, None, t);
            t += 1;
        }
    }
    bld.build(&PreprocessOptions::default())
        .expect("the hand-made dataset builds")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_hand_world_holds_what_its_docs_say() {
        let ds = super::dataset();
        assert_eq!((ds.num_users(), ds.num_items()), (5, 6));
        assert_eq!(ds.num_interactions(), 13 + 10);
    }
}
