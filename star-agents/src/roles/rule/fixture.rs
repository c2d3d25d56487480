//! The hand-made world the rule roles' unit tests run on.
//!
//! Items: x Ex (1990) Drama; y Why (1991) Drama|Comedy; z Zed (1992) Comedy; w Double (1993)
//! Horror; p and q (no genre) are everybody's held-out valid/test items. Train sets:
//! a: x y z   b: x y   c: y z w   d: x w   e: x y z.

use super::super::{Analysis, EpisodeView, ToolEnv, Transcript};
use crate::orchestrator::resources;
use crate::tools::{ToolContext, ToolError, ToolRegistry, ToolResources};
use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::prelude::*;
use std::sync::Arc;

/// The fixture's dataset and tool resources.
pub(crate) struct Fixture {
    pub ds: Arc<Dataset>,
    pub res: ToolResources,
}

/// Builds the fixture.
pub(crate) fn hand() -> Fixture {
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
    let ds = Arc::new(bld.build(&PreprocessOptions::default()).unwrap());
    let split = Split::temporal_leave_one_out(&ds);
    let store = Arc::new(EvidenceStore::build(&ds, &split, EvidenceConfig::default()));
    let res = resources(ds.clone(), &split, store, None);
    Fixture { ds, res }
}

impl Fixture {
    /// The item with raw id `raw`.
    pub fn item(&self, raw: &str) -> ItemId {
        self.ds.item_by_raw(raw).unwrap()
    }

    /// A request of user `user` with this history and these candidates (raw ids).
    pub fn request(&self, user: &str, history: &[&str], candidates: &[&str]) -> RankRequest {
        RankRequest {
            user: self.ds.user_by_raw(user).unwrap(),
            history: history.iter().map(|r| self.item(r)).collect(),
            candidates: candidates.iter().map(|r| self.item(r)).collect(),
        }
    }

    /// Calls `f` with the episode view of `request` and a tool environment over `tools` (4
    /// turns); returns its result and the transcript.
    pub fn with_env<R>(
        &self,
        request: &RankRequest,
        tools: &ToolRegistry,
        f: impl FnOnce(&EpisodeView, &mut ToolEnv) -> R,
    ) -> (R, Transcript) {
        let ctx = ToolContext {
            res: &self.res,
            request,
        };
        let view = EpisodeView {
            ctx: &ctx,
            prompt: "",
        };
        let mut t = Transcript::default();
        let mut env = ToolEnv::new(&ctx, tools, &mut t, "test", 4);
        let r = f(&view, &mut env);
        (r, t)
    }

    /// Runs an analyst's evidence function `analyse` on a first pass (no previous analysis)
    /// over all of `request`'s candidates, with `tools`; returns its result and the transcript.
    pub fn first_pass<R>(
        &self,
        request: &RankRequest,
        tools: &ToolRegistry,
        analyse: impl FnOnce(
            &EpisodeView,
            &mut ToolEnv,
            &[ItemId],
            Option<&Analysis>,
        ) -> Result<R, ToolError>,
    ) -> (R, Transcript) {
        self.with_env(request, tools, |ep, env| {
            analyse(ep, env, &request.candidates, None).unwrap()
        })
    }

    /// Calls `f` with the episode view of `request`.
    pub fn with_view<R>(&self, request: &RankRequest, f: impl FnOnce(&EpisodeView) -> R) -> R {
        self.with_env(request, &ToolRegistry::new(), |view, _| f(view))
            .0
    }
}
