//! List helpers shared by apply and diff: element typing, Go-style dedupe, partitioning and the
//! element-order normalisation apimachinery applies after merging a list.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::directive::PATCH;
use crate::error::{Error, Result};
use crate::gojson::{GoKind, GoNum, go_eq, go_num, kind};

fn invalid(path: &str, reason: &str) -> Error {
    Error::Invalid {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// `sliceElementType`: all elements of all lists share one Go type, which is not a list.
pub(crate) fn slice_element_kind(lists: &[&[Value]], path: &str) -> Result<GoKind> {
    let mut first: Option<GoKind> = None;
    for list in lists {
        for v in list.iter() {
            let k = kind(v);
            match first {
                None => {
                    if k == GoKind::Slice {
                        return Err(invalid(path, "lists of lists are not supported"));
                    }
                    if k == GoKind::Nil {
                        return Err(invalid(path, "null list element"));
                    }
                    first = Some(k);
                }
                Some(f) if f != k => {
                    return Err(invalid(path, "list element types are not identical"));
                }
                Some(_) => {}
            }
        }
    }
    first.ok_or_else(|| invalid(path, "no elements in any of the given lists"))
}

fn ensure_hashable(v: &Value, path: &str) -> Result<()> {
    match v {
        Value::Object(_) | Value::Array(_) => Err(invalid(path, "unhashable list element")),
        _ => Ok(()),
    }
}

fn contains_scalar(list: &[Value], v: &Value, path: &str) -> Result<bool> {
    ensure_hashable(v, path)?;
    for x in list {
        ensure_hashable(x, path)?;
        if go_eq(x, v, path)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `deduplicateScalars` with Go's exact (order-changing) algorithm.
pub(crate) fn dedupe_scalars(mut s: Vec<Value>, path: &str) -> Result<Vec<Value>> {
    if s.is_empty() {
        return Ok(s);
    }
    let mut length = s.len() - 1;
    let mut i = 0;
    while i < length {
        let mut j = i + 1;
        while j <= length {
            if go_eq(&s[i], &s[j], path)? {
                s[j] = s[length].clone();
                s.truncate(length);
                length -= 1;
                // Go decrements j and the loop increments it again: re-check position j.
                continue;
            }
            j += 1;
        }
        i += 1;
    }
    Ok(s)
}

/// `deleteFromSlice`: drop every value present in `to_delete`.
pub(crate) fn delete_from_slice(
    current: Vec<Value>,
    to_delete: &[Value],
    path: &str,
) -> Result<Vec<Value>> {
    for d in to_delete {
        ensure_hashable(d, path)?;
    }
    let mut out = Vec::with_capacity(current.len());
    for v in current {
        if !contains_scalar(to_delete, &v, path)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// `findMapInSliceBasedOnKeyValue`: first map whose `key` equals `value`.
pub(crate) fn find_by_key<'a>(
    list: &'a [Value],
    key: &str,
    value: &Value,
    path: &str,
) -> Result<Option<(usize, &'a Map<String, Value>)>> {
    for (i, v) in list.iter().enumerate() {
        let Value::Object(m) = v else {
            return Err(invalid(path, "list element is not a map"));
        };
        if let Some(x) = m.get(key)
            && go_eq(x, value, path)?
        {
            return Ok(Some((i, m)));
        }
    }
    Ok(None)
}

/// Items of `merged` present in `by` (first) and the others (second), for primitives.
pub(crate) fn partition_primitives(
    merged: Vec<Value>,
    by: &[Value],
    path: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    for b in by {
        ensure_hashable(b, path)?;
    }
    let (mut inp, mut server) = (Vec::new(), Vec::new());
    for v in merged {
        if contains_scalar(by, &v, path)? {
            inp.push(v);
        } else {
            server.push(v);
        }
    }
    Ok((inp, server))
}

/// Items of `merged` whose merge key appears in `by` (first) and the others (second).
pub(crate) fn partition_maps(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: &str,
    path: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let (mut inp, mut server) = (Vec::new(), Vec::new());
    for v in merged {
        let Value::Object(m) = &v else {
            return Err(invalid(path, "list element is not a map"));
        };
        let Some(kv) = m.get(merge_key) else {
            return Err(Error::no_merge_key(path, merge_key));
        };
        if find_by_key(by, merge_key, kv, path)?.is_some() {
            inp.push(v);
        } else {
            server.push(v);
        }
    }
    Ok((inp, server))
}

/// What `index` compares of a list member: its merge-key value for maps, itself otherwise.
fn index_key<'v>(item: &'v Value, merge_key: &str, elem: GoKind) -> &'v Value {
    if elem == GoKind::Map {
        match item {
            Value::Object(m) => m.get(merge_key).unwrap_or(&Value::Null),
            _ => &Value::Null,
        }
    } else {
        item
    }
}

/// `index`: position of `val` in `l`, by merge key for maps, by value otherwise.
fn index(
    l: &[Value],
    val: &Value,
    merge_key: &str,
    elem: GoKind,
    path: &str,
) -> Result<Option<usize>> {
    let target = index_key(val, merge_key, elem);
    for (i, v) in l.iter().enumerate() {
        if go_eq(target, index_key(v, merge_key, elem), path)? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// A comparable Go value (what `==` on interface values accepts), hashable: numbers as Go holds
/// them (an int64 never equals a float64; `-0` equals `0`).
#[derive(PartialEq, Eq, Hash)]
enum Comparable<'v> {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(&'v str),
}

fn comparable(v: &Value) -> Option<Comparable<'_>> {
    Some(match v {
        Value::Null => Comparable::Null,
        Value::Bool(b) => Comparable::Bool(*b),
        Value::Number(n) => match go_num(n) {
            GoNum::Int(i) => Comparable::Int(i),
            GoNum::Float(f) => Comparable::Float((f + 0.0).to_bits()),
        },
        Value::String(s) => Comparable::Str(s),
        Value::Object(_) | Value::Array(_) => return None,
    })
}

/// `index` into one list answered for many values: the first position of every key, built once
/// (`index` scans the list and its callers call it inside sorts and merges: quadratic).
struct Positions<'v> {
    first: HashMap<Comparable<'v>, usize>,
    /// Keys Go cannot compare: comparing two maps (or two lists) panics in Go, an error here.
    has_map: bool,
    has_list: bool,
}

impl<'v> Positions<'v> {
    fn new(l: &'v [Value], merge_key: &str, elem: GoKind) -> Positions<'v> {
        let mut p = Positions {
            first: HashMap::with_capacity(l.len()),
            has_map: false,
            has_list: false,
        };
        for (i, v) in l.iter().enumerate() {
            let key = index_key(v, merge_key, elem);
            match comparable(key) {
                Some(c) => {
                    p.first.entry(c).or_insert(i);
                }
                None => {
                    p.has_map |= key.is_object();
                    p.has_list |= key.is_array();
                }
            }
        }
        p
    }

    /// Exactly `index(l, val, …)`.
    fn of(&self, val: &Value, merge_key: &str, elem: GoKind, path: &str) -> Result<Option<usize>> {
        let target = index_key(val, merge_key, elem);
        match comparable(target) {
            Some(c) => Ok(self.first.get(&c).copied()),
            // The first key of the same kind makes Go's comparison fail; no other key equals it.
            None if (target.is_object() && self.has_map)
                || (target.is_array() && self.has_list) =>
            {
                go_eq(target, target, path).map(|_| None)
            }
            None => Ok(None),
        }
    }

    /// [`Self::of`] for every member of `items`.
    fn all(
        &self,
        items: &[Value],
        merge_key: &str,
        elem: GoKind,
        path: &str,
    ) -> Result<Vec<Option<usize>>> {
        items
            .iter()
            .map(|v| self.of(v, merge_key, elem, path))
            .collect()
    }
}

/// `normalizeSliceOrder`: sort by position in `order` (Go's stable sort with its comparator that
/// answers "less" whenever either item is missing from `order`, whose positions are indexed in
/// `positions`); `$patch: delete` maps go last.
fn normalize_slice_order(
    mut to_sort: Vec<Value>,
    order: &[Value],
    positions: &Positions<'_>,
    merge_key: &str,
    elem: GoKind,
    path: &str,
) -> Result<Vec<Value>> {
    let mut to_delete = Vec::new();
    if elem == GoKind::Map {
        for v in to_sort.iter().chain(order) {
            let Value::Object(m) = v else {
                return Err(invalid(path, "list element is not a map"));
            };
            if !m.contains_key(merge_key) {
                return Err(Error::no_merge_key(path, merge_key));
            }
        }
        let (keep, del): (Vec<Value>, Vec<Value>) = to_sort
            .into_iter()
            .partition(|v| v.get(PATCH).and_then(Value::as_str) != Some("delete"));
        to_sort = keep;
        to_delete = del;
    }
    match positions.all(&to_sort, merge_key, elem, path) {
        Ok(at) => {
            // Each member's position looked up once; the comparator is Go's, on positions.
            let mut pairs: Vec<(Option<usize>, Value)> = at.into_iter().zip(to_sort).collect();
            go_stable_sort(&mut pairs, |a, b| Ok(order_less(a.0, b.0)))?;
            to_sort = pairs.into_iter().map(|(_, v)| v).collect();
        }
        // A key Go cannot compare: replay Go's comparisons one by one, so that the error comes
        // (or does not) exactly where Go's comes.
        Err(_) => go_stable_sort(&mut to_sort, |a, b| {
            if let Some(ia) = index(order, a, merge_key, elem, path)?
                && let Some(ib) = index(order, b, merge_key, elem, path)?
            {
                return Ok(order_less(Some(ia), Some(ib)));
            }
            Ok(true)
        })?,
    }
    to_sort.extend(to_delete);
    Ok(to_sort)
}

/// apimachinery's comparator: by position, and "less" whenever either is not in the order.
fn order_less(a: Option<usize>, b: Option<usize>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a < b,
        _ => true,
    }
}

/// Go's `sort.SliceStable`: insertion sort on blocks of 20, then symmetric merges. Reproduced
/// step by step so that an inconsistent comparator yields Go's order.
fn go_stable_sort<T>(data: &mut [T], mut less: impl FnMut(&T, &T) -> Result<bool>) -> Result<()> {
    let n = data.len();
    let mut block = 20;
    let (mut a, mut b) = (0, block);
    while b <= n {
        insertion_sort(data, a, b, &mut less)?;
        a = b;
        b += block;
    }
    insertion_sort(data, a, n, &mut less)?;
    while block < n {
        let (mut a, mut b) = (0, 2 * block);
        while b <= n {
            sym_merge(data, a, a + block, b, &mut less)?;
            a = b;
            b += 2 * block;
        }
        let m = a + block;
        if m < n {
            sym_merge(data, a, m, n, &mut less)?;
        }
        block *= 2;
    }
    Ok(())
}

type Less<'a, T> = &'a mut dyn FnMut(&T, &T) -> Result<bool>;

fn insertion_sort<T, F>(data: &mut [T], a: usize, b: usize, less: &mut F) -> Result<()>
where
    F: FnMut(&T, &T) -> Result<bool>,
{
    for i in a + 1..b {
        let mut j = i;
        while j > a && less(&data[j], &data[j - 1])? {
            data.swap(j, j - 1);
            j -= 1;
        }
    }
    Ok(())
}

fn sym_merge<T, F>(data: &mut [T], a: usize, m: usize, b: usize, less: &mut F) -> Result<()>
where
    F: FnMut(&T, &T) -> Result<bool>,
{
    let l: Less<'_, T> = less;
    sym_merge_dyn(data, a, m, b, l)
}

fn sym_merge_dyn<T>(data: &mut [T], a: usize, m: usize, b: usize, less: Less<'_, T>) -> Result<()> {
    if m - a == 1 {
        let (mut i, mut j) = (m, b);
        while i < j {
            let h = (i + j) / 2;
            if less(&data[h], &data[a])? {
                i = h + 1;
            } else {
                j = h;
            }
        }
        for k in a..i - 1 {
            data.swap(k, k + 1);
        }
        return Ok(());
    }
    if b - m == 1 {
        let (mut i, mut j) = (a, m);
        while i < j {
            let h = (i + j) / 2;
            if !less(&data[m], &data[h])? {
                i = h + 1;
            } else {
                j = h;
            }
        }
        let mut k = m;
        while k > i {
            data.swap(k, k - 1);
            k -= 1;
        }
        return Ok(());
    }
    let mid = (a + b) / 2;
    let n = mid + m;
    let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
    let p = n - 1;
    while start < r {
        let c = (start + r) / 2;
        if !less(&data[p - c], &data[c])? {
            start = c + 1;
        } else {
            r = c;
        }
    }
    let end = n - start;
    if start < m && m < end {
        data[start..end].rotate_left(m - start);
    }
    if a < start && start < mid {
        sym_merge_dyn(data, a, start, mid, less)?;
    }
    if mid < end && end < b {
        sym_merge_dyn(data, mid, end, b, less)?;
    }
    Ok(())
}

/// `normalizeElementOrder` + `mergeSortedSlice`: patch items in patch order, server-only items in
/// live order, interleaved by their positions in the live list.
pub(crate) fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    elem: GoKind,
    path: &str,
) -> Result<Vec<Value>> {
    let server = Positions::new(server_order, merge_key, elem);
    let in_patch = Positions::new(patch_order, merge_key, elem);
    let right = normalize_slice_order(patch, patch_order, &in_patch, merge_key, elem, path)?;
    let left = normalize_slice_order(server_only, server_order, &server, merge_key, elem, path)?;
    let at = |items: &[Value]| server.all(items, merge_key, elem, path);
    let (left_at, right_at) = match (at(&left), at(&right)) {
        (Ok(l), Ok(r)) => (l, r),
        _ => return merge_sorted_by_index(left, right, server_order, merge_key, elem, path),
    };
    let (mut left, mut right) = (left, right);
    let size = left.len() + right.len();
    let mut out = Vec::with_capacity(size);
    let (mut i, mut j) = (0, 0);
    for _ in 0..size {
        let take_left = if i >= left.len() {
            false
        } else if j >= right.len() {
            true
        } else {
            matches!((left_at[i], right_at[j]), (Some(li), Some(ri)) if li < ri)
        };
        if take_left {
            out.push(std::mem::take(&mut left[i]));
            i += 1;
        } else {
            out.push(std::mem::take(&mut right[j]));
            j += 1;
        }
    }
    Ok(out)
}

/// `mergeSortedSlice` looking each position up as Go does, for lists with keys Go cannot
/// compare (so that its error comes where Go's comes).
fn merge_sorted_by_index(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    elem: GoKind,
    path: &str,
) -> Result<Vec<Value>> {
    let size = left.len() + right.len();
    let mut out = Vec::with_capacity(size);
    let (mut i, mut j) = (0, 0);
    for _ in 0..size {
        if i >= left.len() && j < right.len() {
            out.push(right[j].clone());
            j += 1;
        } else if j >= right.len() && i < left.len() {
            out.push(left[i].clone());
            i += 1;
        } else {
            let li = index(server_order, &left[i], merge_key, elem, path)?;
            let ri = index(server_order, &right[j], merge_key, elem, path)?;
            match (li, ri) {
                (Some(li), Some(ri)) if li < ri => {
                    out.push(left[i].clone());
                    i += 1;
                }
                _ => {
                    out.push(right[j].clone());
                    j += 1;
                }
            }
        }
    }
    Ok(out)
}

/// Orders a diff's patch list of maps by position in the modified list.
pub(crate) fn normalize_order_for_diff(
    patch: Vec<Value>,
    modified: &[Value],
    merge_key: &str,
    path: &str,
) -> Result<Vec<Value>> {
    let positions = Positions::new(modified, merge_key, GoKind::Map);
    normalize_slice_order(patch, modified, &positions, merge_key, GoKind::Map, path)
}

/// Orders a diff's list of added scalars by position in the modified list.
pub(crate) fn normalize_scalars_for_diff(
    add: Vec<Value>,
    modified: &[Value],
    elem: GoKind,
    path: &str,
) -> Result<Vec<Value>> {
    let positions = Positions::new(modified, "", elem);
    normalize_slice_order(add, modified, &positions, "", elem, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Merge keys and members Go compares differently: int64 vs float64, `-0` vs `0`, maps and
    /// lists (uncomparable), null, a member without the key, a member that is no map.
    fn key() -> impl Strategy<Value = Value> {
        prop::sample::select(vec![
            json!(null),
            json!(true),
            json!(0),
            json!(1),
            json!(1.0),
            json!(0.0),
            json!(-0.0),
            json!(2.5),
            json!("a"),
            json!("b"),
            json!({"x": 1}),
            json!([1]),
        ])
    }

    fn member() -> impl Strategy<Value = Value> {
        prop_oneof![
            6 => key().prop_map(|k| json!({"k": k})),
            1 => Just(json!({"other": 1})),
            1 => key(),
        ]
    }

    proptest! {
        // The index must answer exactly what `index` (apimachinery's scan) answers, errors
        // included, for maps by merge key and for primitives by value.
        #[test]
        fn positions_answer_like_index(
            order in prop::collection::vec(member(), 0..12),
            probes in prop::collection::vec(member(), 0..12),
            maps in any::<bool>(),
        ) {
            let elem = if maps { GoKind::Map } else { GoKind::String };
            let positions = Positions::new(&order, "k", elem);
            for probe in &probes {
                let want = index(&order, probe, "k", elem, "/p");
                let got = positions.of(probe, "k", elem, "/p");
                prop_assert_eq!(want.is_err(), got.is_err(), "{:?} in {:?}", probe, order);
                if let (Ok(w), Ok(g)) = (want, got) {
                    prop_assert_eq!(w, g, "{:?} in {:?}", probe, order);
                }
            }
        }
    }
}
