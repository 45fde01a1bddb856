//! The order of an optimised wasm module's functions, chosen by likeness: each function is followed by
//! the one that deflate compresses best after the functions placed before it, among those most alike
//! by a MinHash sketch of their 4-byte windows. gzip looks back 32 KB, so every body then finds more of
//! itself in the ones just before it (@rivulet/sdk: 488.3 → 477.6 KB gzipped against the order of
//! names; BENCHMARKS.md). The order is handed to `wasm-opt --reorder-functions-by-name` as a `name`
//! section naming every function by its rank; wasm-opt drops the names when it writes the module.

use std::collections::VecDeque;

use anyhow::{Context, Result, bail};
use flate2::{Compress, Compression, FlushCompress};

use crate::{
    scale::latency::Rng,
    wasm_binary::{leb, put_leb, put_name, sections},
};

/// Hash functions per sketch: more estimate likeness better and take longer (with 256 the package
/// was 0.8 KB larger).
const SKETCH: usize = 512;
/// How many of the last placed functions a candidate's sketch is compared with (its best match
/// counts): gzip's window holds a few hundred functions, but the closest few matter most.
const WINDOW: usize = 8;
/// How many of the candidates most alike by sketch are tried with deflate itself (the package was
/// 2.7 KB larger with none tried, 0.9 KB with 8, 0.6 KB with 64).
const TRIED: usize = 32;
/// How far back deflate looks (gzip's window).
const GZIP_WINDOW: usize = 32 * 1024;

/// `module` with its `name` section replaced by one that names each function defined in it by its
/// rank in the order of likeness (`000000`, `000001`, …). Imported functions keep their place.
pub(crate) fn name_by_likeness(module: &[u8]) -> Result<Vec<u8>> {
    let sections = sections(module)?;
    let mut imported = 0;
    let mut bodies = Vec::new();
    for s in &sections {
        match s.id {
            2 => imported = imported_functions(&module[s.body..s.end])?,
            10 => bodies = code_bodies(&module[s.body..s.end])?,
            _ => {}
        }
    }
    let order = order_by_likeness(&bodies)?;
    let mut rank = vec![0; bodies.len()];
    for (r, &f) in order.iter().enumerate() {
        rank[f] = r;
    }
    let mut names = Vec::new();
    put_leb(&mut names, bodies.len());
    for (f, r) in rank.iter().enumerate() {
        put_leb(&mut names, imported + f);
        put_name(&mut names, &format!("{r:06}"));
    }
    let mut out = module[..8].to_vec();
    for s in sections.iter().filter(|s| !s.is_name_section(module)) {
        out.extend(&module[s.start..s.end]);
    }
    let mut section = Vec::new();
    put_name(&mut section, "name");
    section.push(1); // function names
    put_leb(&mut section, names.len());
    section.extend(names);
    out.push(0);
    put_leb(&mut out, section.len());
    out.extend(section);
    Ok(out)
}

/// How many functions the import section (its content) imports.
fn imported_functions(imports: &[u8]) -> Result<usize> {
    let mut pos = 0;
    let count = leb(imports, &mut pos)?;
    let mut functions = 0;
    for _ in 0..count {
        for _ in 0..2 {
            // module and field name
            pos += leb(imports, &mut pos)? as usize;
        }
        let kind = *imports
            .get(pos)
            .context("an import runs past its section")?;
        pos += 1;
        match kind {
            0 => {
                leb(imports, &mut pos)?; // type index
                functions += 1;
            }
            1 | 2 => {
                pos += usize::from(kind == 1); // a table's element type
                let flags = leb(imports, &mut pos)?;
                leb(imports, &mut pos)?; // minimum
                if flags & 1 != 0 {
                    leb(imports, &mut pos)?; // maximum
                }
            }
            3 => pos += 2, // a global's type and mutability
            4 => {
                pos += 1; // a tag's attribute
                leb(imports, &mut pos)?;
            }
            other => bail!("an import of unknown kind {other}"),
        }
    }
    Ok(functions)
}

/// The bodies in the code section (its content), in order.
fn code_bodies(code: &[u8]) -> Result<Vec<&[u8]>> {
    let mut pos = 0;
    let count = leb(code, &mut pos)?;
    let mut bodies = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let size = leb(code, &mut pos)? as usize;
        let body = code
            .get(pos..pos + size)
            .context("a function body runs past the code section")?;
        bodies.push(body);
        pos += size;
    }
    Ok(bodies)
}

/// Indices of `bodies` in the order to lay them out. Starting from the first, the [`TRIED`] unplaced
/// bodies whose sketches share the most hashes with one of the last [`WINDOW`] placed are compressed by
/// deflate after the last 32 KB placed (as gzip will), and the one that compresses best for its size
/// comes next. Ties go to the lowest index, so the incoming order decides among equals.
fn order_by_likeness(bodies: &[&[u8]]) -> Result<Vec<usize>> {
    let seeds = seeds();
    let sketches: Vec<[u32; SKETCH]> = bodies.iter().map(|b| sketch(b, &seeds)).collect();
    let n = sketches.len();
    let mut placed = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut laid_out = Vec::new();
    let mut deflate = Deflate::new();
    // For each of the last WINDOW placed: how many hashes each body shares with it.
    let mut recent: VecDeque<Vec<u16>> = VecDeque::with_capacity(WINDOW);
    let mut next = 0;
    while next < n {
        placed[next] = true;
        order.push(next);
        laid_out.extend_from_slice(bodies[next]);
        let last = &sketches[next];
        let shared = sketches
            .iter()
            .zip(&placed)
            .map(|(s, &p)| if p { 0 } else { shared_hashes(last, s) })
            .collect();
        if recent.len() == WINDOW {
            recent.pop_front();
        }
        recent.push_back(shared);
        let mut candidates: Vec<(u16, usize)> = (0..n)
            .filter(|&i| !placed[i])
            .map(|i| (recent.iter().map(|r| r[i]).max().unwrap_or(0), i))
            .collect();
        if candidates.len() > TRIED {
            candidates.select_nth_unstable_by(TRIED, |a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            candidates.truncate(TRIED);
        }
        candidates.sort_unstable_by_key(|&(_, i)| i);
        let window = &laid_out[laid_out.len().saturating_sub(GZIP_WINDOW)..];
        next = n;
        let mut best = f64::INFINITY;
        for (_, i) in candidates {
            let cost = deflate.len_after(window, bodies[i])? as f64 / bodies[i].len().max(1) as f64;
            if cost < best {
                (next, best) = (i, cost);
            }
        }
    }
    Ok(order)
}

/// A raw deflate compressor at gzip -9's level, reused for every trial.
struct Deflate {
    compress: Compress,
    out: Vec<u8>,
}

impl Deflate {
    fn new() -> Self {
        Deflate {
            compress: Compress::new(Compression::best(), false),
            out: Vec::new(),
        }
    }

    /// How many bytes deflate makes of `body` when `window` came before it.
    fn len_after(&mut self, window: &[u8], body: &[u8]) -> Result<usize> {
        self.compress.reset();
        if !window.is_empty() {
            self.compress.set_dictionary(window)?;
        }
        self.out.clear();
        self.out.reserve(body.len() + 1024);
        self.compress
            .compress_vec(body, &mut self.out, FlushCompress::Finish)?;
        Ok(self.out.len())
    }
}

/// How many of two sketches' hashes are equal (an estimate of their bodies' likeness: the share of
/// 4-byte windows they have in common is about this over [`SKETCH`]).
fn shared_hashes(a: &[u32; SKETCH], b: &[u32; SKETCH]) -> u16 {
    a.iter().zip(b).map(|(x, y)| u16::from(x == y)).sum()
}

/// The hash functions of a sketch: multiply-shift with fixed constants, so every build orders alike.
type Seeds = [(u64, u64); SKETCH];

/// The [`SKETCH`] hash functions' constants (an odd multiplier and an addend each).
fn seeds() -> Seeds {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut seeds = [(0, 0); SKETCH];
    for seed in &mut seeds {
        *seed = (rng.next_u64() | 1, rng.next_u64());
    }
    seeds
}

/// The MinHash sketch of a body: for each of the hash functions in `seeds`, the least hash of its
/// 4-byte windows.
fn sketch(body: &[u8], seeds: &Seeds) -> [u32; SKETCH] {
    let mut mins = [u32::MAX; SKETCH];
    for w in body.windows(4) {
        let x = u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
        for (m, (a, b)) in mins.iter_mut().zip(seeds) {
            *m = (*m).min((x.wrapping_mul(*a).wrapping_add(*b) >> 32) as u32);
        }
    }
    mins
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alike_bodies_are_placed_together() {
        let a: Vec<u8> = (0..200u8).collect();
        let b: Vec<u8> = (0..200u8)
            .map(|x| x.wrapping_mul(37).wrapping_add(11))
            .collect();
        let mut a2 = a.clone();
        a2[100] ^= 0xff;
        let mut b2 = b.clone();
        b2[50] ^= 0xff;
        // In the order a, b, a2, b2, likeness makes it a, a2, b, b2.
        assert_eq!(
            order_by_likeness(&[&a, &b, &a2, &b2]).unwrap(),
            vec![0, 2, 1, 3]
        );
        let s = seeds();
        assert_eq!(
            shared_hashes(&sketch(&a, &s), &sketch(&a, &s)),
            SKETCH as u16
        );
        assert!(shared_hashes(&sketch(&a, &s), &sketch(&b, &s)) < 20);
        assert!(shared_hashes(&sketch(&a, &s), &sketch(&a2, &s)) > 180);
        // Bodies like none placed (even shorter than a window) keep their incoming order.
        assert_eq!(
            order_by_likeness(&[b"x", b"", b"yz"]).unwrap(),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn every_defined_function_is_named_by_its_rank() {
        // One imported function, then three defined ones: the third is like the first, the second
        // like neither.
        let a: Vec<u8> = (0..120u8).collect();
        let b: Vec<u8> = (0..120u8).map(|x| x ^ 0x5a).collect();
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend([1, 4, 1, 0x60, 0, 0]); // type section: () -> ()
        m.extend([2, 7, 1, 1, b'm', 1, b'f', 0, 0]); // import section: m.f, a function
        let mut code = Vec::new();
        put_leb(&mut code, 3);
        for body in [&a[..], &b[..], &a[..60]] {
            put_leb(&mut code, body.len());
            code.extend(body);
        }
        m.push(10);
        put_leb(&mut m, code.len());
        m.extend(&code);
        let named = name_by_likeness(&m).unwrap();
        assert_eq!(&named[..m.len()], &m[..], "only the name section is added");
        let mut expected = Vec::new();
        put_name(&mut expected, "name");
        let mut map = Vec::new();
        put_leb(&mut map, 3);
        for (index, rank) in [(1, "000000"), (2, "000002"), (3, "000001")] {
            put_leb(&mut map, index);
            put_name(&mut map, rank);
        }
        expected.push(1);
        put_leb(&mut expected, map.len());
        expected.extend(map);
        assert_eq!(&named[m.len() + 2..], &expected[..]);
        assert!(name_by_likeness(&m[..m.len() - 5]).is_err());
    }
}
