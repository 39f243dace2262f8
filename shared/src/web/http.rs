//! Minimal request and response types shared by the HTTP functions.

/// An HTTP request as the handlers see it.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    /// Upper-case method.
    pub method: String,
    /// Path without query.
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first query value named `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// The value of cookie `name` from every `cookie` header (parsed by the `cookie` crate;
    /// malformed pairs are skipped).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "cookie")
            .flat_map(|(_, v)| cookie::Cookie::split_parse(v.as_str()))
            .filter_map(Result::ok)
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
    }
    /// The body parsed as `application/x-www-form-urlencoded`.
    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).unwrap_or_default()
    }
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

/// The content security policy of a page: nothing loads, inline styles apply, only the pages'
/// own inline scripts run (by hash), and only `frame_ancestors` may frame it.
fn page_policy(frame_ancestors: &str) -> String {
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src {}; form-action *; frame-ancestors {frame_ancestors}",
        super::pages::script_sources()
    )
}

impl HttpResponse {
    /// An HTML page.
    pub fn html(status: u16, body: String) -> Self {
        Self {
            status,
            headers: vec![
                ("content-type".into(), "text/html; charset=utf-8".into()),
                ("cache-control".into(), "no-store".into()),
                ("x-frame-options".into(), "DENY".into()),
                ("referrer-policy".into(), "no-referrer".into()),
                ("x-content-type-options".into(), "nosniff".into()),
                ("content-security-policy".into(), page_policy("'none'")),
            ],
            body,
        }
    }
    /// This response, when it is a page, as one the Hub's admin at `origins` may frame:
    /// `frame-ancestors` names them instead of `'none'`, and `X-Frame-Options: DENY` goes
    /// (browsers that know `frame-ancestors` ignore it anyway). No origins: unchanged.
    pub fn framed_by(mut self, origins: &[String]) -> Self {
        if origins.is_empty() {
            return self;
        }
        self.headers.retain(|(name, _)| name != "x-frame-options");
        for (name, value) in &mut self.headers {
            if name == "content-security-policy" {
                *value = page_policy(&origins.join(" "));
            }
        }
        self
    }
    /// A JSON document.
    pub fn json(status: u16, value: &impl serde::Serialize) -> Self {
        Self {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), "no-store".into()),
                ("x-content-type-options".into(), "nosniff".into()),
            ],
            // Serialising our own documents cannot fail (string keys only).
            body: serde_json::to_string(value).unwrap_or_default(),
        }
    }
    /// A `303 See Other` redirect.
    pub fn redirect(location: &str) -> Self {
        Self {
            status: 303,
            // The first URL of the connect page carries the Hub session token: its redirect must
            // not hand it on as a referrer (issue 22).
            headers: vec![
                ("location".into(), location.to_owned()),
                ("cache-control".into(), "no-store".into()),
                ("referrer-policy".into(), "no-referrer".into()),
            ],
            body: String::new(),
        }
    }
    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: String) -> Self {
        self.headers.push((name.to_owned(), value));
        self
    }
}

/// The form value named `name`.
pub fn form_value<'a>(form: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(r: &'a HttpResponse, name: &str) -> Option<&'a str> {
        r.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Issue 22: pages and documents are never sniffed as another type, pages are never framed,
    /// and no response hands its URL (which may carry the Hub session token) on as a referrer.
    #[test]
    fn every_response_sets_the_safety_headers() {
        let page = HttpResponse::html(200, String::new());
        let doc = HttpResponse::json(200, &serde_json::json!({}));
        let moved = HttpResponse::redirect("/nhanhvn/connect/385");
        assert_eq!(header(&page, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&doc, "x-content-type-options"), Some("nosniff"));
        assert!(header(&page, "content-security-policy").is_some_and(|c| c.contains("frame-ancestors 'none'")));
        // The pages' two inline scripts run (the copy buttons, the reload), and only they do.
        let csp = header(&page, "content-security-policy").unwrap_or_default();
        assert_eq!(csp.matches("'sha256-").count(), 2, "{csp}");
        assert!(!csp.contains("unsafe-inline'; form") && !csp.contains("script-src 'unsafe-inline'"), "{csp}");
        assert_eq!(header(&page, "referrer-policy"), Some("no-referrer"));
        assert_eq!(header(&moved, "referrer-policy"), Some("no-referrer"));
    }
}
