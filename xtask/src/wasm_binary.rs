//! The few parts of the wasm binary format that xtask's build steps read and write: a module's
//! sections, unsigned LEB128 numbers and names. Everything else in a module is copied as it is.

use anyhow::{Context, Result, bail};

/// Where one section of a module lies: `module[start..end]` is all of it, `module[body..end]` its
/// content.
pub(crate) struct Section {
    /// The section id (0 for custom sections).
    pub(crate) id: u8,
    /// Where the section starts (its id).
    pub(crate) start: usize,
    /// Where its content starts, after the id and the size.
    pub(crate) body: usize,
    /// Where it ends.
    pub(crate) end: usize,
}

impl Section {
    /// Whether this is the `name` custom section.
    pub(crate) fn is_name_section(&self, module: &[u8]) -> bool {
        self.id == 0 && self.custom_name(module).is_ok_and(|name| name == b"name")
    }

    /// A custom section's name.
    fn custom_name<'m>(&self, module: &'m [u8]) -> Result<&'m [u8]> {
        let mut pos = self.body;
        let len = leb(module, &mut pos)? as usize;
        let name = module
            .get(pos..pos + len)
            .filter(|_| pos + len <= self.end)
            .context("a custom section's name runs past its end")?;
        Ok(name)
    }
}

/// The sections of a wasm module, in order; refuses what is not a module or runs past its end.
pub(crate) fn sections(module: &[u8]) -> Result<Vec<Section>> {
    if module.len() < 8 || &module[..4] != b"\0asm" {
        bail!("not a wasm module");
    }
    let mut sections = Vec::new();
    let mut pos = 8;
    while pos < module.len() {
        let start = pos;
        let id = module[pos];
        pos += 1;
        let size = leb(module, &mut pos)? as usize;
        let end = pos.checked_add(size).filter(|&e| e <= module.len());
        let end = end.context("a section runs past the end of the module")?;
        sections.push(Section {
            id,
            start,
            body: pos,
            end,
        });
        pos = end;
    }
    Ok(sections)
}

/// Reads an unsigned LEB128 number (at most 32 bits) at `pos` and moves past it.
pub(crate) fn leb(bytes: &[u8], pos: &mut usize) -> Result<u32> {
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

/// Appends `n` as unsigned LEB128.
pub(crate) fn put_leb(out: &mut Vec<u8>, mut n: usize) {
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

/// Appends a name as the binary format writes one: its length, then its UTF-8 bytes.
pub(crate) fn put_name(out: &mut Vec<u8>, name: &str) {
    put_leb(out, name.len());
    out.extend(name.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module of a type section and a `name` section naming function 0 `f`.
    fn module() -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend([1, 4, 1, 0x60, 0, 0]); // one type: () -> ()
        let mut section = Vec::new();
        put_name(&mut section, "name");
        section.extend([1, 4, 1, 0]); // function names: one, index 0,
        put_name(&mut section, "f"); // named f
        m.push(0);
        put_leb(&mut m, section.len());
        m.extend(section);
        m
    }

    #[test]
    fn sections_are_found_where_they_lie() {
        let m = module();
        let s = sections(&m).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].id, s[0].start, s[0].body, s[0].end), (1, 8, 10, 14));
        assert!(!s[0].is_name_section(&m));
        assert_eq!((s[1].id, s[1].start, s[1].end), (0, 14, m.len()));
        assert!(s[1].is_name_section(&m));
    }

    #[test]
    fn numbers_and_names_round_trip() {
        for n in [0, 1, 127, 128, 300, 16_383, 16_384, u32::MAX as usize] {
            let mut out = Vec::new();
            put_leb(&mut out, n);
            let mut pos = 0;
            assert_eq!(leb(&out, &mut pos).unwrap() as usize, n);
            assert_eq!(pos, out.len());
        }
        let mut pos = 0;
        assert!(leb(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], &mut pos).is_err());
        let mut out = Vec::new();
        put_name(&mut out, "name");
        assert_eq!(out, b"\x04name");
    }

    #[test]
    fn truncated_modules_are_refused() {
        let m = module();
        for cut in [9, 12, m.len() - 3] {
            assert!(sections(&m[..cut]).is_err(), "cut at {cut}");
        }
        assert!(sections(b"not wasm").is_err());
    }
}
