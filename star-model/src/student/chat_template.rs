//! Hugging Face chat templates: the Jinja template of a checkpoint (`chat_template.jinja`, or
//! `chat_template` in `tokenizer_config.json`) rendered the way transformers'
//! `apply_chat_template` renders it: `trim_blocks` and `lstrip_blocks`, loop controls, Python
//! string methods (`startswith`, `strip`, `split`, …), `raise_exception`, `strftime_now`, and a
//! `tojson` that
//! writes what Python's `json.dumps` writes (`", "` and `": "` separators, non-ASCII kept).

use super::config::read_optional_json;
use crate::error::{Error, Result};
use minijinja::value::Serde;
use minijinja::{Environment, Value};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A checkpoint's chat template with the special-token strings it may refer to.
pub struct ChatTemplate {
    env: Environment<'static>,
    path: PathBuf,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The content of a special token in `tokenizer_config.json`: a string or `{"content": …}`.
fn token_string(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => o
            .get("content")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

/// Python's `json.dumps` separators: `", "` between items, `": "` after keys.
struct PythonJson;

/// `", "` before every item but the first.
fn item_separator<W: ?Sized + std::io::Write>(writer: &mut W, first: bool) -> std::io::Result<()> {
    if first {
        Ok(())
    } else {
        writer.write_all(b", ")
    }
}

impl serde_json::ser::Formatter for PythonJson {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        item_separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        item_separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

/// transformers' `tojson`: `json.dumps(value, ensure_ascii=False, indent=indent)`.
fn tojson(value: Value, kwargs: minijinja::value::Kwargs) -> Result<Value, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let json = serde_json::to_value(&value).map_err(|e| {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
    })?;
    let mut out = Vec::new();
    let written = match indent {
        Some(n) => {
            let pad = vec![b' '; n];
            let fmt = serde_json::ser::PrettyFormatter::with_indent(&pad);
            json.serialize(&mut serde_json::Serializer::with_formatter(&mut out, fmt))
        }
        None => json.serialize(&mut serde_json::Serializer::with_formatter(
            &mut out, PythonJson,
        )),
    };
    written.map_err(|e| {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
    })?;
    Ok(Value::from_safe_string(
        String::from_utf8(out).expect("serde_json writes UTF-8"),
    ))
}

/// transformers' `strftime_now(format)` (Llama 3 templates write today's date with it): the
/// current time in UTC (transformers takes the local time: the same on a machine whose clock
/// is UTC) through the `strftime` directives chat templates use (`%d %m %y %Y %b %B %a %A %H %M %S %j %%`); any other
/// directive is an error naming it, not a guess.
fn strftime_now(format: String) -> Result<Value, minijinja::Error> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    strftime(secs, &format).map(Value::from)
}

/// `format` for the UTC time `secs` after the Unix epoch (see [`strftime_now`]).
pub(crate) fn strftime(secs: u64, format: &str) -> Result<String, minijinja::Error> {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    let days = (secs / 86_400) as i64;
    let (h, mi, se) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // civil date from days since 1970-01-01 (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let before = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334][(m - 1) as usize];
    let yday = before + d + i64::from(leap && m > 2);
    let (month, weekday) = (MONTHS[(m - 1) as usize], DAYS[days.rem_euclid(7) as usize]);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('y') => out.push_str(&format!("{:02}", y % 100)),
            Some('Y') => out.push_str(&y.to_string()),
            Some('b') => out.push_str(&month[..3]),
            Some('B') => out.push_str(month),
            Some('a') => out.push_str(&weekday[..3]),
            Some('A') => out.push_str(weekday),
            Some('H') => out.push_str(&format!("{h:02}")),
            Some('M') => out.push_str(&format!("{mi:02}")),
            Some('S') => out.push_str(&format!("{se:02}")),
            Some('j') => out.push_str(&format!("{yday:03}")),
            Some('%') => out.push('%'),
            other => {
                return Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!(
                        "strftime_now: the directive %{} is not implemented",
                        other.map(String::from).unwrap_or_default()
                    ),
                ))
            }
        }
    }
    Ok(out)
}

fn raise_exception(message: String) -> Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        message,
    ))
}

impl ChatTemplate {
    /// The chat template of model directory `dir`: `chat_template.jinja` (transformers 5), else
    /// the `chat_template` of `tokenizer_config.json` (a string, or the entry named `default`
    /// of a list). A directory without one is an error naming it.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::find(dir)?.ok_or_else(|| Error::Template {
            path: dir.to_path_buf(),
            message: "no chat template (neither chat_template.jinja nor a `chat_template` in tokenizer_config.json)".into(),
        })
    }

    /// The chat template of `dir` if it has one (`Ok(None)` when it has none; an error when
    /// the one it has is not a template the loader can read, naming the file).
    pub fn find(dir: &Path) -> Result<Option<Self>> {
        let config_path = dir.join("tokenizer_config.json");
        let config = read_optional_json(&config_path)?.unwrap_or_default();
        let jinja = dir.join("chat_template.jinja");
        let (path, source) = if jinja.is_file() {
            let text = std::fs::read_to_string(&jinja).map_err(|e| Error::io(&jinja, e))?;
            (jinja, text)
        } else {
            let bad = |message: &str| Error::Template {
                path: config_path.clone(),
                message: message.into(),
            };
            let template = match config.get("chat_template") {
                None | Some(serde_json::Value::Null) => return Ok(None),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Array(list)) => list
                    .iter()
                    .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                    .and_then(|t| t.get("template"))
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| bad("`chat_template` is a list without a `default` template"))?
                    .to_string(),
                Some(_) => return Err(bad("`chat_template` is neither a string nor a list")),
            };
            (config_path, template)
        };
        Self::new(
            source,
            path,
            token_string(config.get("bos_token")),
            token_string(config.get("eos_token")),
        )
        .map(Some)
    }

    /// The text around a single user message, ending with the assistant's turn header:
    /// `(prefix, suffix)` such that `prefix + content + suffix` is what the template renders
    /// for `[{"role": "user", "content": content}]` with the generation prompt.
    pub fn user_turn(&self) -> Result<(String, String)> {
        const HOLE: &str = "\u{1}STAR-PROMPT\u{1}";
        let text = self.render(
            &serde_json::json!([{"content": HOLE, "role": "user"}]),
            None,
            true,
        )?;
        match text.split_once(HOLE) {
            Some((prefix, suffix)) if !suffix.contains(HOLE) => {
                Ok((prefix.to_string(), suffix.to_string()))
            }
            _ => Err(Error::Template {
                path: self.path.clone(),
                message: "the template does not write a user message's content once, as it is"
                    .into(),
            }),
        }
    }

    /// A template from its source; `path` names it in errors.
    pub fn new(
        source: String,
        path: PathBuf,
        bos_token: String,
        eos_token: String,
    ) -> Result<Self> {
        // Jinja2 (transformers) turns every line ending of the source into `\n`, inside string
        // literals too; templates saved on Windows would otherwise render `\r\n`
        let source = source.replace("\r\n", "\n").replace('\r', "\n");
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .expect("the default delimiters are valid");
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned("chat", source)
            .map_err(|e| Error::Template {
                path: path.clone(),
                message: e.to_string(),
            })?;
        Ok(ChatTemplate {
            env,
            path,
            bos_token,
            eos_token,
        })
    }

    /// The tokenizer's end-of-sequence token string, when `tokenizer_config.json` names one.
    pub fn eos_token(&self) -> Option<&str> {
        Some(self.eos_token.as_str()).filter(|t| !t.is_empty())
    }

    /// Renders `messages` (Hugging Face message dictionaries: `role`, `content`, `tool_calls`
    /// with `function.name` and `function.arguments`) and `tools` (`{"type": "function",
    /// "function": {…}}` entries), ending with the assistant's turn when
    /// `add_generation_prompt`.
    pub fn render(
        &self,
        messages: &serde_json::Value,
        tools: Option<&serde_json::Value>,
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = self.env.get_template("chat").expect("added in new");
        template
            .render(minijinja::context! {
                messages => Value::from(Serde(messages)),
                tools => tools.map(|t| Value::from(Serde(t))),
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token.as_str(),
                eos_token => self.eos_token.as_str(),
            })
            .map_err(|e| Error::Template {
                path: self.path.clone(),
                message: format!("{e:#}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::strftime;

    #[test]
    fn strftime_writes_what_python_writes() {
        // from Python: datetime.fromtimestamp(s, timezone.utc).strftime(...)
        let f = "%d %b %Y %a %A %B %m %y %H:%M:%S %j %%";
        for (secs, want) in [
            (0, "01 Jan 1970 Thu Thursday January 01 70 00:00:00 001 %"),
            (
                1_700_000_000,
                "14 Nov 2023 Tue Tuesday November 11 23 22:13:20 318 %",
            ),
            (
                951_782_400,
                "29 Feb 2000 Tue Tuesday February 02 00 00:00:00 060 %",
            ),
            (
                4_102_444_800,
                "01 Jan 2100 Fri Friday January 01 00 00:00:00 001 %",
            ),
        ] {
            assert_eq!(strftime(secs, f).unwrap(), want, "{secs}");
        }
        let err = strftime(0, "%Z").unwrap_err().to_string();
        assert!(err.contains("%Z"), "{err}");
    }
}
