//! StreamRegistry: creation, metadata, permissions with expiry, public permissions, deletion.

use alloy::{primitives::Address, providers::Provider};
use rivulet_chain::{
    ChainError,
    bindings::StreamRegistry::{self, Permission},
};

use crate::anvil::{Chain, Mined, signer};

const EDIT: u8 = 0;
const DELETE: u8 = 1;
const PUBLISH: u8 = 2;
const SUBSCRIBE: u8 = 3;
const GRANT: u8 = 4;

async fn reverts<T>(
    f: impl std::future::IntoFuture<Output = Result<T, alloy::contract::Error>>,
) -> String {
    match f.await {
        Ok(_) => panic!("expected a revert"),
        Err(e) => match ChainError::contract(e) {
            ChainError::Revert { reason } => reason,
            other => panic!("expected a revert, got {other}"),
        },
    }
}

#[tokio::test]
async fn streams_and_permissions_follow_the_rules() {
    let chain = Chain::start().await;
    let owner = StreamRegistry::new(chain.deployment.stream_registry, chain.provider(1));
    let other = StreamRegistry::new(chain.deployment.stream_registry, chain.provider(2));
    let alice = signer(1).address();
    let bob = signer(2).address();
    let id = format!("{}/sensors/temp", format!("{alice:?}").to_lowercase());

    owner
        .createStream("sensors/temp".into(), r#"{"name":"t"}"#.into())
        .mined()
        .await;
    assert!(owner.exists(id.clone()).call().await.unwrap());
    assert_eq!(
        owner.getStreamMetadata(id.clone()).call().await.unwrap(),
        r#"{"name":"t"}"#
    );
    for kind in [EDIT, DELETE, PUBLISH, SUBSCRIBE, GRANT] {
        assert!(
            owner
                .hasPermission(id.clone(), alice, kind)
                .call()
                .await
                .unwrap()
        );
        assert!(
            !owner
                .hasPermission(id.clone(), bob, kind)
                .call()
                .await
                .unwrap()
        );
    }

    // Bad input and strangers are refused with the reason.
    assert!(
        reverts(
            owner
                .createStream("sensors/temp".into(), "{}".into())
                .send()
        )
        .await
        .starts_with("StreamExists")
    );
    for path in ["", "a//b", "a/", "../x", "a b"] {
        assert!(
            reverts(owner.createStream(path.into(), "{}".into()).send())
                .await
                .starts_with("InvalidPath"),
            "{path:?}"
        );
    }
    let long = "x".repeat(220);
    assert!(
        reverts(owner.createStream(long, "{}".into()).send())
            .await
            .starts_with("StreamIdTooLong")
    );
    assert!(
        reverts(other.updateStreamMetadata(id.clone(), "{}".into()).send())
            .await
            .starts_with("NoPermission")
    );
    assert!(
        reverts(other.grantPermission(id.clone(), bob, PUBLISH).send())
            .await
            .starts_with("NoPermission")
    );
    assert!(
        reverts(other.deleteStream(id.clone()).send())
            .await
            .starts_with("NoPermission")
    );
    assert!(
        reverts(owner.grantPublicPermission(id.clone(), GRANT).send())
            .await
            .starts_with("PublicPermissionNotAllowed")
    );
    assert!(
        reverts(owner.getStreamMetadata("0x00/none".into()).call())
            .await
            .starts_with("StreamNotFound")
    );

    // Publish with an expiry, to the second.
    let now = chain
        .provider(0)
        .get_block_by_number(Default::default())
        .await
        .unwrap()
        .unwrap()
        .header
        .timestamp;
    owner
        .setExpirationTime(id.clone(), bob, PUBLISH, now + 100)
        .mined()
        .await;
    assert!(
        owner
            .hasPermission(id.clone(), bob, PUBLISH)
            .call()
            .await
            .unwrap()
    );
    chain.advance(200).await;
    assert!(
        !owner
            .hasPermission(id.clone(), bob, PUBLISH)
            .call()
            .await
            .unwrap()
    );

    // Grant, then revoke; a user may renounce their own permission.
    owner.grantPermission(id.clone(), bob, EDIT).mined().await;
    other
        .updateStreamMetadata(id.clone(), r#"{"name":"u"}"#.into())
        .mined()
        .await;
    other.revokePermission(id.clone(), bob, EDIT).mined().await;
    assert!(
        !owner
            .hasPermission(id.clone(), bob, EDIT)
            .call()
            .await
            .unwrap()
    );

    // Public subscribe reaches everyone; batch set.
    owner
        .grantPublicPermission(id.clone(), SUBSCRIBE)
        .mined()
        .await;
    assert!(
        owner
            .hasPermission(id.clone(), Address::repeat_byte(9), SUBSCRIBE)
            .call()
            .await
            .unwrap()
    );
    assert!(
        !owner
            .hasDirectPermission(id.clone(), Address::repeat_byte(9), SUBSCRIBE)
            .call()
            .await
            .unwrap()
    );
    let carol = signer(3).address();
    let perm = Permission {
        canEdit: false,
        canDelete: false,
        publishExpiration: u64::MAX,
        subscribeExpiration: 0,
        canGrant: false,
    };
    owner
        .setPermissionsBatch(id.clone(), vec![bob, carol], vec![perm.clone(), perm])
        .mined()
        .await;
    assert!(
        owner
            .hasPermission(id.clone(), carol, PUBLISH)
            .call()
            .await
            .unwrap()
    );

    // Deleting removes the stream and its permissions; re-creating starts clean.
    owner.deleteStream(id.clone()).mined().await;
    assert!(!owner.exists(id.clone()).call().await.unwrap());
    assert!(
        !owner
            .hasPermission(id.clone(), carol, PUBLISH)
            .call()
            .await
            .unwrap()
    );
    owner
        .createStream("sensors/temp".into(), "{}".into())
        .mined()
        .await;
    assert!(
        !owner
            .hasPermission(id.clone(), carol, PUBLISH)
            .call()
            .await
            .unwrap()
    );
    assert!(
        !owner
            .hasPermission(id.clone(), Address::repeat_byte(9), SUBSCRIBE)
            .call()
            .await
            .unwrap()
    );
}
