//! Bulk export jobs as a source: start a job through the API, poll it (bounded,
//! within the host's rate limit) until it is done, then load each result file
//! through the host's native bulk path. The job id and the files loaded are
//! checkpointed after each file, so an interrupted export resumes with the same
//! job and loads only the files not committed yet.

use crate::config::{Config, Export, StreamConfig};
use crate::request::RequestSpec;
use headwater_sdk::http::Request;
use headwater_sdk::load::LoadOptions;
use headwater_sdk::{Error, Result, output, state};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Default, Serialize, Deserialize)]
struct ExportState {
    /// The job in progress (absent once it has been loaded whole).
    #[serde(default)]
    job: Option<String>,
    /// Files of that job already committed.
    #[serde(default)]
    loaded: Vec<String>,
}

pub fn run(config: &Config, stream: &StreamConfig, job: &Export) -> Result<()> {
    let name = stream.name.as_str();
    let mut st: ExportState = state::get_json(name)?.unwrap_or_default();
    let auth = config.auth_for(stream);
    let url = |path: &str| RequestSpec::new(config, stream, path).map(|r| r.full_url());

    let id = match &st.job {
        Some(id) => id.clone(),
        None => {
            let start = url(&job.start_path)?;
            let body = stream.body.clone().unwrap_or_else(|| Value::Object(Default::default()));
            let started = Request::post_json(start.clone(), &body).auth(auth.clone()).send()?.json(&start)?;
            let id = scalar(&started, &job.id_path)
                .ok_or_else(|| Error::Data(format!("{start}: no job id at `{}`: {started}", job.id_path)))?;
            output::info(&format!("stream {name}: started export job {id}"));
            st = ExportState { job: Some(id.clone()), loaded: Vec::new() };
            // The job id is committed before waiting, so an interrupted run resumes this job.
            output::checkpoint(name, &st)?;
            id
        }
    };

    let status_url = url(&job.status_path.replace("{id}", &id))?;
    let mut polls = 0;
    let status = loop {
        let status = Request::get(status_url.clone()).auth(auth.clone()).send()?.json(&status_url)?;
        let state_now = scalar(&status, &job.state_path).unwrap_or_default();
        if state_now == job.done {
            break status;
        }
        if job.failed.contains(&state_now) {
            return Err(Error::Data(format!("export job {id} ended in state `{state_now}` ({status_url})")));
        }
        polls += 1;
        if polls >= job.max_polls {
            return Err(Error::Transient(format!(
                "export job {id} is still `{state_now}` after {polls} polls of {status_url}; the next run resumes it"
            )));
        }
        output::progress(name, polls as u64, None);
        std::thread::sleep(std::time::Duration::from_secs(job.poll_interval_s));
    };

    let files: Vec<String> = match status.pointer(&job.files_path) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|f| f.as_str().or_else(|| f.get("url").and_then(Value::as_str)).map(str::to_string))
            .collect(),
        _ => return Err(Error::Data(format!("{status_url}: no list of files at `{}`", job.files_path))),
    };
    let options = LoadOptions { format: job.format.map(Into::into), ..LoadOptions::default() };
    for file in files {
        if st.loaded.contains(&file) {
            continue;
        }
        let path = file
            .strip_prefix(job.files_root.as_str())
            .ok_or_else(|| Error::Denied(format!("export file {file} is not under files_root `{}`", job.files_root)))?;
        let stats = output::load(name, &job.files_root, path, &options)?;
        output::info(&format!("stream {name}: {file}: {} rows", stats.rows));
        st.loaded.push(file);
        output::checkpoint(name, &st)?;
    }
    output::checkpoint(name, &ExportState::default())
}

fn scalar(body: &Value, pointer: &str) -> Option<String> {
    match body.pointer(pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
