//! An orders API connector in Rust: pages through `GET {base_url}/orders` by
//! cursor, through the host's HTTP policy, and reads incrementally from the
//! watermark, each page a checkpoint whose state resumes the read mid-way.
//! Each page's records are deserialized into [`Order`]s and emitted as an
//! Arrow record batch built from them and the stream's declared columns
//! (`output = "arrow"`, the default), or handed to the host untouched
//! (`output = "records"`).

use headwater_sdk::http::Request;
use headwater_sdk::incremental::Incremental;
use headwater_sdk::paginate::{Pages, Paging};
use headwater_sdk::{Connector, Level, Result, StreamInfo, arrow, output};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The config users write in the pipeline file's `[source.config]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The API's root, e.g. `https://api.example.com`.
    base_url: String,
    /// A credential of the pipeline's `[auth.NAME]`, sent with every request.
    #[serde(default)]
    auth: Option<String>,
    /// Orders per page, sent as `limit` (the API's default when unset).
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    page_size: Option<u32>,
    /// How a page's orders become rows.
    #[serde(default)]
    output: Output,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Output {
    /// Deserialized into typed orders here and emitted as Arrow (declared columns only).
    #[default]
    Arrow,
    /// The page's records array handed to the host, which decodes it natively
    /// (undeclared fields kept as extra columns).
    Records,
}

/// An order as the API sends it; fields it adds later are ignored.
#[derive(Serialize, Deserialize)]
struct Order {
    id: i64,
    customer: Option<String>,
    amount: Option<f64>,
    updated_at: String,
}

/// The one stream, declared once: `discover` returns it, and its fields are the
/// columns of the Arrow batches.
fn orders() -> StreamInfo {
    StreamInfo::new("orders")
        .field("id", "int64", false)
        .field("customer", "string", true)
        .field("amount", "float64", true)
        .field("updated_at", "timestamp", false)
        .primary_key(["id"])
        .cursor_field(Some("updated_at"))
}

struct Orders;

impl Connector for Orders {
    type Config = Config;

    fn check(config: &Config) -> Result<()> {
        let request = Request::get(endpoint(config)).query("limit", "1").auth(config.auth.as_deref());
        request.send_read()?.check(&request.url)
    }

    fn discover(_: &Config) -> Result<Vec<StreamInfo>> {
        Ok(vec![orders()])
    }

    fn read(config: &Config, streams: &[String]) -> Result<()> {
        for stream in streams {
            match stream.as_str() {
                "orders" => read_orders(config)?,
                other => output::log(Level::Warn, &format!("no stream `{other}`: this connector has `orders`")),
            }
        }
        Ok(())
    }
}

fn endpoint(config: &Config) -> String {
    format!("{}/orders", config.base_url.trim_end_matches('/'))
}

/// One sync: the pages after the watermark (or the rest of a sync a run
/// stopped part-way), each emitted and checkpointed with where the next starts.
fn read_orders(config: &Config) -> Result<()> {
    let sync = Incremental::new("orders")?;
    let mut request = Request::get(endpoint(config)).auth(config.auth.as_deref());
    if let Some(since) = sync.since() {
        request = request.query("updated_since", since);
    }
    if let Some(size) = config.page_size {
        request = request.query("limit", size.to_string());
    }
    let pages = Pages::new(request, Paging::cursor("cursor", "/next_cursor")).resume_from(sync.resume());
    let mut total = 0;
    match config.output {
        Output::Arrow => {
            let fields = orders().fields;
            for page in pages.json("/data") {
                let page = page?;
                let rows: Vec<Order> = page.records()?;
                total += arrow::emit_rows("orders", &fields, &rows)?;
                sync.checkpoint(page.next.as_deref())?;
                output::progress("orders", total, None);
            }
        }
        Output::Records => {
            for page in pages.emit("orders", "/data") {
                let page = page?;
                total += page.rows;
                sync.checkpoint(page.next.as_deref())?;
                output::progress("orders", total, None);
            }
        }
    }
    output::info(&format!("orders: {total} rows after {}", sync.since().unwrap_or("the beginning")));
    Ok(())
}

headwater_sdk::export!(Orders);
