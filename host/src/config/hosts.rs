//! Host patterns, as `[allow] hosts` and `[auth.*] hosts` write them:
//! `api.example.com`, `127.0.0.1:8080`, `*.example.com` or
//! `https://api.example.com:8443`. An entry without a scheme allows http and
//! https; without a port, only the scheme's default port. Parsed when the
//! pipeline loads, so a malformed entry is an error there rather than a rule
//! that silently never matches.

use url::{Host, Url};

/// A host pattern that does not parse.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{entry}` {reason}")]
pub struct HostPatternError {
    pub entry: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostRule {
    scheme: Option<String>,
    /// Lower-case host; for `*.domain`, the `.domain` suffix.
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    rules: Vec<(String, HostRule)>,
}

impl Allowlist {
    pub fn parse(entries: &[String]) -> Result<Self, HostPatternError> {
        let rules =
            entries.iter().map(|e| HostRule::parse(e).map(|r| (e.clone(), r))).collect::<Result<Vec<_>, _>>()?;
        Ok(Allowlist { rules })
    }

    pub fn allows(&self, url: &Url) -> bool {
        self.rules.iter().any(|(_, r)| r.allows(url))
    }

    /// What the rate limit, the pacing and the counters of a request to `url` are
    /// kept by: its origin where an exact rule allows it, and the rule for every
    /// host a `*.domain` rule allows, so that a connector cannot get a fresh bucket
    /// (and grow the host's maps) with each new subdomain (review D19).
    pub fn key_for(&self, url: &Url) -> String {
        let exact = self.rules.iter().any(|(_, r)| !r.wildcard && r.allows(url));
        match self.rules.iter().find(|(_, r)| r.wildcard && r.allows(url)) {
            Some((_, r)) if !exact => {
                let port = r.port.map(|p| format!(":{p}")).unwrap_or_default();
                format!("{}://*{}{port}", url.scheme(), r.host)
            }
            _ => origin(url),
        }
    }

    /// Whether any rule names exactly this IP address (such addresses may be private).
    pub fn listed_addresses(&self) -> impl Iterator<Item = std::net::IpAddr> + '_ {
        self.rules.iter().filter_map(|(_, r)| r.host.trim_matches(['[', ']']).parse().ok())
    }

    pub fn describe(&self) -> String {
        if self.rules.is_empty() {
            "none".into()
        } else {
            self.rules.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>().join(", ")
        }
    }
}

impl HostRule {
    pub fn parse(entry: &str) -> Result<Self, HostPatternError> {
        let bad = |why: &str| HostPatternError { entry: entry.to_string(), reason: why.to_string() };
        let (scheme, rest) = match entry.split_once("://") {
            Some((s, r)) if s == "http" || s == "https" => (Some(s.to_string()), r),
            Some(_) => return Err(bad("has a scheme other than http or https")),
            None => (None, entry),
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('@') {
            return Err(bad("must be a host with an optional port, without a path or user"));
        }
        let (wildcard, rest) = match rest.strip_prefix("*.") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        // Let the URL parser normalise the host (case, IDNA, IPv6 brackets, trailing dot).
        let probe = Url::parse(&format!("http://{rest}")).map_err(|e| bad(&format!("is not a valid host: {e}")))?;
        let host = probe.host_str().ok_or_else(|| bad("has no host"))?.trim_end_matches('.').to_string();
        if wildcard && !matches!(probe.host(), Some(Host::Domain(_))) {
            return Err(bad("uses `*.` with an address; wildcards apply to domain names"));
        }
        let port = probe.port().or_else(|| rest.ends_with(":80").then_some(80));
        Ok(HostRule { scheme, host: if wildcard { format!(".{host}") } else { host }, wildcard, port })
    }

    /// Whether the rule was written with this scheme (`http://host`), not left open to both.
    pub fn names_scheme(&self, scheme: &str) -> bool {
        self.scheme.as_deref() == Some(scheme)
    }

    pub fn allows(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else { return false };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if self.scheme.as_deref().is_some_and(|s| s != url.scheme()) {
            return false;
        }
        let host_ok =
            if self.wildcard { host.ends_with(&self.host) && host.len() > self.host.len() } else { host == self.host };
        let port_ok = match self.port {
            Some(p) => url.port_or_known_default() == Some(p),
            None => url.port().is_none(),
        };
        host_ok && port_ok
    }
}

/// `scheme://host:port` of a URL, for messages and same-origin checks (never the path or query).
pub fn origin(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}", url.scheme()),
        (Some(h), None) => format!("{}://{h}", url.scheme()),
        _ => url.scheme().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entry: &str, url: &str) -> bool {
        HostRule::parse(entry).unwrap().allows(&Url::parse(url).unwrap())
    }

    #[test]
    fn exact_hosts_and_default_ports() {
        assert!(allows("api.example.com", "https://api.example.com/x"));
        assert!(allows("api.example.com", "http://API.example.com./x"));
        assert!(!allows("api.example.com", "https://api.example.com:8443/x"));
        assert!(!allows("api.example.com", "https://evil.com/?api.example.com"));
        assert!(!allows("api.example.com", "https://api.example.com.evil.com/"));
    }

    #[test]
    fn ports_and_schemes() {
        assert!(allows("127.0.0.1:8080", "http://127.0.0.1:8080/"));
        assert!(!allows("127.0.0.1:8080", "http://127.0.0.1:8081/"));
        assert!(!allows("127.0.0.1:8080", "http://localhost:8080/"));
        assert!(allows("https://api.example.com", "https://api.example.com/"));
        assert!(!allows("https://api.example.com", "http://api.example.com/"));
        assert!(allows("[::1]:9000", "http://[::1]:9000/"));
    }

    /// Review D19: per-host state was keyed by the origin a connector chose, so
    /// each subdomain under `*.domain` got its own rate-limit bucket.
    #[test]
    fn every_host_a_wildcard_allows_shares_its_key() {
        let list = Allowlist::parse(&["*.example.com".into(), "api.example.com".into()]).unwrap();
        let key = |u: &str| list.key_for(&Url::parse(u).unwrap());
        assert_eq!(key("https://a.example.com/x"), "https://*.example.com");
        assert_eq!(key("https://b.c.example.com/y"), "https://*.example.com");
        assert_eq!(key("https://api.example.com/"), "https://api.example.com:443", "an exact rule keeps its origin");
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        assert!(allows("*.example.com", "https://a.b.example.com/"));
        assert!(!allows("*.example.com", "https://example.com/"));
        assert!(!allows("*.example.com", "https://badexample.com/"));
        assert!(HostRule::parse("*.10.0.0.1").is_err());
    }

    #[test]
    fn bad_entries_are_named() {
        let err = HostRule::parse("ftp://x.com").unwrap_err().to_string();
        assert!(err.contains("ftp://x.com"), "{err}");
        assert!(HostRule::parse("x.com/path").is_err());
        assert!(HostRule::parse("user@x.com").is_err());
    }
}
