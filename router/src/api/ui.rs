//! The `/ui` demo page: static files from the repository's `ui/` directory, embedded in the
//! binary (no CDN, works offline). Disabled with `serve --no-ui`.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; \
                   script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// `(file name, content type, contents)` of every asset.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../../ui/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/api.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/charts.js"),
    ),
    (
        "decision.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/decision.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/dom.js"),
    ),
    (
        "live.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/live.js"),
    ),
    (
        "metrics.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/metrics.js"),
    ),
];

const INDEX: &str = include_str!("../../../ui/index.html");

fn respond(content_type: &'static str, body: &'static str, csp: bool) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if csp {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    r
}

/// `GET /ui`: the page.
pub(super) async fn index() -> Response {
    respond("text/html; charset=utf-8", INDEX, true)
}

/// `GET /ui/`: the page's links are relative, so it must be loaded from `/ui`.
pub(super) async fn index_slash() -> Response {
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, "/ui")]).into_response()
}

/// `GET /ui/{file}`: one asset.
pub(super) async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, ct, body)) => respond(ct, body, false),
        None => ApiError::UnknownModel(format!("no UI asset {file:?}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_the_page_imports_is_embedded() {
        for module in [
            "app.js",
            "api.js",
            "decision.js",
            "live.js",
            "metrics.js",
            "charts.js",
            "dom.js",
        ] {
            assert!(ASSETS.iter().any(|(n, _, _)| *n == module), "{module}");
        }
        assert!(INDEX.contains("app.js"));
        // Every embedded JS file only imports embedded modules.
        for (name, _, body) in ASSETS {
            for line in body
                .lines()
                .filter(|l| l.trim_start().starts_with("import "))
            {
                if let Some(path) = line.split(['\'', '"']).nth(1) {
                    let file = path.trim_start_matches("./");
                    assert!(
                        ASSETS.iter().any(|(n, _, _)| *n == file),
                        "{name} imports {path}, which is not embedded"
                    );
                }
            }
        }
    }
}
