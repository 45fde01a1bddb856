//! CPU quotas per node for the linear-scaling figure: one cgroup per node under a group of the run,
//! with cgroup v2's `cpu.max` where the unified hierarchy has the cpu controller, else cgroup v1's
//! `cpu.cfs_quota_us`. Removed when dropped (after the processes in them are gone).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The quota period, µs.
const PERIOD_US: u64 = 100_000;

/// A run's cgroups.
pub(crate) struct CpuGroups {
    root: PathBuf,
    v2: bool,
    made: Vec<PathBuf>,
}

impl CpuGroups {
    /// A group for this run, if either hierarchy offers the cpu controller.
    pub(crate) fn create() -> Result<CpuGroups> {
        let name = format!("rivulet-scale-{}", std::process::id());
        let v2_root = Path::new("/sys/fs/cgroup");
        let v2 = std::fs::read_to_string(v2_root.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|x| x == "cpu"));
        let (root, v2) = if v2 {
            // Children get the cpu controller only if the parent hands it down.
            let _ = std::fs::write(v2_root.join("cgroup.subtree_control"), "+cpu");
            (v2_root.join(&name), true)
        } else if Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists() {
            (Path::new("/sys/fs/cgroup/cpu").join(&name), false)
        } else {
            bail!("no cgroup cpu controller (neither v2 cpu.max nor v1 cpu.cfs_quota_us)");
        };
        std::fs::create_dir(&root).with_context(|| format!("cannot create {}", root.display()))?;
        if v2 {
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+cpu");
        }
        Ok(CpuGroups {
            made: vec![root.clone()],
            root,
            v2,
        })
    }

    /// A child group limited to `cores` of CPU time; returns its path.
    pub(crate) fn group(&mut self, name: &str, cores: f64) -> Result<PathBuf> {
        let dir = self.root.join(name);
        if !dir.exists() {
            std::fs::create_dir(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            self.made.push(dir.clone());
        }
        let quota = ((cores * PERIOD_US as f64).round() as u64).max(1000);
        if self.v2 {
            std::fs::write(dir.join("cpu.max"), format!("{quota} {PERIOD_US}"))?;
        } else {
            std::fs::write(dir.join("cpu.cfs_period_us"), PERIOD_US.to_string())?;
            std::fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string())?;
        }
        Ok(dir)
    }

    /// Moves process `pid` (all its threads) into `group`.
    pub(crate) fn enter(group: &Path, pid: u32) -> Result<()> {
        std::fs::write(group.join("cgroup.procs"), pid.to_string())
            .with_context(|| format!("cannot move {pid} into {}", group.display()))
    }

    /// Which mechanism, for the report.
    pub(crate) fn kind(&self) -> &'static str {
        if self.v2 {
            "cgroup v2 cpu.max"
        } else {
            "cgroup v1 cpu.cfs_quota_us"
        }
    }
}

impl Drop for CpuGroups {
    fn drop(&mut self) {
        // Children first; a group can be removed once its processes are gone.
        for dir in self.made.iter().rev() {
            for _ in 0..20 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

/// Removes the groups of runs whose harness is gone.
pub(crate) fn sweep_orphans() {
    for parent in ["/sys/fs/cgroup", "/sys/fs/cgroup/cpu"] {
        let Ok(entries) = std::fs::read_dir(parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_prefix("rivulet-scale-") else {
                continue;
            };
            if Path::new(&format!("/proc/{id}")).exists() {
                continue;
            }
            if let Ok(children) = std::fs::read_dir(entry.path()) {
                for child in children.flatten() {
                    if child.path().is_dir() {
                        let _ = std::fs::remove_dir(child.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}
