//! `files`: loads CSV exports from a file root the pipeline grants. Files are
//! parsed into Arrow batches inside the sandbox and emitted as IPC; each file is
//! checkpointed once loaded, so a rerun (or a resumed backfill) loads only files
//! it has not committed yet.

mod config;

use arrow_csv::ReaderBuilder;
use arrow_csv::reader::Format;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use config::Config;
use headwater_sdk::{Connector, Error, Result, StreamInfo, files, output, state};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

struct Files;

/// What the stream's state remembers of each loaded file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Loaded {
    files: BTreeMap<String, FileMark>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FileMark {
    size: u64,
    modified_ms: i64,
}

/// Rows per emitted batch: large enough that host calls are rare, small enough
/// that a batch stays a few MiB.
const BATCH_ROWS: usize = 16 * 1024;

impl Connector for Files {
    type Config = Config;

    fn check(config: &Config) -> Result<()> {
        config.validate()?;
        files::list(&config.root, &config.glob).map(|_| ())
    }

    fn discover(config: &Config) -> Result<Vec<StreamInfo>> {
        config.validate()?;
        let mut info = StreamInfo::new(config.stream.clone())
            .primary_key(config.primary_key.iter().cloned())
            .cursor_field(config.cursor_field.clone());
        for c in &config.schema {
            info = info.field(c.name.clone(), c.data_type.clone(), c.nullable);
        }
        Ok(vec![info])
    }

    fn read(config: &Config, streams: &[String]) -> Result<()> {
        config.validate()?;
        if !streams.is_empty() && !streams.contains(&config.stream) {
            return Ok(());
        }
        let stream = config.stream.as_str();
        let mut loaded: Loaded = state::get_json(stream)?.unwrap_or_default();
        let entries = files::list(&config.root, &config.glob)?;
        let todo: Vec<_> = entries
            .into_iter()
            .filter(|e| {
                let mark = FileMark { size: e.size, modified_ms: e.modified_ms };
                loaded.files.get(&e.path) != Some(&mark)
            })
            .collect();
        let total_bytes: u64 = todo.iter().map(|e| e.size).sum();
        output::info(&format!("stream {stream}: {} new file(s), {total_bytes} bytes", todo.len()));
        let mut done_bytes = 0;
        for entry in todo {
            let rows = match config.format {
                config::Format::Csv => load_csv(config, &entry.path)?,
            };
            done_bytes += entry.size;
            output::progress(stream, done_bytes, Some(total_bytes));
            loaded.files.insert(entry.path.clone(), FileMark { size: entry.size, modified_ms: entry.modified_ms });
            output::log(headwater_sdk::Level::Debug, &format!("{}: {rows} rows", entry.path));
            // One checkpoint per file: an interrupted load resumes after the last whole file.
            output::checkpoint(stream, &loaded)?;
        }
        Ok(())
    }
}

/// Streams one CSV file through the Arrow CSV reader and emits its batches.
fn load_csv(config: &Config, path: &str) -> Result<u64> {
    let format = Format::default().with_header(config.csv.header).with_delimiter(config.csv.delimiter_byte()?);
    let schema = schema_for(config, &format, path)?;
    let reader = files::open(&config.root, path)?;
    let csv = ReaderBuilder::new(schema)
        .with_format(format)
        .with_batch_size(BATCH_ROWS)
        .build(std::io::BufReader::with_capacity(1 << 20, reader))
        .map_err(|e| Error::Data(format!("{path}: {e}")))?;
    let mut rows = 0u64;
    for batch in csv {
        let batch = batch.map_err(|e| Error::Data(format!("{path}: {e}")))?;
        rows += batch.num_rows() as u64;
        headwater_sdk::arrow::emit(&config.stream, &[batch])?;
    }
    Ok(rows)
}

/// The schema a file is parsed with: declared columns are read as text (the host
/// casts them to their declared types, naming the column on failure); otherwise the
/// types are inferred from the first rows of the file.
fn schema_for(config: &Config, format: &Format, path: &str) -> Result<SchemaRef> {
    if !config.schema.is_empty() {
        let fields: Vec<Field> =
            config.schema.iter().map(|c| Field::new(c.name.as_str(), DataType::Utf8, true)).collect();
        return Ok(Arc::new(Schema::new(fields)));
    }
    let reader = files::open(&config.root, path)?;
    let (schema, _) = format
        .infer_schema(std::io::BufReader::new(reader), Some(config.infer_rows))
        .map_err(|e| Error::Data(format!("{path}: cannot infer a schema: {e}")))?;
    Ok(Arc::new(schema))
}

headwater_sdk::export!(Files);
