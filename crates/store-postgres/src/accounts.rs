//! [`aion_store::Accounts`] on PostgreSQL: users, workspace members, API keys, browser
//! sessions, workspace variables, sealed credentials and webhook deliveries.
//!
//! Most methods are one statement; a constraint violation is turned into the error SQLite
//! reports for the same case, asking which referenced row is missing only on that slow path.
//! The caller's task does what needs no database: lowercasing emails, checking names,
//! encoding variable values, choosing user ids.

use aion_store::payload::{decode_json, encode_json};
use aion_store::{
    Accounts, ApiKey, BoxFuture, Credential, CredentialInfo, Error, Member, NewUser, Result, Role,
    Session, User, Variable, check_credential_kind, check_credential_name, check_id,
    check_var_name,
};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

use crate::error::{Violation, db, violation};
use crate::{PgStore, new_uuid_v7};

/// Emails are compared and stored lowercased.
fn normalize_email(email: &str) -> String {
    email.to_lowercase()
}

fn role_of(text: &str) -> Result<Role> {
    text.parse()
        .map_err(|_| Error::Corrupt(format!("unknown stored role `{text}`")))
}

/// The error for a write that referred to a missing workspace or user (SQLite checks the
/// workspace first).
async fn missing_reference(pool: &PgPool, workspace: Option<&str>, user_id: &str) -> Error {
    let found = sqlx::query(
        "SELECT EXISTS (SELECT 1 FROM workspaces WHERE id = $1), \
         EXISTS (SELECT 1 FROM users WHERE id = $2)",
    )
    .bind(workspace.unwrap_or(""))
    .bind(user_id)
    .fetch_one(pool)
    .await;
    let row = match found {
        Ok(row) => row,
        Err(err) => return db(err),
    };
    let workspace_found: bool = row.try_get(0).unwrap_or(false);
    match workspace {
        Some(workspace) if !workspace_found => Error::not_found("workspace", workspace),
        _ => Error::not_found("user", user_id),
    }
}

// ----- users -----

fn user_from_row(row: &PgRow) -> Result<User> {
    let failed: i64 = row.try_get(4).map_err(db)?;
    Ok(User {
        id: row.try_get(0).map_err(db)?,
        email: row.try_get(1).map_err(db)?,
        password_hash: row.try_get(2).map_err(db)?,
        created_ms: row.try_get(3).map_err(db)?,
        failed_logins: u32::try_from(failed)
            .map_err(|_| Error::Corrupt("failed sign-in count out of range".to_owned()))?,
        locked_until_ms: row.try_get(5).map_err(db)?,
    })
}

async fn one_user(pool: &PgPool, by_email: bool, arg: &str) -> Result<Option<User>> {
    let sql = if by_email {
        "SELECT id, email, password_hash, created_ms, failed_logins, locked_until_ms FROM users \
         WHERE email = $1"
    } else {
        "SELECT id, email, password_hash, created_ms, failed_logins, locked_until_ms FROM users \
         WHERE id = $1"
    };
    let row = sqlx::query(sql)
        .bind(arg)
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    row.as_ref().map(user_from_row).transpose()
}

async fn create_user(pool: &PgPool, id: String, user: NewUser) -> Result<User> {
    let inserted = sqlx::query(
        "INSERT INTO users (id, email, password_hash, created_ms, failed_logins, \
         locked_until_ms) VALUES ($1, $2, $3, $4, 0, NULL)",
    )
    .bind(&id)
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(user.created_ms)
    .execute(pool)
    .await;
    match inserted {
        Ok(_) => {}
        Err(err) => {
            return Err(match violation(&err) {
                Some(Violation::Unique("users_pkey")) => Error::AlreadyExists { what: "user", id },
                Some(Violation::Unique(_)) => Error::AlreadyExists {
                    what: "user",
                    id: user.email,
                },
                _ => db(err),
            });
        }
    }
    Ok(User {
        id,
        email: user.email,
        password_hash: user.password_hash,
        created_ms: user.created_ms,
        failed_logins: 0,
        locked_until_ms: None,
    })
}

async fn update_user(
    pool: &PgPool,
    user_id: &str,
    query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> Result<()> {
    let changed = query.execute(pool).await.map_err(db)?;
    if changed.rows_affected() == 0 {
        return Err(Error::not_found("user", user_id));
    }
    Ok(())
}

// ----- members -----

fn member_from_row(row: &PgRow) -> Result<Member> {
    let role: String = row.try_get(3).map_err(db)?;
    Ok(Member {
        workspace: row.try_get(0).map_err(db)?,
        user_id: row.try_get(1).map_err(db)?,
        email: row.try_get(2).map_err(db)?,
        role: role_of(&role)?,
        added_ms: row.try_get(4).map_err(db)?,
    })
}

const MEMBER_SELECT: &str = "SELECT m.workspace, m.user_id, u.email, m.role, m.added_ms \
     FROM members m JOIN users u ON u.id = m.user_id";

async fn members(pool: &PgPool, filter: &'static str, args: &[&str]) -> Result<Vec<Member>> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!("{MEMBER_SELECT} {filter}")));
    for arg in args {
        query = query.bind(*arg);
    }
    let rows = query.fetch_all(pool).await.map_err(db)?;
    rows.iter().map(member_from_row).collect()
}

async fn set_member(
    pool: &PgPool,
    workspace: &str,
    user_id: &str,
    role: Role,
    now_ms: i64,
) -> Result<Member> {
    // A role change keeps the instant the membership was created.
    let row = sqlx::query(
        "WITH m AS (INSERT INTO members (workspace, user_id, role, added_ms) \
           VALUES ($1, $2, $3, $4) \
           ON CONFLICT (workspace, user_id) DO UPDATE SET role = excluded.role \
           RETURNING workspace, user_id, role, added_ms) \
         SELECT m.workspace, m.user_id, u.email, m.role, m.added_ms \
         FROM m JOIN users u ON u.id = m.user_id",
    )
    .bind(workspace)
    .bind(user_id)
    .bind(role.as_str())
    .bind(now_ms)
    .fetch_optional(pool)
    .await;
    match row {
        Ok(Some(row)) => member_from_row(&row),
        Ok(None) => Err(Error::not_found("user", user_id)),
        Err(err) if matches!(violation(&err), Some(Violation::ForeignKey(_))) => {
            Err(missing_reference(pool, Some(workspace), user_id).await)
        }
        Err(err) => Err(db(err)),
    }
}

/// Removes a membership and, in the same statement, revokes the member's keys there.
async fn remove_member(pool: &PgPool, workspace: &str, user_id: &str, now_ms: i64) -> Result<()> {
    let removed: i64 = sqlx::query_scalar(
        "WITH d AS (DELETE FROM members WHERE workspace = $1 AND user_id = $2 RETURNING 1), \
         k AS (UPDATE api_keys SET revoked_ms = $3 \
           WHERE workspace = $1 AND user_id = $2 AND revoked_ms IS NULL \
           AND EXISTS (SELECT 1 FROM d)) \
         SELECT count(*) FROM d",
    )
    .bind(workspace)
    .bind(user_id)
    .bind(now_ms)
    .fetch_one(pool)
    .await
    .map_err(db)?;
    if removed == 0 {
        return Err(Error::not_found("member", user_id));
    }
    Ok(())
}

// ----- API keys -----

const KEY_COLUMNS: &str = "id, workspace, user_id, role, name, secret_hash, created_ms, \
     last_used_ms, revoked_ms";

fn key_from_row(row: &PgRow) -> Result<ApiKey> {
    let role: String = row.try_get(3).map_err(db)?;
    Ok(ApiKey {
        id: row.try_get(0).map_err(db)?,
        workspace: row.try_get(1).map_err(db)?,
        user_id: row.try_get(2).map_err(db)?,
        role: role_of(&role)?,
        name: row.try_get(4).map_err(db)?,
        secret_hash: row.try_get(5).map_err(db)?,
        created_ms: row.try_get(6).map_err(db)?,
        last_used_ms: row.try_get(7).map_err(db)?,
        revoked_ms: row.try_get(8).map_err(db)?,
    })
}

async fn create_api_key(pool: &PgPool, key: ApiKey) -> Result<ApiKey> {
    let inserted = sqlx::query(
        "INSERT INTO api_keys (id, workspace, user_id, role, name, secret_hash, created_ms, \
         last_used_ms, revoked_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&key.id)
    .bind(&key.workspace)
    .bind(&key.user_id)
    .bind(key.role.as_str())
    .bind(&key.name)
    .bind(&key.secret_hash)
    .bind(key.created_ms)
    .bind(key.last_used_ms)
    .bind(key.revoked_ms)
    .execute(pool)
    .await;
    match inserted {
        Ok(_) => Ok(key),
        Err(err) => match violation(&err) {
            Some(Violation::Unique(_)) => Err(Error::AlreadyExists {
                what: "API key",
                id: key.id,
            }),
            Some(Violation::ForeignKey(_)) => {
                Err(missing_reference(pool, Some(&key.workspace), &key.user_id).await)
            }
            None => Err(db(err)),
        },
    }
}

async fn api_keys(pool: &PgPool, by_workspace: bool, arg: &str) -> Result<Vec<ApiKey>> {
    let sql = if by_workspace {
        format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE workspace = $1 ORDER BY created_ms DESC, id DESC"
        )
    } else {
        format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1")
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(arg)
        .fetch_all(pool)
        .await
        .map_err(db)?;
    rows.iter().map(key_from_row).collect()
}

async fn revoke_api_key(pool: &PgPool, workspace: &str, id: &str, now_ms: i64) -> Result<ApiKey> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE api_keys SET revoked_ms = coalesce(revoked_ms, $3) \
         WHERE id = $2 AND workspace = $1 RETURNING {KEY_COLUMNS}"
    )))
    .bind(workspace)
    .bind(id)
    .bind(now_ms)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    match row {
        Some(row) => key_from_row(&row),
        None => Err(Error::not_found("API key", id)),
    }
}

// ----- sessions -----

async fn create_session(pool: &PgPool, session: &Session) -> Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, csrf_hash, created_ms, expires_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&session.id_hash)
    .bind(&session.user_id)
    .bind(&session.csrf_hash)
    .bind(session.created_ms)
    .bind(session.expires_ms)
    .execute(pool)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(err) => match violation(&err) {
            Some(Violation::ForeignKey(_)) => Err(Error::not_found("user", &session.user_id)),
            Some(Violation::Unique(_)) => Err(Error::AlreadyExists {
                what: "session",
                id: session.id_hash.clone(),
            }),
            None => Err(db(err)),
        },
    }
}

async fn session(pool: &PgPool, id_hash: &str, now_ms: i64) -> Result<Option<Session>> {
    let row = sqlx::query(
        "SELECT id_hash, user_id, csrf_hash, created_ms, expires_ms FROM sessions \
         WHERE id_hash = $1 AND expires_ms > $2",
    )
    .bind(id_hash)
    .bind(now_ms)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    row.map(|row| {
        Ok(Session {
            id_hash: row.try_get(0).map_err(db)?,
            user_id: row.try_get(1).map_err(db)?,
            csrf_hash: row.try_get(2).map_err(db)?,
            created_ms: row.try_get(3).map_err(db)?,
            expires_ms: row.try_get(4).map_err(db)?,
        })
    })
    .transpose()
}

// ----- variables -----

async fn set_var(
    pool: &PgPool,
    workspace: &str,
    name: &str,
    encoded: &[u8],
    now_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO vars (workspace, name, value, updated_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (workspace, name) DO UPDATE SET value = excluded.value, \
         updated_ms = excluded.updated_ms",
    )
    .bind(workspace)
    .bind(name)
    .bind(encoded)
    .bind(now_ms)
    .execute(pool)
    .await
    .map_err(|err| match violation(&err) {
        Some(Violation::ForeignKey(_)) => Error::not_found("workspace", workspace),
        _ => db(err),
    })?;
    Ok(())
}

async fn list_vars(pool: &PgPool, workspace: &str) -> Result<Vec<Variable>> {
    let rows =
        sqlx::query("SELECT name, value, updated_ms FROM vars WHERE workspace = $1 ORDER BY name")
            .bind(workspace)
            .fetch_all(pool)
            .await
            .map_err(db)?;
    rows.iter()
        .map(|row| {
            let value: &[u8] = row.try_get(1).map_err(db)?;
            Ok(Variable {
                name: row.try_get(0).map_err(db)?,
                value: decode_json(value)?,
                updated_ms: row.try_get(2).map_err(db)?,
            })
        })
        .collect()
}

/// Deletes one row of a workspace; [`Error::NotFound`] for `what` when there was none.
async fn delete_named(
    pool: &PgPool,
    sql: &'static str,
    workspace: &str,
    name: &str,
    what: &'static str,
) -> Result<()> {
    let deleted = sqlx::query(sql)
        .bind(workspace)
        .bind(name)
        .execute(pool)
        .await
        .map_err(db)?;
    if deleted.rows_affected() == 0 {
        return Err(Error::not_found(what, name));
    }
    Ok(())
}

// ----- credentials -----

/// Creates or replaces a credential; `true` when it was created (`xmax = 0` marks a row this
/// statement inserted rather than updated).
async fn put_credential(
    pool: &PgPool,
    workspace: &str,
    name: &str,
    kind: &str,
    ciphertext: &[u8],
    now_ms: i64,
) -> Result<(CredentialInfo, bool)> {
    let row = sqlx::query(
        "INSERT INTO credentials (workspace, name, kind, ciphertext, created_ms, updated_ms) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (workspace, name) DO UPDATE SET kind = excluded.kind, \
         ciphertext = excluded.ciphertext, updated_ms = excluded.updated_ms \
         RETURNING created_ms, (xmax = 0) AS inserted",
    )
    .bind(workspace)
    .bind(name)
    .bind(kind)
    .bind(ciphertext)
    .bind(now_ms)
    .fetch_one(pool)
    .await
    .map_err(|err| match violation(&err) {
        Some(Violation::ForeignKey(_)) => Error::not_found("workspace", workspace),
        _ => db(err),
    })?;
    let info = CredentialInfo {
        name: name.to_owned(),
        kind: kind.to_owned(),
        created_ms: row.try_get(0).map_err(db)?,
        updated_ms: now_ms,
    };
    Ok((info, row.try_get(1).map_err(db)?))
}

async fn credential(pool: &PgPool, workspace: &str, name: &str) -> Result<Option<Credential>> {
    let row = sqlx::query(
        "SELECT kind, ciphertext, created_ms, updated_ms FROM credentials \
         WHERE workspace = $1 AND name = $2",
    )
    .bind(workspace)
    .bind(name)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    row.map(|row| {
        Ok(Credential {
            name: name.to_owned(),
            kind: row.try_get(0).map_err(db)?,
            ciphertext: row.try_get(1).map_err(db)?,
            created_ms: row.try_get(2).map_err(db)?,
            updated_ms: row.try_get(3).map_err(db)?,
        })
    })
    .transpose()
}

async fn list_credentials(pool: &PgPool, workspace: &str) -> Result<Vec<CredentialInfo>> {
    let rows = sqlx::query(
        "SELECT name, kind, created_ms, updated_ms FROM credentials WHERE workspace = $1 \
         ORDER BY name",
    )
    .bind(workspace)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|row| {
            Ok(CredentialInfo {
                name: row.try_get(0).map_err(db)?,
                kind: row.try_get(1).map_err(db)?,
                created_ms: row.try_get(2).map_err(db)?,
                updated_ms: row.try_get(3).map_err(db)?,
            })
        })
        .collect()
}

/// Records a delivery unless it is recorded and unexpired (an expired record of the same id
/// is replaced), then drops other expired records.
async fn remember_webhook_delivery(
    pool: &PgPool,
    workspace: &str,
    path: &str,
    delivery_id: &str,
    now_ms: i64,
    expires_ms: i64,
) -> Result<bool> {
    let recorded = sqlx::query(
        "INSERT INTO webhook_deliveries (workspace, path, delivery_id, expires_ms) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (workspace, path, delivery_id) DO UPDATE \
         SET expires_ms = excluded.expires_ms WHERE webhook_deliveries.expires_ms <= $5",
    )
    .bind(workspace)
    .bind(path)
    .bind(delivery_id)
    .bind(expires_ms)
    .bind(now_ms)
    .execute(pool)
    .await
    .map_err(|err| match violation(&err) {
        Some(Violation::ForeignKey(_)) => Error::not_found("workspace", workspace),
        _ => db(err),
    })?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE expires_ms <= $1")
        .bind(now_ms)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(recorded.rows_affected() == 1)
}

impl Accounts for PgStore {
    fn create_user(&self, user: NewUser) -> BoxFuture<'_, Result<User>> {
        Box::pin(async move {
            let user = NewUser {
                email: normalize_email(&user.email),
                ..user
            };
            let id = new_uuid_v7(user.created_ms);
            create_user(&self.pool, id, user).await
        })
    }

    fn user_by_email<'a>(&'a self, email: &'a str) -> BoxFuture<'a, Result<Option<User>>> {
        Box::pin(async move { one_user(&self.pool, true, &normalize_email(email)).await })
    }

    fn user<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Option<User>>> {
        Box::pin(one_user(&self.pool, false, user_id))
    }

    fn set_login_state<'a>(
        &'a self,
        user_id: &'a str,
        failed_logins: u32,
        locked_until_ms: Option<i64>,
    ) -> BoxFuture<'a, Result<()>> {
        let query =
            sqlx::query("UPDATE users SET failed_logins = $2, locked_until_ms = $3 WHERE id = $1")
                .bind(user_id)
                .bind(i64::from(failed_logins))
                .bind(locked_until_ms);
        Box::pin(update_user(&self.pool, user_id, query))
    }

    fn set_password<'a>(
        &'a self,
        user_id: &'a str,
        password_hash: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        let query = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user_id)
            .bind(password_hash);
        Box::pin(update_user(&self.pool, user_id, query))
    }

    fn count_users(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
            u64::try_from(count).map_err(|_| Error::Corrupt("negative user count".to_owned()))
        })
    }

    fn set_member<'a>(
        &'a self,
        workspace: &'a str,
        user_id: &'a str,
        role: Role,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Member>> {
        Box::pin(set_member(&self.pool, workspace, user_id, role, now_ms))
    }

    fn remove_member<'a>(
        &'a self,
        workspace: &'a str,
        user_id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(remove_member(&self.pool, workspace, user_id, now_ms))
    }

    fn list_members<'a>(&'a self, workspace: &'a str) -> BoxFuture<'a, Result<Vec<Member>>> {
        Box::pin(async move {
            members(
                &self.pool,
                "WHERE m.workspace = $1 ORDER BY u.email",
                &[workspace],
            )
            .await
        })
    }

    fn member<'a>(
        &'a self,
        workspace: &'a str,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Member>>> {
        Box::pin(async move {
            let found = members(
                &self.pool,
                "WHERE m.workspace = $1 AND m.user_id = $2",
                &[workspace, user_id],
            )
            .await?;
            Ok(found.into_iter().next())
        })
    }

    fn memberships<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<Member>>> {
        Box::pin(async move {
            members(
                &self.pool,
                "WHERE m.user_id = $1 ORDER BY m.workspace",
                &[user_id],
            )
            .await
        })
    }

    fn create_api_key(&self, key: ApiKey) -> BoxFuture<'_, Result<ApiKey>> {
        Box::pin(async move {
            check_id("API key id", &key.id)?;
            create_api_key(&self.pool, key).await
        })
    }

    fn api_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<ApiKey>>> {
        Box::pin(async move { Ok(api_keys(&self.pool, false, id).await?.into_iter().next()) })
    }

    fn list_api_keys<'a>(&'a self, workspace: &'a str) -> BoxFuture<'a, Result<Vec<ApiKey>>> {
        Box::pin(api_keys(&self.pool, true, workspace))
    }

    fn revoke_api_key<'a>(
        &'a self,
        workspace: &'a str,
        id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<ApiKey>> {
        Box::pin(revoke_api_key(&self.pool, workspace, id, now_ms))
    }

    fn touch_api_key<'a>(&'a self, id: &'a str, now_ms: i64) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            sqlx::query("UPDATE api_keys SET last_used_ms = $2 WHERE id = $1")
                .bind(id)
                .bind(now_ms)
                .execute(&self.pool)
                .await
                .map_err(db)?;
            Ok(())
        })
    }

    fn create_session(&self, session: Session) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { create_session(&self.pool, &session).await })
    }

    fn session<'a>(
        &'a self,
        id_hash: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Session>>> {
        Box::pin(session(&self.pool, id_hash, now_ms))
    }

    fn delete_session<'a>(&'a self, id_hash: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(&self.pool)
                .await
                .map_err(db)?;
            Ok(())
        })
    }

    fn delete_expired_sessions(&self, now_ms: i64) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let deleted = sqlx::query("DELETE FROM sessions WHERE expires_ms <= $1")
                .bind(now_ms)
                .execute(&self.pool)
                .await
                .map_err(db)?;
            Ok(deleted.rows_affected())
        })
    }

    fn set_var<'a>(
        &'a self,
        workspace: &'a str,
        name: &'a str,
        value: serde_json::Value,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Variable>> {
        Box::pin(async move {
            check_var_name(name)?;
            let encoded = encode_json(&value)?;
            set_var(&self.pool, workspace, name, &encoded, now_ms).await?;
            Ok(Variable {
                name: name.to_owned(),
                value,
                updated_ms: now_ms,
            })
        })
    }

    fn delete_var<'a>(&'a self, workspace: &'a str, name: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(delete_named(
            &self.pool,
            "DELETE FROM vars WHERE workspace = $1 AND name = $2",
            workspace,
            name,
            "variable",
        ))
    }

    fn list_vars<'a>(&'a self, workspace: &'a str) -> BoxFuture<'a, Result<Vec<Variable>>> {
        Box::pin(list_vars(&self.pool, workspace))
    }

    fn put_credential<'a>(
        &'a self,
        workspace: &'a str,
        name: &'a str,
        kind: &'a str,
        ciphertext: Vec<u8>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<(CredentialInfo, bool)>> {
        Box::pin(async move {
            check_credential_name(name)?;
            check_credential_kind(kind)?;
            put_credential(&self.pool, workspace, name, kind, &ciphertext, now_ms).await
        })
    }

    fn credential<'a>(
        &'a self,
        workspace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Credential>>> {
        Box::pin(credential(&self.pool, workspace, name))
    }

    fn list_credentials<'a>(
        &'a self,
        workspace: &'a str,
    ) -> BoxFuture<'a, Result<Vec<CredentialInfo>>> {
        Box::pin(list_credentials(&self.pool, workspace))
    }

    fn delete_credential<'a>(
        &'a self,
        workspace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(delete_named(
            &self.pool,
            "DELETE FROM credentials WHERE workspace = $1 AND name = $2",
            workspace,
            name,
            "credential",
        ))
    }

    fn remember_webhook_delivery<'a>(
        &'a self,
        workspace: &'a str,
        path: &'a str,
        delivery_id: &'a str,
        now_ms: i64,
        expires_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(remember_webhook_delivery(
            &self.pool,
            workspace,
            path,
            delivery_id,
            now_ms,
            expires_ms,
        ))
    }
}
