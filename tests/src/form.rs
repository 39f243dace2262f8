//! Reads form fields the way Nhanh does: multipart/form-data, x-www-form-urlencoded, or the query.

use axum::extract::{FromRequest, Multipart, Request};
use std::collections::HashMap;

/// All fields of a request: query first, then the body (body wins).
pub async fn fields(req: Request) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = req
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .collect();
    let content_type =
        req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        if let Ok(mut mp) = Multipart::from_request(req, &()).await {
            while let Ok(Some(field)) = mp.next_field().await {
                let name = field.name().unwrap_or_default().to_owned();
                if let Ok(text) = field.text().await {
                    out.insert(name, text);
                }
            }
        }
    } else if let Ok(bytes) = axum::body::to_bytes(req.into_body(), 1 << 20).await {
        if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes) {
            out.extend(pairs);
        }
    }
    out
}
