//! Rounding to a base, halves to even (as ACRO rounds; OpenSAFELY's "nearest 5" differs
//! only on exact halves).

/// Rounds `x` to the nearest multiple of `base`; an exact half goes to the even multiple.
pub fn round_half_even(x: f64, base: u32) -> f64 {
    let b = f64::from(base.max(1));
    let q = x / b;
    let r = q.round();
    let rounded = if (q - q.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - q.signum()
    } else {
        r
    };
    rounded * b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_go_to_the_even_multiple() {
        assert_eq!(round_half_even(12.0, 5), 10.0);
        assert_eq!(round_half_even(13.0, 5), 15.0);
        assert_eq!(round_half_even(7.5, 5), 10.0); // 1.5 → 2
        assert_eq!(round_half_even(12.5, 5), 10.0); // 2.5 → 2
        assert_eq!(round_half_even(15.0, 10), 20.0); // 1.5 → 2
        assert_eq!(round_half_even(25.0, 10), 20.0); // 2.5 → 2
        assert_eq!(round_half_even(0.0, 5), 0.0);
        assert_eq!(round_half_even(-12.5, 5), -10.0);
    }
}
