//! A hostile connector: each `attack` in its config tries to break one rule of
//! the security model. The tests assert that the host refuses, survives, and
//! says clearly what happened.

use headwater_sdk::arrow::{arrow_array, arrow_schema};
use headwater_sdk::http::Request;
use headwater_sdk::load::LoadOptions;
use headwater_sdk::{Connector, Error, Result, StreamInfo, files, output};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Which rule to attack.
    attack: String,
    /// A URL, file root or path, depending on the attack.
    #[serde(default)]
    target: String,
}

struct Hostile;

const STREAM: &str = "loot";

impl Connector for Hostile {
    type Config = Config;

    fn discover(config: &Config) -> Result<Vec<StreamInfo>> {
        // Offer a stream whose name the host turns into a sink folder.
        let name = if config.attack == "stream-name" { config.target.as_str() } else { STREAM };
        Ok(vec![StreamInfo::new(name).field("value", "string", true)])
    }

    fn read(config: &Config, _streams: &[String]) -> Result<()> {
        let target = config.target.as_str();
        match config.attack.as_str() {
            // Write rows under the stream name offered by `discover`.
            "stream-name" => {
                output::emit_json_rows(target, &[serde_json::json!({ "value": "escaped" })])?;
                output::checkpoint(target, &serde_json::json!({}))
            }
            // Reach a host the pipeline does not allow.
            "http" => {
                let body = Request::get(target).send()?.body;
                loot(&String::from_utf8_lossy(&body))
            }
            // Use a credential for a host it is not granted to.
            "credential" => {
                let body = Request::get(target).auth(Some("api")).send()?.body;
                loot(&String::from_utf8_lossy(&body))
            }
            // Read a file outside the granted root: `target` is "root|path".
            "file" => {
                let (root, path) = target.split_once('|').unwrap_or(("./data", target));
                let mut reader = files::open(root, path)?;
                loot(&String::from_utf8_lossy(&reader.read_chunk()?))
            }
            // Read a whole file, `target` being "root|path", and commit its bytes as
            // rows: a path that got out of its root would leave its content in the sink.
            "read" => {
                let (root, path) = target.split_once('|').unwrap_or(("./data", target));
                let mut reader = files::open(root, path)?;
                let mut bytes = Vec::new();
                loop {
                    let chunk = reader.read_chunk()?;
                    if chunk.is_empty() {
                        break;
                    }
                    bytes.extend_from_slice(&chunk);
                }
                loot(&String::from_utf8_lossy(&bytes))?;
                output::checkpoint(STREAM, &serde_json::json!({}))
            }
            // List with a glob of its own, `target` being "root|glob", and commit every
            // path listed as a row: a glob that climbed out of its root would show.
            "glob" => {
                let (root, glob) = target.split_once('|').unwrap_or(("./data", target));
                for entry in files::list(root, glob)? {
                    loot(&entry.path)?;
                }
                loot("listed")?;
                output::checkpoint(STREAM, &serde_json::json!({}))
            }
            // Have the host load a file into the stream, `target` being "root|path".
            "load" => {
                let (root, path) = target.split_once('|').unwrap_or(("./data", target));
                output::load(STREAM, root, path, &LoadOptions::default())?;
                output::checkpoint(STREAM, &serde_json::json!({}))
            }
            // List a folder that is not granted.
            "list" => {
                let entries = files::list(target, "**")?;
                loot(&format!("{} entries", entries.len()))
            }
            // Look for ambient authority: environment, preopened folders, sockets.
            "ambient" => {
                let env = std::env::vars().count();
                let fs = std::fs::read_dir("/").is_ok() || std::fs::read_to_string("/etc/passwd").is_ok();
                let net = std::net::TcpStream::connect(target).is_ok();
                loot(&format!("env={env} fs={fs} net={net}"))?;
                output::checkpoint(STREAM, &serde_json::json!({}))
            }
            // Burn CPU forever.
            "spin" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            // Allocate until something gives.
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("hostile connector panicked on purpose"),
            // An error of 8 MiB, to flood the terminal and the log.
            "long-error" => Err(Error::Data(format!("start {} end", "E".repeat(8 << 20)))),
            // Bytes that are not Arrow IPC.
            "garbage" => output::emit_ipc(STREAM, b"\xff\xffnot arrow at all"),
            // Write into a stream it was not asked to read.
            "other-stream" => {
                output::emit_json_rows("someone_elses", &[serde_json::json!({"value": "x"})])?;
                output::checkpoint("someone_elses", &serde_json::json!({}))
            }
            // Emit `target` rows (default 1) and never checkpoint.
            "no-checkpoint" => {
                let rows: usize = target.parse().unwrap_or(1);
                let page: Vec<_> =
                    (0..rows).map(|i| serde_json::json!({ "value": format!("uncommitted {i}") })).collect();
                output::emit_json_rows(STREAM, &page).map(|_| ())
            }
            // Ignore a failed emit and checkpoint anyway, hoping the good rows commit.
            "ignore-error" => {
                loot("good row")?;
                let _ = output::emit_ipc(STREAM, b"garbage");
                output::checkpoint(STREAM, &serde_json::json!({}))
            }
            // Open files without ever closing them.
            "readers" => {
                let mut open = Vec::new();
                loop {
                    open.push(files::open("./data", target)?);
                }
            }
            // A log line of 8 MiB.
            "log" => {
                output::info(&"x".repeat(8 << 20));
                loot("logged")?;
                output::checkpoint(STREAM, &serde_json::json!({}))
            }
            // The attacks below first commit one row, which must survive them.
            "huge-batch" => after_a_commit(|| {
                // A null column has no buffers: a few hundred bytes claiming 4 billion rows.
                let column = arrow_array::new_null_array(&arrow_schema::DataType::Null, 4_000_000_000);
                let batch = arrow_array::RecordBatch::try_from_iter([("value", column)])
                    .map_err(|e| Error::Data(e.to_string()))?;
                headwater_sdk::arrow::emit(STREAM, &[batch])
            }),
            // One row whose list claims 4 billion `Null` children: no buffers back the claim.
            "huge-list" => after_a_commit(|| {
                let children = arrow_array::new_null_array(&arrow_schema::DataType::Null, 4_000_000_000);
                let item = std::sync::Arc::new(arrow_schema::Field::new("item", arrow_schema::DataType::Null, true));
                let offsets = arrow_buffer::OffsetBuffer::new(vec![0i64, 4_000_000_000].into());
                let list = arrow_array::LargeListArray::try_new(item, offsets, children, None)
                    .map_err(|e| Error::Data(e.to_string()))?;
                let batch = arrow_array::RecordBatch::try_from_iter([("value", std::sync::Arc::new(list) as _)])
                    .map_err(|e| Error::Data(e.to_string()))?;
                headwater_sdk::arrow::emit(STREAM, &[batch])
            }),
            "deep-json" => after_a_commit(|| {
                let depth = 100_000;
                let deep = format!("[{{\"value\":{}{}}}]", "[".repeat(depth), "]".repeat(depth));
                output::emit_json(STREAM, deep.as_bytes()).map(|_| ())
            }),
            "deep-records" => after_a_commit(|| {
                let depth = 100_000;
                let body = format!("{{\"data\":[{{\"value\":{}{}}}]}}", "{\"a\":".repeat(depth), "}".repeat(depth));
                output::emit_records(STREAM, body.as_bytes(), "/data").map(|_| ())
            }),
            // A page whose records do not decode (the host decodes them while the connector
            // goes on), its error ignored: then more rows and a checkpoint, as if it had landed.
            "ignored-bad-page" => after_a_commit(|| {
                let _ = output::emit_records(STREAM, br#"{"data":[{"value":"x"},7]}"#, "/data");
                let _ = output::emit_records(STREAM, br#"{"data":[{"value":"y"}]}"#, "/data");
                Ok(())
            }),
            // A pointer as deep as the page: 100,000 `/a` segments into `{"a":` nested as deep.
            "deep-pointer" => after_a_commit(|| {
                let depth = 100_000;
                let body = format!("{}[]{}", "{\"a\":".repeat(depth), "}".repeat(depth));
                output::emit_records(STREAM, body.as_bytes(), &"/a".repeat(depth)).map(|_| ())
            }),
            // A records pointer is the connector's string: `target`, e.g. one starting with `é`.
            "pointer" => {
                after_a_commit(|| output::emit_records(STREAM, br#"{"data":[{"value":"x"}]}"#, target).map(|_| ()))
            }
            // A column named like the host's lineage columns, in another case.
            "lineage" => after_a_commit(|| {
                output::emit_json_rows(STREAM, &[serde_json::json!({ "value": "x", target: "forged" })]).map(|_| ())
            }),
            // A partition value of `target` bytes, repeated over every row of a file.
            "partition" => after_a_commit(|| {
                let len: usize = target.parse().unwrap_or(1 << 20);
                let options = LoadOptions { partition: vec![("dt".into(), "x".repeat(len))], ..LoadOptions::default() };
                output::load(STREAM, "./data", "ok.csv", &options).map(|_| ())
            }),
            // Pick a virtual host behind an allowed address.
            "host-header" => {
                let body = Request::get(target).header("Host", "internal.example").send()?.body;
                loot(&String::from_utf8_lossy(&body))
            }
            // TRACE echoes the request back, the injected credential included.
            "trace" => {
                let request = Request { method: "TRACE".into(), ..Request::get(target) }.auth(Some("api"));
                loot(&String::from_utf8_lossy(&request.send()?.body))
            }
            // A server reflecting the request's headers: read the credential back from
            // the body and the headers of the response, and keep it as rows.
            "echo" => after_a_commit(|| {
                let response = Request::get(target).auth(Some("api")).send()?;
                loot(&String::from_utf8_lossy(&response.body))?;
                let headers: Vec<String> = response.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                loot(&headers.join("\n"))
            }),
            // Terminal escapes in a log line and an error: a clipboard write, a
            // window title, a screen clear, and a forged log line after CR/LF.
            "ansi" => {
                output::info("log \u{1b}]52;c;ZXZpbA==\u{7} \u{1b}[2J\r\nINFO forged log line");
                Err(Error::Data("error \u{1b}]0;pwned\u{7}\u{1b}[2J\r\nrun ok: forged".into()))
            }
            other => Err(Error::Config(format!("unknown attack `{other}`"))),
        }
    }
}

/// Commits one row, then attacks: the committed row must survive the attack.
fn after_a_commit(attack: impl FnOnce() -> Result<()>) -> Result<()> {
    loot("committed")?;
    output::checkpoint(STREAM, &serde_json::json!({}))?;
    attack()?;
    loot("after the attack")?;
    output::checkpoint(STREAM, &serde_json::json!({}))
}

fn loot(value: &str) -> Result<()> {
    output::emit_json_rows(STREAM, &[serde_json::json!({ "value": value })]).map(|_| ())
}

headwater_sdk::export!(Hostile);
