//! ECDSA verification without doublings, for publishers seen often. A verification computes
//! `u1·G + u2·Q` for the generator `G` and the publisher's key `Q`. Written in base 2^w with signed
//! digits, `k·P` is the sum over positions `i` of `dᵢ·2^(w·i)·P`; a [`Comb`] holds those multiples of one
//! point (`j·2^(w·i)·P` for `j` in 1..=2^(w-1)), so a multiplication is one table look-up and one
//! addition per non-zero digit — no doublings, where a generic multiplication spends ~128 of them plus
//! its tables at every call. The generator's comb is built once per process; a publisher's once it has
//! been verified a few times ([`crate::Verifier`] decides). The multiples are affine and the sums
//! Jacobian, added by [`crate::curve`]'s variable-time formulas, and the sum's x is compared without
//! an inversion.
//!
//! Recovering a key (`Q = r⁻¹·(s·R − z·G)`) and verifying with a key that has no comb use the
//! generator's comb too, and k256's constant-time multiplication for the other point, so a page links
//! one implementation of ECDSA verification and recovery: this one.
//!
//! Variable time: every input of a verification (the key, the hash, the signature) is public.
//! Signing never comes here.

use std::sync::OnceLock;

use k256::{
    AffinePoint, FieldBytes, ProjectivePoint, PublicKey, Scalar,
    elliptic_curve::{ops::Reduce, point::DecompressPoint},
};

use crate::curve::{Affine, Jacobian, batch_to_affine, invert_each};

/// The generator's window, its comb built on first use and shared by the process: in a page 8 bits, 33
/// positions × 128 multiples (4,224 points, ~340 KB, a few milliseconds to build), 33 additions a
/// multiplication; natively 10 bits, 27 × 512 (13,824 points, 1.1 MB, ~5 ms), 27 additions. A
/// publisher key's window is the verifier's choice (`verify::backend::COMB_WINDOW`): w bits make
/// `⌈256/w⌉+1` positions × 2^(w-1) multiples (80 bytes each), as many additions to build and one
/// addition per position to use.
const GENERATOR_WINDOW: u32 = if cfg!(feature = "native-secp256k1") {
    10
} else {
    8
};

/// Multiples of one point, for multiplying it by any scalar with additions only.
pub(crate) struct Comb {
    window: u32,
    points: Box<[Affine]>,
}

/// How many base-2^`window` signed digits a scalar below the group order needs (one more than its
/// unsigned digits, for the last carry).
fn positions(window: u32) -> usize {
    256usize.div_ceil(window as usize) + 1
}

impl Comb {
    /// The multiples of `point` for digits of `window` bits (1..=16). `None` only if the arithmetic
    /// met the identity, which no point of the curve's prime order can make.
    pub(crate) fn new(point: &Affine, window: u32) -> Option<Comb> {
        let per = 1usize << (window - 1);
        // Each position's base, 2^(w·i)·P, by doublings, then all made affine with one inversion.
        let mut bases = Vec::with_capacity(positions(window));
        let mut base = Jacobian::from(point);
        for position in 0..positions(window) {
            if position > 0 {
                for _ in 0..window {
                    base = base.double();
                }
            }
            bases.push(base);
        }
        let mut multiples = Vec::with_capacity(positions(window) * per);
        for base in batch_to_affine(&bases)? {
            let mut multiple = Jacobian::from(&base);
            multiples.push(multiple);
            for j in 1..per {
                if j == 1 {
                    multiple = multiple.double();
                } else {
                    multiple.add_affine(&base);
                }
                multiples.push(multiple);
            }
        }
        Some(Comb {
            window,
            points: batch_to_affine(&multiples)?.into_boxed_slice(),
        })
    }

    /// Adds `k·P` to `acc`.
    fn mul_add(&self, k: &Scalar, acc: &mut Jacobian) {
        let per = 1usize << (self.window - 1);
        for (position, digit) in signed_digits(&k.to_bytes().into(), self.window).enumerate() {
            let Some(index) = (digit.unsigned_abs() as usize).checked_sub(1) else {
                continue;
            };
            let multiple = &self.points[position * per + index];
            if digit > 0 {
                acc.add_affine(multiple);
            } else {
                acc.sub_affine(multiple);
            }
        }
    }
}

/// The digits of a big-endian 256-bit number in base 2^`window`, least significant first, each in
/// `-2^(window-1) .. 2^(window-1)`.
fn signed_digits(bytes: &[u8; 32], window: u32) -> impl Iterator<Item = i32> {
    let mask = (1u32 << window) - 1;
    let half = 1i32 << (window - 1);
    let mut carry = 0i32;
    (0..positions(window)).map(move |position| {
        let bit = position * window as usize;
        // Up to 16 bits from bit `bit` on (counting from the least significant), across three bytes.
        let byte = |i: usize| -> u32 { if i < 32 { u32::from(bytes[31 - i]) } else { 0 } };
        let near = byte(bit / 8) | byte(bit / 8 + 1) << 8 | byte(bit / 8 + 2) << 16;
        let mut digit = ((near >> (bit % 8)) & mask) as i32 + carry;
        carry = 0;
        if digit >= half {
            digit -= 1 << window;
            carry = 1;
        }
        digit
    })
}

/// The generator's comb, built on first use.
fn generator() -> Option<&'static Comb> {
    static GENERATOR: OnceLock<Option<Comb>> = OnceLock::new();
    GENERATOR
        .get_or_init(|| Comb::new(&Affine::generator()?, GENERATOR_WINDOW))
        .as_ref()
}

/// The signature's hash as a scalar, as ECDSA takes it (32 bytes, reduced modulo the group order).
fn hash_scalar(hash: &[u8; 32]) -> Scalar {
    <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(*hash))
}

/// Whether `r ‖ s` (both non-zero, `s` low: checked before) is a signature of `hash` by the key whose
/// comb is `key`: exactly the check of `ecdsa::hazmat::verify_prehashed`, with the multiplications done
/// by combs.
pub(crate) fn verify(hash: &[u8; 32], r: &Scalar, s: &Scalar, key: &Comb) -> bool {
    check(hash, r, s, |u2, sum| key.mul_add(u2, sum))
}

/// [`verify`], given `s⁻¹` (which [`invert_all`] finds for many signatures at the cost of one).
pub(crate) fn verify_inverted(hash: &[u8; 32], r: &Scalar, s_inv: &Scalar, key: &Comb) -> bool {
    check_inverted(hash, r, s_inv, |u2, sum| key.mul_add(u2, sum))
}

/// The inverses of `scalars` with one inversion (three multiplications each instead of an inversion
/// of ~2 µs natively); `None` if one is zero.
pub(crate) fn invert_all(scalars: &[Scalar]) -> Option<Vec<Scalar>> {
    invert_each(scalars, Scalar::ONE, |product| {
        Option::from(product.invert_vartime())
    })
}

/// The same check for a key without a comb: its multiplication is k256's (constant time, which costs
/// little more than a variable-time one here and is the one a page links anyway, for ECDH).
#[cfg_attr(feature = "native-secp256k1", allow(dead_code))] // natively libsecp256k1's is used
pub(crate) fn verify_key(hash: &[u8; 32], r: &Scalar, s: &Scalar, key: &ProjectivePoint) -> bool {
    check(hash, r, s, |u2, sum| {
        if let Some(term) = Affine::from_k256(&(*key * u2).to_affine()) {
            sum.add_affine(&term);
        }
    })
}

/// `(z·s⁻¹)·G + (r·s⁻¹)·Q` (the second term added by `add_key`) has `r` as its x coordinate modulo the
/// group order.
fn check(
    hash: &[u8; 32],
    r: &Scalar,
    s: &Scalar,
    add_key: impl FnOnce(&Scalar, &mut Jacobian),
) -> bool {
    Option::<Scalar>::from(s.invert_vartime())
        .is_some_and(|s_inv| check_inverted(hash, r, &s_inv, add_key))
}

/// [`check`], given `s⁻¹`.
fn check_inverted(
    hash: &[u8; 32],
    r: &Scalar,
    s_inv: &Scalar,
    add_key: impl FnOnce(&Scalar, &mut Jacobian),
) -> bool {
    let Some(generator) = generator() else {
        return false;
    };
    let s_inv = *s_inv;
    let mut sum = Jacobian::IDENTITY;
    generator.mul_add(&(hash_scalar(hash) * s_inv), &mut sum);
    add_key(&(*r * s_inv), &mut sum);
    sum.has_x(r)
}

/// The public key that made `r ‖ s` over `hash`, the point `R` of the signature having `r` as its x
/// coordinate and `y_odd` its y's parity (recovery ids 0 and 1; the protocol takes no others):
/// `Q = r⁻¹·(s·R − z·G)`, as `ecdsa::RecoveryId`'s recovery computes it. `None` if no point has that x,
/// or `Q` is the identity.
pub(crate) fn recover(hash: &[u8; 32], r: &Scalar, s: &Scalar, y_odd: bool) -> Option<PublicKey> {
    let big_r = Option::<AffinePoint>::from(AffinePoint::decompress(
        &r.to_bytes(),
        u8::from(y_odd).into(),
    ))?;
    let r_inv = Option::<Scalar>::from(r.invert_vartime())?;
    let term = Affine::from_k256(&(ProjectivePoint::from(big_r) * (r_inv * s)).to_affine())?;
    let mut key = Jacobian::from(&term);
    generator()?.mul_add(&-(r_inv * hash_scalar(hash)), &mut key);
    key.to_affine()?.to_public_key()
}

#[cfg(test)]
mod tests {
    use k256::{
        ecdsa::{
            RecoveryId, Signature, SigningKey, VerifyingKey, signature::hazmat::PrehashVerifier,
        },
        elliptic_curve::scalar::IsHigh,
    };
    use proptest::prelude::*;

    use super::*;

    fn scalar(bytes: [u8; 32]) -> Scalar {
        <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(bytes))
    }

    #[test]
    fn digits_add_up_to_the_number() {
        for window in [4, 5, 6, 8, 10, 16] {
            for bytes in [[0u8; 32], [0xff; 32], [0x80; 32], [0x7f; 32], {
                let mut b = [0u8; 32];
                b[31] = 8;
                b
            }] {
                let mut sum = Scalar::ZERO;
                let mut weight = Scalar::ONE;
                let radix = Scalar::from(1u64 << window);
                for digit in signed_digits(&bytes, window) {
                    assert!((-(1 << (window - 1))..(1 << (window - 1))).contains(&digit));
                    let magnitude = Scalar::from(u64::from(digit.unsigned_abs()));
                    sum += if digit < 0 { -magnitude } else { magnitude } * weight;
                    weight *= radix;
                }
                assert_eq!(sum, scalar(bytes), "window {window}, {bytes:?}");
            }
        }
    }

    #[test]
    fn a_comb_multiplies_as_the_curve_does() {
        let point = ProjectivePoint::GENERATOR * scalar([7; 32]);
        let affine = Affine::from_k256(&point.to_affine()).unwrap();
        let product = |comb: &Comb, k: &Scalar| {
            let mut sum = Jacobian::IDENTITY;
            comb.mul_add(k, &mut sum);
            sum.to_affine()
                .and_then(Affine::to_public_key)
                .map(|k| *k.as_affine())
        };
        for window in [4, 5, 6, 8, 10] {
            let comb = Comb::new(&affine, window).unwrap();
            for k in [[1u8; 32], [0xff; 32], [0x55; 32]] {
                let k = scalar(k);
                assert_eq!(product(&comb, &k), Some((point * k).to_affine()));
            }
            assert_eq!(product(&comb, &Scalar::ZERO), None, "the identity");
        }
        // The group order minus one: every digit position in use, and a final carry.
        let comb = Comb::new(&affine, 5).unwrap();
        assert_eq!(product(&comb, &-Scalar::ONE), Some((-point).to_affine()));
    }

    #[test]
    fn inverted_together_as_one_by_one() {
        let scalars: Vec<Scalar> = (1..20u8)
            .map(|i| scalar([i.wrapping_mul(37); 32]))
            .collect();
        let together = invert_all(&scalars).unwrap();
        for (s, inverse) in scalars.iter().zip(&together) {
            assert_eq!(Some(*inverse), Option::from(s.invert_vartime()));
        }
        assert_eq!(invert_all(&[]), Some(vec![]));
        assert_eq!(invert_all(&[Scalar::ONE, Scalar::ZERO]), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever k256's own verification accepts or refuses, the comb's does the same: genuine
        /// signatures, another key's, another hash's, and tampered `r` or `s`.
        #[test]
        fn agrees_with_k256(secret in any::<[u8; 32]>(), other in any::<[u8; 32]>(),
                            hash in any::<[u8; 32]>(), flip in 0usize..64) {
            let Ok(signing) = SigningKey::from_slice(&secret) else { return Ok(()) };
            let Ok(other) = SigningKey::from_slice(&other) else { return Ok(()) };
            let (signature, _) = signing.sign_prehash_recoverable(&hash);
            let signature = signature.normalize_s();
            let mut tampered = signature.to_bytes();
            tampered[flip] ^= 1;
            for key in [signing.verifying_key(), other.verifying_key()] {
                let comb = Comb::new(&Affine::from_k256(key.as_affine()).unwrap(), 5).unwrap();
                let mut cases: Vec<([u8; 32], Signature)> = vec![(hash, signature)];
                let mut other_hash = hash;
                other_hash[0] ^= 1;
                cases.push((other_hash, signature));
                if let Ok(t) = Signature::from_slice(&tampered) {
                    cases.push((hash, t));
                }
                for (hash, sig) in cases {
                    let expected = VerifyingKey::verify_prehash(key, &hash[..], &sig).is_ok();
                    let (r, s) = sig.split_scalars();
                    if bool::from(s.is_high()) {
                        continue; // refused before any curve work (`verify::parse`)
                    }
                    prop_assert_eq!(verify(&hash, &r, &s, &comb), expected);
                    let s_inv = invert_all(&[*s]).unwrap()[0];
                    prop_assert_eq!(verify_inverted(&hash, &r, &s_inv, &comb), expected);
                    let point = ProjectivePoint::from(*key.as_affine());
                    prop_assert_eq!(verify_key(&hash, &r, &s, &point), expected);
                    for y_odd in [false, true] {
                        let theirs = VerifyingKey::recover_from_prehash(
                            &hash,
                            &sig,
                            RecoveryId::new(y_odd, false),
                        )
                        .ok()
                        .map(|k| PublicKey::from(&k));
                        prop_assert_eq!(recover(&hash, &r, &s, y_odd), theirs);
                    }
                }
            }
        }
    }
}
