//! {{name}}: a Headwater connector. It reads one stream, `items`, from a JSON
//! API page by page, through the host's `http` interface (so the pipeline's
//! `[allow] hosts`, rate limit, retries and `[auth.NAME]` credentials apply to
//! every request), and incrementally: a sync asks for the items updated since
//! the stream's watermark, and checkpoints after every page.
//!
//! The API it expects (`testdata/api.py` is a stand-in for it):
//! `GET {base_url}/items?updated_since=<watermark>&cursor=<cursor>` returns
//! `{"data": [{"id": 1, "name": "…", "updated_at": "2025-01-01T09:00:00Z"}, …],
//! "next_cursor": "2"}`, and `"next_cursor": null` on the last page.

use headwater_sdk::http::Request;
use headwater_sdk::incremental::Incremental;
use headwater_sdk::paginate::{Pages, Paging};
use headwater_sdk::{Connector, Level, Result, StreamInfo, output};
use schemars::JsonSchema;
use serde::Deserialize;

/// The config users write in the pipeline file's `[source.config]`. Its JSON
/// Schema is derived from this type; the host validates the pipeline against it.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The API's root, e.g. `https://api.example.com`.
    base_url: String,
    /// A credential of the pipeline's `[auth.NAME]`, sent with every request by the host.
    #[serde(default)]
    auth: Option<String>,
}

/// The one stream: its columns, primary key and cursor.
fn items() -> StreamInfo {
    StreamInfo::new("items")
        .field("id", "int64", false)
        .field("name", "string", true)
        .field("updated_at", "timestamp", false)
        .primary_key(["id"])
        .cursor_field(Some("updated_at"))
}

struct Items;

impl Connector for Items {
    type Config = Config;

    /// One request for one item: the API answers, and the credential is accepted.
    fn check(config: &Config) -> Result<()> {
        let request = Request::get(endpoint(config)).query("limit", "1").auth(config.auth.as_deref());
        request.send_read()?.check(&request.url)
    }

    fn discover(_: &Config) -> Result<Vec<StreamInfo>> {
        Ok(vec![items()])
    }

    fn read(config: &Config, streams: &[String]) -> Result<()> {
        for stream in streams {
            match stream.as_str() {
                "items" => read_items(config)?,
                other => output::log(Level::Warn, &format!("no stream `{other}`: this connector has `items`")),
            }
        }
        Ok(())
    }
}

fn endpoint(config: &Config) -> String {
    format!("{}/items", config.base_url.trim_end_matches('/'))
}

/// One sync: the pages after the watermark (or the rest of a sync that a run
/// stopped part-way), each page's records emitted by the host straight from the
/// body and checkpointed with where the next page starts.
fn read_items(config: &Config) -> Result<()> {
    let sync = Incremental::new("items")?;
    let mut request = Request::get(endpoint(config)).auth(config.auth.as_deref());
    if let Some(since) = sync.since() {
        request = request.query("updated_since", since);
    }
    let pages = Pages::new(request, Paging::cursor("cursor", "/next_cursor")).resume_from(sync.resume());
    let mut total = 0;
    for page in pages.emit("items", "/data") {
        let page = page?;
        total += page.rows;
        sync.checkpoint(page.next.as_deref())?;
        output::progress("items", total, None);
    }
    output::info(&format!("items: {total} rows after {}", sync.since().unwrap_or("the beginning")));
    Ok(())
}

headwater_sdk::export!(Items);
