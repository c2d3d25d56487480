//! The orchestrator: plan → analysts (each up to T tool turns) → reflector (up to R revision
//! rounds) → ranker, with every step recorded into an [`Episode`].

use crate::episode::{serialise, Episode, EpisodeStats, Step};
use crate::origin::Origin;
use crate::roles::rule::{RuleAnalyst, RulePlanner, RuleRanker, RuleReflector};
use crate::roles::{
    Analysis, Analyst, Deliberation, EpisodeView, FinalRanker, Flag, Planner, Reflector, Revision,
    RoleError, ToolEnv, Transcript,
};
use crate::tools::{ToolContext, ToolRegistry, ToolResources};
use star_cf::rank_metrics::rank_in;
use star_cf::{ItemId, RankError, RankRequest, Ranker, Ranking};
use std::sync::Arc;
use std::time::Instant;

/// Limits of an episode.
#[derive(Clone, Debug, PartialEq)]
pub struct TeacherConfig {
    /// Tool turns per analyst pass (T).
    pub max_tool_turns: usize,
    /// Revision rounds the reflector may ask for (R).
    pub max_revisions: usize,
    /// Whether the reflector runs at all (off for the `no-reflection` ablation).
    pub reflection: bool,
    /// History items shown in the prompt (the most recent ones).
    pub prompt_history: usize,
}

impl Default for TeacherConfig {
    fn default() -> Self {
        TeacherConfig {
            max_tool_turns: 4,
            max_revisions: 2,
            reflection: true,
            prompt_history: 50,
        }
    }
}

/// Which episode a request is (for ids and records).
#[derive(Clone, Debug)]
pub struct EpisodeMeta {
    /// Where it comes from: the episode's id.
    pub id: Origin,
    /// `train`, `valid` or `test`.
    pub split: String,
    /// The held-out item, when known (never shown to the roles).
    pub target: Option<ItemId>,
}

/// The roles of a teacher: who plans, analyses, reflects and ranks.
pub struct Roles {
    /// Decides how to approach the request.
    pub planner: Box<dyn Planner>,
    /// Examine the candidates, each from its angle, in this order.
    pub analysts: Vec<Box<dyn Analyst>>,
    /// Checks the analyses against the tool results.
    pub reflector: Box<dyn Reflector>,
    /// Orders the candidates.
    pub ranker: Box<dyn FinalRanker>,
}

impl Roles {
    /// The rule-based roles, one analyst of each kind.
    pub fn rule_based() -> Self {
        Roles {
            planner: Box::new(RulePlanner),
            analysts: RuleAnalyst::all()
                .into_iter()
                .map(|a| Box::new(a) as Box<dyn Analyst>)
                .collect(),
            reflector: Box::new(RuleReflector),
            ranker: Box::new(RuleRanker),
        }
    }

    /// The LLM-prompted roles over `model`, one analyst of each kind.
    pub fn llm(model: Arc<dyn crate::chat::ChatModel>) -> Self {
        use crate::roles::llm::{LlmAnalyst, LlmPlanner, LlmRanker, LlmReflector};
        Roles {
            planner: Box::new(LlmPlanner::new(model.clone())),
            analysts: crate::roles::AnalystKind::ALL
                .into_iter()
                .map(|k| Box::new(LlmAnalyst::new(k, model.clone())) as Box<dyn Analyst>)
                .collect(),
            reflector: Box::new(LlmReflector::new(model.clone())),
            ranker: Box::new(LlmRanker::new(model)),
        }
    }
}

/// The multi-agent teacher.
pub struct Teacher {
    name: String,
    roles: Roles,
    tools: ToolRegistry,
    resources: ToolResources,
    config: TeacherConfig,
}

impl Teacher {
    /// A teacher called `name` (in results) from its roles, the tools they may call and what
    /// the tools work over.
    pub fn new(
        name: &str,
        roles: Roles,
        tools: ToolRegistry,
        resources: ToolResources,
        config: TeacherConfig,
    ) -> Self {
        Teacher {
            name: name.to_string(),
            roles,
            tools,
            resources,
            config,
        }
    }

    /// The rule-based teacher with all tools: `teacher`.
    pub fn rule_based(resources: ToolResources, config: TeacherConfig) -> Self {
        let tools = ToolRegistry::standard();
        Teacher::new("teacher", Roles::rule_based(), tools, resources, config)
    }

    /// The LLM-prompted teacher over `model`: `teacher-llm`.
    pub fn llm(
        resources: ToolResources,
        model: Arc<dyn crate::chat::ChatModel>,
        config: TeacherConfig,
    ) -> Self {
        let tools = ToolRegistry::standard();
        Teacher::new("teacher-llm", Roles::llm(model), tools, resources, config)
    }

    /// The same teacher without reflection: `<name>-no-reflection`.
    pub fn without_reflection(mut self) -> Self {
        self.config.reflection = false;
        self.name = format!("{}-no-reflection", self.name);
        self
    }

    /// The same teacher without the CST-evidence tools: `<name>-no-cst`.
    pub fn without_cst(mut self) -> Self {
        self.tools = self.tools.without_cst();
        self.name = format!("{}-no-cst", self.name);
        self
    }

    /// The teacher's name in results.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shared resources.
    pub fn resources(&self) -> &ToolResources {
        &self.resources
    }

    /// The prompt of a request: the recent history and the candidates, items written as
    /// `[raw id] Title (year)`.
    pub fn prompt(&self, ctx: &ToolContext) -> String {
        let h = &ctx.request.history;
        let shown = &h[h.len().saturating_sub(self.config.prompt_history)..];
        format!(
            "User {} has {} items in their history. Most recent {} (oldest first): {}\nCandidates ({}): {}",
            ctx.res.dataset.users[ctx.request.user.idx()].raw_id,
            h.len(),
            shown.len(),
            shown.iter().map(|&i| ctx.label(i)).collect::<Vec<_>>().join("; "),
            ctx.request.candidates.len(),
            ctx.request.candidates.iter().map(|&c| ctx.label(c)).collect::<Vec<_>>().join("; ")
        )
    }

    /// One pass of `analyst` (round 0, or a revision) with its own tool-turn budget, its
    /// summary recorded as a step.
    fn analyse(
        &self,
        analyst: &dyn Analyst,
        view: &EpisodeView,
        t: &mut Transcript,
        round: usize,
        revise: Option<Revision>,
    ) -> Result<Analysis, RoleError> {
        let kind = analyst.kind();
        let turns = self.config.max_tool_turns;
        let a = analyst.analyse(
            &mut ToolEnv::new(view, &self.tools, t, kind.title(), turns),
            revise,
        )?;
        t.push_text(Step::Analysis {
            analyst: kind,
            round,
            text: a.summary.clone(),
        });
        Ok(a)
    }

    /// The environment of a role that calls no tools.
    fn env<'a, 'b>(
        &'a self,
        view: &'a EpisodeView<'a, 'b>,
        t: &'a mut Transcript,
        role: &str,
    ) -> ToolEnv<'a, 'b> {
        ToolEnv::new(view, &self.tools, t, role, 0)
    }

    /// Runs one episode.
    pub fn run(&self, request: &RankRequest, meta: &EpisodeMeta) -> Result<Episode, RoleError> {
        let start = Instant::now();
        let ctx = ToolContext {
            res: &self.resources,
            request,
        };
        let prompt = self.prompt(&ctx);
        let view = EpisodeView {
            ctx: &ctx,
            prompt: &prompt,
        };
        let mut t = Transcript::default();

        let plan = self
            .roles
            .planner
            .plan(&mut self.env(&view, &mut t, "planner"))?;
        t.push_text(Step::Plan {
            text: plan.text.clone(),
        });

        let mut analyses: Vec<Analysis> = Vec::with_capacity(self.roles.analysts.len());
        for analyst in &self.roles.analysts {
            analyses.push(self.analyse(analyst.as_ref(), &view, &mut t, 0, None)?);
        }

        let mut revisions = 0;
        if self.config.reflection {
            for round in 0..=self.config.max_revisions {
                let mut env = self.env(&view, &mut t, "reflector");
                let r = self.roles.reflector.reflect(&mut env, &analyses)?;
                t.push_text(Step::Reflection {
                    round,
                    text: r.text.clone(),
                    flags: r.flags.len(),
                });
                if r.revise.is_empty() || round == self.config.max_revisions {
                    break;
                }
                revisions += 1;
                for (analyst, analysis) in self.roles.analysts.iter().zip(analyses.iter_mut()) {
                    let kind = analyst.kind();
                    if !r.revise.contains(&kind) {
                        continue;
                    }
                    let flags: Vec<Flag> = r
                        .flags
                        .iter()
                        .filter(|f| f.analyst == kind)
                        .cloned()
                        .collect();
                    let revise = Revision {
                        previous: analysis,
                        flags: &flags,
                    };
                    *analysis =
                        self.analyse(analyst.as_ref(), &view, &mut t, round + 1, Some(revise))?;
                }
            }
        }

        let d = Deliberation {
            plan: &plan,
            analyses: &analyses,
        };
        let fr = self
            .roles
            .ranker
            .rank(&mut self.env(&view, &mut t, "ranker"), d)?;
        let raw = |i: &ItemId| ctx.raw(*i).to_string();
        let ranking: Vec<String> = fr.items.iter().map(raw).collect();
        t.push_text(Step::Recommend {
            ranking: ranking.clone(),
            justification: fr.justification.clone(),
        });
        let stats = EpisodeStats {
            wall_ms: start.elapsed().as_secs_f64() * 1e3,
            tool_calls: t.calls.len(),
            tool_errors: t.calls.iter().filter(|c| c.output.is_err()).count(),
            tokens: t.tokens,
            revisions,
            chat_calls: t.chat_calls,
        };
        Ok(Episode {
            id: meta.id.clone(),
            split: meta.split.clone(),
            user: self.resources.dataset.users[request.user.idx()]
                .raw_id
                .clone(),
            history_len: request.history.len(),
            candidates: request.candidates.iter().map(raw).collect(),
            target: meta.target.map(|i| raw(&i)),
            teacher: self.name.clone(),
            prompt,
            text: serialise(&t.steps),
            steps: t.steps,
            target_rank: meta.target.and_then(|tg| rank_in(&fr.items, &tg)),
            ranking,
            valid: fr.valid,
            raw_ranking: fr.raw.as_ref().map(|r| r.iter().map(raw).collect()),
            stats,
        })
    }
}

impl Ranker for Teacher {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn rank(&self, request: &RankRequest) -> Result<Ranking, RankError> {
        // The episode is not kept: only its ranking is returned.
        let meta = EpisodeMeta {
            id: Origin::Test {
                user: self.resources.dataset.users[request.user.idx()]
                    .raw_id
                    .clone(),
            },
            split: String::new(),
            target: None,
        };
        let ep = self.run(request, &meta)?;
        // A repaired ranking is flagged, so the protocol runner counts it in valid_ratio.
        let items = ep
            .ranking
            .iter()
            .filter_map(|r| self.resources.dataset.item_by_raw(r))
            .collect();
        Ok(Ranking {
            items,
            scores: None,
            repaired: !ep.valid,
        })
    }
}

/// Shared resources for tests and callers that build them by hand.
pub fn resources(
    dataset: Arc<star_cf::data::Dataset>,
    split: &star_cf::split::Split,
    store: Arc<star_cf::evidence::EvidenceStore>,
    cf: Option<Arc<star_model::cf::EmbeddingRanker>>,
) -> ToolResources {
    ToolResources {
        dataset,
        store,
        cf,
        sequence: None,
        train_len: Arc::new(split.users.iter().map(|u| u.train.len()).collect()),
    }
}
