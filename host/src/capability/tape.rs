//! Record and replay of what a connector sees (`headwater run --record DIR`,
//! `--replay DIR`), so that a connector's behaviour can be reproduced in a test
//! or a bug report with no network and no files.
//!
//! The tape sits at the WIT boundary, in the capability adapters: it records
//! each HTTP exchange as the connector made and got it, each listing, each file
//! a connector opens or `load`s, and the committed state each stream's call
//! starts from. A replay answers the same calls from the recording, in the
//! order they were recorded for each request; one it does not hold fails,
//! naming the request. Credentials are injected below this boundary and cut
//! out of responses above it, so none is recorded; any secret of the pipeline
//! that still appears in a body or a file is redacted before it is written.
//!
//! The format (version 1) is a folder a user can read and edit:
//! - `tape.json`: `{"format": "headwater-tape", "version": 1}`;
//! - `NNNNNN-http.json`, `-list.json`, `-file.json`, `-state.json`: one event
//!   each, numbered in the order they happened;
//! - `NNNNNN.request`, `NNNNNN.response`, `NNNNNN.data`: request and response
//!   bodies and file contents, raw, named by the event that holds them.

use crate::bindings::WitError;
use crate::bindings::headwater::connector::files::Entry;
use crate::bindings::headwater::connector::http::{Request, Response};
use crate::http_policy::Scrubber;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

const FORMAT: &str = "headwater-tape";
const VERSION: u32 = 1;
const HEADER: &str = "tape.json";

/// Why a tape could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum TapeError {
    #[error("recording into {}: {reason}", dir.display())]
    Record { dir: PathBuf, reason: String },
    #[error("replaying {}: {reason}", dir.display())]
    Replay { dir: PathBuf, reason: String },
}

/// One recorded call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Event {
    Http {
        request: RecordedRequest,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response: Option<RecordedResponse>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<RecordedError>,
    },
    List {
        root: String,
        glob: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entries: Option<Vec<RecordedEntry>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<RecordedError>,
    },
    File {
        root: String,
        path: String,
        /// The file's contents, in this folder.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<RecordedError>,
    },
    State {
        phase: String,
        stream: String,
        state: Option<String>,
        watermark: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Recorded {
    seq: u64,
    #[serde(flatten)]
    event: Event,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecordedRequest {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    /// The body's file in this folder, if the request had one.
    body: Option<String>,
    /// The credential it named (never its value).
    auth: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecordedResponse {
    status: u16,
    headers: Vec<(String, String)>,
    /// The body's file in this folder.
    body: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecordedEntry {
    path: String,
    size: u64,
    modified_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecordedError {
    kind: String,
    message: String,
}

impl From<&WitError> for RecordedError {
    fn from(e: &WitError) -> Self {
        let (kind, message) = e.parts();
        RecordedError { kind: kind.into(), message: message.clone() }
    }
}

impl From<&RecordedError> for WitError {
    fn from(e: &RecordedError) -> Self {
        let m = e.message.clone();
        match e.kind.as_str() {
            "config" => WitError::Config(m),
            "auth" => WitError::Auth(m),
            "transient" => WitError::Transient(m),
            "denied" => WitError::Denied(m),
            "data" => WitError::Data(m),
            "paused" => WitError::Paused(m),
            _ => WitError::Other(m),
        }
    }
}

enum Mode {
    Record {
        scrubber: Scrubber,
        /// The first write that failed: the recording is incomplete.
        failed: Mutex<Option<String>>,
    },
    /// Events by the call they answer, each call's in recorded order.
    Replay(Mutex<HashMap<String, VecDeque<Event>>>),
}

/// A recording being made or replayed, shared by every call of a run.
pub struct Tape {
    dir: PathBuf,
    mode: Mode,
    seq: AtomicU64,
}

impl Tape {
    /// A new recording in `dir`, which must be empty or not exist yet.
    /// `secrets` are redacted wherever they would be written.
    pub fn record<'a>(dir: &Path, secrets: impl IntoIterator<Item = &'a str>) -> Result<Tape, TapeError> {
        let refused = |reason: String| TapeError::Record { dir: dir.to_path_buf(), reason };
        if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
            return Err(refused("the folder is not empty: record into a new folder".into()));
        }
        std::fs::create_dir_all(dir).map_err(|e| refused(e.to_string()))?;
        let header = serde_json::json!({ "format": FORMAT, "version": VERSION });
        std::fs::write(dir.join(HEADER), format!("{header:#}\n")).map_err(|e| refused(e.to_string()))?;
        let mut scrubber = Scrubber::default();
        for secret in secrets {
            scrubber.add(secret);
        }
        Ok(Tape {
            dir: dir.to_path_buf(),
            mode: Mode::Record { scrubber, failed: Mutex::new(None) },
            seq: AtomicU64::new(0),
        })
    }

    /// The recording in `dir`, ready to answer calls.
    pub fn replay(dir: &Path) -> Result<Tape, TapeError> {
        let refused = |reason: String| TapeError::Replay { dir: dir.to_path_buf(), reason };
        let header: serde_json::Value = std::fs::read(dir.join(HEADER))
            .map_err(|e| refused(format!("no {HEADER} ({e}): not a recording made by `headwater run --record`")))
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| refused(format!("{HEADER}: {e}"))))?;
        if header["format"] != FORMAT || header["version"] != VERSION {
            return Err(refused(format!("{HEADER} says {header}, not {FORMAT} version {VERSION}")));
        }
        let mut recorded = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| refused(e.to_string()))? {
            let path = entry.map_err(|e| refused(e.to_string()))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name == HEADER || !name.ends_with(".json") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| refused(format!("{name}: {e}")))?;
            let r: Recorded = serde_json::from_slice(&bytes).map_err(|e| refused(format!("{name}: {e}")))?;
            recorded.push(r);
        }
        recorded.sort_by_key(|r| r.seq);
        let tape = Tape { dir: dir.to_path_buf(), mode: Mode::Replay(Mutex::default()), seq: AtomicU64::new(0) };
        let mut index: HashMap<String, VecDeque<Event>> = HashMap::new();
        for r in recorded {
            let key = match &r.event {
                Event::Http { request, .. } => {
                    let body = match &request.body {
                        Some(file) => Some(tape.read(file).map_err(|e| refused(e.to_string()))?),
                        None => None,
                    };
                    http_key(&request.method, &request.url, body.as_deref())
                }
                Event::List { root, glob, .. } => list_key(root, glob),
                Event::File { root, path, .. } => file_key(root, path),
                Event::State { phase, stream, .. } => state_key(phase, stream),
            };
            index.entry(key).or_default().push_back(r.event);
        }
        Ok(Tape { mode: Mode::Replay(Mutex::new(index)), ..tape })
    }

    pub fn is_replay(&self) -> bool {
        matches!(self.mode, Mode::Replay(_))
    }

    /// Where the recording is.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The first write of the recording that failed, if one did: the recording is incomplete.
    pub fn failure(&self) -> Option<String> {
        match &self.mode {
            Mode::Record { failed, .. } => failed.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            Mode::Replay(_) => None,
        }
    }

    // --- HTTP -------------------------------------------------------------------

    /// Records an exchange: the request as the connector made it, the response
    /// (or error) as it got it.
    pub fn record_http(&self, request: &Request, result: &Result<Response, WitError>) {
        let seq = self.next();
        let body = request.body.as_ref().map(|b| self.write_data(seq, "request", b));
        let (response, error) = match result {
            Ok(r) => (
                Some(RecordedResponse {
                    status: r.status,
                    headers: self.scrub_headers(&r.headers),
                    body: self.write_data(seq, "response", &r.body),
                }),
                None,
            ),
            Err(e) => (None, Some(self.scrub_error(e))),
        };
        let request = RecordedRequest {
            method: request.method.clone(),
            url: self.scrub_text(&request.url),
            headers: self.scrub_headers(&request.headers),
            body,
            auth: request.auth.clone(),
        };
        self.write_event(seq, Event::Http { request, response, error });
    }

    /// The recorded answer to `request`.
    pub fn replay_http(&self, request: &Request) -> Result<Response, WitError> {
        let key = http_key(&request.method, &request.url, request.body.as_deref());
        let what = || format!("{} {}", request.method, crate::untrusted_text::excerpt(&request.url, 300));
        match self.take(&key, &what)? {
            Event::Http { response: Some(r), .. } => Ok(Response {
                status: r.status,
                headers: r.headers,
                body: self.read(&r.body).map_err(|e| WitError::Other(e.to_string()))?,
            }),
            Event::Http { error: Some(e), .. } => Err((&e).into()),
            _ => Err(self.corrupt(&what())),
        }
    }

    // --- Files -------------------------------------------------------------------

    pub fn record_list(&self, root: &str, glob: &str, result: &Result<Vec<Entry>, WitError>) {
        let seq = self.next();
        let (entries, error) = match result {
            Ok(entries) => (
                Some(
                    entries
                        .iter()
                        .map(|e| RecordedEntry { path: e.path.clone(), size: e.size, modified_ms: e.modified_ms })
                        .collect(),
                ),
                None,
            ),
            Err(e) => (None, Some(self.scrub_error(e))),
        };
        self.write_event(seq, Event::List { root: root.into(), glob: glob.into(), entries, error });
    }

    pub fn replay_list(&self, root: &str, glob: &str) -> Result<Vec<Entry>, WitError> {
        let what = || format!("the listing of `{glob}` under root `{root}`");
        match self.take(&list_key(root, glob), &what)? {
            Event::List { entries: Some(entries), .. } => Ok(entries
                .into_iter()
                .map(|e| Entry { path: e.path, size: e.size, modified_ms: e.modified_ms })
                .collect()),
            Event::List { error: Some(e), .. } => Err((&e).into()),
            _ => Err(self.corrupt(&what())),
        }
    }

    /// Records a file a connector opened or loaded: a copy of `local` (redacted),
    /// whose path in the recording is returned for the call to read from, so that
    /// the recorded run reads what a replay will.
    pub fn record_file(&self, root: &str, path: &str, local: Result<&Path, &WitError>) -> Result<PathBuf, WitError> {
        let seq = self.next();
        let name = format!("{seq:06}.data");
        let copied = match local {
            Ok(local) => self.copy_scrubbed(local, &self.dir.join(&name)).map_err(|e| {
                self.failed(format!("copying `{path}` into {name}: {e}"));
                WitError::Other(format!("recording `{path}` under root `{root}`: {e}"))
            }),
            Err(e) => Err(e.clone()),
        };
        let (data, error) = match &copied {
            Ok(()) => (Some(name.clone()), None),
            Err(e) => (None, Some(self.scrub_error(e))),
        };
        self.write_event(seq, Event::File { root: root.into(), path: path.into(), data, error });
        copied.map(|()| self.dir.join(name))
    }

    /// The recorded copy of a file a connector opens or loads.
    pub fn replay_file(&self, root: &str, path: &str) -> Result<PathBuf, WitError> {
        let what = || format!("the file `{path}` under root `{root}`");
        match self.take(&file_key(root, path), &what)? {
            Event::File { data: Some(data), .. } => self.file(&data).map_err(|e| WitError::Other(e.to_string())),
            Event::File { error: Some(e), .. } => Err((&e).into()),
            _ => Err(self.corrupt(&what())),
        }
    }

    // --- State -------------------------------------------------------------------

    /// Records the state a stream's call starts from; in a replay, the recorded
    /// one replaces it (a stream the recording did not read starts from nothing).
    pub fn state(
        &self,
        phase: &str,
        stream: &str,
        state: Option<String>,
        watermark: Option<String>,
    ) -> (Option<String>, Option<String>) {
        match &self.mode {
            Mode::Record { .. } => {
                let seq = self.next();
                let event = Event::State {
                    phase: phase.into(),
                    stream: stream.into(),
                    state: state.clone(),
                    watermark: watermark.clone(),
                };
                self.write_event(seq, event);
                (state, watermark)
            }
            Mode::Replay(_) => match self.take(&state_key(phase, stream), &|| String::new()) {
                Ok(Event::State { state, watermark, .. }) => (state, watermark),
                _ => (None, None),
            },
        }
    }

    // --- Internals ----------------------------------------------------------------

    fn next(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The next recorded event for `key`, or the error naming what was asked.
    fn take(&self, key: &str, what: &dyn Fn() -> String) -> Result<Event, WitError> {
        let Mode::Replay(index) = &self.mode else { unreachable!("only a replay takes events") };
        let mut index = index.lock().unwrap_or_else(|p| p.into_inner());
        match index.get_mut(key).and_then(VecDeque::pop_front) {
            Some(event) => Ok(event),
            None => Err(WitError::Other(format!(
                "replay: {} is not in the recording {} (or was asked for more often than recorded): \
                 the connector asked for something the recorded run did not",
                what(),
                self.dir.display()
            ))),
        }
    }

    fn corrupt(&self, what: &str) -> WitError {
        WitError::Other(format!("replay: the recording {} of {what} is malformed", self.dir.display()))
    }

    fn read(&self, file: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.file(file)?)
    }

    /// A file the recording names: a plain file name in its folder, never a path
    /// out of it (a recording is edited by hand, and may come from someone else).
    fn file(&self, name: &str) -> std::io::Result<PathBuf> {
        if name.is_empty() || name.contains(['/', '\\', '\0']) || name.starts_with('.') {
            return Err(std::io::Error::other(format!(
                "`{name}` is not a file name of the recording {}",
                self.dir.display()
            )));
        }
        Ok(self.dir.join(name))
    }

    fn failed(&self, reason: String) {
        if let Mode::Record { failed, .. } = &self.mode {
            let mut failed = failed.lock().unwrap_or_else(|p| p.into_inner());
            if failed.is_none() {
                tracing::error!("the recording {} is incomplete: {reason}", self.dir.display());
                *failed = Some(reason);
            }
        }
    }

    /// Writes `bytes` (redacted) as `NNNNNN.<suffix>`; returns its name.
    fn write_data(&self, seq: u64, suffix: &str, bytes: &[u8]) -> String {
        let name = format!("{seq:06}.{suffix}");
        let bytes = self.scrub_bytes(bytes);
        if let Err(e) = std::fs::write(self.dir.join(&name), &bytes) {
            self.failed(format!("writing {name}: {e}"));
        }
        name
    }

    fn write_event(&self, seq: u64, event: Event) {
        let kind = match &event {
            Event::Http { .. } => "http",
            Event::List { .. } => "list",
            Event::File { .. } => "file",
            Event::State { .. } => "state",
        };
        let name = format!("{seq:06}-{kind}.json");
        let mut json = serde_json::to_vec_pretty(&Recorded { seq, event }).expect("an event serialises");
        json.push(b'\n');
        let json = self.scrub_bytes(&json);
        if let Err(e) = std::fs::write(self.dir.join(&name), json) {
            self.failed(format!("writing {name}: {e}"));
        }
    }

    fn scrub_bytes<'b>(&self, bytes: &'b [u8]) -> std::borrow::Cow<'b, [u8]> {
        match &self.mode {
            Mode::Record { scrubber, .. } => match scrubber.cut(bytes) {
                Some(cut) => cut.into(),
                None => bytes.into(),
            },
            Mode::Replay(_) => bytes.into(),
        }
    }

    /// Copies a file, redacting as it goes, in bounded memory: each round keeps
    /// back the bytes a secret crossing into the next read could start in.
    fn copy_scrubbed(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        use std::io::{Read, Write};
        let Mode::Record { scrubber, .. } = &self.mode else { return std::fs::copy(from, to).map(|_| ()) };
        let keep = scrubber.longest().saturating_sub(1);
        let mut input = std::fs::File::open(from)?;
        let mut out = std::io::BufWriter::new(std::fs::File::create(to)?);
        let mut chunk = vec![0u8; 1 << 20];
        let mut carried: Vec<u8> = Vec::new();
        loop {
            let n = input.read(&mut chunk)?;
            carried.extend_from_slice(&chunk[..n]);
            let scrubbed = scrubber.cut(&carried).unwrap_or_else(|| std::mem::take(&mut carried));
            if n == 0 {
                out.write_all(&scrubbed)?;
                break;
            }
            // A secret that starts before the kept tail ends inside this buffer, so it is cut already.
            let split = scrubbed.len().saturating_sub(keep);
            out.write_all(&scrubbed[..split])?;
            carried = scrubbed[split..].to_vec();
        }
        out.flush()
    }

    fn scrub_text(&self, text: &str) -> String {
        String::from_utf8_lossy(&self.scrub_bytes(text.as_bytes())).into_owned()
    }

    fn scrub_headers(&self, headers: &[(String, String)]) -> Vec<(String, String)> {
        headers.iter().map(|(k, v)| (k.clone(), self.scrub_text(v))).collect()
    }

    fn scrub_error(&self, e: &WitError) -> RecordedError {
        let mut recorded = RecordedError::from(e);
        recorded.message = self.scrub_text(&recorded.message);
        recorded
    }
}

fn http_key(method: &str, url: &str, body: Option<&[u8]>) -> String {
    let body = body.map_or_else(|| "-".to_string(), |b| hex::encode(Sha256::digest(b)));
    format!("http\0{}\0{url}\0{body}", method.to_ascii_uppercase())
}

fn list_key(root: &str, glob: &str) -> String {
    format!("list\0{root}\0{glob}")
}

fn file_key(root: &str, path: &str) -> String {
    format!("file\0{root}\0{path}")
}

fn state_key(phase: &str, stream: &str) -> String {
    format!("state\0{phase}\0{stream}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(url: &str) -> Request {
        Request { method: "GET".into(), url: url.into(), headers: vec![], body: None, auth: Some("api".into()) }
    }

    fn ok(body: &str) -> Result<Response, WitError> {
        Ok(Response { status: 200, headers: vec![("x-echo".into(), "Bearer c4n4ry-s3cret".into())], body: body.into() })
    }

    /// Each request is answered in recorded order; one not recorded fails naming it;
    /// a secret written nowhere.
    #[test]
    fn a_recording_replays_in_order_and_names_what_it_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let tape = Tape::record(&dir.path().join("t"), ["c4n4ry-s3cret"]).unwrap();
        tape.record_http(&get("https://a/1"), &ok("first c4n4ry-s3cret"));
        tape.record_http(&get("https://a/1"), &ok("second"));
        tape.record_http(&get("https://a/2"), &Err(WitError::Paused("quota".into())));
        assert!(tape.failure().is_none());
        for entry in std::fs::read_dir(dir.path().join("t")).unwrap() {
            let text = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!String::from_utf8_lossy(&text).contains("c4n4ry"), "a secret was recorded");
        }

        let replay = Tape::replay(&dir.path().join("t")).unwrap();
        assert_eq!(replay.replay_http(&get("https://a/1")).unwrap().body, b"first [redacted]");
        assert_eq!(replay.replay_http(&get("https://a/1")).unwrap().body, b"second");
        assert!(matches!(replay.replay_http(&get("https://a/2")), Err(WitError::Paused(m)) if m == "quota"));
        let missing = replay.replay_http(&get("https://a/1")).unwrap_err();
        assert!(
            matches!(&missing, WitError::Other(m) if m.contains("GET https://a/1") && m.contains("not in the recording")),
            "{missing:?}"
        );
    }

    /// A recorded file is copied in bounded chunks; a secret across a chunk's edge is cut too.
    #[test]
    fn a_secret_across_a_chunk_boundary_is_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let tape = Tape::record(&dir.path().join("t"), ["c4n4ry-s3cret"]).unwrap();
        let mut data = vec![b'x'; (1 << 20) - 5];
        data.extend_from_slice(b"c4n4ry-s3cret");
        data.extend(vec![b'y'; 3 << 20]);
        data.extend_from_slice(b"c4n4ry-s3cret");
        let source = dir.path().join("big.csv");
        std::fs::write(&source, &data).unwrap();
        let copy = tape.record_file("./r", "big.csv", Ok(&source)).unwrap();
        let copied = std::fs::read(copy).unwrap();
        assert_eq!(copied.len(), data.len() - 2 * "c4n4ry-s3cret".len() + 2 * "[redacted]".len());
        assert!(!copied.windows(6).any(|w| w == b"c4n4ry"), "a secret crossed the boundary uncut");
        assert_eq!(copied.iter().filter(|&&b| b == b'x').count(), (1 << 20) - 5);
    }

    /// A recording edited to name a file outside its folder is refused, not read.
    #[test]
    fn a_recording_cannot_name_a_file_outside_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let tape = Tape::record(&dir.path().join("t"), []).unwrap();
        tape.record_http(&get("https://a/1"), &ok("body"));
        let source = dir.path().join("x.csv");
        std::fs::write(&source, "a\n1\n").unwrap();
        tape.record_file("./r", "x.csv", Ok(&source)).unwrap();
        for entry in std::fs::read_dir(dir.path().join("t")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                let edited =
                    text.replace("\"000001.response\"", "\"/etc/passwd\"").replace("\"000002.data\"", "\"../x.csv\"");
                std::fs::write(&path, edited).unwrap();
            }
        }
        let replay = Tape::replay(&dir.path().join("t")).unwrap();
        let err = replay.replay_http(&get("https://a/1")).unwrap_err();
        assert!(matches!(&err, WitError::Other(m) if m.contains("`/etc/passwd` is not a file name")), "{err:?}");
        let err = replay.replay_file("./r", "x.csv").unwrap_err();
        assert!(matches!(&err, WitError::Other(m) if m.contains("`../x.csv` is not a file name")), "{err:?}");
    }

    #[test]
    fn a_folder_that_is_not_a_recording_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x"), "").unwrap();
        assert!(Tape::record(dir.path(), []).err().unwrap().to_string().contains("not empty"));
        assert!(Tape::replay(dir.path()).err().unwrap().to_string().contains("not a recording"));
    }
}
