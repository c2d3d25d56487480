//! A tool's declared arguments: the JSON schema offered to an LLM and the reading of a call's
//! arguments, both from one declaration ([`Params`]).

use super::{ToolContext, ToolError};
use serde_json::{json, Value};
use star_cf::ItemId;

/// The optional count argument of a tool (`limit`, `k`).
#[derive(Clone, Copy, Debug)]
pub struct Count {
    /// Argument name.
    pub name: &'static str,
    /// What it counts, for the schema (`how many neighbours`).
    pub what: &'static str,
    /// The value when the argument is absent or null.
    pub default: usize,
    /// Larger values are clamped to this (smaller ones to 1).
    pub max: usize,
}

/// The arguments a tool takes.
#[derive(Clone, Copy, Debug)]
pub enum Params {
    /// None.
    None,
    /// A count only.
    Count(Count),
    /// The required `item`.
    Item,
    /// The required `item` and a count.
    ItemCount(Count),
}

impl Params {
    fn takes_item(self) -> bool {
        matches!(self, Params::Item | Params::ItemCount(_))
    }

    fn count(self) -> Option<Count> {
        match self {
            Params::Count(c) | Params::ItemCount(c) => Some(c),
            Params::None | Params::Item => None,
        }
    }

    /// The JSON schema of the arguments.
    pub fn schema(self) -> Value {
        let mut props = serde_json::Map::new();
        if self.takes_item() {
            props.insert(
                "item".into(),
                json!({"type": "string", "description": "item id, as written in brackets in the prompt"}),
            );
        }
        if let Some(c) = self.count() {
            props.insert(
                c.name.into(),
                json!({"type": "integer", "description": format!("{} (default {})", c.what, c.default)}),
            );
        }
        if self.takes_item() {
            json!({"type": "object", "properties": props, "required": ["item"]})
        } else {
            json!({"type": "object", "properties": props})
        }
    }
}

/// A call's arguments, read as the tool declares them.
pub struct Args<'a> {
    tool: &'static str,
    params: Params,
    values: &'a Value,
}

impl<'a> Args<'a> {
    /// The arguments `values` of a call to tool `tool`, which takes `params`.
    pub fn new(tool: &'static str, params: Params, values: &'a Value) -> Self {
        Args {
            tool,
            params,
            values,
        }
    }

    /// The error of a tool that cannot answer this request.
    pub fn unavailable(&self, message: &str) -> ToolError {
        ToolError::Unavailable {
            tool: self.tool.into(),
            message: message.into(),
        }
    }

    fn bad(&self, message: String) -> ToolError {
        ToolError::BadArguments {
            tool: self.tool.into(),
            message,
        }
    }

    /// The `item` argument.
    pub fn item(&self, ctx: &ToolContext) -> Result<ItemId, ToolError> {
        let raw = self
            .values
            .get("item")
            .ok_or_else(|| self.bad("missing `item`".into()))?;
        ctx.item(self.tool, raw)
    }

    /// The count argument: its default when absent or null, else clamped to `1..=max`.
    ///
    /// # Panics
    /// When the tool declares no count.
    pub fn count(&self) -> Result<usize, ToolError> {
        let c = self.params.count().expect("the tool declares a count");
        match self.values.get(c.name) {
            None | Some(Value::Null) => Ok(c.default),
            Some(v) => v
                .as_u64()
                .map(|k| (k as usize).clamp(1, c.max))
                .ok_or_else(|| {
                    self.bad(format!("`{}` must be a positive integer, got {v}", c.name))
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: Count = Count {
        name: "k",
        what: "how many neighbours",
        default: 10,
        max: 100,
    };

    #[test]
    fn the_schema_and_the_reading_follow_one_declaration() {
        assert_eq!(
            Params::ItemCount(K).schema(),
            json!({"type": "object", "required": ["item"], "properties": {
                "item": {"type": "string", "description": "item id, as written in brackets in the prompt"},
                "k": {"type": "integer", "description": "how many neighbours (default 10)"},
            }})
        );
        assert_eq!(
            Params::None.schema(),
            json!({"type": "object", "properties": {}})
        );
        let count = |v: Value| Args::new("t", Params::Count(K), &v).count();
        assert_eq!(count(json!({})), Ok(10));
        assert_eq!(count(json!({"k": null})), Ok(10));
        assert_eq!(count(json!({"k": 0})), Ok(1));
        assert_eq!(count(json!({"k": 1000})), Ok(100));
        assert_eq!(
            count(json!({"k": -1})).unwrap_err().to_string(),
            "tool `t`: bad arguments: `k` must be a positive integer, got -1"
        );
    }
}
