//! Running programs for the chores: each step named and timed, commands echoed, failures with the
//! command that failed; scratch directories per run; children stopped when dropped, and what a child
//! uses (resident memory, CPU time) read from `/proc`.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    time::Instant,
};

use anyhow::{Context, Result, bail};

pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Runs a step, timing it; fails with the step's name.
pub(crate) fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("\n==> {name}");
    let start = Instant::now();
    let value = f().with_context(|| format!("step failed: {name}"))?;
    eprintln!("<== {name} ({:.1}s)", start.elapsed().as_secs_f64());
    Ok(value)
}

pub(crate) fn run(program: &str, args: &[&str]) -> Result<()> {
    run_env(program, args, &[])
}

pub(crate) fn run_env(program: &str, args: &[&str], env: &[(&str, &Path)]) -> Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {program}: is it installed and on PATH?"))?;
    if !status.success() {
        bail!("{program} {} exited with {status}", args.join(" "));
    }
    Ok(())
}

pub(crate) fn output(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot start {program}: is it installed and on PATH?"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command and returns its stdout.
pub(crate) fn capture(program: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot start {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed: {}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A scratch directory for this run only (runs sharing a target directory do not collide).
pub(crate) fn run_dir(root: &Path, name: &str) -> Result<PathBuf> {
    let dir = target_dir(root)
        .join("xtask")
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Stops a child process when dropped.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Process `pid`'s resident memory (`VmRSS`), KiB; `None` if it is gone.
pub(crate) fn process_rss_kib(pid: u32) -> Option<u64> {
    process_status_kib(pid, "VmRSS")
}

/// A KiB field of process `pid`'s `/proc/<pid>/status` (`VmRSS`, `RssAnon`, …); `None` if it is gone.
pub(crate) fn process_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time process `pid` has used (user + system), seconds; `None` if it is gone.
pub(crate) fn process_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): utime and stime are the 14th and 15th
    // overall, in 1/100 s.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Seconds of CPU time the whole machine has spent busy (every state but idle and I/O wait, summed
/// over its cores) since boot, from `/proc/stat`.
pub(crate) fn machine_busy_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Some(busy as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process_and_nothing_for_a_missing_one() {
        let me = std::process::id();
        assert!(super::process_rss_kib(me).is_some_and(|kib| kib > 0));
        assert!(super::process_cpu_secs(me).is_some_and(|s| s >= 0.0));
        // Above the kernel's largest pid (2^22).
        assert_eq!(super::process_rss_kib(u32::MAX), None);
        assert_eq!(super::process_cpu_secs(u32::MAX), None);
    }

    #[test]
    fn the_machine_has_been_busy_since_boot() {
        let a = super::machine_busy_secs().expect("/proc/stat");
        assert!(a > 0.0);
        assert!(super::machine_busy_secs().expect("/proc/stat") >= a);
    }
}
