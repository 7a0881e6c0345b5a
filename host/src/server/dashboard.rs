//! `GET /dashboard/`: the operators' page of live calls, for every
//! transport. It is static and holds no secret, so it is served without
//! auth; the page asks for the admin token (kept in the tab's
//! `sessionStorage`) and sends it with every call to the admin API
//! (`/api/calls`, `/api/events`, hang-up), which checks it as usual.
//! Guide: `docs/dashboard.md`.

use axum::{
    http::header,
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Router,
};

/// Only this origin's scripts, styles and API: the page handles the admin
/// token, so nothing else may run in it or frame it.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

const INDEX: &str = include_str!("../../assets/dashboard/index.html");
const APP_JS: &str = include_str!("../../assets/dashboard/app.js");
const STYLE_CSS: &str = include_str!("../../assets/dashboard/style.css");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Revalidate, so a page and its script never come from two
            // versions of the host.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style_css() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

/// The dashboard's routes; they use no state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        // The page's URLs are relative: `/dashboard` would resolve
        // `app.js` against `/`.
        .route(
            "/dashboard",
            get(|| async { Redirect::permanent("/dashboard/") }),
        )
        .route("/dashboard/", get(index))
        .route("/dashboard/app.js", get(app_js))
        .route("/dashboard/style.css", get(style_css))
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    use super::*;

    async fn get_path(path: &str) -> Response {
        routes::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn serves_the_page_and_its_files_without_a_secret() {
        for (path, content_type) in [
            ("/dashboard/", "text/html; charset=utf-8"),
            ("/dashboard/app.js", "text/javascript; charset=utf-8"),
            ("/dashboard/style.css", "text/css; charset=utf-8"),
        ] {
            let resp = get_path(path).await;
            assert_eq!(resp.status(), 200, "{path}");
            assert_eq!(resp.headers()[header::CONTENT_TYPE], content_type, "{path}");
            assert!(resp.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        }
        for body in [INDEX, APP_JS, STYLE_CSS] {
            // An admin token is `admin-` and at least 20 characters.
            let token_like = body.match_indices("admin-").any(|(i, _)| {
                body[i + 6..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .count()
                    >= 20
            });
            assert!(!token_like, "the page must hold no token");
            assert!(!body.contains("://"), "nothing from another origin");
        }
        // EventSource cannot send the Authorization header; the page
        // streams /api/events with fetch instead.
        assert!(APP_JS.contains("Authorization"));
        assert!(!APP_JS.contains("EventSource("));
        let resp = get_path("/dashboard").await;
        assert_eq!(resp.status(), 308);
        assert_eq!(resp.headers()[header::LOCATION], "/dashboard/");
    }
}
