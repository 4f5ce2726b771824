//! [`aion_store::Accounts`] on SQLite: users, workspace members, API keys, browser sessions
//! and workspace variables (tables of migration 3), sealed credentials and webhook deliveries
//! (migration 8).
//!
//! As for runs, writes are requests to the writer thread (each in its own savepoint of a group
//! commit, so a multi-statement write such as removing a member and revoking its keys is
//! atomic) and reads go to the reader threads; no SQLite call runs on an executor thread. The
//! caller's task does what needs no database: lowercasing emails, checking variable names,
//! encoding variable values, choosing user ids.

use aion_store::payload::{decode_json, encode_json};
use aion_store::{
    Accounts, ApiKey, BoxFuture, Credential, CredentialInfo, Error, Member, NewUser, Result, Role,
    Session, User, Variable, check_credential_kind, check_credential_name, check_id,
    check_var_name,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::write::{is_constraint, workspace_exists};
use crate::{SqliteStore, db, new_uuid_v7};

/// Emails are compared and stored lowercased.
fn normalize_email(email: &str) -> String {
    email.to_lowercase()
}

fn role_of(text: &str) -> Result<Role> {
    text.parse()
        .map_err(|_| Error::Corrupt(format!("unknown stored role `{text}`")))
}

fn user_exists(conn: &Connection, user_id: &str) -> Result<()> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1")
        .map_err(db)?
        .query_row(params![user_id], |row| row.get(0))
        .optional()
        .map_err(db)?;
    match found {
        Some(_) => Ok(()),
        None => Err(Error::not_found("user", user_id)),
    }
}

// ----- users -----

const USER_SELECT: &str =
    "SELECT id, email, password_hash, created_ms, failed_logins, locked_until_ms FROM users";

fn user_from_row(row: &Row<'_>) -> Result<User> {
    let failed: i64 = row.get(4).map_err(db)?;
    Ok(User {
        id: row.get(0).map_err(db)?,
        email: row.get(1).map_err(db)?,
        password_hash: row.get(2).map_err(db)?,
        created_ms: row.get(3).map_err(db)?,
        failed_logins: u32::try_from(failed)
            .map_err(|_| Error::Corrupt("failed sign-in count out of range".to_owned()))?,
        locked_until_ms: row.get(5).map_err(db)?,
    })
}

fn one_user(conn: &Connection, filter: &str, arg: &str) -> Result<Option<User>> {
    let mut stmt = conn
        .prepare_cached(&format!("{USER_SELECT} WHERE {filter} = ?1"))
        .map_err(db)?;
    let mut rows = stmt.query(params![arg]).map_err(db)?;
    match rows.next().map_err(db)? {
        Some(row) => Ok(Some(user_from_row(row)?)),
        None => Ok(None),
    }
}

/// Inserts a user whose email is already lowercased.
fn create_user(conn: &Connection, id: String, user: NewUser) -> Result<User> {
    if one_user(conn, "email", &user.email)?.is_some() {
        return Err(Error::AlreadyExists {
            what: "user",
            id: user.email,
        });
    }
    let inserted = conn
        .prepare_cached(
            "INSERT INTO users (id, email, password_hash, created_ms, failed_logins, \
             locked_until_ms) VALUES (?1, ?2, ?3, ?4, 0, NULL)",
        )
        .map_err(db)?
        .execute(params![id, user.email, user.password_hash, user.created_ms]);
    match inserted {
        Ok(_) => {}
        // Only a (vanishingly unlikely) id collision can get here.
        Err(err) if is_constraint(&err) => {
            return Err(Error::AlreadyExists { what: "user", id });
        }
        Err(err) => return Err(db(err)),
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

fn set_login_state(
    conn: &Connection,
    user_id: &str,
    failed_logins: u32,
    locked_until_ms: Option<i64>,
) -> Result<()> {
    let changed = conn
        .prepare_cached("UPDATE users SET failed_logins = ?2, locked_until_ms = ?3 WHERE id = ?1")
        .map_err(db)?
        .execute(params![user_id, failed_logins, locked_until_ms])
        .map_err(db)?;
    if changed == 0 {
        return Err(Error::not_found("user", user_id));
    }
    Ok(())
}

fn set_password(conn: &Connection, user_id: &str, password_hash: &str) -> Result<()> {
    let changed = conn
        .prepare_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1")
        .map_err(db)?
        .execute(params![user_id, password_hash])
        .map_err(db)?;
    if changed == 0 {
        return Err(Error::not_found("user", user_id));
    }
    Ok(())
}

fn count_users(conn: &Connection) -> Result<u64> {
    let count: i64 = conn
        .prepare_cached("SELECT count(*) FROM users")
        .map_err(db)?
        .query_row([], |row| row.get(0))
        .map_err(db)?;
    u64::try_from(count).map_err(|_| Error::Corrupt("negative user count".to_owned()))
}

// ----- members -----

const MEMBER_SELECT: &str = "SELECT m.workspace, m.user_id, u.email, m.role, m.added_ms \
     FROM members m JOIN users u ON u.id = m.user_id";

fn member_from_row(row: &Row<'_>) -> Result<Member> {
    let role: String = row.get(3).map_err(db)?;
    Ok(Member {
        workspace: row.get(0).map_err(db)?,
        user_id: row.get(1).map_err(db)?,
        email: row.get(2).map_err(db)?,
        role: role_of(&role)?,
        added_ms: row.get(4).map_err(db)?,
    })
}

fn members(conn: &Connection, filter: &str, args: &[&str]) -> Result<Vec<Member>> {
    let mut stmt = conn
        .prepare_cached(&format!("{MEMBER_SELECT} {filter}"))
        .map_err(db)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args)).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(member_from_row(row)?);
    }
    Ok(out)
}

fn member(conn: &Connection, workspace: &str, user_id: &str) -> Result<Option<Member>> {
    Ok(members(
        conn,
        "WHERE m.workspace = ?1 AND m.user_id = ?2",
        &[workspace, user_id],
    )?
    .into_iter()
    .next())
}

fn set_member(
    conn: &Connection,
    workspace: &str,
    user_id: &str,
    role: Role,
    now_ms: i64,
) -> Result<Member> {
    workspace_exists(conn, workspace)?;
    user_exists(conn, user_id)?;
    // A role change keeps the instant the membership was created.
    conn.prepare_cached(
        "INSERT INTO members (workspace, user_id, role, added_ms) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (workspace, user_id) DO UPDATE SET role = excluded.role",
    )
    .map_err(db)?
    .execute(params![workspace, user_id, role.as_str(), now_ms])
    .map_err(db)?;
    member(conn, workspace, user_id)?.ok_or_else(|| Error::not_found("member", user_id))
}

fn remove_member(conn: &Connection, workspace: &str, user_id: &str, now_ms: i64) -> Result<()> {
    let removed = conn
        .prepare_cached("DELETE FROM members WHERE workspace = ?1 AND user_id = ?2")
        .map_err(db)?
        .execute(params![workspace, user_id])
        .map_err(db)?;
    if removed == 0 {
        return Err(Error::not_found("member", user_id));
    }
    // In the same transaction: a removed member's keys never outlive the membership.
    conn.prepare_cached(
        "UPDATE api_keys SET revoked_ms = ?3 \
         WHERE workspace = ?1 AND user_id = ?2 AND revoked_ms IS NULL",
    )
    .map_err(db)?
    .execute(params![workspace, user_id, now_ms])
    .map_err(db)?;
    Ok(())
}

// ----- API keys -----

const KEY_SELECT: &str = "SELECT id, workspace, user_id, role, name, secret_hash, created_ms, \
     last_used_ms, revoked_ms FROM api_keys";

fn key_from_row(row: &Row<'_>) -> Result<ApiKey> {
    let role: String = row.get(3).map_err(db)?;
    Ok(ApiKey {
        id: row.get(0).map_err(db)?,
        workspace: row.get(1).map_err(db)?,
        user_id: row.get(2).map_err(db)?,
        role: role_of(&role)?,
        name: row.get(4).map_err(db)?,
        secret_hash: row.get(5).map_err(db)?,
        created_ms: row.get(6).map_err(db)?,
        last_used_ms: row.get(7).map_err(db)?,
        revoked_ms: row.get(8).map_err(db)?,
    })
}

fn api_key(conn: &Connection, id: &str) -> Result<Option<ApiKey>> {
    let mut stmt = conn
        .prepare_cached(&format!("{KEY_SELECT} WHERE id = ?1"))
        .map_err(db)?;
    let mut rows = stmt.query(params![id]).map_err(db)?;
    match rows.next().map_err(db)? {
        Some(row) => Ok(Some(key_from_row(row)?)),
        None => Ok(None),
    }
}

fn create_api_key(conn: &Connection, key: ApiKey) -> Result<ApiKey> {
    if api_key(conn, &key.id)?.is_some() {
        return Err(Error::AlreadyExists {
            what: "API key",
            id: key.id,
        });
    }
    workspace_exists(conn, &key.workspace)?;
    user_exists(conn, &key.user_id)?;
    conn.prepare_cached(
        "INSERT INTO api_keys (id, workspace, user_id, role, name, secret_hash, created_ms, \
         last_used_ms, revoked_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .map_err(db)?
    .execute(params![
        key.id,
        key.workspace,
        key.user_id,
        key.role.as_str(),
        key.name,
        key.secret_hash,
        key.created_ms,
        key.last_used_ms,
        key.revoked_ms,
    ])
    .map_err(db)?;
    Ok(key)
}

fn list_api_keys(conn: &Connection, workspace: &str) -> Result<Vec<ApiKey>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "{KEY_SELECT} WHERE workspace = ?1 ORDER BY created_ms DESC, id DESC"
        ))
        .map_err(db)?;
    let mut rows = stmt.query(params![workspace]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(key_from_row(row)?);
    }
    Ok(out)
}

fn revoke_api_key(conn: &Connection, workspace: &str, id: &str, now_ms: i64) -> Result<ApiKey> {
    let mut stmt = conn
        .prepare_cached(
            "UPDATE api_keys SET revoked_ms = coalesce(revoked_ms, ?3) \
             WHERE id = ?2 AND workspace = ?1 RETURNING id, workspace, user_id, role, name, \
             secret_hash, created_ms, last_used_ms, revoked_ms",
        )
        .map_err(db)?;
    let mut rows = stmt.query(params![workspace, id, now_ms]).map_err(db)?;
    match rows.next().map_err(db)? {
        Some(row) => key_from_row(row),
        None => Err(Error::not_found("API key", id)),
    }
}

fn touch_api_key(conn: &Connection, id: &str, now_ms: i64) -> Result<()> {
    conn.prepare_cached("UPDATE api_keys SET last_used_ms = ?2 WHERE id = ?1")
        .map_err(db)?
        .execute(params![id, now_ms])
        .map_err(db)?;
    Ok(())
}

// ----- sessions -----

fn create_session(conn: &Connection, session: &Session) -> Result<()> {
    user_exists(conn, &session.user_id)?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO sessions (id_hash, user_id, csrf_hash, created_ms, expires_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(db)?
        .execute(params![
            session.id_hash,
            session.user_id,
            session.csrf_hash,
            session.created_ms,
            session.expires_ms,
        ]);
    match inserted {
        Ok(_) => Ok(()),
        Err(err) if is_constraint(&err) => Err(Error::AlreadyExists {
            what: "session",
            id: session.id_hash.clone(),
        }),
        Err(err) => Err(db(err)),
    }
}

fn session(conn: &Connection, id_hash: &str, now_ms: i64) -> Result<Option<Session>> {
    conn.prepare_cached(
        "SELECT id_hash, user_id, csrf_hash, created_ms, expires_ms FROM sessions \
         WHERE id_hash = ?1 AND expires_ms > ?2",
    )
    .map_err(db)?
    .query_row(params![id_hash, now_ms], |row| {
        Ok(Session {
            id_hash: row.get(0)?,
            user_id: row.get(1)?,
            csrf_hash: row.get(2)?,
            created_ms: row.get(3)?,
            expires_ms: row.get(4)?,
        })
    })
    .optional()
    .map_err(db)
}

fn delete_session(conn: &Connection, id_hash: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE id_hash = ?1")
        .map_err(db)?
        .execute(params![id_hash])
        .map_err(db)?;
    Ok(())
}

fn delete_expired_sessions(conn: &Connection, now_ms: i64) -> Result<u64> {
    let deleted = conn
        .prepare_cached("DELETE FROM sessions WHERE expires_ms <= ?1")
        .map_err(db)?
        .execute(params![now_ms])
        .map_err(db)?;
    u64::try_from(deleted).map_err(|_| Error::Corrupt("deleted session count".to_owned()))
}

// ----- variables -----

fn set_var(
    conn: &Connection,
    workspace: &str,
    name: &str,
    encoded: &[u8],
    now_ms: i64,
) -> Result<()> {
    workspace_exists(conn, workspace)?;
    conn.prepare_cached(
        "INSERT INTO vars (workspace, name, value, updated_ms) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (workspace, name) DO UPDATE SET value = excluded.value, \
         updated_ms = excluded.updated_ms",
    )
    .map_err(db)?
    .execute(params![workspace, name, encoded, now_ms])
    .map_err(db)?;
    Ok(())
}

fn delete_var(conn: &Connection, workspace: &str, name: &str) -> Result<()> {
    let deleted = conn
        .prepare_cached("DELETE FROM vars WHERE workspace = ?1 AND name = ?2")
        .map_err(db)?
        .execute(params![workspace, name])
        .map_err(db)?;
    if deleted == 0 {
        return Err(Error::not_found("variable", name));
    }
    Ok(())
}

fn list_vars(conn: &Connection, workspace: &str) -> Result<Vec<Variable>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT name, value, updated_ms FROM vars WHERE workspace = ?1 ORDER BY name",
        )
        .map_err(db)?;
    let mut rows = stmt.query(params![workspace]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        let name: String = row.get(0).map_err(db)?;
        let value =
            row.get_ref(1).map_err(db)?.as_blob().map_err(|_| {
                Error::Corrupt(format!("variable `{name}`: the value is not a blob"))
            })?;
        out.push(Variable {
            value: decode_json(value)?,
            updated_ms: row.get(2).map_err(db)?,
            name,
        });
    }
    Ok(out)
}

// ----- credentials -----

/// Creates or replaces a credential; `true` when it was created.
fn put_credential(
    conn: &Connection,
    workspace: &str,
    name: &str,
    kind: &str,
    ciphertext: &[u8],
    now_ms: i64,
) -> Result<(CredentialInfo, bool)> {
    workspace_exists(conn, workspace)?;
    let existing: Option<i64> = conn
        .prepare_cached("SELECT created_ms FROM credentials WHERE workspace = ?1 AND name = ?2")
        .map_err(db)?
        .query_row(params![workspace, name], |row| row.get(0))
        .optional()
        .map_err(db)?;
    conn.prepare_cached(
        "INSERT INTO credentials (workspace, name, kind, ciphertext, created_ms, updated_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
         ON CONFLICT (workspace, name) DO UPDATE SET kind = excluded.kind, \
         ciphertext = excluded.ciphertext, updated_ms = excluded.updated_ms",
    )
    .map_err(db)?
    .execute(params![workspace, name, kind, ciphertext, now_ms])
    .map_err(db)?;
    let info = CredentialInfo {
        name: name.to_owned(),
        kind: kind.to_owned(),
        created_ms: existing.unwrap_or(now_ms),
        updated_ms: now_ms,
    };
    Ok((info, existing.is_none()))
}

fn credential(conn: &Connection, workspace: &str, name: &str) -> Result<Option<Credential>> {
    conn.prepare_cached(
        "SELECT kind, ciphertext, created_ms, updated_ms FROM credentials \
         WHERE workspace = ?1 AND name = ?2",
    )
    .map_err(db)?
    .query_row(params![workspace, name], |row| {
        Ok(Credential {
            name: name.to_owned(),
            kind: row.get(0)?,
            ciphertext: row.get(1)?,
            created_ms: row.get(2)?,
            updated_ms: row.get(3)?,
        })
    })
    .optional()
    .map_err(db)
}

fn list_credentials(conn: &Connection, workspace: &str) -> Result<Vec<CredentialInfo>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT name, kind, created_ms, updated_ms FROM credentials WHERE workspace = ?1 \
             ORDER BY name",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map(params![workspace], |row| {
            Ok(CredentialInfo {
                name: row.get(0)?,
                kind: row.get(1)?,
                created_ms: row.get(2)?,
                updated_ms: row.get(3)?,
            })
        })
        .map_err(db)?;
    rows.collect::<std::result::Result<_, _>>().map_err(db)
}

fn delete_credential(conn: &Connection, workspace: &str, name: &str) -> Result<()> {
    let deleted = conn
        .prepare_cached("DELETE FROM credentials WHERE workspace = ?1 AND name = ?2")
        .map_err(db)?
        .execute(params![workspace, name])
        .map_err(db)?;
    if deleted == 0 {
        return Err(Error::not_found("credential", name));
    }
    Ok(())
}

/// Drops expired deliveries, then records this one unless it is already there.
fn remember_webhook_delivery(
    conn: &Connection,
    workspace: &str,
    path: &str,
    delivery_id: &str,
    now_ms: i64,
    expires_ms: i64,
) -> Result<bool> {
    workspace_exists(conn, workspace)?;
    conn.prepare_cached("DELETE FROM webhook_deliveries WHERE expires_ms <= ?1")
        .map_err(db)?
        .execute(params![now_ms])
        .map_err(db)?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO webhook_deliveries (workspace, path, delivery_id, expires_ms) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )
        .map_err(db)?
        .execute(params![workspace, path, delivery_id, expires_ms])
        .map_err(db)?;
    Ok(inserted == 1)
}

impl Accounts for SqliteStore {
    fn create_user(&self, user: NewUser) -> BoxFuture<'_, Result<User>> {
        Box::pin(async move {
            let user = NewUser {
                email: normalize_email(&user.email),
                ..user
            };
            let id = new_uuid_v7(user.created_ms);
            self.write(move |conn| create_user(conn, id, user)).await
        })
    }

    fn user_by_email<'a>(&'a self, email: &'a str) -> BoxFuture<'a, Result<Option<User>>> {
        let email = normalize_email(email);
        Box::pin(self.read(move |conn| one_user(conn, "email", &email)))
    }

    fn user<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Option<User>>> {
        let user_id = user_id.to_owned();
        Box::pin(self.read(move |conn| one_user(conn, "id", &user_id)))
    }

    fn set_login_state<'a>(
        &'a self,
        user_id: &'a str,
        failed_logins: u32,
        locked_until_ms: Option<i64>,
    ) -> BoxFuture<'a, Result<()>> {
        let user_id = user_id.to_owned();
        Box::pin(
            self.write(move |conn| set_login_state(conn, &user_id, failed_logins, locked_until_ms)),
        )
    }

    fn set_password<'a>(
        &'a self,
        user_id: &'a str,
        password_hash: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        let (user_id, password_hash) = (user_id.to_owned(), password_hash.to_owned());
        Box::pin(self.write(move |conn| set_password(conn, &user_id, &password_hash)))
    }

    fn count_users(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.read(count_users))
    }

    fn set_member<'a>(
        &'a self,
        workspace: &'a str,
        user_id: &'a str,
        role: Role,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Member>> {
        let (workspace, user_id) = (workspace.to_owned(), user_id.to_owned());
        Box::pin(self.write(move |conn| set_member(conn, &workspace, &user_id, role, now_ms)))
    }

    fn remove_member<'a>(
        &'a self,
        workspace: &'a str,
        user_id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<()>> {
        let (workspace, user_id) = (workspace.to_owned(), user_id.to_owned());
        Box::pin(self.write(move |conn| remove_member(conn, &workspace, &user_id, now_ms)))
    }

    fn list_members<'a>(&'a self, workspace: &'a str) -> BoxFuture<'a, Result<Vec<Member>>> {
        let workspace = workspace.to_owned();
        Box::pin(self.read(move |conn| {
            members(
                conn,
                "WHERE m.workspace = ?1 ORDER BY u.email",
                &[workspace.as_str()],
            )
        }))
    }

    fn member<'a>(
        &'a self,
        workspace: &'a str,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Member>>> {
        let (workspace, user_id) = (workspace.to_owned(), user_id.to_owned());
        Box::pin(self.read(move |conn| member(conn, &workspace, &user_id)))
    }

    fn memberships<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<Member>>> {
        let user_id = user_id.to_owned();
        Box::pin(self.read(move |conn| {
            members(
                conn,
                "WHERE m.user_id = ?1 ORDER BY m.workspace",
                &[user_id.as_str()],
            )
        }))
    }

    fn create_api_key(&self, key: ApiKey) -> BoxFuture<'_, Result<ApiKey>> {
        Box::pin(async move {
            check_id("API key id", &key.id)?;
            self.write(move |conn| create_api_key(conn, key)).await
        })
    }

    fn api_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<ApiKey>>> {
        let id = id.to_owned();
        Box::pin(self.read(move |conn| api_key(conn, &id)))
    }

    fn list_api_keys<'a>(&'a self, workspace: &'a str) -> BoxFuture<'a, Result<Vec<ApiKey>>> {
        let workspace = workspace.to_owned();
        Box::pin(self.read(move |conn| list_api_keys(conn, &workspace)))
    }

    fn revoke_api_key<'a>(
        &'a self,
        workspace: &'a str,
        id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<ApiKey>> {
        let (workspace, id) = (workspace.to_owned(), id.to_owned());
        Box::pin(self.write(move |conn| revoke_api_key(conn, &workspace, &id, now_ms)))
    }

    fn touch_api_key<'a>(&'a self, id: &'a str, now_ms: i64) -> BoxFuture<'a, Result<()>> {
        let id = id.to_owned();
        Box::pin(self.write(move |conn| touch_api_key(conn, &id, now_ms)))
    }

    fn create_session(&self, session: Session) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.write(move |conn| create_session(conn, &session)))
    }

    fn session<'a>(
        &'a self,
        id_hash: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Session>>> {
        let id_hash = id_hash.to_owned();
        Box::pin(self.read(move |conn| session(conn, &id_hash, now_ms)))
    }

    fn delete_session<'a>(&'a self, id_hash: &'a str) -> BoxFuture<'a, Result<()>> {
        let id_hash = id_hash.to_owned();
        Box::pin(self.write(move |conn| delete_session(conn, &id_hash)))
    }

    fn delete_expired_sessions(&self, now_ms: i64) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.write(move |conn| delete_expired_sessions(conn, now_ms)))
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
            // Serialized and compressed here, so the writer thread only executes SQL.
            let encoded = encode_json(&value)?;
            let (workspace, owned_name) = (workspace.to_owned(), name.to_owned());
            self.write(move |conn| set_var(conn, &workspace, &owned_name, &encoded, now_ms))
                .await?;
            Ok(Variable {
                name: name.to_owned(),
                value,
                updated_ms: now_ms,
            })
        })
    }

    fn delete_var<'a>(&'a self, workspace: &'a str, name: &'a str) -> BoxFuture<'a, Result<()>> {
        let (workspace, name) = (workspace.to_owned(), name.to_owned());
        Box::pin(self.write(move |conn| delete_var(conn, &workspace, &name)))
    }

    fn list_vars<'a>(&'a self, workspace: &'a str) -> BoxFuture<'a, Result<Vec<Variable>>> {
        let workspace = workspace.to_owned();
        Box::pin(self.read(move |conn| list_vars(conn, &workspace)))
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
            let (workspace, name, kind) = (workspace.to_owned(), name.to_owned(), kind.to_owned());
            self.write(move |conn| {
                put_credential(conn, &workspace, &name, &kind, &ciphertext, now_ms)
            })
            .await
        })
    }

    fn credential<'a>(
        &'a self,
        workspace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Credential>>> {
        let (workspace, name) = (workspace.to_owned(), name.to_owned());
        Box::pin(self.read(move |conn| credential(conn, &workspace, &name)))
    }

    fn list_credentials<'a>(
        &'a self,
        workspace: &'a str,
    ) -> BoxFuture<'a, Result<Vec<CredentialInfo>>> {
        let workspace = workspace.to_owned();
        Box::pin(self.read(move |conn| list_credentials(conn, &workspace)))
    }

    fn delete_credential<'a>(
        &'a self,
        workspace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        let (workspace, name) = (workspace.to_owned(), name.to_owned());
        Box::pin(self.write(move |conn| delete_credential(conn, &workspace, &name)))
    }

    fn remember_webhook_delivery<'a>(
        &'a self,
        workspace: &'a str,
        path: &'a str,
        delivery_id: &'a str,
        now_ms: i64,
        expires_ms: i64,
    ) -> BoxFuture<'a, Result<bool>> {
        let (workspace, path, delivery_id) = (
            workspace.to_owned(),
            path.to_owned(),
            delivery_id.to_owned(),
        );
        Box::pin(self.write(move |conn| {
            remember_webhook_delivery(conn, &workspace, &path, &delivery_id, now_ms, expires_ms)
        }))
    }
}
