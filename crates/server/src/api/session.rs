//! Browser sign-in: first-run setup, login with lockout and per-address rate limiting,
//! logout, and `me`. A session is an HTTP-only, `SameSite=Strict` cookie holding a random
//! secret (the store keeps its SHA-256), `Secure` whenever the browser will keep it so (a
//! loopback host, or a request forwarded over HTTPS); the response also carries a CSRF token
//! that the Studio sends back in `X-CSRF-Token` on every request that changes something. The
//! token is derived from the session's secret, so `GET /me` can hand it out again after a
//! page reload (only to the holder of the cookie, which scripts cannot read).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aion_store::{DEFAULT_WORKSPACE, Session};

use crate::AppState;
use crate::auth::{self, Caller};
use crate::problem::{ApiError, ApiJson, Problem};

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "aion_session";
/// How long a session lasts.
const SESSION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
/// Failed sign-ins in a row that lock an account.
const LOCK_AFTER: u32 = 5;
/// How long a locked account stays locked.
const LOCK_MS: i64 = 15 * 60 * 1000;
/// Sign-in attempts per address per minute.
const ATTEMPTS_PER_MINUTE: u32 = 10;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(setup, setup_needed))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

/// Sign-in attempts per client address over the last minute (a sliding window: no burst at a
/// minute boundary).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    attempts: Mutex<HashMap<IpAddr, VecDeque<i64>>>,
}

impl LoginLimiter {
    /// Counts an attempt; `Err(seconds to wait)` when the address already made
    /// [`ATTEMPTS_PER_MINUTE`] in the last minute (a refused attempt is not counted).
    fn attempt(&self, ip: IpAddr, now_ms: i64) -> Result<(), i64> {
        let Ok(mut attempts) = self.attempts.lock() else {
            return Ok(());
        };
        let since = now_ms - 60_000;
        if attempts.len() > 10_000 {
            attempts.retain(|_, times| times.back().is_some_and(|t| *t > since));
        }
        let times = attempts.entry(ip).or_default();
        while times.front().is_some_and(|t| *t <= since) {
            times.pop_front();
        }
        if times.len() >= ATTEMPTS_PER_MINUTE as usize {
            let oldest = times.front().copied().unwrap_or(now_ms);
            return Err((oldest - since + 999) / 1000);
        }
        times.push_back(now_ms);
        Ok(())
    }
}

/// Email and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The email.
    pub email: String,
    /// The password.
    pub password: String,
}

/// A workspace the user belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipOut {
    /// The workspace.
    pub workspace: String,
    /// The user's role there.
    pub role: String,
}

/// Who is signed in.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeOut {
    /// The user id.
    pub user_id: String,
    /// The email.
    pub email: String,
    /// The workspace this request acted in.
    pub workspace: String,
    /// The role there.
    pub role: String,
    /// Every workspace of the user.
    pub workspaces: Vec<MembershipOut>,
    /// For a browser session: the CSRF token to send as `X-CSRF-Token` (absent for API keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// Whether first-run setup is still open.
#[derive(Debug, Serialize, ToSchema)]
pub struct SetupState {
    /// `true` until the first user exists.
    pub needed: bool,
}

/// The CSRF token of the session with this secret.
fn csrf_for(secret: &str) -> String {
    auth::digest(&format!("aion-csrf:{secret}"))
}

/// Whether a cookie set in answer to this request may be `Secure`: browsers keep `Secure`
/// cookies over HTTPS and on loopback hosts, and drop them over plain HTTP elsewhere (where
/// the session would then silently fail).
fn secure_cookie(headers: &HeaderMap) -> bool {
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    if forwarded_https {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The session cookie's attributes for this request.
fn cookie_attributes(headers: &HeaderMap) -> &'static str {
    if secure_cookie(headers) {
        "Path=/; HttpOnly; Secure; SameSite=Strict"
    } else {
        "Path=/; HttpOnly; SameSite=Strict"
    }
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    /// Send it back as `X-CSRF-Token` on every POST, PUT, PATCH and DELETE.
    pub csrf_token: String,
    /// Who signed in.
    pub me: MeOut,
}

async fn me_of(state: &AppState, user_id: &str, workspace: &str) -> Result<MeOut, ApiError> {
    let user = state
        .accounts()
        .user(user_id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the session's user no longer exists"))?;
    let memberships = state.accounts().memberships(user_id).await?;
    let role = memberships
        .iter()
        .find(|m| m.workspace == workspace)
        .map(|m| m.role.as_str())
        .unwrap_or("none");
    Ok(MeOut {
        user_id: user.id,
        email: user.email,
        workspace: workspace.to_owned(),
        role: role.to_owned(),
        workspaces: memberships
            .into_iter()
            .map(|m| MembershipOut {
                workspace: m.workspace,
                role: m.role.as_str().to_owned(),
            })
            .collect(),
        csrf_token: None,
    })
}

/// Starts a session for `user_id`: the cookie and the CSRF token.
async fn open_session(
    state: &AppState,
    headers: &HeaderMap,
    user_id: &str,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let secret = auth::random_hex(32).map_err(|e| ApiError::internal(&e))?;
    let csrf = csrf_for(&secret);
    let now = state.now_ms();
    state
        .accounts()
        .create_session(Session {
            id_hash: auth::digest(&secret),
            user_id: user_id.to_owned(),
            csrf_hash: auth::digest(&csrf),
            created_ms: now,
            expires_ms: now + SESSION_TTL_MS,
        })
        .await?;
    let memberships = state.accounts().memberships(user_id).await?;
    let workspace = memberships
        .iter()
        .find(|m| m.workspace == DEFAULT_WORKSPACE)
        .or(memberships.first())
        .map_or(DEFAULT_WORKSPACE, |m| m.workspace.as_str())
        .to_owned();
    let me = me_of(state, user_id, &workspace).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={secret}; {}; Max-Age={}",
        cookie_attributes(headers),
        SESSION_TTL_MS / 1000
    );
    let mut response = (
        status,
        Json(SessionOut {
            csrf_token: csrf,
            me,
        }),
    )
        .into_response();
    let value = HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(&e))?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

/// First-run setup: creates the first user, owner of the workspace `default`, and signs them
/// in. Refused once any user exists.
#[utoipa::path(
    post, path = "/api/v1/setup", tag = "auth", security(()),
    request_body = Credentials,
    responses(
        (status = 201, body = SessionOut),
        (status = 409, description = "Already set up", body = Problem),
        (status = 422, description = "A weak password or a bad email", body = Problem),
    )
)]
async fn setup(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    if state.accounts().count_users().await? > 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_set_up",
            "this server has users already; sign in instead",
        ));
    }
    let user = crate::admin::create_user(
        &**state.store(),
        &**state.accounts(),
        &body.email,
        &body.password,
        DEFAULT_WORKSPACE,
        state.now_ms(),
    )
    .await
    .map_err(admin_error)?;
    open_session(&state, &headers, &user.id, StatusCode::CREATED).await
}

/// Whether first-run setup is still open (no user exists yet), so a sign-in page can offer it.
#[utoipa::path(
    get, path = "/api/v1/setup", tag = "auth", security(()),
    responses((status = 200, body = SetupState))
)]
async fn setup_needed(State(state): State<AppState>) -> Result<Json<SetupState>, ApiError> {
    Ok(Json(SetupState {
        needed: state.accounts().count_users().await? == 0,
    }))
}

pub(super) fn admin_error(error: crate::admin::AdminError) -> ApiError {
    match error {
        crate::admin::AdminError::Invalid(message) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_argument",
            message,
        ),
        crate::admin::AdminError::Store(error) => error.into(),
    }
}

/// Sign in with email and password. Five failures in a row lock the account for 15 minutes;
/// an address gets ten attempts a minute (429 with `Retry-After` beyond).
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = SessionOut),
        (status = 401, description = "Wrong email or password", body = Problem),
        (status = 423, description = "The account is locked for a while", body = Problem),
        (status = 429, description = "Too many attempts from this address", body = Problem),
    )
)]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let now = state.now_ms();
    if let Err(wait) = state.login_limiter().attempt(peer.ip(), now) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many sign-in attempts from this address; wait a minute",
        )
        .with_header(
            header::RETRY_AFTER,
            HeaderValue::from_str(&wait.max(1).to_string())
                .unwrap_or(HeaderValue::from_static("60")),
        ));
    }
    let wrong = || ApiError::unauthenticated("wrong email or password");
    let user = state.accounts().user_by_email(&body.email).await?;
    let Some(user) = user else {
        // Spend the same time as a real check, so timing does not tell which emails exist.
        let password = body.password;
        let _ =
            tokio::task::spawn_blocking(move || auth::verify_password(&password, DUMMY_HASH)).await;
        return Err(wrong());
    };
    if let Some(until) = user.locked_until_ms
        && until > now
    {
        return Err(ApiError::new(
            StatusCode::LOCKED,
            "account_locked",
            format!(
                "this account is locked after {LOCK_AFTER} failed sign-ins; try again in {} s",
                (until - now + 999) / 1000
            ),
        ));
    }
    let hash = user.password_hash.clone();
    let password = body.password;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    if !ok {
        let failed = user.failed_logins.saturating_add(1);
        let locked = (failed >= LOCK_AFTER).then_some(now + LOCK_MS);
        let failed = if locked.is_some() { 0 } else { failed };
        state
            .accounts()
            .set_login_state(&user.id, failed, locked)
            .await?;
        return Err(wrong());
    }
    if user.failed_logins != 0 || user.locked_until_ms.is_some() {
        state.accounts().set_login_state(&user.id, 0, None).await?;
    }
    open_session(&state, &headers, &user.id, StatusCode::OK).await
}

/// An Argon2id hash of a random password, verified against when the email is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2Jc4vqzxo2Lk3Z+ZH5S2j6l8uZqkYHZbXnQk8u7g3tE";

/// End the session (and clear its cookie).
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out"), (status = 401, body = Problem))
)]
async fn logout(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(secret) = session_secret(&headers) {
        state
            .accounts()
            .delete_session(&auth::digest(secret))
            .await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let cookie = format!(
        "{SESSION_COOKIE}=; {}; Max-Age=0",
        cookie_attributes(&headers)
    );
    let value = HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(&e))?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

/// Who the caller is, in which workspace, and their other workspaces.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = MeOut), (status = 401, body = Problem))
)]
async fn me(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Json<MeOut>, ApiError> {
    let mut me = me_of(&state, &caller.user_id, &caller.workspace).await?;
    me.role = caller.role.as_str().to_owned();
    if matches!(caller.credential, auth::Credential::Session) {
        me.csrf_token = session_secret(&headers).map(csrf_for);
    }
    Ok(Json(me))
}

/// The session secret of the request's cookie, if any.
pub(crate) fn session_secret(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

/// The caller of a request that carries a session cookie: the user, in the workspace named by
/// `X-Aion-Workspace` (else `default`, else their first). Unsafe methods need the session's
/// CSRF token in `X-CSRF-Token`.
pub(crate) async fn session_caller(
    state: &AppState,
    headers: &HeaderMap,
    method: &axum::http::Method,
    secret: &str,
) -> Result<Caller, ApiError> {
    let now = state.now_ms();
    let session = state
        .accounts()
        .session(&auth::digest(secret), now)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the session has expired; sign in again"))?;
    let safe = matches!(
        *method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if !safe {
        let token = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !auth::digests_match(&auth::digest(token), &session.csrf_hash) {
            return Err(ApiError::forbidden(
                "a request that changes something needs the session's `X-CSRF-Token`",
            ));
        }
    }
    let memberships = state.accounts().memberships(&session.user_id).await?;
    let wanted = headers
        .get("x-aion-workspace")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let member = match &wanted {
        Some(ws) => memberships
            .iter()
            .find(|m| &m.workspace == ws)
            .ok_or_else(|| ApiError::not_found("workspace", ws))?,
        None => memberships
            .iter()
            .find(|m| m.workspace == DEFAULT_WORKSPACE)
            .or(memberships.first())
            .ok_or_else(|| ApiError::forbidden("the user belongs to no workspace"))?,
    };
    Ok(Caller {
        user_id: session.user_id,
        workspace: member.workspace.clone(),
        role: member.role,
        credential: auth::Credential::Session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_counts_per_address_and_minute() {
        let limiter = LoginLimiter::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for i in 0..i64::from(ATTEMPTS_PER_MINUTE) {
            limiter.attempt(a, 59_000 + i).unwrap();
        }
        // Across a minute boundary the window still holds them all.
        assert_eq!(limiter.attempt(a, 60_500), Err(59));
        limiter.attempt(b, 60_500).unwrap();
        assert!(limiter.attempt(a, 118_999).is_err());
        limiter.attempt(a, 119_001).unwrap();
    }

    #[test]
    fn the_dummy_hash_is_a_valid_argon2_string() {
        // Unparseable, it would be refused at once and timing would tell unknown emails apart.
        argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).unwrap();
        assert!(!auth::verify_password("anything at all", DUMMY_HASH));
    }

    #[test]
    fn cookies_are_secure_where_browsers_keep_them() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            secure_cookie(&headers)
        };
        assert!(with(&[("host", "127.0.0.1:8080")]));
        assert!(with(&[("host", "localhost:8080")]));
        assert!(with(&[("host", "app.localhost")]));
        assert!(with(&[("host", "[::1]:8080")]));
        assert!(with(&[]), "no Host: the safe default");
        assert!(!with(&[("host", "192.168.1.20:8080")]));
        assert!(!with(&[("host", "aion.example.com")]));
        assert!(with(&[
            ("host", "aion.example.com"),
            ("x-forwarded-proto", "https")
        ]));
    }

    #[test]
    fn csrf_tokens_derive_from_the_session_secret() {
        assert_eq!(csrf_for("abc"), csrf_for("abc"));
        assert_ne!(csrf_for("abc"), csrf_for("abd"));
        assert_ne!(
            csrf_for("abc"),
            auth::digest("abc"),
            "not the session's own digest"
        );
    }

    #[test]
    fn session_cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; aion_session=abc123; other=1"),
        );
        assert_eq!(session_secret(&headers), Some("abc123"));
        headers.insert(header::COOKIE, HeaderValue::from_static("aion_session="));
        assert_eq!(session_secret(&headers), None);
    }
}
