//! Conformance cases for credentials and webhook deliveries on
//! [`Accounts`](crate::Accounts): sealed values are kept byte for byte and never listed, names
//! and kinds are checked, and everything is isolated by workspace.

use super::{Backend, Outcome, WS, ensure, ensure_eq, expect_kind};
use crate::{Credential, CredentialInfo, ErrorKind};

fn info(name: &str, kind: &str, created_ms: i64, updated_ms: i64) -> CredentialInfo {
    CredentialInfo {
        name: name.to_owned(),
        kind: kind.to_owned(),
        created_ms,
        updated_ms,
    }
}

/// Putting creates then replaces (keeping the creation instant); getting returns the sealed
/// bytes exactly; listing is by name without values; deleting twice is `NotFound`; bad names,
/// bad kinds and unknown workspaces are refused.
pub async fn credentials_put_get_list_delete(backend: &dyn Backend) -> Outcome {
    let (_store, accounts) = backend.fresh_accounts().await?;
    let sealed: Vec<u8> = (0..=255).collect();
    let (created, fresh) = accounts
        .put_credential(WS, "stripe-hook", "webhook_secret", sealed.clone(), 10)
        .await?;
    ensure!(fresh, "the first put creates");
    ensure_eq!(
        created,
        info("stripe-hook", "webhook_secret", 10, 10),
        "the created credential"
    );
    accounts
        .put_credential(WS, "api_token", "bearer_token", vec![1, 2, 3], 20)
        .await?;
    let (replaced, fresh) = accounts
        .put_credential(WS, "stripe-hook", "api_key", vec![9; 40], 30)
        .await?;
    ensure!(!fresh, "the second put replaces");
    ensure_eq!(
        replaced,
        info("stripe-hook", "api_key", 10, 30),
        "replacing keeps the creation instant"
    );
    ensure_eq!(
        accounts.credential(WS, "stripe-hook").await?,
        Some(Credential {
            name: "stripe-hook".to_owned(),
            kind: "api_key".to_owned(),
            ciphertext: vec![9; 40],
            created_ms: 10,
            updated_ms: 30,
        }),
        "the replaced credential with its sealed value"
    );
    accounts
        .put_credential(WS, "binary", "api_key", sealed.clone(), 31)
        .await?;
    ensure_eq!(
        accounts
            .credential(WS, "binary")
            .await?
            .map(|c| c.ciphertext),
        Some(sealed),
        "every byte value round-trips"
    );
    ensure_eq!(
        accounts.list_credentials(WS).await?,
        vec![
            info("api_token", "bearer_token", 20, 20),
            info("binary", "api_key", 31, 31),
            info("stripe-hook", "api_key", 10, 30),
        ],
        "credentials by name"
    );
    ensure_eq!(
        accounts.credential(WS, "never").await?,
        None,
        "an unknown credential"
    );

    let long = "c".repeat(65);
    for bad in ["", "Upper", "a b", "a.b", long.as_str()] {
        expect_kind(
            accounts
                .put_credential(WS, bad, "api_key", vec![1], 40)
                .await,
            ErrorKind::InvalidArgument,
            &format!("the credential name `{bad}`"),
        )?;
    }
    accounts
        .put_credential(WS, &"c".repeat(64), "api_key", vec![1], 40)
        .await?;
    for bad in ["", "a\nb"] {
        expect_kind(
            accounts.put_credential(WS, "ok", bad, vec![1], 40).await,
            ErrorKind::InvalidArgument,
            &format!("the credential kind {bad:?}"),
        )?;
    }
    expect_kind(
        accounts
            .put_credential("missing-ws", "x", "api_key", vec![1], 40)
            .await,
        ErrorKind::NotFound,
        "a credential of an unknown workspace",
    )?;

    accounts.delete_credential(WS, "api_token").await?;
    accounts.delete_credential(WS, &"c".repeat(64)).await?;
    ensure_eq!(
        accounts
            .list_credentials(WS)
            .await?
            .into_iter()
            .map(|c| c.name)
            .collect::<Vec<_>>(),
        vec!["binary", "stripe-hook"],
        "after deleting"
    );
    expect_kind(
        accounts.delete_credential(WS, "api_token").await,
        ErrorKind::NotFound,
        "deleting a credential twice",
    )?;
    expect_kind(
        accounts.delete_credential("missing-ws", "binary").await,
        ErrorKind::NotFound,
        "deleting in an unknown workspace",
    )?;
    Ok(())
}

/// Another workspace's credential is not found for get and delete and absent from its list;
/// the same name in two workspaces is two credentials.
pub async fn credentials_are_isolated_by_workspace(backend: &dyn Backend) -> Outcome {
    let (store, accounts) = backend.fresh_accounts().await?;
    store.create_workspace("other", 1).await?;
    accounts
        .put_credential(WS, "mine", "api_key", vec![1, 1], 10)
        .await?;
    accounts
        .put_credential("other", "theirs", "api_key", vec![2, 2], 11)
        .await?;
    ensure_eq!(
        accounts.credential("other", "mine").await?,
        None,
        "another workspace's credential"
    );
    ensure_eq!(
        accounts.list_credentials("other").await?,
        vec![info("theirs", "api_key", 11, 11)],
        "only the other workspace's credentials"
    );
    expect_kind(
        accounts.delete_credential("other", "mine").await,
        ErrorKind::NotFound,
        "deleting another workspace's credential",
    )?;
    let (_, fresh) = accounts
        .put_credential("other", "mine", "bearer_token", vec![3], 12)
        .await?;
    ensure!(
        fresh,
        "the same name in another workspace is a new credential"
    );
    ensure_eq!(
        accounts.credential(WS, "mine").await?.map(|c| c.ciphertext),
        Some(vec![1, 1]),
        "the first workspace's credential is untouched"
    );
    ensure_eq!(
        accounts
            .credential("other", "mine")
            .await?
            .map(|c| c.ciphertext),
        Some(vec![3]),
        "the other workspace's credential"
    );
    accounts.delete_credential("other", "mine").await?;
    ensure!(
        accounts.credential(WS, "mine").await?.is_some(),
        "deleting in one workspace leaves the other's"
    );
    Ok(())
}

/// A delivery id is accepted once per trigger until it expires; other triggers and other
/// workspaces have their own ids.
pub async fn webhook_deliveries_are_refused_when_replayed(backend: &dyn Backend) -> Outcome {
    let (store, accounts) = backend.fresh_accounts().await?;
    store.create_workspace("other", 1).await?;
    ensure!(
        accounts
            .remember_webhook_delivery(WS, "in/hook", "msg_1", 100, 1_000)
            .await?,
        "a new delivery"
    );
    ensure!(
        !accounts
            .remember_webhook_delivery(WS, "in/hook", "msg_1", 500, 1_500)
            .await?,
        "a replay before expiry"
    );
    ensure!(
        accounts
            .remember_webhook_delivery(WS, "in/other", "msg_1", 500, 1_500)
            .await?,
        "the same id on another trigger"
    );
    ensure!(
        accounts
            .remember_webhook_delivery("other", "in/hook", "msg_1", 500, 1_500)
            .await?,
        "the same id in another workspace"
    );
    ensure!(
        !accounts
            .remember_webhook_delivery(WS, "in/hook", "msg_1", 999, 2_000)
            .await?,
        "a replay just before expiry"
    );
    ensure!(
        accounts
            .remember_webhook_delivery(WS, "in/hook", "msg_1", 1_000, 2_000)
            .await?,
        "an expired id is new again"
    );
    ensure!(
        !accounts
            .remember_webhook_delivery(WS, "in/hook", "msg_1", 1_500, 3_000)
            .await?,
        "and is remembered again"
    );
    expect_kind(
        accounts
            .remember_webhook_delivery("missing-ws", "in/hook", "msg_1", 1, 2)
            .await,
        ErrorKind::NotFound,
        "a delivery to an unknown workspace",
    )?;
    Ok(())
}
