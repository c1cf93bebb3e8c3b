//! Parquet files: read as they are, in batches, with their own types, once
//! their footer's schema is known to be shallow enough to read (`parquet_footer`).

use super::parquet_footer;
use super::{Batches, LoadError, batch_rows};
use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use std::path::Path;

pub(super) struct ParquetBatches {
    reader: ParquetRecordBatchReader,
    shown: String,
}

/// The largest footer read: far beyond real files' (a few MB for thousands of
/// columns and row groups).
const MAX_FOOTER: usize = 64 << 20;

pub(super) fn open(path: &Path, shown: &str) -> Result<ParquetBatches, LoadError> {
    let mut file = std::fs::File::open(path).map_err(|e| LoadError::file(shown, e))?;
    check_footer(&mut file).map_err(|e| LoadError::file(shown, format!("not a Parquet file Headwater reads: {e}")))?;
    // The Arrow schema a writer embeds (`ARROW:schema`) is decoded by arrow-ipc, which
    // panics on some malformed ones (an unknown type id, found by `just fuzz`): such a
    // file is refused, as pyarrow refuses it, not a panic out of the loader.
    let builder = std::panic::catch_unwind(|| ParquetRecordBatchReaderBuilder::try_new(file)).map_err(|_| {
        LoadError::file(shown, "not a readable Parquet file: its embedded Arrow schema (ARROW:schema) is malformed")
    })?;
    let reader = builder
        .and_then(|b| {
            // Rows as wide as the first row group's, uncompressed: wide rows, smaller batches.
            let row_bytes = b
                .metadata()
                .row_groups()
                .first()
                .map_or(0, |g| usize::try_from(g.total_byte_size() / g.num_rows().max(1)).unwrap_or(usize::MAX));
            b.with_batch_size(batch_rows(row_bytes)).build()
        })
        .map_err(|e| LoadError::file(shown, format!("not a readable Parquet file: {e}")))?;
    Ok(ParquetBatches { reader, shown: shown.to_string() })
}

/// The footer's schema, walked before the parquet crate builds it (see `parquet_footer`).
fn check_footer(file: &mut std::fs::File) -> Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    if size < 12 {
        return Ok(()); // too short for Parquet: the crate says so
    }
    let mut trailer = [0u8; 8];
    file.seek(SeekFrom::End(-8)).and_then(|_| file.read_exact(&mut trailer)).map_err(|e| e.to_string())?;
    let Some(footer) = parquet_footer::footer_len(&trailer) else { return Ok(()) };
    if footer as u64 + 8 > size {
        return Ok(()); // a footer longer than the file: the crate says so
    }
    if footer > MAX_FOOTER {
        return Err(format!("its footer is {} MiB, more than the {} MiB read", footer >> 20, MAX_FOOTER >> 20));
    }
    let mut tail = vec![0u8; footer + 8];
    file.seek(SeekFrom::End(-(footer as i64 + 8)))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|e| e.to_string())?;
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    parquet_footer::check(&tail, footer)
}

impl Iterator for ParquetBatches {
    type Item = Result<RecordBatch, LoadError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.reader.next()?.map_err(|e| LoadError::file(&self.shown, e)))
    }
}

impl Batches for ParquetBatches {}

#[cfg(test)]
mod tests {
    use parquet::basic::{Repetition, Type as Physical};
    use parquet::schema::types::Type;
    use std::sync::Arc;

    /// A Parquet file of one INT32 column nested `depth` groups deep, written on
    /// a thread with a stack large enough for the parquet crate's own recursion.
    fn nested(path: &std::path::Path, depth: usize) {
        let path = path.to_path_buf();
        let write = move || {
            let leaf = Type::primitive_type_builder("leaf", Physical::INT32).with_repetition(Repetition::OPTIONAL);
            let mut t = Arc::new(leaf.build().unwrap());
            for i in 0..depth {
                let name = format!("g{i}");
                let group = Type::group_type_builder(&name).with_repetition(Repetition::OPTIONAL);
                t = Arc::new(group.with_fields(vec![t]).build().unwrap());
            }
            let root = Arc::new(Type::group_type_builder("schema").with_fields(vec![t]).build().unwrap());
            let file = std::fs::File::create(&path).unwrap();
            parquet::file::writer::SerializedFileWriter::new(file, root, Default::default()).unwrap().close().unwrap();
        };
        std::thread::Builder::new().stack_size(1 << 30).spawn(write).unwrap().join().unwrap();
    }

    /// Found by `just fuzz`: a file whose embedded Arrow schema (`ARROW:schema`)
    /// names a type id arrow-ipc does not know made it panic (a type it does not implement)
    /// while the reader was built. The file is refused, naming the schema.
    #[test]
    fn a_malformed_embedded_arrow_schema_is_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.parquet");
        std::fs::write(&path, include_bytes!("../../../fuzz/corpus/parquet_file/crash-arrow-schema-unknown-type"))
            .unwrap();
        let opened = std::panic::catch_unwind(|| super::open(&path, "bad.parquet").map(|_| ()));
        let refused = opened.expect("the loader panicked").expect_err("the file is refused");
        assert!(refused.to_string().contains("embedded Arrow schema (ARROW:schema) is malformed"), "{refused}");
    }

    /// Found by `just fuzz` (parquet_file): a malformed page of a 1.5 KB export
    /// made arrow-buffer panic (a bit chunk past its buffer) while the parquet
    /// crate decoded it. The file's batches end with its error, naming the file
    /// (`load::FileBatches` catches a decoder's panic, whatever the format).
    #[test]
    fn a_malformed_page_is_the_files_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.parquet");
        std::fs::write(&path, include_bytes!("../../../fuzz/corpus/parquet_file/crash-bit-chunk-out-of-bounds"))
            .unwrap();
        let read = std::panic::catch_unwind(|| {
            let options = crate::load::default_options();
            let batches =
                crate::load::open(&path, "bad.parquet", &options, None, crate::stream::Intake::of(&Default::default()));
            batches.map(|batches| batches.collect::<Result<Vec<_>, _>>())
        });
        let refused = read.expect("the loader panicked").expect("the footer is fine").expect_err("a page is not");
        let refused = refused.to_string();
        assert!(refused.contains("bad.parquet") && refused.contains("the file is malformed"), "{refused}");
    }

    /// Issue "Trust, the rest": a 250 KB file nesting 20,000 groups overflowed the
    /// decoding thread's stack and aborted the process; it is refused, naming the
    /// depth, and a file as deep as the limit still opens.
    #[test]
    fn a_schema_nested_past_the_limit_is_refused_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("deep.parquet");
        nested(&deep, 20_000);
        let err = super::open(&deep, "deep.parquet").err().expect("refused").to_string();
        assert!(err.contains("deep.parquet") && err.contains("20001 levels deep"), "{err}");
        let fine = dir.path().join("fine.parquet");
        nested(&fine, super::parquet_footer::MAX_DEPTH - 1);
        assert!(super::open(&fine, "fine.parquet").is_ok());
    }
}
