//! Variable-time secp256k1 point arithmetic for verifying signatures: Jacobian coordinates
//! (`x = X/Z²`, `y = Y/Z³`) over k256's field elements, added to affine points with the formulas
//! libsecp256k1 uses for public data (8 multiplications and 3 squarings, the equal and opposite points
//! taken apart by branches). k256's own points are projective with complete formulas — constant time, 12
//! multiplications and more reductions an addition — and keep their coordinates private, so reading a
//! sum's x costs them an inversion; here a verification compares `r·Z²` with `X` instead.
//!
//! Every input is public (keys, hashes, signatures): nothing secret is ever computed here.

// Products take their right operand by reference: k256 marks only that `Mul` inline, and natively (no
// LTO) the by-value one is a call per multiplication.
#![allow(clippy::op_ref)]

use std::ops::Mul;

use k256::{
    AffinePoint, FieldBytes, PublicKey, Scalar, Secp256k1,
    elliptic_curve::{hazmat::FieldArithmetic, sec1::ToSec1Point},
};

/// k256's field element (5×52-bit limbs natively, 10×26 in a page), with lazy reduction: sums add
/// magnitudes, products take inputs up to magnitude 8.
type FieldElement = <Secp256k1 as FieldArithmetic>::FieldElement;

/// The group order `n`, big-endian.
const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// `p − n`: an x coordinate below it may also be read as `x + n` modulo `p`.
const FIELD_MINUS_ORDER: [u8; 32] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x45, 0x51, 0x23, 0x19, 0x50, 0xb7, 0x5f, 0xc4,
    0x40, 0x2d, 0xa1, 0x72, 0x2f, 0xc9, 0xba, 0xee,
];

/// 32 big-endian bytes as a field element, if below the modulus.
fn field_element(bytes: &[u8]) -> Option<FieldElement> {
    Option::from(FieldElement::from_bytes(&FieldBytes::try_from(bytes).ok()?))
}

/// A point of the curve other than the identity, in affine coordinates (magnitude 1).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Affine {
    x: FieldElement,
    y: FieldElement,
}

impl Affine {
    /// The point an uncompressed SEC1 encoding (`04 ‖ x ‖ y`) names, if it is one on the curve.
    pub(crate) fn from_uncompressed(bytes: &[u8]) -> Option<Affine> {
        let [4, rest @ ..] = bytes else {
            return None;
        };
        if rest.len() != 64 {
            return None;
        }
        let point = Affine {
            x: field_element(&rest[..32])?,
            y: field_element(&rest[32..])?,
        };
        point.is_on_curve().then_some(point)
    }

    /// k256's point, unless it is the identity.
    pub(crate) fn from_k256(point: &AffinePoint) -> Option<Affine> {
        Affine::from_uncompressed(point.to_sec1_point(false).as_bytes())
    }

    /// The generator.
    pub(crate) fn generator() -> Option<Affine> {
        Affine::from_k256(&AffinePoint::GENERATOR)
    }

    /// The uncompressed SEC1 encoding.
    pub(crate) fn to_uncompressed(self) -> [u8; 65] {
        let mut out = [4u8; 65];
        out[1..33].copy_from_slice(&self.x.to_bytes());
        out[33..].copy_from_slice(&self.y.to_bytes());
        out
    }

    /// As k256 holds it, as a public key.
    pub(crate) fn to_public_key(self) -> Option<PublicKey> {
        PublicKey::from_sec1_bytes(&self.to_uncompressed()).ok()
    }

    /// `y² = x³ + 7`.
    fn is_on_curve(&self) -> bool {
        let rhs = self.x.square() * &self.x + FieldElement::from_u64(7);
        bool::from((self.y.square() + rhs.negate(2)).normalizes_to_zero())
    }

    fn neg(&self) -> Affine {
        Affine {
            x: self.x,
            y: self.y.negate(1).normalize_weak(),
        }
    }
}

/// A point in Jacobian coordinates, or the identity. Coordinates are kept at magnitude 1.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Jacobian {
    x: FieldElement,
    y: FieldElement,
    z: FieldElement,
    infinity: bool,
}

impl From<&Affine> for Jacobian {
    fn from(point: &Affine) -> Jacobian {
        Jacobian {
            x: point.x,
            y: point.y,
            z: FieldElement::ONE,
            infinity: false,
        }
    }
}

impl Jacobian {
    /// The identity.
    pub(crate) const IDENTITY: Jacobian = Jacobian {
        x: FieldElement::ZERO,
        y: FieldElement::ONE,
        z: FieldElement::ZERO,
        infinity: true,
    };

    /// Whether this is the identity.
    #[cfg(test)]
    fn is_identity(&self) -> bool {
        self.infinity
    }

    /// `2·self` (dbl-2009-l: 2 multiplications, 5 squarings). secp256k1 has no point of order two, so
    /// only the identity doubles to the identity.
    pub(crate) fn double(&self) -> Jacobian {
        if self.infinity {
            return *self;
        }
        let a = self.x.square();
        let b = self.y.square();
        let c = b.square();
        let d = ((self.x + b).square() + a.negate(1) + c.negate(1))
            .double()
            .normalize_weak();
        let e = a.mul_single(3);
        let x = (e.square() + d.double().negate(2)).normalize_weak();
        let y = (e * &(d + x.negate(1)) + c.mul_single(8).negate(8)).normalize_weak();
        let z = (self.y * &self.z).double().normalize_weak();
        Jacobian {
            x,
            y,
            z,
            infinity: false,
        }
    }

    /// Adds `point` (madd-2007-bl with libsecp256k1's branches: 8 multiplications, 3 squarings).
    pub(crate) fn add_affine(&mut self, point: &Affine) {
        if self.infinity {
            *self = Jacobian::from(point);
            return;
        }
        let zz = self.z.square();
        let u2 = point.x * &zz;
        let s2 = point.y * &self.z * &zz;
        let h = u2 + self.x.negate(1);
        let r = s2 + self.y.negate(1);
        if bool::from(h.normalizes_to_zero()) {
            // The same x: the same point (double it) or its opposite (the sum is the identity).
            *self = if bool::from(r.normalizes_to_zero()) {
                self.double()
            } else {
                Jacobian::IDENTITY
            };
            return;
        }
        let hh = h.square();
        let hhh = h * &hh;
        let v = self.x * &hh;
        let x = (r.square() + hhh.negate(1) + v.double().negate(2)).normalize_weak();
        let y = (r * &(v + x.negate(1)) + (self.y * &hhh).negate(1)).normalize_weak();
        let z = self.z * &h;
        *self = Jacobian {
            x,
            y,
            z,
            infinity: false,
        };
    }

    /// Adds `point`'s opposite.
    pub(crate) fn sub_affine(&mut self, point: &Affine) {
        self.add_affine(&point.neg());
    }

    /// Whether the affine x coordinate, reduced modulo the group order, is `r` (not the identity):
    /// `r·Z² = X`, or `(r + n)·Z² = X` when `r + n` is below the field's modulus — ECDSA's check
    /// without an inversion.
    pub(crate) fn has_x(&self, r: &Scalar) -> bool {
        if self.infinity {
            return false;
        }
        let r_bytes = r.to_bytes();
        let Some(rx) = field_element(&r_bytes) else {
            return false;
        };
        let zz = self.z.square();
        let minus_x = self.x.negate(1);
        if bool::from((rx * &zz + minus_x).normalizes_to_zero()) {
            return true;
        }
        if r_bytes.as_slice() >= FIELD_MINUS_ORDER.as_slice() {
            return false;
        }
        let Some(order) = field_element(&ORDER) else {
            return false;
        };
        bool::from(((rx + order) * &zz + minus_x).normalizes_to_zero())
    }

    /// The point in affine coordinates (one inversion); `None` for the identity.
    pub(crate) fn to_affine(self) -> Option<Affine> {
        batch_to_affine(&[self]).and_then(|v| v.into_iter().next())
    }
}

/// Many points in affine coordinates with one inversion; `None` if one is the identity.
pub(crate) fn batch_to_affine(points: &[Jacobian]) -> Option<Vec<Affine>> {
    if points.iter().any(|p| p.infinity) {
        return None;
    }
    let zs: Vec<FieldElement> = points.iter().map(|p| p.z).collect();
    let z_inverses = invert_each(&zs, FieldElement::ONE, invert)?;
    Some(
        points
            .iter()
            .zip(z_inverses)
            .map(|(point, z_inv)| {
                let zz_inv = z_inv.square();
                Affine {
                    x: (point.x * &zz_inv).normalize(),
                    y: (point.y * &zz_inv * &z_inv).normalize(),
                }
            })
            .collect(),
    )
}

/// The inverses of `values` with one inversion, `invert` (Montgomery's trick: three multiplications
/// each instead); `None` if `invert` finds none (one of them is zero). For field elements here, and
/// for scalars (`comb::invert_all`).
pub(crate) fn invert_each<T>(
    values: &[T],
    one: T,
    invert: impl FnOnce(&T) -> Option<T>,
) -> Option<Vec<T>>
where
    T: Copy,
    for<'a> T: Mul<&'a T, Output = T>,
{
    // products[i] = v₀·…·vᵢ
    let mut products = Vec::with_capacity(values.len());
    let mut product = one;
    for value in values {
        product = product * value;
        products.push(product);
    }
    let mut inverse = invert(&product)?;
    let mut out = vec![one; values.len()];
    for i in (0..values.len()).rev() {
        // inverse = (v₀·…·vᵢ)⁻¹
        out[i] = if i > 0 {
            inverse * &products[i - 1]
        } else {
            inverse
        };
        inverse = inverse * &values[i];
    }
    Some(out)
}

/// `x⁻¹ = x^(p−2)`, `None` for zero, by libsecp256k1's addition chain (255 squarings, 15
/// multiplications). k256's own inversion (crypto-bigint's safegcd, faster) is inlined where it is used:
/// calling it here added a second copy of ~5 KB to the package, for one inversion per comb built or key
/// recovered.
fn invert(x: &FieldElement) -> Option<FieldElement> {
    if bool::from(x.normalizes_to_zero()) {
        return None;
    }
    let pow2k = |mut y: FieldElement, k: usize| {
        for _ in 0..k {
            y = y.square();
        }
        y
    };
    // The exponent p − 2 in binary is runs of ones of lengths 223, 22, 1, 2 and 1 (with zeros between);
    // xN below is x^(2^N − 1).
    let x2 = pow2k(*x, 1) * x;
    let x3 = pow2k(x2, 1) * x;
    let x6 = pow2k(x3, 3) * &x3;
    let x9 = pow2k(x6, 3) * &x3;
    let x11 = pow2k(x9, 2) * &x2;
    let x22 = pow2k(x11, 11) * &x11;
    let x44 = pow2k(x22, 22) * &x22;
    let x88 = pow2k(x44, 44) * &x44;
    let x176 = pow2k(x88, 88) * &x88;
    let x220 = pow2k(x176, 44) * &x44;
    let x223 = pow2k(x220, 3) * &x3;
    Some(pow2k(pow2k(pow2k(pow2k(x223, 23) * &x22, 5) * x, 3) * &x2, 2) * x)
}

#[cfg(test)]
mod tests {
    use k256::{
        ProjectivePoint,
        elliptic_curve::{Curve, ops::Reduce},
    };

    use super::*;

    fn scalar(n: u64) -> Scalar {
        Scalar::from(n)
    }

    fn k256_point(k: &Scalar) -> AffinePoint {
        (ProjectivePoint::GENERATOR * k).to_affine()
    }

    fn affine(k: &Scalar) -> Affine {
        Affine::from_k256(&k256_point(k)).unwrap()
    }

    fn encoded(point: &Jacobian) -> Option<[u8; 65]> {
        point.to_affine().map(Affine::to_uncompressed)
    }

    fn k256_encoded(k: &Scalar) -> [u8; 65] {
        k256_point(k)
            .to_sec1_point(false)
            .as_bytes()
            .try_into()
            .unwrap()
    }

    /// `point` with its coordinates scaled by `λ` (`λ²·X, λ³·Y, λ·Z`): the same point, another Z.
    fn scaled(point: &Affine, lambda: u64) -> Jacobian {
        let l = FieldElement::from_u64(lambda);
        Jacobian {
            x: point.x * l.square(),
            y: point.y * l.square() * l,
            z: l,
            infinity: false,
        }
    }

    #[test]
    fn constants_are_the_curves() {
        let order = k256::U256::from_be_slice(&ORDER);
        assert_eq!(order, k256::Secp256k1::ORDER);
        // p − n + n ≡ 0 (mod p)
        let sum = FieldElement::from_bytes(&FieldBytes::from(FIELD_MINUS_ORDER)).unwrap()
            + FieldElement::from_bytes(&FieldBytes::from(ORDER)).unwrap();
        assert!(bool::from(sum.normalizes_to_zero()));
    }

    #[test]
    fn additions_agree_with_k256_in_every_case() {
        let p = affine(&scalar(3));
        // Generic: 3P + 5 = 8, from a point with Z ≠ 1.
        let mut sum = scaled(&p, 7);
        sum.add_affine(&affine(&scalar(5)));
        assert_eq!(encoded(&sum), Some(k256_encoded(&scalar(8))));
        // The same point: doubled.
        let mut sum = scaled(&p, 11);
        sum.add_affine(&p);
        assert_eq!(encoded(&sum), Some(k256_encoded(&scalar(6))));
        // Its opposite: the identity, and on from there.
        let mut sum = scaled(&p, 13);
        sum.sub_affine(&p);
        assert!(sum.is_identity());
        sum.add_affine(&p);
        assert_eq!(encoded(&sum), Some(k256_encoded(&scalar(3))));
        // Doubling.
        assert_eq!(
            encoded(&scaled(&p, 17).double()),
            Some(k256_encoded(&scalar(6)))
        );
        assert!(Jacobian::IDENTITY.double().is_identity());
        assert_eq!(Jacobian::IDENTITY.to_affine().map(|_| ()), None);
    }

    #[test]
    fn batch_conversion_agrees_with_one_at_a_time() {
        let points: Vec<Jacobian> = (1..20u64)
            .map(|k| scaled(&affine(&scalar(k)), k + 1))
            .collect();
        let batch = batch_to_affine(&points).unwrap();
        for (k, point) in (1..20u64).zip(batch) {
            assert_eq!(point.to_uncompressed(), k256_encoded(&scalar(k)));
        }
        assert!(batch_to_affine(&[Jacobian::IDENTITY]).is_none());
    }

    #[test]
    fn inversion_agrees_with_k256() {
        for n in [1u64, 2, 7, 0xffff_ffff, u64::MAX] {
            let x = FieldElement::from_u64(n);
            let inverse = invert(&x).unwrap();
            assert_eq!(inverse.normalize(), x.invert().unwrap().normalize());
            assert!(bool::from(
                (inverse * x + FieldElement::ONE.negate(1)).normalizes_to_zero()
            ));
        }
        let order = field_element(&ORDER).unwrap();
        assert_eq!(
            invert(&order).unwrap().normalize(),
            order.invert().unwrap().normalize()
        );
        assert!(invert(&FieldElement::ZERO).is_none());
    }

    #[test]
    fn encodings_are_checked() {
        let g = Affine::generator().unwrap();
        let bytes = g.to_uncompressed();
        assert_eq!(bytes, k256_encoded(&Scalar::ONE));
        assert!(Affine::from_uncompressed(&bytes).is_some());
        let mut off = bytes;
        off[64] ^= 1;
        assert!(
            Affine::from_uncompressed(&off).is_none(),
            "not on the curve"
        );
        assert!(Affine::from_uncompressed(&bytes[..64]).is_none());
        let mut compressed = bytes;
        compressed[0] = 2;
        assert!(Affine::from_uncompressed(&compressed).is_none());
        assert_eq!(
            g.to_public_key().map(|k| *k.as_affine()),
            Some(AffinePoint::GENERATOR)
        );
        assert!(Affine::from_k256(&AffinePoint::IDENTITY).is_none());
    }

    #[test]
    fn x_is_compared_modulo_the_order() {
        let p = affine(&scalar(99));
        let x = <Scalar as Reduce<FieldBytes>>::reduce(&p.x.to_bytes());
        assert!(scaled(&p, 5).has_x(&x));
        assert!(!scaled(&p, 5).has_x(&(x + Scalar::ONE)));
        assert!(!Jacobian::IDENTITY.has_x(&x));
        // A point whose x is n + k (k < p − n): its x read as a scalar is k.
        let order = FieldElement::from_bytes(&FieldBytes::from(ORDER)).unwrap();
        let (k, point) = (0u64..)
            .find_map(|k| {
                let x = (order + FieldElement::from_u64(k)).normalize();
                let rhs = x.square() * x + FieldElement::from_u64(7);
                Option::<FieldElement>::from(rhs.sqrt()).map(|y| {
                    (
                        k,
                        Affine {
                            x,
                            y: y.normalize(),
                        },
                    )
                })
            })
            .unwrap();
        assert!(point.is_on_curve());
        assert!(scaled(&point, 3).has_x(&scalar(k)));
        assert!(!scaled(&point, 3).has_x(&scalar(k + 1)));
    }
}
