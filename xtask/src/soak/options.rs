//! The soak's settings, from its flags.

use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Events per second the load publishes by default, chosen for these 2-core machines with the three
/// nodes, the chain and the load generator on them (the runs so far: BENCHMARKS.md, "Soak").
const DEFAULT_RATE: u32 = 2_000;

/// The run's settings.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(super) minutes: u64,
    pub(super) rate: u32,
    pub(super) kill_every: Duration,
    pub(super) down: Duration,
    pub(super) payload: usize,
    /// Between memory samples.
    pub(super) sample_every: Duration,
    pub(super) verify: bool,
    pub(super) keep: bool,
}

impl Options {
    /// The flags of `cargo xtask soak`.
    pub(super) fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options {
            minutes: 60,
            rate: DEFAULT_RATE,
            kill_every: Duration::from_secs(300),
            down: Duration::from_secs(10),
            payload: 200,
            sample_every: Duration::from_secs(10),
            verify: false,
            keep: false,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = |name: &str| -> Result<u64> {
                let v = it.next().with_context(|| format!("{name} needs a value"))?;
                v.parse()
                    .with_context(|| format!("{name} {v:?} is not a whole number"))
            };
            match flag.as_str() {
                "--minutes" => o.minutes = value("--minutes")?,
                "--rate" => o.rate = u32::try_from(value("--rate")?).context("--rate")?,
                "--kill-every-secs" => {
                    o.kill_every = Duration::from_secs(value("--kill-every-secs")?)
                }
                "--down-secs" => o.down = Duration::from_secs(value("--down-secs")?),
                "--payload" => o.payload = usize::try_from(value("--payload")?)?,
                "--sample-secs" => o.sample_every = Duration::from_secs(value("--sample-secs")?),
                "--verify" => o.verify = true,
                "--keep" => o.keep = true,
                other => bail!(
                    "unknown flag {other}; flags: --minutes N (60) --rate R ({DEFAULT_RATE}) --kill-every-secs S (300) --down-secs S (10) --payload BYTES (200) --sample-secs S (10) --verify --keep"
                ),
            }
        }
        if o.minutes == 0 || o.rate == 0 || o.kill_every.is_zero() || o.sample_every.is_zero() {
            bail!("--minutes, --rate, --kill-every-secs and --sample-secs must be at least 1");
        }
        if o.payload < 8 {
            bail!("--payload must be at least 8 (the event's index)");
        }
        Ok(o)
    }

    /// How long the load runs.
    pub(super) fn duration(&self) -> Duration {
        Duration::from_secs(self.minutes * 60)
    }
}
