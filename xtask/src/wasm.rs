//! Browser builds: the tools they need (wasm-bindgen-cli at the lock's version, Chromium), the npm package
//! `@rivulet/sdk` in `sdk/wasm/pkg`, and its size budget.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};

use crate::cmd::{output, run, step, target_dir};

/// The browsers' target.
pub(crate) const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Gzipped size the npm package's wasm must stay under: below @streamr/sdk's browser bundle (479.7 KB
/// gzipped, `exports-umd.min.js` of 103.3.2), with room for the JavaScript beside it. 469.3 KB on
/// 2026-12-07 (functions ordered by likeness, no float formatting; 557.8 KB before that day's work;
/// BENCHMARKS.md).
pub(crate) const SDK_GZIP_BUDGET: usize = 470 * 1024;

/// Gzipped size the marketplace dapp's wasm must stay under (595.8 KB on 2026-12-07).
pub(crate) const DAPP_GZIP_BUDGET: usize = 597 * 1024;

/// Builds the marketplace dapp into `marketplace-dapp/dist` (its `index.html` and `pkg/`); returns the
/// gzipped size of its wasm.
pub(crate) fn build_dapp(root: &Path) -> Result<usize> {
    let mut gz = 0;
    step("marketplace dapp (marketplace-dapp/dist)", || {
        let dist = root.join("marketplace-dapp/dist");
        gz = build_wasm_bindgen(
            root,
            "marketplace-dapp",
            ("marketplace-dapp", "marketplace_dapp"),
            &dist.join("pkg"),
            &["--target", "web"],
        )?;
        std::fs::copy(
            root.join("marketplace-dapp/index.html"),
            dist.join("index.html"),
        )
        .context("cannot copy the dapp's index.html")?;
        eprintln!("wasm: {:.1} KB gzipped", gz as f64 / 1024.0);
        Ok(())
    })?;
    Ok(gz)
}

/// The npm package's output folder.
pub(crate) fn sdk_pkg(root: &Path) -> PathBuf {
    root.join("sdk/wasm/pkg")
}

/// The wasm-bindgen version in Cargo.lock (the CLI must match it exactly).
fn locked_wasm_bindgen(root: &Path) -> Result<String> {
    let lock =
        std::fs::read_to_string(root.join("Cargo.lock")).context("cannot read Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\""
            && let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            return Ok(v.trim_end_matches('"').to_owned());
        }
    }
    bail!("wasm-bindgen is not in Cargo.lock")
}

/// Installs wasm-bindgen-cli at the lock's version (from crates.io), unless present.
pub(crate) fn setup_wasm_bindgen(root: &Path) -> Result<()> {
    step("wasm-bindgen-cli at the Cargo.lock version", || {
        let want = locked_wasm_bindgen(root)?;
        if let Ok(have) = output("wasm-bindgen", &["--version"])
            && have.split_whitespace().nth(1) == Some(want.as_str())
        {
            eprintln!("wasm-bindgen {want} already installed");
            return Ok(());
        }
        run(
            "cargo",
            &[
                "install",
                "wasm-bindgen-cli",
                "--version",
                &want,
                "--locked",
            ],
        )
    })
}

/// Installs Chromium and chromedriver (from Debian) for the browser tests, unless present.
pub(crate) fn setup_chromium() -> Result<()> {
    step("Chromium and chromedriver (headless browser tests)", || {
        if Path::new("/usr/bin/chromium").exists() && output("chromedriver", &["--version"]).is_ok()
        {
            eprintln!("chromium and chromedriver already installed");
            return Ok(());
        }
        if output("id", &["-u"])?.trim() != "0" {
            bail!(
                "Chromium is missing: run `sudo apt-get install -y chromium chromium-driver` (Debian) and try again"
            );
        }
        run("apt-get", &["update", "-qq"])?;
        run(
            "apt-get",
            &["install", "-y", "-qq", "chromium", "chromium-driver"],
        )
    })
}

/// Builds the npm package into `sdk/wasm/pkg`: cargo (wasm-release profile), wasm-bindgen, npm binaryen's
/// wasm-opt, then the hand-written JS entry points and types. Returns the gzipped size of the wasm.
pub(crate) fn build_sdk(root: &Path) -> Result<usize> {
    let mut gz = 0;
    step("npm package @rivulet/sdk (sdk/wasm/pkg)", || {
        gz = build_wasm_bindgen(
            root,
            "rivulet-wasm",
            ("rivulet_wasm", "rivulet_wasm"),
            &sdk_pkg(root),
            &["--target", "web"],
        )?;
        let js = root.join("sdk/wasm/js");
        for entry in std::fs::read_dir(&js)? {
            let entry = entry?;
            std::fs::copy(entry.path(), sdk_pkg(root).join(entry.file_name()))
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
        minify_js(root, &sdk_pkg(root))?;
        // What a browser loads besides the wasm: the entry point, the `Client` class and the glue.
        let mut js_gz = 0;
        for file in ["index.js", "client.js", "rivulet_wasm.js"] {
            js_gz += gzip_size(&sdk_pkg(root).join(file))?;
        }
        eprintln!(
            "wasm: {:.1} KB gzipped; the JavaScript a browser loads with it: {:.1} KB gzipped ({:.1} KB in all)",
            gz as f64 / 1024.0,
            js_gz as f64 / 1024.0,
            (gz + js_gz) as f64 / 1024.0
        );
        Ok(())
    })?;
    Ok(gz)
}

/// The package's JavaScript modules (every `.js` in `pkg`: ours and wasm-bindgen's glue), minified in
/// place by esbuild (from npm) as they are shipped: a page loads 8.4 KB of them gzipped instead of 11.9
/// (the package's wasm and JavaScript 477.7 KB in all, below @streamr/sdk's minified bundle). Names
/// are kept, so that a logged object still says `RivuletClient`; each module gets a source map
/// holding its readable source.
fn minify_js(root: &Path, pkg: &Path) -> Result<()> {
    let mut modules = Vec::new();
    for entry in std::fs::read_dir(pkg).with_context(|| format!("cannot read {}", pkg.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "js") {
            modules.push(path.to_str().context("non-UTF-8 path")?.to_owned());
        }
    }
    modules.sort();
    let esbuild = root.join("node_modules/.bin/esbuild");
    let outdir = format!("--outdir={}", pkg.to_str().context("non-UTF-8 path")?);
    let mut args: Vec<&str> = modules.iter().map(String::as_str).collect();
    args.extend([
        "--minify",
        "--keep-names",
        "--format=esm",
        "--sourcemap",
        "--allow-overwrite",
        "--log-level=warning",
        &outdir,
    ]);
    run(esbuild.to_str().context("non-UTF-8 path")?, &args)
}

/// cargo build → wasm-bindgen → wasm-opt (tuned, see below) → the functions ordered by likeness
/// ([`wasm_order`](crate::wasm_order)) for one crate (`artifact`: the wasm cargo writes, named after
/// the lib or bin; `out_name`: the name of the generated files); returns the gzipped size of the
/// final wasm.
pub(crate) fn build_wasm_bindgen(
    root: &Path,
    package: &str,
    (artifact, out_name): (&str, &str),
    out_dir: &Path,
    bindgen_args: &[&str],
) -> Result<usize> {
    run(
        "cargo",
        &[
            "build",
            "--locked",
            "-p",
            package,
            "--target",
            WASM_TARGET,
            "--profile",
            "wasm-release",
        ],
    )?;
    let wasm = target_dir(root)
        .join(WASM_TARGET)
        .join("wasm-release")
        .join(format!("{artifact}.wasm"));
    std::fs::create_dir_all(out_dir)?;
    let out = out_dir.to_str().context("non-UTF-8 path")?;
    run(
        "wasm-bindgen",
        &[
            bindgen_args,
            &[
                "--out-dir",
                out,
                "--out-name",
                out_name,
                wasm.to_str().context("non-UTF-8 path")?,
            ],
        ]
        .concat(),
    )?;
    let bg = out_dir.join(format!("{out_name}_bg.wasm"));
    let bg_str = bg.to_str().context("non-UTF-8 path")?;
    let wasm_opt = root.join("node_modules/.bin/wasm-opt");
    let wasm_opt = wasm_opt.to_str().context("non-UTF-8 path")?;
    run(
        wasm_opt,
        // The features come from the module's target_features section (kept: `strip = false`).
        // Tuned for the gzipped size, which is what a page downloads (@rivulet/sdk: 557.8 → 499.0
        // KB before sha2's compact rounds, the module itself 0.6 % larger; BENCHMARKS.md):
        // - `-ocimfs 10`: a function with one caller is inlined only when tiny (binaryen's default
        //   inlines it at any size). Small functions, such as the many copies of one generic, repeat
        //   byte for byte, where the same code inlined into large ones does not (−37 KB).
        // - `--converge`: the passes again while they still shrink the module (−1.7 KB, ~15 s).
        // - `--reorder-functions-by-name`: functions in the order of their names, not of their
        //   call counts; the next step starts from this order and keeps it among equals.
        &[
            "-Oz",
            "-ocimfs",
            "10",
            "--converge",
            "--reorder-functions-by-name",
            bg_str,
            "-o",
            bg_str,
        ],
    )?;
    // Then the functions in the order of their likeness ([`wasm_order`](crate::wasm_order), −11 KB):
    // named by their rank there and reordered by name, no other pass; the names are not written out.
    let module = std::fs::read(&bg).with_context(|| format!("cannot read {bg_str}"))?;
    let ranked = crate::wasm_order::name_by_likeness(&module)
        .with_context(|| format!("cannot read the functions in {bg_str}"))?;
    std::fs::write(&bg, ranked).with_context(|| format!("cannot write {bg_str}"))?;
    run(
        wasm_opt,
        &["--reorder-functions-by-name", bg_str, "-o", bg_str],
    )?;
    gzip_size(&bg)
}

/// The size of `path` after gzip -9.
pub(crate) fn gzip_size(path: &Path) -> Result<usize> {
    let out = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .context("cannot run gzip")?;
    if !out.status.success() {
        bail!("gzip failed on {}", path.display());
    }
    Ok(out.stdout.len())
}

/// Fails when the package's wasm is over budget; writes the figure for BENCHMARKS.md.
pub(crate) fn check_budget(name: &str, gz: usize, budget: usize) -> Result<()> {
    let line = format!(
        "{name}: {:.1} KB gzipped (budget {:.0} KB)",
        gz as f64 / 1024.0,
        budget as f64 / 1024.0
    );
    let _ = writeln!(std::io::stderr(), "{line}");
    if gz > budget {
        bail!("{line}: over budget; see which crates grew with `twiggy top`");
    }
    Ok(())
}
