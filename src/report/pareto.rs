//! Pareto fronts: the points no other point beats on both accuracy (higher
//! is better) and cost (lower is better).

/// `front[i]` is true when no point `j` has `acc[j] >= acc[i]` and
/// `cost[j] <= cost[i]` with at least one strict. Points with a NaN value
/// are never on the front. O(n²), fine for sweep sizes.
pub fn front(points: &[(f64, f64)]) -> Vec<bool> {
    points
        .iter()
        .map(|&(acc, cost)| {
            !acc.is_nan()
                && !cost.is_nan()
                && !points
                    .iter()
                    .any(|&(a, c)| a >= acc && c <= cost && (a > acc || c < cost))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::front;

    #[test]
    fn hand_made_front() {
        // (accuracy, cost)
        let pts = [
            (0.90, 10.0), // front: cheapest
            (0.95, 20.0), // front
            (0.94, 25.0), // dominated by (0.95, 20)
            (0.97, 40.0), // front: most accurate
            (0.97, 50.0), // dominated: same accuracy, dearer
            (0.80, 10.0), // dominated by (0.90, 10)
            (0.95, 20.0), // tie with point 1: both on the front
            (f64::NAN, 1.0),
        ];
        assert_eq!(
            front(&pts),
            vec![true, true, false, true, false, false, true, false]
        );
    }

    #[test]
    fn single_point_is_its_own_front() {
        assert_eq!(front(&[(0.5, 3.0)]), vec![true]);
        assert!(front(&[]).is_empty());
    }
}
