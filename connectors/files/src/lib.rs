//! `files`: loads CSV, NDJSON and Parquet exports (optionally gzip/zstd) from a
//! file root the pipeline grants. The connector decides what to load: it lists
//! the files, reads Hive partition values from their folders, skips files
//! already loaded (or reloads changed ones, except in partitions older than the
//! watermark; a file never loaded always loads), and checkpoints as it goes (after each of the first files, then every
//! eighth of what it has loaded, or 256 MiB), so a rerun or an interrupted backfill
//! loads only what is not committed yet. The decoding itself is the host's
//! native bulk path (`output.load`).

mod config;

use config::{Config, OnChange};
use headwater_sdk::load::LoadOptions;
use headwater_sdk::{Connector, Error, Result, StreamInfo, files, output, state};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
        let stored: Option<Loaded> = state::get_json(stream)?;
        // Partitions strictly before the watermark's day hold nothing newer than it, so a
        // file there that changed after it was loaded is not reloaded. Only once this
        // connector has loaded something: a load from nothing (a backfill run again with
        // `--backfill`, whose watermark the API phase has moved on) reads them all.
        let prune_before = match (&config.cursor_field, config.prune_partitions, &stored) {
            // Only files loaded before are ever pruned: see below.
            (Some(_), true, Some(_)) => state::watermark(stream).and_then(|w| day_of(&w)),
            _ => None,
        };
        let mut loaded = stored.unwrap_or_default();
        let mut todo = Vec::new();
        let mut pruned = 0;
        let mut pruned_paths = Vec::new();
        for entry in files::list(&config.root, &config.glob)? {
            let mark = FileMark { size: entry.size, modified_ms: entry.modified_ms };
            match loaded.files.get(&entry.path) {
                Some(m) if *m == mark => continue,
                Some(_) => {
                    // A file loaded before that changed, in a partition older than the
                    // watermark's day: not reloaded. A file never loaded is never pruned,
                    // whatever its partition (a late file in an old `dt=` folder lands).
                    if let (Some(before), Some(day)) = (&prune_before, partition_day(&entry.path))
                        && day < *before
                    {
                        pruned += 1;
                        if pruned_paths.len() < 3 {
                            pruned_paths.push(entry.path.clone());
                        }
                        continue;
                    }
                    match config.on_change {
                        OnChange::Reload => {}
                        OnChange::Skip => continue,
                        OnChange::Error => {
                            return Err(Error::Data(format!(
                                "{} changed since it was loaded (on_change = \"error\"): size or modification time \
                                 differ",
                                entry.path
                            )));
                        }
                    }
                }
                None => {}
            }
            todo.push((entry, mark));
        }
        if pruned > 0 {
            output::log(
                headwater_sdk::Level::Warn,
                &format!(
                    "stream {stream}: {pruned} changed file(s) in partitions older than the watermark's day were not \
                     reloaded (prune_partitions), e.g. {}; set prune_partitions = false to reload them",
                    pruned_paths.join(", ")
                ),
            );
        }
        let total_bytes: u64 = todo.iter().map(|(e, _)| e.size).sum();
        output::info(&format!(
            "stream {stream}: {} file(s) to load, {total_bytes} bytes; {pruned} pruned by partition",
            todo.len()
        ));
        let mut done_bytes = 0;
        let (last, mut since_files, mut since_bytes) = (todo.len(), 0usize, 0u64);
        for (n, (entry, mark)) in todo.into_iter().enumerate() {
            let options = load_options(config, &entry.path);
            let stats = output::load(stream, &config.root, &entry.path, &options)?;
            done_bytes += entry.size;
            output::progress(stream, done_bytes, Some(total_bytes));
            if stats.bad_rows > 0 {
                output::log(
                    headwater_sdk::Level::Warn,
                    &format!("{}: skipped {} malformed rows", entry.path, stats.bad_rows),
                );
            }
            loaded.files.insert(entry.path.clone(), mark);
            since_files += 1;
            since_bytes += entry.size;
            // An interrupted load resumes after the last checkpointed file.
            if n + 1 == last || checkpoint_due(since_files, since_bytes, loaded.files.len()) {
                output::checkpoint(stream, &loaded)?;
                (since_files, since_bytes) = (0, 0);
            }
        }
        Ok(())
    }
}

/// Whether to checkpoint after a file: once the files loaded since the last
/// checkpoint are an eighth of all the stream has loaded (so after each of the
/// first few), or 256 MiB, and always after the last. A checkpoint writes the list
/// of every file loaded, so one per file would write O(files²) bytes over a
/// large backfill (review D30); this writes O(files), and a crash redoes at most
/// an eighth of what was loaded, or 256 MiB.
fn checkpoint_due(since_files: usize, since_bytes: u64, loaded_files: usize) -> bool {
    since_files >= (loaded_files / 8).max(1) || since_bytes >= 256 << 20
}

/// The options of the host's bulk load for one file.
fn load_options(config: &Config, path: &str) -> LoadOptions {
    LoadOptions {
        format: config.format.map(Into::into),
        compression: config.compression.map(Into::into),
        csv: (&config.csv).into(),
        bad_rows: config.bad_rows.into(),
        partition: if config.partition_columns { partitions(path) } else { Vec::new() },
        infer_rows: config.infer_rows,
    }
}

/// `k=v` folder segments of a relative path.
fn partitions(path: &str) -> Vec<(String, String)> {
    let mut segments: Vec<&str> = path.split('/').collect();
    segments.pop(); // the file name
    segments
        .into_iter()
        .filter_map(|s| s.split_once('='))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The day a date partition covers: `dt=`/`date=` (YYYY-MM-DD), or `year=`/`month=`/`day=`.
fn partition_day(path: &str) -> Option<String> {
    let parts = partitions(path);
    let get = |k: &str| parts.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    if let Some(d) = get("dt").or_else(|| get("date")) {
        return day_of(d);
    }
    let (y, m, d) = (get("year")?, get("month")?, get("day")?);
    Some(format!("{y:0>4}-{m:0>2}-{d:0>2}"))
}

/// The `YYYY-MM-DD` a date or timestamp text starts with.
fn day_of(text: &str) -> Option<String> {
    let day = text.get(..10)?;
    let b = day.as_bytes();
    (b[4] == b'-' && b[7] == b'-' && day.chars().filter(char::is_ascii_digit).count() == 8).then(|| day.to_string())
}

headwater_sdk::export!(Files);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_days() {
        assert_eq!(partition_day("orders/dt=2025-01-20/a.csv").as_deref(), Some("2025-01-20"));
        assert_eq!(partition_day("year=2025/month=1/day=2/a.csv").as_deref(), Some("2025-01-02"));
        assert_eq!(partition_day("orders/a.csv"), None);
        assert_eq!(day_of("2025-01-14T21:19:00Z").as_deref(), Some("2025-01-14"));
        assert_eq!(partitions("a=1/b=x/f.csv"), [("a".into(), "1".into()), ("b".into(), "x".into())]);
    }

    /// Review D30: a checkpoint per file wrote O(files²) bytes of state over a
    /// backfill. The checkpoints of 100,000 small files write O(files) entries.
    #[test]
    fn checkpoints_grow_geometrically_with_what_is_loaded() {
        let (mut since, mut checkpoints, mut entries_written) = (0usize, 0u64, 0u64);
        for loaded in 1..=100_000usize {
            since += 1;
            if checkpoint_due(since, since as u64 * 1000, loaded) {
                checkpoints += 1;
                entries_written += loaded as u64;
                since = 0;
            }
        }
        assert!(checkpoints < 120, "{checkpoints} checkpoints");
        assert!(entries_written < 1_000_000, "{entries_written} entries written, about 9 × the files");
        // Each of the first files checkpoints, and so does a big file whatever the count.
        assert!((1..=8).all(|n| checkpoint_due(1, 0, n)));
        assert!(checkpoint_due(1, 256 << 20, 1_000_000));
    }
}
