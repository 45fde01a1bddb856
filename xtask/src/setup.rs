//! Installs, idempotent and quick when everything is present: the wasm32 target, the npm packages,
//! and for the tests wasm-bindgen-cli, Chromium and the Python packages.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::{
    cmd::{output, run, step, target_dir},
    wasm::{self, WASM_TARGET},
};

pub(crate) fn setup(root: &Path) -> Result<()> {
    step("wasm32 target", || {
        if output("rustup", &["target", "list", "--installed"])?
            .lines()
            .any(|l| l.trim() == WASM_TARGET)
        {
            eprintln!("{WASM_TARGET} already installed");
            return Ok(());
        }
        run("rustup", &["target", "add", WASM_TARGET])
    })?;
    step("npm packages", || {
        let node_major = output("node", &["--version"])
            .context("Node.js 20 or newer is needed (Debian: apt-get install nodejs npm)")?;
        let major: u32 = node_major
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .unwrap_or("0")
            .parse()?;
        if major < 20 {
            bail!("Node.js {} found; 20 or newer is needed", node_major.trim());
        }
        let lock = root.join("package-lock.json");
        let installed = root.join("node_modules/.package-lock.json");
        let fresh = match (std::fs::metadata(&lock), std::fs::metadata(&installed)) {
            (Ok(l), Ok(i)) => i.modified()? >= l.modified()?,
            _ => false,
        };
        if fresh {
            eprintln!("node_modules is up to date with package-lock.json");
            return Ok(());
        }
        run("npm", &["ci", "--no-audit", "--no-fund"])
    })
}

/// Everything the tests need: the base setup, wasm-bindgen-cli, Chromium and the Python packages.
pub(crate) fn setup_all(root: &Path) -> Result<()> {
    setup(root)?;
    wasm::setup_wasm_bindgen(root)?;
    wasm::setup_chromium()?;
    setup_python(root)
}

/// The venv (in the target directory) with the packages of `tests/python/requirements.txt`, from PyPI.
pub(crate) fn python_venv(root: &Path) -> PathBuf {
    target_dir(root).join("python")
}

pub(crate) fn setup_python(root: &Path) -> Result<()> {
    step("Python packages (tests/python/requirements.txt)", || {
        let venv = python_venv(root);
        let requirements = root.join("tests/python/requirements.txt");
        let wanted = std::fs::read_to_string(&requirements)?;
        let stamp = venv.join("rivulet-requirements.txt");
        if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
            eprintln!("{} is up to date", venv.display());
            return Ok(());
        }
        let venv_arg = venv.to_string_lossy().into_owned();
        run("python3", &["-m", "venv", &venv_arg]).context(
            "Python 3 with its venv module is needed (Debian: apt-get install python3-venv)",
        )?;
        run(
            &venv.join("bin/pip").to_string_lossy(),
            &[
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                &requirements.to_string_lossy(),
            ],
        )?;
        std::fs::write(&stamp, wanted)?;
        Ok(())
    })
}
