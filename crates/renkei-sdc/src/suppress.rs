//! Complementary (secondary) suppression: once cells are suppressed, the published
//! margins must not give them back.
//!
//! With every row and column total of a two-dimensional table published, the unknown
//! (suppressed) cells satisfy one equation per row and per column. Seen as a bipartite
//! graph (rows and columns as nodes, suppressed cells as edges), the solutions differ
//! by flows around cycles, so a suppressed cell's value is fixed exactly when its edge
//! lies on no cycle: when it is a bridge. The pattern is safe when it has no bridges.
//! A one-dimensional table with its total has one equation: a single suppressed cell
//! is the total minus the rest, two or more are not fixed.
//!
//! Each bridge is closed into the cheapest four-cycle (smallest added published values,
//! avoiding zero cells, which hide little). This is a heuristic, not the optimal
//! pattern; the tests check the property that matters, that no suppressed cell can be
//! solved for.
//!
//! Tables of three or four dimensions with margins are blocked with an explanation:
//! their margins form a system that this pattern search does not cover.

/// Returns the complementary cells to suppress beside `primary` (row-major indices into
/// a table of `shape` whose published figures are `values`), or why no pattern exists.
pub(crate) fn complementary(
    shape: &[usize],
    values: &[f64],
    primary: &[usize],
) -> Result<Vec<usize>, String> {
    match shape {
        [n] => one_dim(*n, values, primary),
        [r, c] => two_dim(*r, *c, values, primary),
        _ => Err(format!(
            "suppression with margins is computed for tables of one or two dimensions; \
             this one has {}: publish it without margins, or as two-dimensional tables",
            shape.len()
        )),
    }
}

/// What hiding a cell costs: its published value; zero cells last.
fn cost(v: f64) -> f64 {
    if v == 0.0 { 1e15 } else { v.abs() }
}

fn one_dim(n: usize, values: &[f64], primary: &[usize]) -> Result<Vec<usize>, String> {
    if primary.len() != 1 {
        return Ok(Vec::new());
    }
    let p = primary[0];
    let best = (0..n)
        .filter(|&j| j != p)
        .min_by(|&a, &b| cost(values[a]).total_cmp(&cost(values[b])));
    match best {
        Some(j) => Ok(vec![j]),
        None => Err(
            "the table has one cell beside its total: suppressing it cannot hide it; \
             publish without the total or aggregate further"
                .to_string(),
        ),
    }
}

fn two_dim(r: usize, c: usize, values: &[f64], primary: &[usize]) -> Result<Vec<usize>, String> {
    let mut sup = vec![false; r * c];
    for &p in primary {
        sup[p] = true;
    }
    let mut added = Vec::new();
    // Each pass closes every bridge it finds; closing never opens a new bridge, so
    // passes end when none is left (at most one pass per primary cell).
    loop {
        let bridges = bridges(r, c, &sup);
        if bridges.is_empty() {
            break;
        }
        for (i, j) in bridges {
            if on_four_cycle(r, c, &sup, i, j) {
                continue;
            }
            let Some(cells) = cheapest_cycle(r, c, values, &sup, i, j) else {
                return Err(format!(
                    "cell ({}, {}) cannot be hidden: a dimension with one label repeats the \
                     cells in its totals; drop that dimension or publish without margins",
                    i + 1,
                    j + 1
                ));
            };
            for k in cells {
                if !sup[k] {
                    sup[k] = true;
                    added.push(k);
                }
            }
        }
    }
    added.sort_unstable();
    Ok(added)
}

fn on_four_cycle(r: usize, c: usize, sup: &[bool], i: usize, j: usize) -> bool {
    (0..r).filter(|&a| a != i && sup[a * c + j]).any(|a| {
        (0..c)
            .filter(|&b| b != j && sup[i * c + b])
            .any(|b| sup[a * c + b])
    })
}

/// The cells to add so that (i, j) lies on a four-cycle i–j'–i'–j, cheapest first.
fn cheapest_cycle(
    r: usize,
    c: usize,
    values: &[f64],
    sup: &[bool],
    i: usize,
    j: usize,
) -> Option<Vec<usize>> {
    const CAP: usize = 8;
    let at = |a: usize, b: usize| a * c + b;
    let pick = |n: usize, skip: usize, cell: &dyn Fn(usize) -> usize| -> Vec<usize> {
        // Lines already carrying a suppressed cell, then the cheapest others.
        let mut v: Vec<usize> = (0..n)
            .filter(|&k| k != skip && sup[cell(k)])
            .take(CAP)
            .collect();
        let mut rest: Vec<usize> = (0..n).filter(|&k| k != skip && !sup[cell(k)]).collect();
        rest.sort_by(|&a, &b| cost(values[cell(a)]).total_cmp(&cost(values[cell(b)])));
        v.extend(rest.into_iter().take(CAP));
        v
    };
    let rows = pick(r, i, &|a| at(a, j));
    let cols = pick(c, j, &|b| at(i, b));
    let mut best: Option<(f64, Vec<usize>)> = None;
    for &a in &rows {
        for &b in &cols {
            let cells = [at(i, b), at(a, j), at(a, b)];
            let total: f64 = cells
                .iter()
                .filter(|&&k| !sup[k])
                .map(|&k| cost(values[k]))
                .sum();
            if best.as_ref().is_none_or(|(t, _)| total < *t) {
                best = Some((total, cells.to_vec()));
            }
        }
    }
    best.map(|(_, cells)| cells)
}

/// Bridges of the bipartite graph rows × columns whose edges are the suppressed cells
/// (Tarjan's low-link, iterative so large tables do not overflow the stack).
fn bridges(r: usize, c: usize, sup: &[bool]) -> Vec<(usize, usize)> {
    let n = r + c;
    let mut adj: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n]; // (neighbour, edge id)
    let mut edges = Vec::new();
    for (k, _) in sup.iter().enumerate().filter(|(_, s)| **s) {
        let (i, j) = (k / c, k % c);
        let id = edges.len();
        edges.push((i, j));
        adj[i].push((r + j, id));
        adj[r + j].push((i, id));
    }
    let mut disc = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut out = Vec::new();
    let mut time = 0;
    for root in 0..n {
        if disc[root] != usize::MAX || adj[root].is_empty() {
            continue;
        }
        // (node, edge used to enter it, next neighbour position)
        let mut stack: Vec<(usize, usize, usize)> = vec![(root, usize::MAX, 0)];
        disc[root] = time;
        low[root] = time;
        time += 1;
        while let Some(&mut (v, via, ref mut pos)) = stack.last_mut() {
            if *pos < adj[v].len() {
                let (w, id) = adj[v][*pos];
                *pos += 1;
                if id == via {
                    continue;
                }
                if disc[w] == usize::MAX {
                    disc[w] = time;
                    low[w] = time;
                    time += 1;
                    stack.push((w, id, 0));
                } else {
                    low[v] = low[v].min(disc[w]);
                }
            } else {
                stack.pop();
                if let Some(&(parent, _, _)) = stack.last() {
                    low[parent] = low[parent].min(low[v]);
                    if low[v] > disc[parent] {
                        out.push(edges[via]);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_suppressed_cell_is_a_bridge_and_a_square_is_not() {
        let mut sup = vec![false; 9];
        sup[0] = true;
        assert_eq!(bridges(3, 3, &sup), vec![(0, 0)]);
        sup[1] = true;
        sup[3] = true;
        sup[4] = true;
        assert!(bridges(3, 3, &sup).is_empty());
    }

    #[test]
    fn the_cheapest_square_is_chosen() {
        // 3×3, primary at (0,0) = 3; cheapest partners are the 20s, not the 0s.
        let values = [3.0, 20.0, 50.0, 25.0, 30.0, 60.0, 0.0, 0.0, 90.0];
        let added = complementary(&[3, 3], &values, &[0]).unwrap();
        assert_eq!(added, vec![1, 3, 4]);
    }

    #[test]
    fn one_dimension_needs_a_second_cell_and_a_single_row_cannot_be_protected() {
        assert_eq!(
            complementary(&[3], &[4.0, 0.0, 30.0], &[0]).unwrap(),
            vec![2]
        );
        assert!(
            complementary(&[3], &[4.0, 5.0, 30.0], &[0, 1])
                .unwrap()
                .is_empty()
        );
        assert!(complementary(&[1], &[4.0], &[0]).is_err());
        assert!(complementary(&[1, 3], &[4.0, 20.0, 30.0], &[0]).is_err());
        assert!(complementary(&[2, 2, 2], &[1.0; 8], &[0]).is_err());
    }
}
