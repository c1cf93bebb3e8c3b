//! Bulk export jobs as a source: start a job through the API, poll it (bounded,
//! within the host's rate limit) until it is done, then load its results through
//! the host's native bulk path: result files under a granted http(s) root, or
//! pages of one results endpoint chained by a locator header (Salesforce Bulk
//! API 2.0), each page's CSV decoded by the host (`load-bytes`). The job id and
//! the files or the next locator are checkpointed after each file or page, so an
//! interrupted export resumes with the same job where it stopped.

use crate::config::{Config, Export, ResultPages, StreamConfig};
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
    /// Result pages of that job already committed, and the next one's locator.
    #[serde(default)]
    pages: u64,
    #[serde(default)]
    locator: Option<String>,
}

/// Where a finished job's results are.
enum Results<'a> {
    Files { path: &'a str, root: &'a str },
    Pages(&'a ResultPages),
}

impl Export {
    fn results(&self, stream: &str) -> Result<Results<'_>> {
        match (&self.results, &self.files_path, &self.files_root) {
            (Some(pages), None, None) => Ok(Results::Pages(pages)),
            (None, Some(path), Some(root)) => Ok(Results::Files { path, root }),
            _ => Err(Error::Config(format!(
                "stream `{stream}`: export needs `files_path` and `files_root` (result files), or `results` \
                 (result pages), not both"
            ))),
        }
    }
}

pub fn run(config: &Config, stream: &StreamConfig, job: &Export) -> Result<()> {
    let name = stream.name.as_str();
    // Checked before a job is started.
    let results = job.results(name)?;
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
            st = ExportState { job: Some(id.clone()), ..ExportState::default() };
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

    let options = LoadOptions { format: job.format.map(Into::into), ..LoadOptions::default() };
    match results {
        Results::Files { path, root } => load_files(name, &status, &status_url, path, root, &options, &mut st)?,
        Results::Pages(pages) => {
            let results_url = url(&pages.path.replace("{id}", &id))?;
            load_pages(name, &id, &results_url, pages, auth.as_ref(), &options, &mut st)?
        }
    }
    output::checkpoint(name, &ExportState::default())
}

/// The result files a finished job's status lists, each loaded from the granted root.
fn load_files(
    name: &str,
    status: &Value,
    status_url: &str,
    files_path: &str,
    files_root: &str,
    options: &LoadOptions,
    st: &mut ExportState,
) -> Result<()> {
    let files: Vec<String> = match status.pointer(files_path) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|f| f.as_str().or_else(|| f.get("url").and_then(Value::as_str)).map(str::to_string))
            .collect(),
        _ => return Err(Error::Data(format!("{status_url}: no list of files at `{files_path}`"))),
    };
    for file in files {
        if st.loaded.contains(&file) {
            continue;
        }
        let path = file
            .strip_prefix(files_root)
            .ok_or_else(|| Error::Denied(format!("export file {file} is not under files_root `{files_root}`")))?;
        let stats = output::load(name, files_root, path, options)?;
        output::info(&format!("stream {name}: {file}: {} rows", stats.rows));
        st.loaded.push(file);
        output::checkpoint(name, &st)?;
    }
    Ok(())
}

/// The result pages of one endpoint, each naming the next in a response header;
/// each page (CSV unless `format` says otherwise) decoded by the host.
fn load_pages(
    name: &str,
    id: &str,
    results_url: &str,
    pages: &ResultPages,
    auth: Option<&String>,
    options: &LoadOptions,
    st: &mut ExportState,
) -> Result<()> {
    // A job's pages: the first without a locator, then each page's; a page with none is the last.
    while st.pages == 0 || st.locator.is_some() {
        let mut request = Request::get(results_url).auth(auth);
        for (k, v) in &pages.params {
            request = request.query(k, v);
        }
        if let Some(locator) = &st.locator {
            request = request.query(&pages.locator_param, locator);
        }
        let response = request.send_read()?;
        response.check(&request.url)?;
        let next = response.header(&pages.locator_header).map(str::trim).filter(|l| !l.is_empty() && *l != pages.end);
        if next.is_some() && next == st.locator.as_deref() {
            return Err(Error::Data(format!(
                "{results_url}: the page at locator `{}` names itself as the next one",
                next.unwrap_or_default()
            )));
        }
        let next = next.map(str::to_string);
        let page_name = format!("{id}-page-{}.csv", st.pages + 1);
        let stats = output::load_bytes(name, &page_name, &response.body, options)?;
        output::info(&format!("stream {name}: results page {}: {} rows", st.pages + 1, stats.rows));
        st.pages += 1;
        st.locator = next;
        output::checkpoint(name, &st)?;
    }
    Ok(())
}

fn scalar(body: &Value, pointer: &str) -> Option<String> {
    match body.pointer(pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
