//! The Studio: the web app built in `studio/` (Vite writes `studio/dist`), embedded in the
//! binary and served at `/`. Hashed assets are cached for good; `index.html` is revalidated;
//! any other GET that is not an API, webhook or health route is a client-side route and gets
//! `index.html`. Debug builds read the folder from disk at request time, so a rebuilt Studio
//! shows without rebuilding the server.

use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};

use crate::problem::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "../../studio/dist"]
struct Assets;

/// Paths that belong to the server, never to the Studio.
const SERVER_PREFIXES: [&str; 5] = ["/api/", "/hooks/", "/metrics", "/healthz", "/readyz"];

/// The fallback of the router: a Studio file, the Studio's page for a client-side route, or
/// the API's 404.
pub(crate) async fn serve(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if !matches!(method, Method::GET | Method::HEAD)
        || SERVER_PREFIXES.iter().any(|p| path.starts_with(p))
    {
        return crate::api::not_found().await.into_response();
    }
    let name = path.trim_start_matches('/');
    if !name.is_empty()
        && let Some(file) = Assets::get(name)
    {
        let immutable = name.starts_with("assets/");
        return asset(&file, immutable);
    }
    // A path with an extension names a file that is not there; anything else is a route the
    // Studio handles in the browser.
    let last = name.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "no_file",
            "the Studio has no such file",
        )
        .into_response();
    }
    match Assets::get("index.html") {
        Some(file) => asset(&file, false),
        None => not_built(),
    }
}

fn asset(file: &rust_embed::EmbeddedFile, immutable: bool) -> Response {
    let mime = file.metadata.mimetype();
    let mut response = (StatusCode::OK, file.data.to_vec()).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// What `/` shows when this binary was built before the Studio.
fn not_built() -> Response {
    Html(
        "<!doctype html><meta charset=utf-8><title>Aion</title>\
         <body style=\"font-family:system-ui;max-width:40em;margin:4em auto\">\
         <h1>Aion is running</h1><p>This binary was built without the Studio. \
         Build it with <code>scripts/build-studio</code> and rebuild Aion; the API is at \
         <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>",
    )
    .into_response()
}
