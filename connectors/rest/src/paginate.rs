//! Pagination: given a page's body, where the next page is.

use headwater_sdk::{Error, Result};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Paginator {
    /// One request per stream.
    #[default]
    None,
    /// The next page's cursor is read from the body and sent back as a query parameter.
    Cursor {
        /// JSON pointer to the next cursor in the body, e.g. `/meta/next_cursor`; null or empty ends the stream.
        cursor_path: String,
        /// Query parameter that carries the cursor, e.g. `cursor`.
        cursor_param: String,
    },
}

/// The query parameter (name, value) for the next page, or `None` when done.
pub fn next_page(paginator: &Paginator, body: &Value, records_on_page: usize) -> Result<Option<(String, String)>> {
    match paginator {
        Paginator::None => Ok(None),
        Paginator::Cursor { cursor_path, cursor_param } => {
            if records_on_page == 0 {
                return Ok(None);
            }
            let cursor = match body.pointer(cursor_path) {
                None | Some(Value::Null) => return Ok(None),
                Some(Value::String(s)) if s.is_empty() => return Ok(None),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(other) => {
                    return Err(Error::Data(format!(
                        "next cursor at `{cursor_path}` is a {}, expected a string or number",
                        crate::kind(other)
                    )));
                }
            };
            Ok(Some((cursor_param.clone(), cursor)))
        }
    }
}
