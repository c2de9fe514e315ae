//! `resource.Quantity` values, parsed exactly enough to compare them like Go's `Quantity.Cmp`.
//!
//! A quantity is `<sign><digits>[.<digits>]<suffix>` with a binary suffix (`Ki`…`Ei`), a decimal SI
//! suffix (`n u m "" k M G T P E`) or a decimal exponent (`e3`, `E-2`). Its value is kept as an exact
//! rational `mantissa × 2^a × 10^b`, so `1Gi` = `1024Mi`, `1000m` = `1`, `0.5` = `500m`, `1e3` = `1k`.

use std::cmp::Ordering;

/// An exact quantity value: `sign × digits × 10^exp10 × 2^exp2`.
#[derive(Debug, Clone)]
pub struct Quantity {
    negative: bool,
    /// Decimal digits without leading zeros (empty = zero).
    digits: Vec<u8>,
    exp10: i64,
    exp2: i64,
}

/// Error for text that is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)]
pub struct QuantityParseError;

impl std::str::FromStr for Quantity {
    type Err = QuantityParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s).ok_or(QuantityParseError)
    }
}

fn parse(s: &str) -> Option<Quantity> {
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let mut pos = 0;
    let mut negative = false;
    if b[0] == b'+' || b[0] == b'-' {
        negative = b[0] == b'-';
        pos = 1;
    }
    let num_start = pos;
    let mut int_digits = Vec::new();
    let mut frac_digits = Vec::new();
    let mut seen_dot = false;
    while pos < b.len() {
        match b[pos] {
            c @ b'0'..=b'9' => {
                if seen_dot {
                    frac_digits.push(c - b'0');
                } else {
                    int_digits.push(c - b'0');
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => break,
        }
        pos += 1;
    }
    if pos == num_start || (int_digits.is_empty() && frac_digits.is_empty()) {
        return None;
    }
    let suffix = &s[pos..];
    let (exp2, exp10) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        _ => {
            let rest = suffix.strip_prefix(['e', 'E'])?;
            let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            (0, rest.parse::<i64>().ok()?)
        }
    };
    let exp10 = exp10 - frac_digits.len() as i64;
    let mut digits: Vec<u8> = int_digits.into_iter().chain(frac_digits).collect();
    let lead = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..lead);
    Some(Quantity {
        negative: negative && !digits.is_empty(),
        digits,
        exp10,
        exp2,
    })
}

/// Big unsigned integer as little-endian base-1e9 limbs, enough for comparisons.
fn to_big(q: &Quantity, shift10: i64, shift2: i64) -> Vec<u64> {
    let mut n: Vec<u64> = vec![0];
    let mul_add = |n: &mut Vec<u64>, m: u64, a: u64| {
        let mut carry = a;
        for limb in n.iter_mut() {
            let v = *limb * m + carry;
            *limb = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        while carry > 0 {
            n.push(carry % 1_000_000_000);
            carry /= 1_000_000_000;
        }
    };
    for d in &q.digits {
        mul_add(&mut n, 10, u64::from(*d));
    }
    for _ in 0..shift10 {
        mul_add(&mut n, 10, 0);
    }
    for _ in 0..shift2 {
        mul_add(&mut n, 2, 0);
    }
    while n.len() > 1 && n.last() == Some(&0) {
        n.pop();
    }
    n
}

fn cmp_big(a: &[u64], b: &[u64]) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().rev().cmp(b.iter().rev()))
}

impl Quantity {
    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    fn cmp_abs(&self, other: &Quantity) -> Ordering {
        // Bring both to integers over the common denominator 10^k · 2^j (all exponents bounded
        // by the parser's suffix table and the exponent text, which is short in practice).
        let e10 = self.exp10.min(other.exp10);
        let e2 = self.exp2.min(other.exp2);
        let a = to_big(self, self.exp10 - e10, self.exp2 - e2);
        let b = to_big(other, other.exp10 - e10, other.exp2 - e2);
        cmp_big(&a, &b)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => {
                return if other.negative {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
            }
            (false, true) => {
                return if self.negative {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            _ => {}
        }
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_abs(other),
            (true, true) => other.cmp_abs(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        s.parse().unwrap()
    }

    #[test]
    fn equal_values_in_different_notations() {
        // Equalities from the Quantity documentation: suffixes are powers of 10 or 2.
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1Gi"), q("1024Mi"));
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1E3"), q("1000"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert_eq!(q("0"), q("-0"));
        assert_eq!(q("0Mi"), q("0m"));
        assert_eq!(q("12e-3"), q("12m"));
        assert!(q("1Ki") > q("1k"));
        assert!(q("-1") < q("0"));
        assert!(q("100m") < q("0.2"));
    }

    #[test]
    fn rejects_non_quantities() {
        for bad in ["", "abc", "1Gb", "1.2.3", "Mi", "1e", "1 Mi", "--1", "."] {
            assert!(bad.parse::<Quantity>().is_err(), "{bad}");
        }
    }
}
