//! Secrets never reach the connector, even when a server hands them back: a
//! request's injected credential values are cut out of its response, headers
//! and body, before the connector sees it (a reflecting endpoint, a debug echo,
//! a server that puts the API key in an error page).

use crate::bindings::headwater::connector::http::Response;
use memchr::memmem;

/// What replaces a secret in a response.
const REDACTED: &[u8] = b"[redacted]";

/// Secrets shorter than this are not searched for: they would match ordinary
/// data everywhere, and no real credential is that short.
const MIN_SECRET_LEN: usize = 4;

/// The secret values injected into one request, in every form a server might echo.
#[derive(Default)]
pub struct Scrubber {
    needles: Vec<Vec<u8>>,
}

impl Scrubber {
    /// Remembers `secret`, as sent and percent-encoded (as a query parameter
    /// carries it); a derived form (base64 in `Authorization: Basic`) is added by
    /// the caller as a secret of its own.
    pub fn add(&mut self, secret: &str) {
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        for form in [secret.to_string(), encoded] {
            if !self.needles.iter().any(|n| n == form.as_bytes()) {
                self.needles.push(form.into_bytes());
            }
        }
        // Longest first, so a secret containing another is cut whole.
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    /// Cuts every secret out of the response's headers and body.
    pub fn scrub(&self, response: &mut Response) {
        if self.needles.is_empty() {
            return;
        }
        for (_, value) in &mut response.headers {
            let cut = self.cut(value.as_bytes());
            if let Some(cut) = cut {
                *value = String::from_utf8_lossy(&cut).into_owned();
            }
        }
        if let Some(cut) = self.cut(&response.body) {
            response.body = cut;
        }
    }

    /// The length of the longest secret form searched for (0 when none).
    pub fn longest(&self) -> usize {
        self.needles.first().map_or(0, Vec::len)
    }

    /// `bytes` with every secret replaced, or `None` when none occurs.
    pub fn cut(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut current: Option<Vec<u8>> = None;
        for needle in &self.needles {
            let text = current.as_deref().unwrap_or(bytes);
            let finder = memmem::Finder::new(needle);
            let mut hits = finder.find_iter(text).peekable();
            if hits.peek().is_none() {
                continue;
            }
            let mut out = Vec::with_capacity(text.len());
            let mut at = 0;
            for hit in hits {
                if hit < at {
                    continue;
                }
                out.extend_from_slice(&text[at..hit]);
                out.extend_from_slice(REDACTED);
                at = hit + needle.len();
            }
            out.extend_from_slice(&text[at..]);
            current = Some(out);
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_cut_from_headers_and_body() {
        let mut s = Scrubber::default();
        s.add("s3cr3t-t0ken");
        s.add("p@ss w0rd");
        s.add("abc");
        let mut r = Response {
            status: 200,
            headers: vec![("x-echo".into(), "Bearer s3cr3t-t0ken".into())],
            body: b"TRACE: Authorization: Bearer s3cr3t-t0ken; q=p%40ss+w0rd; raw=p@ss w0rd; abc".to_vec(),
        };
        s.scrub(&mut r);
        assert_eq!(r.headers[0].1, "Bearer [redacted]");
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            "TRACE: Authorization: Bearer [redacted]; q=[redacted]; raw=[redacted]; abc"
        );
    }
}
