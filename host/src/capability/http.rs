//! `headwater:connector/http`: the connector's only way out. Every request goes
//! through the pipeline's [`HttpPolicy`](crate::http_policy::HttpPolicy).

use crate::bindings::WitError;
use crate::bindings::headwater::connector::{http, types};
use crate::http_policy::HttpPolicy;
use std::sync::Arc;

pub struct HttpCtx {
    policy: Option<Arc<HttpPolicy>>,
}

impl HttpCtx {
    pub fn new(policy: Arc<HttpPolicy>) -> Self {
        HttpCtx { policy: Some(policy) }
    }

    /// No HTTP at all (for `spec`).
    pub fn denied() -> Self {
        HttpCtx { policy: None }
    }
}

impl http::Host for HttpCtx {
    async fn send(&mut self, req: http::Request) -> wasmtime::Result<Result<http::Response, WitError>> {
        Ok(match &self.policy {
            Some(policy) => policy.send(req).await,
            None => Err(WitError::Denied("HTTP is not available in this call".into())),
        })
    }

    async fn send_all(&mut self, reqs: Vec<http::Request>) -> wasmtime::Result<Vec<Result<http::Response, WitError>>> {
        Ok(self.send_all_inner(reqs).await)
    }
}

impl types::Host for HttpCtx {}

impl HttpCtx {
    pub(crate) async fn send_all_inner(&self, reqs: Vec<http::Request>) -> Vec<Result<http::Response, WitError>> {
        match &self.policy {
            Some(policy) => policy.send_all(reqs).await,
            None => reqs.iter().map(|_| Err(WitError::Denied("HTTP is not available in this call".into()))).collect(),
        }
    }
}
