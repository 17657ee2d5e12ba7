//! Browser-facing defences, as layers of the router: the same-origin check on every
//! state-changing UI request, and the security headers on every response.
//!
//! The pages are authenticated by a session cookie, which a browser attaches to a form
//! posted from any other site; `SameSite=Strict` is the only other thing standing in the
//! way. So every UI request that is not `GET`/`HEAD`/`OPTIONS` must show that it comes from
//! one of this node's own pages: `Sec-Fetch-Site: same-origin` (or `none`, a request the
//! user made directly) when the browser sends that header, else an `Origin` equal to this
//! node's own origin. A request with neither is refused as well: every browser of the
//! last years sends at least one of them on a form post, and scripts use the JSON API,
//! which takes its bearer token and never the cookie. A refused request is `403` and
//! changes nothing.
//!
//! The JSON API is exempt (a cross-site page cannot set `Authorization`).

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ui::UiError;

/// The Content-Security-Policy of every response. The UI has no inline script, style or
/// event handler: its one script and one stylesheet are served by the node itself under
/// `/static/`, and the script talks only to its own node.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Why a state-changing request was refused, for the log and the error page.
fn cross_site(headers: &HeaderMap) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("?");
        return match site {
            "same-origin" | "none" => None,
            other => Some(format!("Sec-Fetch-Site: {other}")),
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Some("neither Sec-Fetch-Site nor Origin was sent".into());
    };
    let origin = origin.to_str().unwrap_or("?");
    match own_origin(headers) {
        Some(own) if origin.eq_ignore_ascii_case(&own) => None,
        Some(own) => Some(format!("Origin {origin} is not this node's {own}")),
        None => Some(format!("Origin {origin}, and the request names no Host")),
    }
}

/// This node's origin as the browser sees it: `http://` and the `Host` header, or what a
/// reverse proxy in front says with `X-Forwarded-Proto` and `X-Forwarded-Host` (a page of
/// another site cannot set those on a form post).
fn own_origin(headers: &HeaderMap) -> Option<String> {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let scheme = match first("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let host = first("x-forwarded-host").or_else(|| first(header::HOST.as_str()))?;
    Some(format!("{scheme}://{host}"))
}

/// Layer of the UI router: refuses a state-changing request that does not come from this
/// node's own pages (`403`, nothing applied).
pub(crate) async fn same_origin(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    match cross_site(req.headers()) {
        None => next.run(req).await,
        Some(why) => {
            tracing::warn!(path = %req.uri().path(), reason = %why, "cross-site request refused");
            UiError(
                StatusCode::FORBIDDEN,
                format!(
                    "Yêu cầu bị từ chối: biểu mẫu không được gửi từ một trang của nút này, \
                     không có gì thay đổi. / Refused: this form was not sent from one of \
                     this node's own pages, nothing was changed. ({why})"
                ),
            )
            .into_response()
        }
    }
}

/// Layer of the whole router: the security headers of every response (pages, API,
/// static files, errors). `Cache-Control: no-store` unless the handler chose a policy
/// (the static files are cached for a few minutes).
pub(crate) async fn headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        for ok in ["same-origin", "none"] {
            assert_eq!(cross_site(&h(&[("sec-fetch-site", ok)])), None, "{ok}");
        }
        for bad in ["same-site", "cross-site", ""] {
            assert!(
                cross_site(&h(&[
                    ("sec-fetch-site", bad),
                    ("host", "a:1"),
                    ("origin", "http://a:1")
                ]))
                .is_some(),
                "{bad}"
            );
        }
    }

    #[test]
    fn origin_must_be_this_nodes_own() {
        let own = [("host", "127.0.0.1:8100")];
        assert_eq!(
            cross_site(&h(&[own[0], ("origin", "http://127.0.0.1:8100")])),
            None
        );
        for bad in [
            "http://evil.example",
            "http://127.0.0.1:8101",
            "https://127.0.0.1:8100",
            "null",
            "http://127.0.0.1:8100.evil.example",
        ] {
            assert!(
                cross_site(&h(&[own[0], ("origin", bad)])).is_some(),
                "{bad}"
            );
        }
        assert!(cross_site(&h(&own)).is_some(), "neither header");
        // Behind a TLS proxy that says so.
        assert_eq!(
            cross_site(&h(&[
                ("host", "127.0.0.1:8100"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "so.example.vn"),
                ("origin", "https://so.example.vn"),
            ])),
            None
        );
    }
}
