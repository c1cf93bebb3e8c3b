//! S3-compatible object stores, through `object_store`: path-style requests so
//! that local and self-hosted servers work, unsigned requests when no keys are
//! given. A key is the root's prefix joined with the connector's plain path.

use super::{MAX_LISTED, Opened, RootError};
use crate::bindings::headwater::connector::files::Entry;
use crate::config::S3Location;
use futures::{StreamExt, TryStreamExt};
use globset::GlobMatcher;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;

/// The client of an S3-compatible bucket (a file root's, or an `s3://` sink's):
/// path-style requests to a custom endpoint, anonymous without keys. Commits that
/// must not overwrite (`PutMode::Create`) are S3's conditional writes (`If-None-Match`).
pub(crate) fn s3_store(s3: &S3Location) -> Result<object_store::aws::AmazonS3, object_store::Error> {
    let mut b = AmazonS3Builder::new().with_bucket_name(&s3.bucket).with_region(&s3.region);
    if let Some(endpoint) = &s3.endpoint {
        b = b
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    b = match &s3.keys {
        Some((id, secret)) => b.with_access_key_id(id.expose()).with_secret_access_key(secret.expose()),
        None => b.with_skip_signature(true),
    };
    b.build()
}

pub(super) struct ObjectRoot {
    name: String,
    store: Arc<dyn ObjectStore>,
    /// Key prefix without leading or trailing `/` (empty for the whole bucket).
    prefix: String,
}

impl ObjectRoot {
    pub(super) fn new(name: &str, s3: &S3Location) -> Result<Self, RootError> {
        let store =
            s3_store(s3).map_err(|e| RootError::Unavailable { root: name.to_string(), reason: e.to_string() })?;
        Ok(ObjectRoot { name: name.to_string(), store: Arc::new(store), prefix: s3.prefix.clone() })
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> RootError {
        RootError::Unavailable { root: self.name.clone(), reason: e.to_string() }
    }

    pub(super) async fn open(&self, path: &str) -> Result<Opened, RootError> {
        let key = if self.prefix.is_empty() { path.to_string() } else { format!("{}/{path}", self.prefix) };
        let location = ObjectPath::parse(&key).map_err(|_| RootError::Escapes {
            root: self.name.clone(),
            path: path.to_string(),
            how: "not a plain object key",
        })?;
        let got = match self.store.get(&location).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(RootError::NotFound { root: self.name.clone(), path: path.to_string() });
            }
            Err(e) => return Err(self.unavailable(format!("opening `{path}`: {e}"))),
        };
        let (root, path) = (self.name.clone(), path.to_string());
        let chunks = got.into_stream().map(move |chunk| {
            chunk.map_err(|e| RootError::Unavailable { root: root.clone(), reason: format!("reading `{path}`: {e}") })
        });
        Ok(Opened::Stream(chunks.boxed()))
    }

    pub(super) async fn list(&self, matcher: &GlobMatcher) -> Result<Vec<Entry>, RootError> {
        let from = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let mut objects = self.store.list(from.as_ref());
        let (mut entries, mut visited) = (Vec::new(), 0usize);
        // Matched as they come, and bounded: an endless listing stops at MAX_LISTED.
        while let Some(o) = objects.try_next().await.map_err(|e| self.unavailable(format!("listing: {e}")))? {
            visited += 1;
            if visited > MAX_LISTED {
                return Err(RootError::TooLarge { root: self.name.clone() });
            }
            let key = o.location.as_ref();
            let rel = if self.prefix.is_empty() {
                Some(key)
            } else {
                key.strip_prefix(self.prefix.as_str()).and_then(|k| k.strip_prefix('/'))
            };
            if let Some(rel) = rel.filter(|rel| matcher.is_match(rel)) {
                let modified_ms = o.last_modified.timestamp_millis();
                entries.push(Entry { path: rel.to_string(), size: o.size, modified_ms });
            }
        }
        Ok(entries)
    }
}
