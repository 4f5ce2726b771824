//! Conformance cases for [`Accounts`](crate::Accounts): users, workspace members with roles, API
//! keys, browser sessions and workspace variables, and their isolation by workspace. Each case
//! gets a store and its accounts over the same data from [`Backend::fresh_accounts`].

use serde_json::json;

use super::{Backend, Failure, Outcome, WS, ensure, ensure_eq, expect_kind, join_all};
use crate::{
    Accounts, ApiKey, BoxFuture, ErrorKind, Member, NewUser, Role, Session, User, Variable,
};

fn new_user(email: &str, created_ms: i64) -> NewUser {
    NewUser {
        email: email.to_owned(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${email}"),
        created_ms,
    }
}

fn key(id: &str, workspace: &str, user_id: &str, role: Role, created_ms: i64) -> ApiKey {
    ApiKey {
        id: id.to_owned(),
        workspace: workspace.to_owned(),
        user_id: user_id.to_owned(),
        role,
        name: format!("key {id}"),
        secret_hash: format!("{id:0>64}"),
        created_ms,
        last_used_ms: None,
        revoked_ms: None,
    }
}

fn session(id_hash: &str, user_id: &str, created_ms: i64, expires_ms: i64) -> Session {
    Session {
        id_hash: id_hash.to_owned(),
        user_id: user_id.to_owned(),
        csrf_hash: format!("csrf-{id_hash}"),
        created_ms,
        expires_ms,
    }
}

fn emails(members: &[Member]) -> Vec<String> {
    members.iter().map(|m| m.email.clone()).collect()
}

fn key_ids(keys: &[ApiKey]) -> Vec<String> {
    keys.iter().map(|k| k.id.clone()).collect()
}

fn var_names(vars: &[Variable]) -> Vec<String> {
    vars.iter().map(|v| v.name.clone()).collect()
}

/// The revocation instant of a key that must exist.
async fn revoked_ms(accounts: &dyn Accounts, id: &str) -> Result<Option<i64>, Failure> {
    match accounts.api_key(id).await? {
        Some(key) => Ok(key.revoked_ms),
        None => Err(Failure(format!("API key `{id}` has disappeared"))),
    }
}

/// Whether an id looks like a UUIDv7 in its hyphenated text form.
fn is_uuid_v7(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
        && bytes.get(14) == Some(&b'7')
}

/// Emails are unique case-insensitively and stored lowercased; users are found by email (in
/// any case) and by id; ids are distinct UUIDv7s; the users are counted.
pub async fn users_by_email_and_id(backend: &dyn Backend) -> Outcome {
    let (_store, accounts) = backend.fresh_accounts().await?;
    ensure_eq!(
        accounts.count_users().await?,
        0,
        "a fresh store has no users"
    );
    let alice = accounts
        .create_user(new_user("Alice@Example.COM", 10))
        .await?;
    ensure_eq!(alice.email, "alice@example.com", "the email is lowercased");
    ensure_eq!(
        alice.password_hash,
        new_user("Alice@Example.COM", 10).password_hash,
        "password hash"
    );
    ensure_eq!(alice.created_ms, 10, "created instant");
    ensure_eq!(
        (alice.failed_logins, alice.locked_until_ms),
        (0, None),
        "a new user has no failed sign-ins and no lock"
    );
    ensure!(
        is_uuid_v7(&alice.id),
        "a user id is a UUIDv7: `{}`",
        alice.id
    );
    for taken in [
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        "aLiCe@example.com",
    ] {
        expect_kind(
            accounts.create_user(new_user(taken, 11)).await,
            ErrorKind::AlreadyExists,
            &format!("creating `{taken}` again"),
        )?;
    }
    let bob = accounts
        .create_user(new_user("bob@example.com", 20))
        .await?;
    ensure!(
        is_uuid_v7(&bob.id) && bob.id != alice.id,
        "user ids are distinct UUIDv7s: `{}`, `{}`",
        alice.id,
        bob.id
    );
    ensure_eq!(
        accounts.count_users().await?,
        2,
        "two users (refused duplicates are not counted)"
    );

    for spelling in [
        "alice@example.com",
        "ALICE@example.com",
        "Alice@Example.COM",
    ] {
        ensure_eq!(
            accounts.user_by_email(spelling).await?,
            Some(alice.clone()),
            "looking up `{spelling}`"
        );
    }
    ensure_eq!(
        accounts.user_by_email("carol@example.com").await?,
        None,
        "an unknown email"
    );
    ensure_eq!(
        accounts.user(&alice.id).await?,
        Some(alice.clone()),
        "by id"
    );
    ensure_eq!(accounts.user(&bob.id).await?, Some(bob), "by id");
    ensure_eq!(accounts.user("no-such-user").await?, None, "an unknown id");
    Ok(())
}

/// Concurrent creations of one email (in different cases) leave exactly one user.
pub async fn concurrent_users_with_one_email(backend: &dyn Backend) -> Outcome {
    let (_store, accounts) = backend.fresh_accounts().await?;
    let spellings = ["dup@example.com", "DUP@example.com", "Dup@Example.com"];
    let futures: Vec<BoxFuture<'_, crate::Result<User>>> = spellings
        .iter()
        .map(|email| accounts.create_user(new_user(email, 1)))
        .collect();
    let results = join_all(futures).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    ensure_eq!(created, 1, "exactly one creation succeeds: {results:?}");
    for result in results {
        if let Err(err) = result {
            ensure_eq!(
                err.kind(),
                ErrorKind::AlreadyExists,
                "the others are refused as duplicates"
            );
        }
    }
    ensure_eq!(accounts.count_users().await?, 1, "one user");
    Ok(())
}

/// Sign-in state and password hashes round-trip; unknown users are not found.
pub async fn user_login_state_and_password(backend: &dyn Backend) -> Outcome {
    let (_store, accounts) = backend.fresh_accounts().await?;
    let user = accounts.create_user(new_user("amy@example.com", 5)).await?;
    let other = accounts.create_user(new_user("bob@example.com", 6)).await?;

    accounts.set_login_state(&user.id, 3, Some(9_000)).await?;
    let locked = User {
        failed_logins: 3,
        locked_until_ms: Some(9_000),
        ..user.clone()
    };
    ensure_eq!(
        accounts.user(&user.id).await?,
        Some(locked.clone()),
        "failures and lock recorded"
    );
    ensure_eq!(
        accounts.user_by_email("amy@example.com").await?,
        Some(locked),
        "seen by email too"
    );
    accounts.set_login_state(&user.id, u32::MAX, None).await?;
    ensure_eq!(
        accounts
            .user(&user.id)
            .await?
            .map(|u| (u.failed_logins, u.locked_until_ms)),
        Some((u32::MAX, None)),
        "the whole u32 range, and the lock lifted"
    );
    accounts.set_login_state(&user.id, 0, None).await?;

    accounts.set_password(&user.id, "$argon2id$new").await?;
    ensure_eq!(
        accounts.user(&user.id).await?,
        Some(User {
            password_hash: "$argon2id$new".to_owned(),
            ..user
        }),
        "the new password hash, nothing else changed"
    );
    ensure_eq!(
        accounts.user(&other.id).await?,
        Some(other),
        "another user is untouched"
    );

    expect_kind(
        accounts.set_login_state("no-such-user", 1, Some(1)).await,
        ErrorKind::NotFound,
        "sign-in state of an unknown user",
    )?;
    expect_kind(
        accounts.set_password("no-such-user", "$argon2id$x").await,
        ErrorKind::NotFound,
        "password of an unknown user",
    )?;
    ensure_eq!(accounts.count_users().await?, 2, "no user was created");
    Ok(())
}

/// Members are added and their role changed (keeping when they were added); listed by email;
/// a user's memberships by workspace; unknown workspaces and users are not found.
pub async fn members_and_roles(backend: &dyn Backend) -> Outcome {
    let (store, accounts) = backend.fresh_accounts().await?;
    store.create_workspace("b-team", 1).await?;
    store.create_workspace("a-team", 2).await?;
    // Created in the opposite order of their emails.
    let zed = accounts.create_user(new_user("zed@example.com", 1)).await?;
    let amy = accounts.create_user(new_user("amy@example.com", 2)).await?;
    let mia = accounts.create_user(new_user("mia@example.com", 3)).await?;

    let added = accounts.set_member(WS, &zed.id, Role::Editor, 100).await?;
    ensure_eq!(
        added,
        Member {
            workspace: WS.to_owned(),
            user_id: zed.id.clone(),
            email: "zed@example.com".to_owned(),
            role: Role::Editor,
            added_ms: 100,
        },
        "a new member"
    );
    accounts.set_member(WS, &mia.id, Role::Runner, 105).await?;
    accounts.set_member(WS, &amy.id, Role::Viewer, 110).await?;
    let changed = accounts.set_member(WS, &zed.id, Role::Owner, 200).await?;
    ensure_eq!(
        changed,
        Member {
            role: Role::Owner,
            ..added
        },
        "a role change keeps when the member was added"
    );
    ensure_eq!(
        accounts.member(WS, &zed.id).await?,
        Some(changed),
        "the member"
    );
    ensure_eq!(
        accounts.member(WS, "no-such-user").await?,
        None,
        "not a member"
    );
    let list = accounts.list_members(WS).await?;
    ensure_eq!(
        emails(&list),
        vec!["amy@example.com", "mia@example.com", "zed@example.com"],
        "members by email"
    );
    ensure_eq!(
        list.iter().map(|m| m.role).collect::<Vec<_>>(),
        vec![Role::Viewer, Role::Runner, Role::Owner],
        "their roles"
    );

    accounts
        .set_member("b-team", &zed.id, Role::Runner, 300)
        .await?;
    accounts
        .set_member("a-team", &zed.id, Role::Viewer, 310)
        .await?;
    let of_zed = accounts.memberships(&zed.id).await?;
    ensure_eq!(
        of_zed
            .iter()
            .map(|m| (m.workspace.as_str(), m.role, m.email.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("a-team", Role::Viewer, "zed@example.com"),
            ("b-team", Role::Runner, "zed@example.com"),
            (WS, Role::Owner, "zed@example.com"),
        ],
        "a user's memberships by workspace"
    );
    ensure_eq!(
        accounts.memberships(&amy.id).await?.len(),
        1,
        "amy's memberships"
    );
    ensure!(
        accounts.memberships("no-such-user").await?.is_empty(),
        "an unknown user belongs nowhere"
    );

    expect_kind(
        accounts
            .set_member("missing-ws", &amy.id, Role::Viewer, 400)
            .await,
        ErrorKind::NotFound,
        "a member of an unknown workspace",
    )?;
    expect_kind(
        accounts
            .set_member(WS, "no-such-user", Role::Viewer, 400)
            .await,
        ErrorKind::NotFound,
        "an unknown user as a member",
    )?;
    ensure_eq!(
        accounts.list_members(WS).await?.len(),
        3,
        "refused additions add nobody"
    );
    ensure!(
        accounts.list_members("missing-ws").await?.is_empty(),
        "an unknown workspace has no members"
    );
    Ok(())
}

/// Removing a member revokes its keys in that workspace only, keeps the first revocation of
/// a key revoked before, and ends nothing else; an absent membership is not found.
pub async fn removing_a_member_revokes_its_keys_there(backend: &dyn Backend) -> Outcome {
    let (store, accounts) = backend.fresh_accounts().await?;
    store.create_workspace("other", 1).await?;
    let amy = accounts.create_user(new_user("amy@example.com", 1)).await?;
    let bob = accounts.create_user(new_user("bob@example.com", 2)).await?;
    accounts.set_member(WS, &amy.id, Role::Editor, 10).await?;
    accounts
        .set_member("other", &amy.id, Role::Owner, 11)
        .await?;
    accounts.set_member(WS, &bob.id, Role::Viewer, 12).await?;
    accounts
        .create_api_key(key("amy-here", WS, &amy.id, Role::Editor, 20))
        .await?;
    accounts
        .create_api_key(key("amy-old", WS, &amy.id, Role::Runner, 21))
        .await?;
    accounts
        .create_api_key(key("amy-there", "other", &amy.id, Role::Owner, 22))
        .await?;
    accounts
        .create_api_key(key("bob-here", WS, &bob.id, Role::Viewer, 23))
        .await?;
    accounts.revoke_api_key(WS, "amy-old", 50).await?;
    accounts
        .create_session(session("amy-session", &amy.id, 30, 1_000_000))
        .await?;

    accounts.remove_member(WS, &amy.id, 1_000).await?;
    ensure_eq!(
        accounts.member(WS, &amy.id).await?,
        None,
        "the membership is gone"
    );
    ensure_eq!(
        emails(&accounts.list_members(WS).await?),
        vec!["bob@example.com"],
        "the remaining members"
    );
    ensure_eq!(
        revoked_ms(&*accounts, "amy-here").await?,
        Some(1_000),
        "the member's key in that workspace is revoked at the removal"
    );
    ensure_eq!(
        revoked_ms(&*accounts, "amy-old").await?,
        Some(50),
        "a key revoked before keeps its first revocation"
    );
    ensure_eq!(
        revoked_ms(&*accounts, "amy-there").await?,
        None,
        "the member's key in another workspace stays valid"
    );
    ensure_eq!(
        revoked_ms(&*accounts, "bob-here").await?,
        None,
        "another member's key stays valid"
    );
    ensure_eq!(
        key_ids(&accounts.list_api_keys(WS).await?),
        vec!["bob-here", "amy-old", "amy-here"],
        "revoked keys are still listed"
    );
    ensure!(
        accounts.member("other", &amy.id).await?.is_some(),
        "the membership of another workspace stays"
    );
    ensure!(accounts.user(&amy.id).await?.is_some(), "the user stays");
    ensure!(
        accounts.session("amy-session", 2_000).await?.is_some(),
        "the user's session stays"
    );

    expect_kind(
        accounts.remove_member(WS, &amy.id, 1_100).await,
        ErrorKind::NotFound,
        "removing a member twice",
    )?;
    expect_kind(
        accounts.remove_member("other", &bob.id, 1_100).await,
        ErrorKind::NotFound,
        "removing a user who is not a member there",
    )?;
    expect_kind(
        accounts.remove_member(WS, "no-such-user", 1_100).await,
        ErrorKind::NotFound,
        "removing an unknown user",
    )?;
    expect_kind(
        accounts.remove_member("missing-ws", &bob.id, 1_100).await,
        ErrorKind::NotFound,
        "removing from an unknown workspace",
    )?;
    ensure_eq!(
        revoked_ms(&*accounts, "bob-here").await?,
        None,
        "a refused removal revokes nothing"
    );
    ensure!(
        accounts.member(WS, &bob.id).await?.is_some(),
        "a refused removal removes nothing"
    );
    Ok(())
}

/// API keys are created once, found by id, listed newest first, revoked once (the first
/// instant stays) within their workspace only, and touched.
pub async fn api_keys(backend: &dyn Backend) -> Outcome {
    let (store, accounts) = backend.fresh_accounts().await?;
    store.create_workspace("other", 1).await?;
    let amy = accounts.create_user(new_user("amy@example.com", 1)).await?;
    accounts.set_member(WS, &amy.id, Role::Owner, 2).await?;
    let k1 = key("k1", WS, &amy.id, Role::Runner, 100);
    ensure_eq!(
        accounts.create_api_key(k1.clone()).await?,
        k1.clone(),
        "the created key"
    );
    accounts
        .create_api_key(key("k2", WS, &amy.id, Role::Viewer, 300))
        .await?;
    accounts
        .create_api_key(key("k3", WS, &amy.id, Role::Editor, 200))
        .await?;
    let elsewhere = key("ko", "other", &amy.id, Role::Owner, 400);
    accounts.create_api_key(elsewhere.clone()).await?;

    ensure_eq!(accounts.api_key("k1").await?, Some(k1.clone()), "by id");
    ensure_eq!(
        accounts.api_key("ko").await?,
        Some(elsewhere),
        "found by id whatever its workspace"
    );
    ensure_eq!(accounts.api_key("nope").await?, None, "an unknown id");
    ensure_eq!(
        key_ids(&accounts.list_api_keys(WS).await?),
        vec!["k2", "k3", "k1"],
        "a workspace's keys newest first"
    );

    expect_kind(
        accounts
            .create_api_key(key("k1", WS, &amy.id, Role::Viewer, 500))
            .await,
        ErrorKind::AlreadyExists,
        "a taken key id",
    )?;
    expect_kind(
        accounts
            .create_api_key(key("k1", "other", &amy.id, Role::Viewer, 500))
            .await,
        ErrorKind::AlreadyExists,
        "a key id taken in another workspace",
    )?;
    expect_kind(
        accounts
            .create_api_key(key("k9", "missing-ws", &amy.id, Role::Viewer, 500))
            .await,
        ErrorKind::NotFound,
        "a key in an unknown workspace",
    )?;
    expect_kind(
        accounts
            .create_api_key(key("k9", WS, "no-such-user", Role::Viewer, 500))
            .await,
        ErrorKind::NotFound,
        "a key of an unknown user",
    )?;
    ensure_eq!(
        accounts.api_key("k9").await?,
        None,
        "refused keys are not stored"
    );
    ensure_eq!(
        accounts.api_key("k1").await?,
        Some(k1.clone()),
        "a refused duplicate changes nothing"
    );

    accounts.touch_api_key("k1", 500).await?;
    ensure_eq!(
        accounts.api_key("k1").await?.and_then(|k| k.last_used_ms),
        Some(500),
        "last use recorded"
    );
    accounts.touch_api_key("k1", 600).await?;
    ensure_eq!(
        accounts.api_key("k1").await?.and_then(|k| k.last_used_ms),
        Some(600),
        "last use updated"
    );
    accounts.touch_api_key("nope", 700).await?;
    ensure_eq!(
        accounts.api_key("nope").await?,
        None,
        "touching an unknown key creates nothing"
    );

    let revoked = accounts.revoke_api_key(WS, "k1", 800).await?;
    ensure_eq!(
        revoked,
        ApiKey {
            last_used_ms: Some(600),
            revoked_ms: Some(800),
            ..k1.clone()
        },
        "the revoked key"
    );
    let again = accounts.revoke_api_key(WS, "k1", 900).await?;
    ensure_eq!(
        again.revoked_ms,
        Some(800),
        "revoking twice keeps the first instant"
    );
    ensure_eq!(
        accounts.api_key("k1").await?,
        Some(revoked),
        "a revoked key is still found"
    );

    expect_kind(
        accounts.revoke_api_key(WS, "ko", 1_000).await,
        ErrorKind::NotFound,
        "revoking another workspace's key",
    )?;
    ensure_eq!(
        revoked_ms(&*accounts, "ko").await?,
        None,
        "a cross-workspace revocation revokes nothing"
    );
    expect_kind(
        accounts.revoke_api_key(WS, "nope", 1_000).await,
        ErrorKind::NotFound,
        "revoking an unknown key",
    )?;
    expect_kind(
        accounts.revoke_api_key("missing-ws", "k2", 1_000).await,
        ErrorKind::NotFound,
        "revoking in an unknown workspace",
    )?;
    ensure_eq!(revoked_ms(&*accounts, "k2").await?, None, "k2 stays valid");
    Ok(())
}

/// Sessions belong to known users, are valid strictly before they expire, and are deleted
/// one by one or all expired ones at once.
pub async fn sessions_expire_and_are_deleted(backend: &dyn Backend) -> Outcome {
    let (_store, accounts) = backend.fresh_accounts().await?;
    let amy = accounts.create_user(new_user("amy@example.com", 1)).await?;
    let s1 = session("s1", &amy.id, 100, 1_000);
    accounts.create_session(s1.clone()).await?;
    accounts
        .create_session(session("s2", &amy.id, 100, 2_000))
        .await?;
    accounts
        .create_session(session("s3", &amy.id, 100, 3_000))
        .await?;
    accounts
        .create_session(session("s4", &amy.id, 100, 5_000))
        .await?;
    expect_kind(
        accounts
            .create_session(session("s5", "no-such-user", 100, 5_000))
            .await,
        ErrorKind::NotFound,
        "a session of an unknown user",
    )?;
    ensure_eq!(
        accounts.session("s5", 0).await?,
        None,
        "a refused session is not stored"
    );

    ensure_eq!(
        accounts.session("s1", 999).await?,
        Some(s1.clone()),
        "valid before it expires"
    );
    ensure_eq!(
        accounts.session("s1", 1_000).await?,
        None,
        "expired at its expiry instant"
    );
    ensure_eq!(
        accounts.session("s1", 500).await?,
        Some(s1),
        "reading an expired session does not delete it"
    );
    ensure_eq!(
        accounts.session("nope", 0).await?,
        None,
        "an unknown session"
    );

    accounts.delete_session("s3").await?;
    ensure_eq!(accounts.session("s3", 0).await?, None, "a deleted session");
    accounts.delete_session("s3").await?;
    accounts.delete_session("nope").await?;

    ensure_eq!(
        accounts.delete_expired_sessions(2_000).await?,
        2,
        "the sessions expired at 2000 (s1 and s2)"
    );
    ensure_eq!(
        accounts.session("s1", 0).await?,
        None,
        "expired sessions are deleted"
    );
    ensure_eq!(
        accounts.session("s2", 0).await?,
        None,
        "expired sessions are deleted"
    );
    ensure_eq!(
        accounts.session("s4", 2_000).await?.map(|s| s.expires_ms),
        Some(5_000),
        "a live session stays"
    );
    ensure_eq!(
        accounts.delete_expired_sessions(2_000).await?,
        0,
        "nothing more to delete"
    );
    Ok(())
}

/// Variables are created, replaced, listed by name and deleted; bad names and unknown
/// workspaces are refused.
pub async fn variables_set_list_delete(backend: &dyn Backend) -> Outcome {
    let (_store, accounts) = backend.fresh_accounts().await?;
    let set = accounts.set_var(WS, "zone", json!("eu-west"), 10).await?;
    ensure_eq!(
        set,
        Variable {
            name: "zone".to_owned(),
            value: json!("eu-west"),
            updated_ms: 10,
        },
        "the set variable"
    );
    accounts
        .set_var(WS, "api_base", json!("https://a"), 20)
        .await?;
    accounts.set_var(WS, "retries", json!(3), 30).await?;
    let replaced = accounts
        .set_var(WS, "api_base", json!({ "url": "https://b" }), 40)
        .await?;
    ensure_eq!(replaced.updated_ms, 40, "replacing sets the update instant");
    ensure_eq!(
        accounts.list_vars(WS).await?,
        vec![
            Variable {
                name: "api_base".to_owned(),
                value: json!({ "url": "https://b" }),
                updated_ms: 40,
            },
            Variable {
                name: "retries".to_owned(),
                value: json!(3),
                updated_ms: 30,
            },
            Variable {
                name: "zone".to_owned(),
                value: json!("eu-west"),
                updated_ms: 10,
            },
        ],
        "variables by name, the replaced one once"
    );

    let long = "v".repeat(129);
    for bad in ["", "2x", "a-b", "a b", "vars.x", long.as_str()] {
        expect_kind(
            accounts.set_var(WS, bad, json!(1), 50).await,
            ErrorKind::InvalidArgument,
            &format!("the variable name `{bad}`"),
        )?;
    }
    accounts.set_var(WS, &"v".repeat(128), json!(1), 50).await?;
    expect_kind(
        accounts.set_var("missing-ws", "x", json!(1), 50).await,
        ErrorKind::NotFound,
        "a variable of an unknown workspace",
    )?;
    ensure!(
        accounts.list_vars("missing-ws").await?.is_empty(),
        "an unknown workspace has no variables"
    );

    accounts.delete_var(WS, "retries").await?;
    accounts.delete_var(WS, &"v".repeat(128)).await?;
    ensure_eq!(
        var_names(&accounts.list_vars(WS).await?),
        vec!["api_base", "zone"],
        "after deleting"
    );
    expect_kind(
        accounts.delete_var(WS, "retries").await,
        ErrorKind::NotFound,
        "deleting a variable twice",
    )?;
    expect_kind(
        accounts.delete_var(WS, "never").await,
        ErrorKind::NotFound,
        "deleting an unknown variable",
    )?;
    expect_kind(
        accounts.delete_var("missing-ws", "zone").await,
        ErrorKind::NotFound,
        "deleting in an unknown workspace",
    )?;
    Ok(())
}

/// Any JSON value round-trips as a variable, small or large (over the 4 KiB compression
/// threshold, compressible or not), and replacing switches between the two.
pub async fn variable_values_round_trip(backend: &dyn Backend) -> Outcome {
    let (_store, accounts) = backend.fresh_accounts().await?;
    let mut noise: u32 = 0x1234_5678;
    let incompressible: String = (0..6_000)
        .map(|_| {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            char::from(b'!' + u8::try_from(noise % 90).unwrap_or(0))
        })
        .collect();
    let many_keys: serde_json::Map<String, serde_json::Value> = (0..500)
        .map(|i| (format!("key_{i:04}"), json!({ "i": i, "even": i % 2 == 0 })))
        .collect();
    let values = vec![
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1.5),
        json!(-0.25e-10),
        json!(""),
        json!("é ✓ 日本 \u{1F600} \"quoted\" \\ \n\t\u{0}"),
        json!([]),
        json!({}),
        json!([1, "two", [3, [4, { "five": null }]], { "a": { "b": { "c": [] } } }]),
        json!("repeat me ".repeat(2_000)),
        json!(incompressible),
        serde_json::Value::Object(many_keys),
    ];
    for (i, value) in values.iter().enumerate() {
        let name = format!("v{i:02}");
        let set = accounts.set_var(WS, &name, value.clone(), 1).await?;
        ensure_eq!(&set.value, value, "the returned value of `{name}`");
    }
    let listed = accounts.list_vars(WS).await?;
    ensure_eq!(listed.len(), values.len(), "every variable is listed");
    for (var, value) in listed.iter().zip(&values) {
        ensure_eq!(&var.value, value, "the stored value of `{}`", var.name);
    }

    // Large to small and back.
    accounts.set_var(WS, "v14", json!("small"), 2).await?;
    accounts
        .set_var(WS, "v00", json!({ "big": "x".repeat(10_000) }), 2)
        .await?;
    let listed = accounts.list_vars(WS).await?;
    let find = |name: &str| {
        listed
            .iter()
            .find(|v| v.name == name)
            .map(|v| (v.value.clone(), v.updated_ms))
    };
    ensure_eq!(
        find("v14"),
        Some((json!("small"), 2)),
        "a large value replaced by a small one"
    );
    ensure_eq!(
        find("v00"),
        Some((json!({ "big": "x".repeat(10_000) }), 2)),
        "a small value replaced by a large one"
    );
    Ok(())
}

/// Another workspace's members, keys and variables are invisible and untouchable.
pub async fn accounts_are_isolated_by_workspace(backend: &dyn Backend) -> Outcome {
    let (store, accounts) = backend.fresh_accounts().await?;
    store.create_workspace("other", 1).await?;
    let amy = accounts.create_user(new_user("amy@example.com", 1)).await?;
    let bob = accounts.create_user(new_user("bob@example.com", 2)).await?;
    accounts.set_member(WS, &amy.id, Role::Owner, 10).await?;
    accounts
        .set_member("other", &bob.id, Role::Owner, 11)
        .await?;
    accounts
        .create_api_key(key("amy-key", WS, &amy.id, Role::Owner, 20))
        .await?;
    accounts
        .create_api_key(key("bob-key", "other", &bob.id, Role::Owner, 21))
        .await?;
    accounts
        .set_var(WS, "secret_zone", json!("mine"), 30)
        .await?;
    accounts.set_var("other", "theirs", json!(1), 31).await?;

    ensure_eq!(
        emails(&accounts.list_members("other").await?),
        vec!["bob@example.com"],
        "only the other workspace's members"
    );
    ensure_eq!(
        accounts.member("other", &amy.id).await?,
        None,
        "a member of another workspace"
    );
    ensure_eq!(
        key_ids(&accounts.list_api_keys("other").await?),
        vec!["bob-key"],
        "only the other workspace's keys"
    );
    ensure_eq!(
        var_names(&accounts.list_vars("other").await?),
        vec!["theirs"],
        "only the other workspace's variables"
    );
    expect_kind(
        accounts.delete_var("other", "secret_zone").await,
        ErrorKind::NotFound,
        "deleting another workspace's variable",
    )?;
    expect_kind(
        accounts.revoke_api_key("other", "amy-key", 40).await,
        ErrorKind::NotFound,
        "revoking another workspace's key",
    )?;
    expect_kind(
        accounts.remove_member("other", &amy.id, 40).await,
        ErrorKind::NotFound,
        "removing another workspace's member",
    )?;
    // The same name in another workspace is another variable.
    accounts
        .set_var("other", "secret_zone", json!("theirs"), 50)
        .await?;
    ensure_eq!(
        accounts
            .list_vars(WS)
            .await?
            .into_iter()
            .map(|v| (v.name, v.value, v.updated_ms))
            .collect::<Vec<_>>(),
        vec![("secret_zone".to_owned(), json!("mine"), 30)],
        "this workspace's variable is untouched"
    );
    ensure_eq!(
        revoked_ms(&*accounts, "amy-key").await?,
        None,
        "this workspace's key is untouched"
    );
    ensure!(
        accounts.member(WS, &amy.id).await?.is_some(),
        "this workspace's member is untouched"
    );
    Ok(())
}
