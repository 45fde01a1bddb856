//! Runs the `rivulet-deploy` binary against real anvil chains.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::{path::Path, process::Command};

use rivulet_contracts::{Contracts, Deployment, Sender, U256, to_alloy};
use rivulet_deploy::dev::{Anvil, LOCAL_CHAIN_ID, anvil_binary, dev_key, is_listening};

fn deploy_cmd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rivulet-deploy"))
        .args(args)
        .env_remove("RIVULET_RPC_URL")
        .env_remove("RIVULET_DEPLOYMENT")
        .env_remove("RIVULET_DEPLOYER_KEY")
        .output()
        .unwrap()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rivulet-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn deploys_funds_writes_and_is_idempotent() {
    let anvil = Anvil::spawn(
        &anvil_binary(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap(),
        None,
        LOCAL_CHAIN_ID,
        None,
    )
    .unwrap();
    let dir = temp_dir("ok");
    let out = dir.join("deployment.json");
    let args = ["--rpc-url", &anvil.url(), "--out", out.to_str().unwrap()];
    let first = deploy_cmd(&args);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        String::from_utf8_lossy(&first.stdout).contains("funded 10 accounts with 1000000 DATA")
    );
    let deployment = Deployment::load(&out).unwrap();
    assert_eq!(deployment.chain_id, LOCAL_CHAIN_ID);
    let client = Contracts::connect_http(deployment.clone(), None, Sender::None)
        .await
        .unwrap();
    assert_eq!(
        client
            .balance(to_alloy(dev_key(9).address()))
            .await
            .unwrap(),
        U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(18u64))
    );

    // Again: the deployment is reused, the file unchanged.
    let second = deploy_cmd(&args);
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("already deployed"));
    assert_eq!(Deployment::load(&out).unwrap(), deployment);
    // Again with --fund: the deployment is kept and the account gets DATA and ETH for gas.
    let newcomer = "0x00000000000000000000000000000000000000aa";
    let funded = deploy_cmd(&[&args[..], &["--fund", newcomer, "--fund-amount", "5"]].concat());
    assert!(
        funded.status.success(),
        "{}",
        String::from_utf8_lossy(&funded.stderr)
    );
    assert_eq!(Deployment::load(&out).unwrap(), deployment);
    let newcomer: rivulet_contracts::Address = newcomer.parse().unwrap();
    assert_eq!(
        client.balance(newcomer).await.unwrap(),
        U256::from(5u64) * U256::from(10u64).pow(U256::from(18u64))
    );
    // --force deploys anew, at new addresses.
    let forced = deploy_cmd(&[&args[..], &["--force"]].concat());
    assert!(forced.status.success());
    assert_ne!(
        Deployment::load(&out).unwrap().marketplace,
        deployment.marketplace
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let dir = temp_dir("bad");
    let out = dir.join("d.json");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{closed}");
    let cases: [(&[&str], &str); 4] = [
        (
            &["--rpc-url", &url, "--out", out.to_str().unwrap()],
            "cannot reach the chain",
        ),
        (
            &[
                "--rpc-url",
                "http://10.1.2.3:8545",
                "--start-anvil",
                "--out",
                out.to_str().unwrap(),
            ],
            "needs a loopback --rpc-url",
        ),
        (
            &["--fund-amount", "0", "--out", out.to_str().unwrap()],
            "--fund-amount must be at least 1",
        ),
        (
            &["--fund", "0x1234", "--out", out.to_str().unwrap()],
            "invalid value '0x1234'",
        ),
    ];
    for (args, expected) in cases {
        let o = deploy_cmd(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert!(!out.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn starts_anvil_when_nothing_answers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = temp_dir("start");
    let out = dir.join("deployment.json");
    let o = Command::new(env!("CARGO_BIN_EXE_rivulet-deploy"))
        .args([
            "--start-anvil",
            "--rpc-url",
            &format!("http://127.0.0.1:{port}"),
            "--out",
            out.to_str().unwrap(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    // Stop the detached anvil however the test ends.
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("kill").arg(&self.0).status();
        }
    }
    let _kill =
        std::fs::read_to_string(dir.join("anvil.pid")).map(|pid| Kill(pid.trim().to_owned()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("started anvil"));
    assert!(is_listening(port), "anvil keeps running after the deploy");
    let deployment = Deployment::load(&out).unwrap();
    assert!(
        Contracts::connect_http(deployment, None, Sender::None)
            .await
            .is_ok()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
