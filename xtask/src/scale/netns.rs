//! The lab network of a scale run: one Linux bridge in the root namespace with a private /16, and one
//! network namespace per node slot joined to it by a veth pair. The harness (root namespace) reaches
//! every node at its address; anvil listens on the bridge's own address. Names carry the harness's
//! process id, so concurrent runs do not collide and leftovers of a run that was killed outright are
//! recognised and removed by the next one ([`sweep_orphans`]). Dropping a [`Lab`] removes everything
//! it made, whatever happened before.

use std::{
    io::Write,
    net::Ipv4Addr,
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};

use crate::cmd::output;

/// Every name a run uses starts with this, then its process id.
const PREFIX: &str = "rv";

/// A bridge and namespaces, removed when dropped.
pub(crate) struct Lab {
    /// Kernel settings changed for the run, with their values before, restored when dropped.
    restore: Vec<(&'static str, String)>,
    id: u32,
    /// The second octet of the lab's 10.x.0.0/16.
    octet: u8,
    slots: usize,
    made_bridge: bool,
    made_namespaces: usize,
}

impl Lab {
    /// Makes the bridge and `slots` namespaces.
    pub(crate) fn create(slots: usize) -> Result<Lab> {
        if slots > 60_000 {
            bail!("at most 60,000 nodes");
        }
        let id = std::process::id();
        let bridges = output("ip", &["-o", "link", "show", "type", "bridge"])?;
        if let Some(other) = link_names(&bridges)
            .filter_map(bridge_run)
            .find(|&pid| pid != id && alive(pid))
        {
            bail!(
                "another `cargo xtask scale` (process {other}) has its lab up; wait for it to end — \
                 two labs share the kernel's neighbour table and receive queue, whose limits the \
                 first to end restores under the other (its connections then time out)"
            );
        }
        let octet = free_octet()?;
        let mut lab = Lab {
            restore: raise_kernel_limits(slots),
            id,
            octet,
            slots,
            made_bridge: false,
            made_namespaces: 0,
        };
        let bridge = lab.bridge();
        let gateway = lab.gateway();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        lab.made_bridge = true;
        ip(&["addr", "add", &format!("{gateway}/16"), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        // Namespaces and veths in one batch in the root namespace, then each namespace's own
        // settings in one batch inside it.
        let mut batch = String::new();
        for i in 0..slots {
            batch += &format!("netns add {}\n", lab.namespace(i));
        }
        lab.made_namespaces = slots;
        batch_ip(None, &batch, false)?;
        let mut batch = String::new();
        for i in 0..slots {
            let (host, inner) = lab.veth(i);
            batch += &format!(
                "link add {host} type veth peer name {inner} netns {}\nlink set {host} master {bridge} up\n",
                lab.namespace(i)
            );
        }
        batch_ip(None, &batch, false)?;
        for i in 0..slots {
            let (_, inner) = lab.veth(i);
            let addr = lab.address(i);
            batch_ip(
                Some(&lab.namespace(i)),
                &format!("link set lo up\naddr add {addr}/16 dev {inner}\nlink set {inner} up\n"),
                false,
            )?;
        }
        Ok(lab)
    }

    /// The bridge's own address (the root namespace's, where the harness runs).
    fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.octet, 0, 1)
    }

    /// Slot `i`'s address.
    pub(crate) fn address(&self, i: usize) -> Ipv4Addr {
        let n = i + 2;
        Ipv4Addr::new(10, self.octet, (n / 256) as u8, (n % 256) as u8)
    }

    /// Slot `i`'s namespace.
    pub(crate) fn namespace(&self, i: usize) -> String {
        format!("{PREFIX}{}n{i}", self.id)
    }

    /// Slot `i`'s veth ends: (in the root namespace, in the slot's).
    fn veth(&self, i: usize) -> (String, String) {
        (
            format!("{PREFIX}{}h{i}", self.id),
            format!("{PREFIX}{}p{i}", self.id),
        )
    }

    fn bridge(&self) -> String {
        format!("{PREFIX}{}br", self.id)
    }

    /// Bytes slot `i` has received so far (its veth's peer in the root namespace sent them).
    pub(crate) fn received_bytes(&self, i: usize) -> u64 {
        let (host, _) = self.veth(i);
        std::fs::read_to_string(format!("/sys/class/net/{host}/statistics/tx_bytes"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Slot `i`'s links and addresses, and the root namespace's neighbour entry for it (for error
    /// messages).
    pub(crate) fn describe(&self, i: usize) -> String {
        let ns = self.namespace(i);
        let run = |args: &[&str]| output("ip", args).unwrap_or_else(|e| format!("{e:#}"));
        format!(
            "in {ns}: {} {}; neighbour: {}",
            run(&["-n", &ns, "-br", "link"]).replace('\n', ", "),
            run(&["-n", &ns, "-br", "addr"]).replace('\n', ", "),
            run(&["neigh", "show", "to", &self.address(i).to_string()]).trim()
        )
    }

    /// How many slots.
    pub(crate) fn slots(&self) -> usize {
        self.slots
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth end, and with it the peer on the bridge.
        let mut batch = String::new();
        for i in 0..self.made_namespaces {
            kill_namespace_processes(&self.namespace(i));
            batch += &format!("netns del {}\n", self.namespace(i));
        }
        if let Err(e) = batch_ip(None, &batch, true) {
            eprintln!("warning: removing the lab's namespaces: {e:#}");
        }
        // The kernel removes a namespace's veths once nothing holds it; a dying process may for a
        // while, so the ends on the bridge go explicitly (errors for those already gone ignored).
        let veths: String = (0..self.made_namespaces)
            .map(|i| format!("link del {}\n", self.veth(i).0))
            .collect();
        let _ = batch_ip(None, &veths, true);
        if self.made_bridge
            && let Err(e) = ip(&["link", "del", &self.bridge()])
        {
            eprintln!("warning: removing the lab's bridge: {e:#}");
        }
        for (path, before) in &self.restore {
            let _ = std::fs::write(path, before);
        }
    }
}

/// The kernel's neighbour (ARP) table is one table for every namespace, limited to `gc_thresh3`
/// entries in all (1,024 by default). A hundred namespaces whose nodes each talk to most others need
/// some ten thousand: past the limit the kernel refuses new entries ("neighbor table overflow"), and
/// connections between namespaces time out. The run raises the thresholds and restores them after.
const NEIGHBOUR_THRESHOLDS: [&str; 3] = [
    "/proc/sys/net/ipv4/neigh/default/gc_thresh1",
    "/proc/sys/net/ipv4/neigh/default/gc_thresh2",
    "/proc/sys/net/ipv4/neigh/default/gc_thresh3",
];

/// The kernel's per-CPU queue of received packets (1,000 by default): every packet between
/// namespaces passes through it (veth to bridge to veth), and a 100-node run at the default saw ten
/// thousand packets dropped for a full queue (lost SYNs, retransmissions in the latency figures).
const BACKLOG: &str = "/proc/sys/net/core/netdev_max_backlog";

/// Raises the neighbour table's thresholds to hold every pair of `slots` namespaces, and the receive
/// queue to 100,000 (no lower than they are); returns what to restore.
fn raise_kernel_limits(slots: usize) -> Vec<(&'static str, String)> {
    let pairs = (slots * slots) as u64;
    let mut restore = Vec::new();
    let wanted = NEIGHBOUR_THRESHOLDS
        .iter()
        .zip([pairs, 2 * pairs, 4 * pairs])
        .chain([(&BACKLOG, 100_000)]);
    for (path, want) in wanted {
        let Ok(before) = std::fs::read_to_string(path) else {
            continue;
        };
        if before.trim().parse::<u64>().is_ok_and(|b| b < want)
            && std::fs::write(path, want.to_string()).is_ok()
        {
            restore.push((*path, before.trim().to_owned()));
        }
    }
    restore
}

/// Received packets the kernel dropped because its per-CPU receive queue (`netdev_max_backlog`) was
/// full, over all CPUs (the second column of `/proc/net/softnet_stat`).
pub(crate) fn backlog_drops() -> u64 {
    std::fs::read_to_string("/proc/net/softnet_stat")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .sum()
}

/// Whether this process may make namespaces (root, with `ip netns` working); the reason if not.
pub(crate) fn unavailable() -> Option<String> {
    let uid = output("id", &["-u"]).unwrap_or_default();
    if uid.trim() != "0" {
        return Some("it needs root (network namespaces, veth links, cgroups)".into());
    }
    if let Err(e) = output("ip", &["netns", "list"]) {
        return Some(format!("`ip netns` does not work here: {e:#}"));
    }
    None
}

/// Removes the namespaces and bridges of runs whose harness is gone (killed with SIGKILL, say).
pub(crate) fn sweep_orphans() {
    let id_of = |name: &str, suffix_start: char| -> Option<u32> {
        let rest = name.strip_prefix(PREFIX)?;
        let end = rest.find(suffix_start)?;
        rest[..end].parse().ok()
    };
    let namespaces = output("ip", &["netns", "list"]).unwrap_or_default();
    for line in namespaces.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if let Some(id) = id_of(name, 'n')
            && !alive(id)
            && name.starts_with(&format!("{PREFIX}{id}n"))
        {
            eprintln!("removing namespace {name} left by an earlier run");
            kill_namespace_processes(name);
            let _ = ip(&["netns", "del", name]);
        }
    }
    // Bridges, and veth ends whose namespace went while something still held it.
    let links = output("ip", &["-o", "link", "show"]).unwrap_or_default();
    for name in link_names(&links) {
        let bridge = bridge_run(name);
        let veth = id_of(name, 'h').filter(|id| {
            name.strip_prefix(&format!("{PREFIX}{id}h"))
                .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
        });
        if let Some(id) = bridge.or(veth)
            && !alive(id)
        {
            eprintln!("removing {name} left by an earlier run");
            let _ = ip(&["link", "del", name]);
        }
    }
}

/// Kills whatever still runs in a namespace.
fn kill_namespace_processes(namespace: &str) {
    if let Ok(pids) = output("ip", &["netns", "pids", namespace]) {
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill")
                .args(["-9", pid])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Whether the run with process id `id` is still going.
fn alive(id: u32) -> bool {
    std::path::Path::new(&format!("/proc/{id}")).exists()
}

/// The interface names an `ip -o link show` listing holds (a veth's without its `@peer`).
fn link_names(listing: &str) -> impl Iterator<Item = &str> {
    listing.lines().map(|line| {
        let name = line.split(':').nth(1).unwrap_or("").trim();
        name.split('@').next().unwrap_or("")
    })
}

/// The process id of the run whose lab bridge `name` is (`rv<pid>br`).
fn bridge_run(name: &str) -> Option<u32> {
    let id: u32 = name
        .strip_prefix(PREFIX)?
        .strip_suffix("br")?
        .parse()
        .ok()?;
    (name == format!("{PREFIX}{id}br")).then_some(id)
}

/// A 10.x.0.0/16 no interface of the root namespace uses.
fn free_octet() -> Result<u8> {
    let used = output("ip", &["-4", "-o", "addr"])? + &output("ip", &["-4", "route"])?;
    let start = 100 + (std::process::id() % 100) as u8;
    (0..100u8)
        .map(|k| 100 + (start - 100 + k) % 100)
        .find(|o| !used.contains(&format!("10.{o}.")))
        .context("no free 10.x.0.0/16 for the lab network")
}

fn ip(args: &[&str]) -> Result<()> {
    output("ip", args).map(|_| ())
}

/// Runs `ip -batch -` (in `namespace`, if given) with `commands`, one per line; with `force`, on past
/// failing lines.
fn batch_ip(namespace: Option<&str>, commands: &str, force: bool) -> Result<()> {
    if commands.is_empty() {
        return Ok(());
    }
    let mut cmd = Command::new("ip");
    if let Some(ns) = namespace {
        cmd.args(["-n", ns]);
    }
    if force {
        cmd.arg("-force");
    }
    let mut child = cmd
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run ip")?;
    child
        .stdin
        .take()
        .context("ip has no stdin")?
        .write_all(commands.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "ip -batch failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_labs_up_are_named_by_their_runs_bridges() {
        let listed = "4: rv16796br: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP\n\
                      9: docker0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue\n\
                      12: rv22418br: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue\n\
                      13: rvxbr: <BROADCAST> mtu 1500\n";
        let runs: Vec<u32> = link_names(listed).filter_map(bridge_run).collect();
        assert_eq!(runs, [16796, 22418]);
        assert_eq!(link_names("").count(), 0);
        assert_eq!(bridge_run("rv+7br"), None);
        assert_eq!(
            link_names("7: rv7h3@if8: <BROADCAST> mtu 1500").next(),
            Some("rv7h3")
        );
    }
}
