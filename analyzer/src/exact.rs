//! Exact arithmetic for the decisions: decimals read without binary
//! rounding, rational thresholds, and comparisons of products of counters
//! that may exceed 128 bits. No float takes part in a decision.

use std::cmp::Ordering;

/// A non-negative decimal `mant / 10^scale`, as written in a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dec {
    /// Digits without the point.
    pub mant: u128,
    /// Digits after the point.
    pub scale: u32,
}

/// Reads `digits[.digits]` exactly (at most 36 significant digits); `None`
/// for anything else (signs, exponents, empty parts).
pub fn parse_dec(s: &[u8]) -> Option<Dec> {
    let (int, frac) = match s.iter().position(|&b| b == b'.') {
        Some(p) => (&s[..p], &s[p + 1..]),
        None => (s, &s[s.len()..]),
    };
    if int.is_empty() || int.len() + frac.len() > 36 {
        return None;
    }
    let mut mant: u128 = 0;
    for &b in int.iter().chain(frac) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        mant = mant * 10 + d as u128;
    }
    Some(Dec {
        mant,
        scale: frac.len() as u32,
    })
}

/// Fixed point used for throughput: millionths of an op per second.
pub const MICRO: u32 = 6;

/// `d` in millionths, rounding half up beyond six decimals; `None` when it
/// does not fit in 64 bits.
pub fn to_micro(d: Dec) -> Option<u64> {
    let v = if d.scale <= MICRO {
        d.mant.checked_mul(10u128.pow(MICRO - d.scale))?
    } else {
        let div = 10u128.checked_pow(d.scale - MICRO)?;
        (d.mant + div / 2) / div
    };
    u64::try_from(v).ok()
}

/// A signed rational threshold `num / den` (den > 0), reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    /// Numerator (sign of the value).
    pub num: i128,
    /// Denominator, positive.
    pub den: u128,
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Ratio {
    /// The decimal that `x` prints as (Rust prints the shortest string that
    /// reads back as `x`, never in exponent form), as an exact fraction:
    /// `0.2` gives 1/5. `None` for non-finite values or more than 36 digits.
    pub fn of_f64(x: f64) -> Option<Ratio> {
        if !x.is_finite() {
            return None;
        }
        let s = format!("{}", x.abs());
        let d = parse_dec(s.as_bytes())?;
        let den = 10u128.checked_pow(d.scale)?;
        let g = gcd(d.mant, den).max(1);
        let num = i128::try_from(d.mant / g).ok()?;
        Some(Ratio {
            num: if x < 0.0 { -num } else { num },
            den: den / g,
        })
    }

    /// `|num|`.
    pub fn abs_num(&self) -> u128 {
        self.num.unsigned_abs()
    }
}

/// An unsigned integer of any size, little-endian 32-bit limbs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u128(mut v: u128) -> Big {
        let mut l = Vec::new();
        while v != 0 {
            l.push(v as u32);
            v >>= 32;
        }
        Big(l)
    }

    fn mul(&self, v: u128) -> Big {
        let o = Big::from_u128(v);
        let mut r = vec![0u32; self.0.len() + o.0.len() + 1];
        for (i, &a) in self.0.iter().enumerate() {
            let mut carry: u64 = 0;
            for (j, &b) in o.0.iter().enumerate() {
                let t = r[i + j] as u64 + a as u64 * b as u64 + carry;
                r[i + j] = t as u32;
                carry = t >> 32;
            }
            let mut k = i + o.0.len();
            while carry != 0 {
                let t = r[k] as u64 + carry;
                r[k] = t as u32;
                carry = t >> 32;
                k += 1;
            }
        }
        while r.last() == Some(&0) {
            r.pop();
        }
        Big(r)
    }

    fn cmp(&self, o: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&o.0.len())
            .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }
}

fn product(xs: &[u128]) -> Big {
    let mut p = Big::from_u128(1);
    for &x in xs {
        p = p.mul(x);
    }
    p
}

/// Compares the product of `a` with the product of `b`, exactly.
pub fn cmp_products(a: &[u128], b: &[u128]) -> Ordering {
    // Most products fit in 128 bits: compare them directly, without the
    // limb arithmetic (and its allocations).
    let small = |xs: &[u128]| xs.iter().try_fold(1u128, |p, &x| p.checked_mul(x));
    if let (Some(x), Some(y)) = (small(a), small(b)) {
        return x.cmp(&y);
    }
    product(a).cmp(&product(b))
}

/// `num / max(1, den) >= t`, exactly: `num * t.den >= t.num * max(1, den)`.
pub fn ratio_at_least(num: u128, den: u128, t: Ratio) -> bool {
    if t.num <= 0 {
        return true;
    }
    cmp_products(&[num, t.den], &[t.abs_num(), den.max(1)]) != Ordering::Less
}

/// Median of values as twice the median (so an even count stays exact):
/// the middle value doubled, or the sum of the two middle values.
pub fn median2(xs: &[u64]) -> Option<u128> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        2 * v[n / 2] as u128
    } else {
        v[n / 2 - 1] as u128 + v[n / 2] as u128
    })
}

/// `var / base - 1 >= pct / 100`, exactly: `100 * q * var >= (100 * q + p) * base`
/// with `pct = p / q`. `base` must be non-zero.
pub fn change_at_least(base: u128, var: u128, pct: Ratio) -> bool {
    let lhs = [100, pct.den, var];
    let k = 100i128 * pct.den as i128 + pct.num;
    if k <= 0 {
        return true;
    }
    cmp_products(&lhs, &[k as u128, base]) != Ordering::Less
}

/// `1 + pct / 100` as a decimal string with enough digits to be exact for
/// the thresholds people write (`1.01`, `0.99`, `1.06`).
pub fn factor_str(pct: f64) -> String {
    let f = 1.0 + pct / 100.0;
    let s = format!("{f:.6}");
    let s = s.trim_end_matches('0');
    s.strip_suffix('.').unwrap_or(s).to_owned()
}

/// Micro-units as a decimal with two places (rounded half up for display).
pub fn micro_str(v: u128, halves: bool) -> String {
    // `halves`: `v` is twice the value (a median from [`median2`]).
    let (v, d) = if halves { (v, 2u128) } else { (v, 1) };
    let cents = (v * 100 + d * 500_000) / (d * 1_000_000);
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(
            parse_dec(b"196"),
            Some(Dec {
                mant: 196,
                scale: 0
            })
        );
        assert_eq!(
            parse_dec(b"1.25"),
            Some(Dec {
                mant: 125,
                scale: 2
            })
        );
        assert_eq!(parse_dec(b"1e6"), None);
        assert_eq!(parse_dec(b".5"), None);
        assert_eq!(to_micro(parse_dec(b"5.5").unwrap()), Some(5_500_000));
        assert_eq!(to_micro(parse_dec(b"0.0000005").unwrap()), Some(1));
    }

    #[test]
    fn ratios() {
        assert_eq!(Ratio::of_f64(0.2), Some(Ratio { num: 1, den: 5 }));
        assert_eq!(Ratio::of_f64(-1.0), Some(Ratio { num: -1, den: 1 }));
        assert_eq!(Ratio::of_f64(1.5), Some(Ratio { num: 3, den: 2 }));
        let t = Ratio::of_f64(0.2).unwrap();
        assert!(ratio_at_least(200, 1000, t));
        assert!(!ratio_at_least(199, 1000, t));
        // 0.1999999991 is below 0.2, whatever the float slack would say.
        assert!(!ratio_at_least(1_999_999_991, 10_000_000_000, t));
        assert!(ratio_at_least(5, 0, t));
    }

    #[test]
    fn products_beyond_128_bits() {
        let m = u128::MAX;
        assert_eq!(cmp_products(&[m, m], &[m, m]), Ordering::Equal);
        assert_eq!(cmp_products(&[m, m - 1], &[m, m]), Ordering::Less);
        assert_eq!(cmp_products(&[0, m], &[1]), Ordering::Less);
    }

    #[test]
    fn changes() {
        let one = Ratio::of_f64(1.0).unwrap();
        assert!(change_at_least(100, 101, one));
        assert!(!change_at_least(100_000, 100_999, one));
        let m1 = Ratio::of_f64(-1.0).unwrap();
        assert!(change_at_least(100, 99, m1));
        assert!(!change_at_least(10_000, 9_899, m1));
        assert_eq!(median2(&[3, 1, 2]), Some(4));
        assert_eq!(median2(&[4, 1]), Some(5));
        assert_eq!(micro_str(5, true), "0.00");
        assert_eq!(micro_str(2_000_000 * 3 + 20_000, true), "3.01");
    }
}
