//! `headwater:connector/http`: the connector's only way out. Every request goes
//! through the pipeline's [`HttpPolicy`], and a stream's own rate limit
//! (`[limits.streams.NAME]`) when it has one; with a [`Tape`], each exchange is
//! recorded as the connector saw it, or answered from a recording.

use super::tape::Tape;
use crate::bindings::WitError;
use crate::bindings::headwater::connector::{http, types};
use crate::http_policy::{Budget, HttpError, HttpPolicy, Retry};
use futures::StreamExt;
use governor::DefaultDirectRateLimiter;
use std::sync::Arc;

/// Requests one `send-all` may carry, and how many of them are in flight at once.
const MAX_SEND_ALL: usize = 64;
const IN_FLIGHT: usize = 8;

pub struct HttpCtx {
    policy: Option<Arc<HttpPolicy>>,
    /// The stream's own rate limit, on top of the per-host one.
    stream_limit: Option<Arc<DefaultDirectRateLimiter>>,
    tape: Option<Arc<Tape>>,
}

impl HttpCtx {
    /// HTTP under the pipeline's policy (for `check` and `discover`).
    pub fn new(policy: Arc<HttpPolicy>) -> Self {
        HttpCtx { policy: Some(policy), stream_limit: None, tape: None }
    }

    /// HTTP for one stream's read, under that stream's limit if it has one.
    pub fn for_stream(policy: Arc<HttpPolicy>, limit: Option<Arc<DefaultDirectRateLimiter>>) -> Self {
        HttpCtx { policy: Some(policy), stream_limit: limit, tape: None }
    }

    /// No HTTP at all (for `spec`).
    pub fn denied() -> Self {
        HttpCtx { policy: None, stream_limit: None, tape: None }
    }

    /// Records every exchange on `tape`, or answers from it.
    pub fn with_tape(mut self, tape: Option<Arc<Tape>>) -> Self {
        self.tape = tape;
        self
    }

    async fn send_one(
        &self,
        req: http::Request,
        retry: Retry,
        budget: Option<&Budget>,
    ) -> Result<http::Response, WitError> {
        let Some(policy) = &self.policy else {
            return Err(HttpError::Denied("HTTP is not available in this call".into()).into());
        };
        let recording = match &self.tape {
            Some(tape) if tape.is_replay() => return tape.replay_http(&req),
            Some(tape) => Some((tape, req.clone())),
            None => None,
        };
        if let Some(limit) = &self.stream_limit {
            limit.until_ready().await;
        }
        let result = policy.send_within(req, retry, budget).await.map_err(WitError::from);
        if let Some((tape, req)) = recording {
            tape.record_http(&req, &result);
        }
        result
    }
}

impl http::Host for HttpCtx {
    async fn send(&mut self, req: http::Request) -> wasmtime::Result<Result<http::Response, WitError>> {
        Ok(self.send_one(req, Retry::ByMethod, None).await)
    }

    async fn send_read(&mut self, req: http::Request) -> wasmtime::Result<Result<http::Response, WitError>> {
        Ok(self.send_one(req, Retry::AsRead, None).await)
    }

    async fn send_all(&mut self, reqs: Vec<http::Request>) -> wasmtime::Result<Vec<Result<http::Response, WitError>>> {
        if reqs.len() > MAX_SEND_ALL {
            let refused = format!("send-all takes at most {MAX_SEND_ALL} requests at once (got {})", reqs.len());
            return Ok(reqs.iter().map(|_| Err(HttpError::Denied(refused.clone()).into())).collect());
        }
        let Some(policy) = &self.policy else {
            return Ok(reqs
                .iter()
                .map(|_| Err(HttpError::Denied("HTTP is not available in this call".into()).into()))
                .collect());
        };
        // Responses wait in host memory until all are back: bounded together, as one
        // response is, byte by byte as they arrive, whatever is in flight (review D18).
        let budget = Budget::new(policy.max_response_bytes());
        let (this, budget) = (&*self, &budget);
        let sent = futures::stream::iter(reqs.into_iter().map(|r| this.send_one(r, Retry::ByMethod, Some(budget))))
            .buffered(IN_FLIGHT);
        Ok(sent.collect().await)
    }
}

impl types::Host for HttpCtx {}
