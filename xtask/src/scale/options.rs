//! The flags of `cargo xtask scale`.

use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The run's settings.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) quick: bool,
    pub(crate) nodes: usize,
    pub(crate) publish: Duration,
    pub(crate) release: bool,
    pub(crate) phases: bool,
    pub(crate) scaling: bool,
    pub(crate) sim: bool,
    pub(crate) keep: bool,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Options> {
        let quick = args.iter().any(|a| a == "--quick");
        let mut o = Options {
            quick,
            nodes: if quick { 20 } else { 100 },
            publish: Duration::from_secs(if quick { 20 } else { 60 }),
            release: !quick,
            phases: true,
            scaling: true,
            sim: true,
            keep: false,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .with_context(|| format!("{name} needs a value"))
                    .cloned()
            };
            match a.as_str() {
                "--quick" => {}
                "--nodes" => o.nodes = value("--nodes")?.parse().context("--nodes")?,
                "--publish-secs" => {
                    o.publish = Duration::from_secs(value("--publish-secs")?.parse()?)
                }
                "--release" => o.release = true,
                "--debug" => o.release = false,
                "--skip-phases" => o.phases = false,
                "--skip-scaling" => o.scaling = false,
                "--skip-sim" => o.sim = false,
                "--keep" => o.keep = true,
                other => bail!(
                    "unknown flag {other}; flags: --quick --nodes N --publish-secs S --release --debug --skip-phases --skip-scaling --skip-sim --keep"
                ),
            }
        }
        if o.nodes < 5 {
            bail!("--nodes must be at least 5");
        }
        if o.publish < Duration::from_secs(15) {
            // Churned nodes' subscribers must have data before they go, and again after.
            bail!("--publish-secs must be at least 15");
        }
        Ok(o)
    }
}
