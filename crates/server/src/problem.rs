//! Errors as `application/problem+json` (RFC 9457) with a stable `code`, and the JSON body
//! extractor that turns a bad body into one with a JSON Pointer (and line and column for
//! syntax errors).
//!
//! Store and internal failures are logged with their cause and answered as a bare 500: no SQL,
//! path or stack trace ever reaches a client.

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:aion:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, fixed summary of the code.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The stable machine-readable code (`not_found`, `invalid_body`, ...).
    pub code: String,
    /// What went wrong in this case.
    pub detail: String,
    /// Where in the request body, as a JSON Pointer, when the problem is in the body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Line in the body (1-based), for syntax errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Column in the body (1-based), for syntax errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Every problem found, when there are several (compiler diagnostics, input errors).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<serde_json::Value>,
}

/// An error answer: a status, a code and a detail, plus optional position and extra headers.
/// (Boxed: handlers return it in every `Result`.)
#[derive(Debug, Clone)]
pub struct ApiError(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    status: StatusCode,
    code: &'static str,
    detail: String,
    pointer: Option<String>,
    position: Option<(usize, usize)>,
    errors: Vec<serde_json::Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with this status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError(Box::new(Inner {
            status,
            code,
            detail: detail.into(),
            pointer: None,
            position: None,
            errors: Vec::new(),
            headers: Vec::new(),
        }))
    }

    /// 400 `invalid_argument`.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_argument", detail)
    }

    /// 404 `not_found`: also the answer for another workspace's objects.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} `{id}` not found"),
        )
    }

    /// 401 `unauthenticated`, with the `WWW-Authenticate` challenge.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail).with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"aion\""),
        )
    }

    /// 403 `forbidden`: the caller's role does not allow this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 500 `internal`: logs `cause` and answers without it.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to answer this request; the error is in its log",
        )
    }

    /// Adds a JSON Pointer into the request body.
    pub fn at(mut self, pointer: impl Into<String>) -> Self {
        self.0.pointer = Some(pointer.into());
        self
    }

    /// Adds the list of individual problems.
    pub fn with_errors(mut self, errors: Vec<serde_json::Value>) -> Self {
        self.0.errors = errors;
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.push((name, value));
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The code.
    pub fn code(&self) -> &'static str {
        self.0.code
    }

    /// A syntax error at (line, column) of the body.
    fn malformed(detail: String, line: usize, column: usize) -> Self {
        let mut error = Self::new(StatusCode::BAD_REQUEST, "malformed_json", detail);
        error.0.position = Some((line, column));
        error
    }

    fn problem(&self) -> Problem {
        let this = &self.0;
        Problem {
            kind: format!("urn:aion:problem:{}", this.code),
            title: this.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: this.status.as_u16(),
            code: this.code.to_owned(),
            detail: this.detail.clone(),
            pointer: this.pointer.clone(),
            line: this.position.map(|p| p.0),
            column: this.position.map(|p| p.1),
            errors: this.errors.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.0.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        for (name, value) in self.0.headers {
            headers.insert(name, value);
        }
        response
    }
}

impl From<aion_store::Error> for ApiError {
    fn from(error: aion_store::Error) -> Self {
        use aion_store::Error as E;
        match error {
            E::NotFound { what, id } => ApiError::not_found(what, &id),
            E::AlreadyExists { what, id } => ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                format!("{what} `{id}` already exists"),
            ),
            E::InvalidArgument(message) => ApiError::bad_request(message),
            E::VersionConflict {
                flow_id,
                expected,
                current,
            } => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "version_conflict",
                format!("flow `{flow_id}` is at version {current}, not {expected}"),
            ),
            other => ApiError::internal(&other),
        }
    }
}

impl From<aion_worker::Error> for ApiError {
    fn from(error: aion_worker::Error) -> Self {
        match error {
            aion_worker::Error::Store(store) => store.into(),
            other => ApiError::internal(&other),
        }
    }
}

/// A JSON request body of type `T`. Refuses a missing or wrong content type (415), malformed
/// JSON (400 with line and column) and a body of the wrong shape (422 with the JSON Pointer of
/// the offending value). The body size limit is a layer of the router (413).
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON, sent with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        "the request body is larger than the server accepts",
                    )
                } else {
                    ApiError::bad_request(format!("cannot read the body: {rejection}"))
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Query parameters of type `T`; a malformed or unknown parameter is a 400 problem naming it.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// Parses a JSON body into `T`, with the errors [`ApiJson`] promises.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let value = result.map_err(|error| {
        let pointer = pointer_of(error.path());
        let inner = error.into_inner();
        if inner.is_data() {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!("the body does not have the expected shape: {inner}"),
            )
            .at(pointer)
        } else {
            ApiError::malformed(
                format!("the body is not valid JSON: {inner}"),
                inner.line(),
                inner.column(),
            )
        }
    })?;
    deserializer.end().map_err(|inner| {
        ApiError::malformed(
            format!("the body has data after its JSON value: {inner}"),
            inner.line(),
            inner.column(),
        )
    })?;
    Ok(value)
}

/// A serde path as a JSON Pointer (`""` for the whole body).
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        out.push('/');
        let token = match segment {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } | Segment::Enum { variant: key } => key.clone(),
            Segment::Unknown => "?".to_owned(),
        };
        out.push_str(&token.replace('~', "~0").replace('/', "~1"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Body {
        name: String,
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Item {
        count: u32,
    }

    #[test]
    fn shape_errors_point_at_the_value() {
        let error =
            parse_json::<Body>(br#"{"name": "a", "items": [{"count": 1}, {"count": "x"}]}"#)
                .unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem = error.problem();
        assert_eq!(problem.pointer.as_deref(), Some("/items/1/count"));
        assert_eq!(problem.code, "invalid_body");
        let unknown = parse_json::<Body>(br#"{"name": "a", "items": [], "extra": 1}"#).unwrap_err();
        assert!(unknown.problem().detail.contains("extra"), "{unknown:?}");
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let error = parse_json::<Body>(b"{\n  \"name\": \"a\",\n  oops\n}").unwrap_err();
        let problem = error.problem();
        assert_eq!(problem.code, "malformed_json");
        assert_eq!((problem.line, problem.column), (Some(3), Some(3)));
        let trailing = parse_json::<serde_json::Value>(b"{} {}").unwrap_err();
        assert_eq!(trailing.problem().code, "malformed_json");
    }

    #[test]
    fn store_failures_never_leak_their_cause() {
        let error: ApiError =
            aion_store::Error::Backend("SELECT secret FROM users: disk I/O error".into()).into();
        let problem = error.problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("SELECT"), "{problem:?}");
    }
}
