//! ECDSA verification without doublings, for publishers seen often. A verification computes
//! `u1·G + u2·Q` for the generator `G` and the publisher's key `Q`. Written in base 2^w with signed
//! digits, `k·P` is the sum over positions `i` of `dᵢ·2^(w·i)·P`; a [`Comb`] holds those multiples of one
//! point (`j·2^(w·i)·P` for `j` in 1..=2^(w-1)), so a multiplication is one table look-up and one
//! addition per non-zero digit — no doublings, where a generic multiplication spends ~128 of them plus
//! its tables at every call. The generator's comb is built once per process; a publisher's once it has
//! been verified a few times ([`crate::Verifier`] decides). The points stay projective: affine ones
//! (k256's batch conversion of the slice) made the package 3 KB larger.
//!
//! Recovering a key (`Q = r⁻¹·(s·R − z·G)`) and verifying with a key that has no comb use the
//! generator's comb too, and k256's constant-time multiplication for the other point, so a page links
//! one implementation of ECDSA verification and recovery: this one.
//!
//! Variable time: every input of a verification (the key, the hash, the signature) is public.
//! Signing never comes here.

use std::sync::OnceLock;

#[cfg(feature = "native-secp256k1")]
use k256::elliptic_curve::BatchNormalize;

use k256::{
    AffinePoint, FieldBytes, ProjectivePoint, Scalar,
    elliptic_curve::{
        Group,
        ops::Reduce,
        point::{AffineCoordinates, DecompressPoint},
    },
};

/// The generator's window, its comb built on first use and shared by the process: in a page 8 bits, 33
/// positions × 128 multiples (4,224 points, ~500 KB, a few milliseconds to build), 33 additions a
/// multiplication; natively 10 bits, 27 × 512 (13,824 points, 1.6 MB, ~5 ms), 27 additions. A
/// publisher key's window is the verifier's choice (`verify::backend::COMB_WINDOW`): w bits make
/// `⌈256/w⌉+1` positions × 2^(w-1) multiples (120 bytes each), as many additions to build and one
/// addition per position to use. Measured natively in one process (best of 60–100 rounds), against
/// libsecp256k1's verification: windows 4, 5, 6, 7 took 0.91, 0.85–0.99, 0.77–0.91, 0.72 of its time;
/// k256's own verification 2.1.
const GENERATOR_WINDOW: u32 = if cfg!(feature = "native-secp256k1") {
    10
} else {
    8
};

/// Multiples of one point, for multiplying it by any scalar with additions only.
pub(crate) struct Comb {
    window: u32,
    points: Box<[ProjectivePoint]>,
}

/// How many base-2^`window` signed digits a scalar below the group order needs (one more than its
/// unsigned digits, for the last carry).
fn positions(window: u32) -> usize {
    256usize.div_ceil(window as usize) + 1
}

impl Comb {
    /// The multiples of `point` for digits of `window` bits (1..=16).
    pub(crate) fn new(point: &ProjectivePoint, window: u32) -> Comb {
        let per = 1usize << (window - 1);
        let mut projective = Vec::with_capacity(positions(window) * per);
        let mut base = *point;
        for _ in 0..positions(window) {
            let mut multiple = base;
            projective.push(multiple);
            for _ in 1..per {
                multiple += &base;
                projective.push(multiple);
            }
            // 2^(w-1)·base, doubled: the next position's base.
            base = multiple.double();
        }
        Comb {
            window,
            points: projective.into_boxed_slice(),
        }
    }

    /// Adds `k·P` to `acc`.
    fn mul_add(&self, k: &Scalar, acc: &mut ProjectivePoint) {
        let per = 1usize << (self.window - 1);
        for (position, digit) in signed_digits(&k.to_bytes().into(), self.window).enumerate() {
            let Some(index) = (digit.unsigned_abs() as usize).checked_sub(1) else {
                continue;
            };
            let multiple = self.points[position * per + index];
            *acc += &if digit > 0 { multiple } else { -multiple };
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
fn generator() -> &'static Comb {
    static GENERATOR: OnceLock<Comb> = OnceLock::new();
    GENERATOR.get_or_init(|| Comb::new(&ProjectivePoint::GENERATOR, GENERATOR_WINDOW))
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

/// The same check for a key without a comb: its multiplication is k256's (constant time, which costs
/// little more than a variable-time one here and is the one a page links anyway, for ECDH).
#[cfg_attr(feature = "native-secp256k1", allow(dead_code))] // natively libsecp256k1's is used
pub(crate) fn verify_key(hash: &[u8; 32], r: &Scalar, s: &Scalar, key: &ProjectivePoint) -> bool {
    check(hash, r, s, |u2, sum| *sum += *key * u2)
}

/// `(z·s⁻¹)·G + (r·s⁻¹)·Q` (the second term added by `add_key`) has `r` as its x coordinate modulo the
/// group order.
fn check(
    hash: &[u8; 32],
    r: &Scalar,
    s: &Scalar,
    add_key: impl FnOnce(&Scalar, &mut ProjectivePoint),
) -> bool {
    let Some(s_inv) = Option::<Scalar>::from(s.invert_vartime()) else {
        return false;
    };
    let mut sum = ProjectivePoint::IDENTITY;
    generator().mul_add(&(hash_scalar(hash) * s_inv), &mut sum);
    add_key(&(*r * s_inv), &mut sum);
    !bool::from(sum.is_identity()) && <Scalar as Reduce<FieldBytes>>::reduce(&x(&sum)) == *r
}

/// The x coordinate of `point` (not the identity). Natively by variable-time inversion: 4 µs where
/// `to_affine`'s constant-time one takes 9, a quarter of a comb's verification. The package keeps to
/// the constant-time one it links anyway: the other added 0.5–0.9 KB, and no gain showed in the
/// browser benchmark's runs.
fn x(point: &ProjectivePoint) -> FieldBytes {
    #[cfg(feature = "native-secp256k1")]
    let [affine] =
        <ProjectivePoint as BatchNormalize<[ProjectivePoint; 1]>>::batch_normalize_vartime(&[
            *point,
        ]);
    #[cfg(not(feature = "native-secp256k1"))]
    let affine = point.to_affine();
    affine.x()
}

/// The public key that made `r ‖ s` over `hash`, the point `R` of the signature having `r` as its x
/// coordinate and `y_odd` its y's parity (recovery ids 0 and 1; the protocol takes no others):
/// `Q = r⁻¹·(s·R − z·G)`, as `ecdsa::RecoveryId`'s recovery computes it. `None` if no point has that x,
/// or `Q` is the identity.
pub(crate) fn recover(hash: &[u8; 32], r: &Scalar, s: &Scalar, y_odd: bool) -> Option<AffinePoint> {
    let big_r = Option::<AffinePoint>::from(AffinePoint::decompress(
        &r.to_bytes(),
        u8::from(y_odd).into(),
    ))?;
    let r_inv = Option::<Scalar>::from(r.invert_vartime())?;
    let mut key = ProjectivePoint::from(big_r) * (r_inv * s);
    generator().mul_add(&-(r_inv * hash_scalar(hash)), &mut key);
    (!bool::from(key.is_identity())).then(|| key.to_affine())
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
        for window in [4, 5, 6, 8, 10] {
            let comb = Comb::new(&point, window);
            for k in [[0u8; 32], [1; 32], [0xff; 32], [0x55; 32]] {
                let k = scalar(k);
                let mut sum = ProjectivePoint::IDENTITY;
                comb.mul_add(&k, &mut sum);
                assert_eq!(sum, point * k);
            }
        }
        // The group order minus one: every digit position in use, and a final carry.
        let minus_one = -Scalar::ONE;
        let mut sum = ProjectivePoint::IDENTITY;
        Comb::new(&point, 5).mul_add(&minus_one, &mut sum);
        assert_eq!(sum, -point);
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
                let comb = Comb::new(&ProjectivePoint::from(*key.as_affine()), 5);
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
                    let point = ProjectivePoint::from(*key.as_affine());
                    prop_assert_eq!(verify_key(&hash, &r, &s, &point), expected);
                    for y_odd in [false, true] {
                        let theirs = VerifyingKey::recover_from_prehash(
                            &hash,
                            &sig,
                            RecoveryId::new(y_odd, false),
                        )
                        .ok()
                        .map(|k| *k.as_affine());
                        prop_assert_eq!(recover(&hash, &r, &s, y_odd), theirs);
                    }
                }
            }
        }
    }
}
