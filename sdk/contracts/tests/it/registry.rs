//! StreamRegistry: creation, metadata, permissions with expiry, public permissions, deletion — each
//! contract function called as generated from its ABI.

use rivulet_contracts::{
    Address, Chain,
    bindings::StreamRegistry::{self, Permission},
};

use crate::anvil::{TestChain, address, revert};

const EDIT: u8 = 0;
const DELETE: u8 = 1;
const PUBLISH: u8 = 2;
const SUBSCRIBE: u8 = 3;
const GRANT: u8 = 4;

/// The registry as one account sees it.
struct Registry {
    chain: Chain,
    at: Address,
}

impl Registry {
    async fn has(&self, id: &str, user: Address, kind: u8) -> bool {
        let call = StreamRegistry::hasPermissionCall {
            streamId: id.into(),
            user,
            kind,
        };
        self.chain.call(self.at, call).await.unwrap()
    }

    async fn has_direct(&self, id: &str, user: Address, kind: u8) -> bool {
        let call = StreamRegistry::hasDirectPermissionCall {
            streamId: id.into(),
            user,
            kind,
        };
        self.chain.call(self.at, call).await.unwrap()
    }

    async fn exists(&self, id: &str) -> bool {
        let call = StreamRegistry::existsCall {
            streamId: id.into(),
        };
        self.chain.call(self.at, call).await.unwrap()
    }

    /// Sends `call`; the name of the error it reverted with.
    async fn refused<C: rivulet_contracts::alloy_sol_types::SolCall + std::fmt::Debug>(
        &self,
        call: C,
    ) -> &'static str {
        revert(self.chain.send(self.at, call).await).name()
    }

    async fn send<C: rivulet_contracts::alloy_sol_types::SolCall>(&self, call: C) {
        self.chain.send(self.at, call).await.unwrap();
    }
}

fn create(path: &str, metadata: &str) -> StreamRegistry::createStreamCall {
    StreamRegistry::createStreamCall {
        path: path.into(),
        metadata: metadata.into(),
    }
}

#[tokio::test]
async fn streams_and_permissions_follow_the_rules() {
    let chain = TestChain::start().await;
    let at = chain.deployment.stream_registry;
    let owner = Registry {
        chain: chain.chain(1).await,
        at,
    };
    let other = Registry {
        chain: chain.chain(2).await,
        at,
    };
    let (alice, bob) = (address(1), address(2));
    let id = format!("{}/sensors/temp", format!("{alice:?}").to_lowercase());

    owner.send(create("sensors/temp", r#"{"name":"t"}"#)).await;
    assert!(owner.exists(&id).await);
    let metadata = owner
        .chain
        .call(
            at,
            StreamRegistry::getStreamMetadataCall {
                streamId: id.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(metadata, r#"{"name":"t"}"#);
    for kind in [EDIT, DELETE, PUBLISH, SUBSCRIBE, GRANT] {
        assert!(owner.has(&id, alice, kind).await);
        assert!(!owner.has(&id, bob, kind).await);
    }

    // Bad input and strangers are refused with the reason.
    assert_eq!(
        owner.refused(create("sensors/temp", "{}")).await,
        "StreamExists"
    );
    for path in ["", "a//b", "a/", "../x", "a b"] {
        assert_eq!(
            owner.refused(create(path, "{}")).await,
            "InvalidPath",
            "{path:?}"
        );
    }
    assert_eq!(
        owner.refused(create(&"x".repeat(220), "{}")).await,
        "StreamIdTooLong"
    );
    assert_eq!(
        other
            .refused(StreamRegistry::updateStreamMetadataCall {
                streamId: id.clone(),
                metadata: "{}".into(),
            })
            .await,
        "NoPermission"
    );
    let grant_bob = |kind| StreamRegistry::grantPermissionCall {
        streamId: id.clone(),
        user: bob,
        kind,
    };
    assert_eq!(other.refused(grant_bob(PUBLISH)).await, "NoPermission");
    assert_eq!(
        other
            .refused(StreamRegistry::deleteStreamCall {
                streamId: id.clone(),
            })
            .await,
        "NoPermission"
    );
    assert_eq!(
        owner
            .refused(StreamRegistry::grantPublicPermissionCall {
                streamId: id.clone(),
                kind: GRANT,
            })
            .await,
        "PublicPermissionNotAllowed"
    );
    let missing = owner
        .chain
        .call(
            at,
            StreamRegistry::getStreamMetadataCall {
                streamId: "0x00/none".into(),
            },
        )
        .await;
    assert_eq!(revert(missing).name(), "StreamNotFound");

    // Publish with an expiry, to the second.
    let now = owner.chain.chain_time().await.unwrap();
    owner
        .send(StreamRegistry::setExpirationTimeCall {
            streamId: id.clone(),
            user: bob,
            kind: PUBLISH,
            expiration: now + 100,
        })
        .await;
    assert!(owner.has(&id, bob, PUBLISH).await);
    chain.advance(200).await;
    assert!(!owner.has(&id, bob, PUBLISH).await);

    // Grant, then revoke; a user may renounce their own permission.
    owner.send(grant_bob(EDIT)).await;
    other
        .send(StreamRegistry::updateStreamMetadataCall {
            streamId: id.clone(),
            metadata: r#"{"name":"u"}"#.into(),
        })
        .await;
    other
        .send(StreamRegistry::revokePermissionCall {
            streamId: id.clone(),
            user: bob,
            kind: EDIT,
        })
        .await;
    assert!(!owner.has(&id, bob, EDIT).await);

    // Public subscribe reaches everyone; batch set.
    owner
        .send(StreamRegistry::grantPublicPermissionCall {
            streamId: id.clone(),
            kind: SUBSCRIBE,
        })
        .await;
    assert!(owner.has(&id, Address::repeat_byte(9), SUBSCRIBE).await);
    assert!(
        !owner
            .has_direct(&id, Address::repeat_byte(9), SUBSCRIBE)
            .await
    );
    let carol = address(3);
    let perm = Permission {
        canEdit: false,
        canDelete: false,
        publishExpiration: u64::MAX,
        subscribeExpiration: 0,
        canGrant: false,
    };
    owner
        .send(StreamRegistry::setPermissionsBatchCall {
            streamId: id.clone(),
            users: vec![bob, carol],
            perms: vec![perm.clone(), perm],
        })
        .await;
    assert!(owner.has(&id, carol, PUBLISH).await);

    // Deleting removes the stream and its permissions; re-creating starts clean.
    owner
        .send(StreamRegistry::deleteStreamCall {
            streamId: id.clone(),
        })
        .await;
    assert!(!owner.exists(&id).await);
    assert!(!owner.has(&id, carol, PUBLISH).await);
    owner.send(create("sensors/temp", "{}")).await;
    assert!(!owner.has(&id, carol, PUBLISH).await);
    assert!(!owner.has(&id, Address::repeat_byte(9), SUBSCRIBE).await);
}
