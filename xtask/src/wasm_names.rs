//! The function names a wasm module carries into wasm-opt, rewritten so that `wasm-opt
//! --reorder-functions-by-name` lays out trait methods by trait and method: every type's
//! `<T as Future>::poll` together, every `<T as Deserialize>::deserialize` together. Functions that
//! implement the same method for different types are alike, and gzip finds more of them inside its
//! 32 KB window (@rivulet/sdk: −5.8 KB gzipped against plain name order; BENCHMARKS.md). Only the name
//! section changes; the names are dropped when wasm-opt writes the module.

use anyhow::{Context, Result, bail};

/// `module` with each function name in its `name` section replaced by [`sort_key`]; a module
/// without one is returned as it is.
pub(crate) fn group_by_trait(module: &[u8]) -> Result<Vec<u8>> {
    if module.len() < 8 || &module[..4] != b"\0asm" {
        bail!("not a wasm module");
    }
    let mut out = module[..8].to_vec();
    let mut pos = 8;
    while pos < module.len() {
        let start = pos;
        let id = module[pos];
        pos += 1;
        let size = leb(module, &mut pos)? as usize;
        let end = pos.checked_add(size).filter(|&e| e <= module.len());
        let end = end.context("a section runs past the end of the module")?;
        if id == 0
            && let Some(body) = name_section(module, pos, end)?
        {
            let mut section = Vec::new();
            put_name(&mut section, "name");
            section.extend(rename_functions(&module[body..end])?);
            out.push(0);
            put_leb(&mut out, section.len());
            out.extend(section);
        } else {
            out.extend(&module[start..end]);
        }
        pos = end;
    }
    Ok(out)
}

/// Where the content of the custom section at `pos..end` starts, when it is the `name` section.
fn name_section(module: &[u8], mut pos: usize, end: usize) -> Result<Option<usize>> {
    let len = leb(module, &mut pos)? as usize;
    let name = module
        .get(pos..pos + len)
        .filter(|_| pos + len <= end)
        .context("a custom section's name runs past its end")?;
    Ok((name == b"name").then_some(pos + len))
}

/// The `name` section's subsections, the function names (subsection 1) rewritten.
fn rename_functions(section: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(section.len() * 2);
    let mut pos = 0;
    while pos < section.len() {
        let id = section[pos];
        pos += 1;
        let size = leb(section, &mut pos)? as usize;
        let body = section
            .get(pos..pos + size)
            .context("a name subsection runs past its section")?;
        out.push(id);
        if id == 1 {
            let renamed = rename_map(body)?;
            put_leb(&mut out, renamed.len());
            out.extend(renamed);
        } else {
            put_leb(&mut out, size);
            out.extend(body);
        }
        pos += size;
    }
    Ok(out)
}

/// A name map (count, then index and name pairs) with every name replaced by its sort key.
fn rename_map(map: &[u8]) -> Result<Vec<u8>> {
    let mut pos = 0;
    let count = leb(map, &mut pos)?;
    let mut out = Vec::with_capacity(map.len() * 2);
    put_leb(&mut out, count as usize);
    for _ in 0..count {
        let index = leb(map, &mut pos)?;
        let len = leb(map, &mut pos)? as usize;
        let name = map
            .get(pos..pos + len)
            .context("a function name runs past its subsection")?;
        pos += len;
        put_leb(&mut out, index as usize);
        put_name(&mut out, &sort_key(&String::from_utf8_lossy(name)));
    }
    Ok(out)
}

/// `<T as Trait>::method::h…` becomes `Trait|method|T|<the whole name>`; the closures of other
/// functions (async bodies among them) go together as `{{closure}}|<the whole name>` (−1.0 KB); other
/// names stay as they are. The whole name at the end keeps every key distinct.
pub(crate) fn sort_key(name: &str) -> String {
    let bare = strip_hash(name);
    let split = bare.strip_prefix('<').and_then(|rest| {
        let (ty, rest) = rest.split_once(" as ")?;
        let (tr, method) = rest.split_once(">::")?;
        Some((ty, tr, method))
    });
    match split {
        Some((ty, tr, method)) => format!("{tr}|{method}|{ty}|{name}"),
        None if bare.ends_with("{{closure}}") => format!("{{{{closure}}}}|{name}"),
        None => name.to_owned(),
    }
}

/// The name without rustc's `::h` and 16 hex digits at its end.
fn strip_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((bare, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            bare
        }
        _ => name,
    }
}

fn leb(bytes: &[u8], pos: &mut usize) -> Result<u32> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*pos).context("a number runs past the end")?;
        *pos += 1;
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    bail!("a number longer than 5 bytes")
}

fn put_leb(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    put_leb(out, name.len());
    out.extend(name.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module of a type section and a `name` section naming two functions and the module.
    fn module(names: &[(u32, &str)]) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend([1, 4, 1, 0x60, 0, 0]); // one type: () -> ()
        let mut map = Vec::new();
        put_leb(&mut map, names.len());
        for (i, n) in names {
            put_leb(&mut map, *i as usize);
            put_name(&mut map, n);
        }
        let mut section = Vec::new();
        put_name(&mut section, "name");
        section.extend([0, 2, 1, b'm']); // the module's name
        section.push(1);
        put_leb(&mut section, map.len());
        section.extend(map);
        m.push(0);
        put_leb(&mut m, section.len());
        m.extend(section);
        m
    }

    #[test]
    fn keys_group_trait_methods_by_trait_and_method() {
        assert_eq!(
            sort_key("<a::B as core::future::Future>::poll::h0123456789abcdef"),
            "core::future::Future|poll|a::B|<a::B as core::future::Future>::poll::h0123456789abcdef"
        );
        assert_eq!(
            sort_key("rivulet_client::Client::new::h0123456789abcdef"),
            "rivulet_client::Client::new::h0123456789abcdef"
        );
        assert_eq!(
            sort_key("<a::B as C>::d::hnothex"),
            "C|d::hnothex|a::B|<a::B as C>::d::hnothex"
        );
        assert_eq!(
            sort_key("a::f::{{closure}}::h0123456789abcdef"),
            "{{closure}}|a::f::{{closure}}::h0123456789abcdef"
        );
        assert_eq!(
            sort_key("<a::B as C>::d::{{closure}}"),
            "C|d::{{closure}}|a::B|<a::B as C>::d::{{closure}}"
        );
        let mut keys = [
            sort_key("<x::Z as serde::Deserialize>::deserialize::h0000000000000001"),
            sort_key("<x::A as core::future::Future>::poll::h0000000000000002"),
            sort_key("<x::B as serde::Deserialize>::deserialize::h0000000000000003"),
            sort_key("<x::Y as core::future::Future>::poll::h0000000000000004"),
        ];
        keys.sort();
        assert!(keys[0].contains("x::A") && keys[1].contains("x::Y"));
        assert!(keys[2].contains("x::B") && keys[3].contains("x::Z"));
    }

    #[test]
    fn only_the_function_names_change() {
        let before = module(&[(0, "<a::B as C>::d::h0123456789abcdef"), (7, "plain")]);
        let after = group_by_trait(&before).unwrap();
        let expected = module(&[
            (0, "C|d|a::B|<a::B as C>::d::h0123456789abcdef"),
            (7, "plain"),
        ]);
        assert_eq!(after, expected);
        // A module without a name section, or with nothing to rename, comes back as it was.
        let bare = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0".to_vec();
        assert_eq!(group_by_trait(&bare).unwrap(), bare);
        let plain = module(&[(1, "plain")]);
        assert_eq!(group_by_trait(&plain).unwrap(), plain);
    }

    #[test]
    fn truncated_modules_are_refused() {
        let m = module(&[(0, "<a::B as C>::d")]);
        for cut in [9, 12, m.len() - 3] {
            assert!(group_by_trait(&m[..cut]).is_err(), "cut at {cut}");
        }
        assert!(group_by_trait(b"not wasm").is_err());
    }
}
