//! Templates in a stream's parameters and body (MiniJinja): where a value the
//! API needs goes inside a text or takes a form of its own. A string that holds
//! `{{` or `{%` is rendered with:
//! - `watermark`: the stream's watermark (or `start_value`) as the sink holds it,
//!   and its forms `watermark_unix` (seconds), `watermark_ms` (milliseconds) and
//!   `watermark_date` (`YYYY-MM-DD`); the filters `unix`, `unix_ms` and `date` give
//!   the same forms of any time;
//! - `parent`: the parent record, for a child stream;
//! - `vars`: the connector config's `vars`.
//!
//! A name that is not there fails the stream (MiniJinja's strict mode) rather
//! than send an empty value; MiniJinja's own filters (`urlencode`, `lower`,
//! `default`, …) are there too.

use crate::incremental::{civil_from_days, parse_rfc3339};
use headwater_sdk::{Error, Result};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

/// What a template may name.
#[derive(Default)]
pub struct Context {
    values: Map<String, Value>,
}

impl Context {
    pub fn new(watermark: Option<&str>, parent: Option<&Value>, vars: &Map<String, Value>) -> Context {
        let mut values = Map::new();
        if let Some(w) = watermark {
            values.insert("watermark".into(), Value::String(w.to_string()));
            let seconds = seconds(w);
            if let Some(s) = seconds {
                values.insert("watermark_unix".into(), Value::from(s));
                values.insert("watermark_ms".into(), Value::from(s.saturating_mul(1000)));
                values.insert("watermark_date".into(), Value::String(date(s)));
            }
        }
        if let Some(p) = parent {
            values.insert("parent".into(), p.clone());
        }
        values.insert("vars".into(), Value::Object(vars.clone()));
        Context { values }
    }
}

/// Whether `text` is a template.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// Renders every template among `strings` (a request's parameters and body strings).
pub fn render_all<'a>(strings: impl Iterator<Item = &'a mut String>, ctx: &Context, stream: &str) -> Result<()> {
    let mut env: Option<Environment<'static>> = None;
    for s in strings {
        if !is_template(s) {
            continue;
        }
        let env = env.get_or_insert_with(environment);
        *s = env.render_str(s, &ctx.values).map_err(|e| {
            let first_run = !ctx.values.contains_key("watermark") && s.contains("watermark");
            let hint = if first_run {
                ": there is no watermark before the first run: set `incremental.start_value`"
            } else {
                ""
            };
            Error::Config(format!("stream `{stream}`: the template `{s}` does not render: {e}{hint}"))
        })?;
    }
    Ok(())
}

/// `text` rendered with `ctx` (a paginator's view of a page); `url` names the page.
pub fn render(text: &str, ctx: &Value, url: &str) -> Result<String> {
    environment().render_str(text, ctx).map_err(|e| {
        Error::Data(format!("the paginator's template `{text}` does not render on the page from {url}: {e}"))
    })
}

/// Whether the expression `expr` holds for `ctx`; `url` names the page.
pub fn holds(expr: &str, ctx: &Value, url: &str) -> Result<bool> {
    let env = environment();
    let failed = |e: minijinja::Error| {
        Error::Data(format!("the paginator's condition `{expr}` does not evaluate on the page from {url}: {e}"))
    };
    Ok(env.compile_expression(expr).map_err(failed)?.eval(ctx).map_err(failed)?.is_true())
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("unix", |v: String| seconds(&v).ok_or_else(|| not_a_time(&v)));
    env.add_filter("unix_ms", |v: String| seconds(&v).map(|s| s.saturating_mul(1000)).ok_or_else(|| not_a_time(&v)));
    env.add_filter("date", |v: String| seconds(&v).map(date).ok_or_else(|| not_a_time(&v)));
    env
}

fn not_a_time(v: &str) -> minijinja::Error {
    minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        format!("`{v}` is not an RFC 3339 time or Unix seconds"),
    )
}

/// An RFC 3339 time, or a number already in seconds, as Unix seconds.
fn seconds(text: &str) -> Option<i64> {
    parse_rfc3339(text).or_else(|| text.trim().parse::<i64>().ok())
}

/// Unix seconds as a `YYYY-MM-DD` date (UTC).
fn date(seconds: i64) -> String {
    let (y, m, d) = civil_from_days(seconds.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str, ctx: &Context) -> Result<String> {
        let mut s = text.to_string();
        render_all(std::iter::once(&mut s), ctx, "s")?;
        Ok(s)
    }

    #[test]
    fn the_watermark_in_every_form() {
        let ctx = Context::new(Some("2024-03-30T12:22:30Z"), Some(&serde_json::json!({"id": 7})), &Map::new());
        assert_eq!(render("updated_at:>{{watermark}}", &ctx).unwrap(), "updated_at:>2024-03-30T12:22:30Z");
        assert_eq!(render("{{ watermark_unix }}", &ctx).unwrap(), "1711801350");
        assert_eq!(render("{{ watermark_ms }}", &ctx).unwrap(), "1711801350000");
        assert_eq!(render("{{ watermark_date }}", &ctx).unwrap(), "2024-03-30");
        assert_eq!(render("{{ watermark | date }}/{{ parent.id }}", &ctx).unwrap(), "2024-03-30/7");
        assert_eq!(render("no template", &ctx).unwrap(), "no template");
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
    }

    #[test]
    fn a_name_that_is_not_there_fails_saying_what_to_do() {
        let ctx = Context::new(None, None, &Map::new());
        let e = render("x > {{ watermark }}", &ctx).unwrap_err().to_string();
        assert!(e.contains("start_value"), "{e}");
        let e = render("{{ vars.region }}", &ctx).unwrap_err().to_string();
        assert!(e.contains("does not render"), "{e}");
    }
}
