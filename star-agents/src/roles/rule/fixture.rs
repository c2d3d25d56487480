//! The hand-made world the rule roles' unit tests run on: [`star_cf::data::hand`] with the
//! teacher's tool resources.

use super::super::{EpisodeView, ToolEnv, Transcript};
use super::Pass;
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
    let ds = Arc::new(star_cf::data::hand::dataset());
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

    /// Calls `f` with a tool environment on `request` over `tools` with `turns` tool turns,
    /// writing to `t`.
    pub fn in_env<R>(
        &self,
        request: &RankRequest,
        (tools, turns): (&ToolRegistry, usize),
        t: &mut Transcript,
        f: impl FnOnce(&mut ToolEnv) -> R,
    ) -> R {
        let ctx = ToolContext {
            res: &self.res,
            request,
        };
        let view = EpisodeView {
            ctx: &ctx,
            prompt: "",
        };
        f(&mut ToolEnv::new(&view, tools, t, "test", turns))
    }

    /// Calls `f` with a tool environment over `tools` (4 turns) on `request`; returns its result
    /// and the transcript.
    pub fn with_env<R>(
        &self,
        request: &RankRequest,
        tools: &ToolRegistry,
        f: impl FnOnce(&mut ToolEnv) -> R,
    ) -> (R, Transcript) {
        let mut t = Transcript::default();
        let r = self.in_env(request, (tools, 4), &mut t, f);
        (r, t)
    }

    /// Runs an analyst's evidence function `analyse` on a first pass (no previous analysis)
    /// over all of `request`'s candidates, with `tools`; returns its result and the transcript.
    pub fn first_pass<R>(
        &self,
        request: &RankRequest,
        tools: &ToolRegistry,
        analyse: impl FnOnce(&mut ToolEnv, &Pass) -> Result<R, ToolError>,
    ) -> (R, Transcript) {
        let pass = Pass {
            cands: &request.candidates,
            previous: None,
        };
        self.with_env(request, tools, |env| analyse(env, &pass).unwrap())
    }
}
