//! List helpers shared by apply and diff: element typing, Go-style dedupe, partitioning and the
//! element-order normalisation apimachinery applies after merging a list.

use serde_json::{Map, Value};

use crate::apply::no_merge_key;
use crate::directive::PATCH;
use crate::error::{Error, Result};
use crate::gojson::{GoKind, go_eq, kind};

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
            return Err(no_merge_key(path, merge_key));
        };
        if find_by_key(by, merge_key, kv, path)?.is_some() {
            inp.push(v);
        } else {
            server.push(v);
        }
    }
    Ok((inp, server))
}

/// `index`: position of `val` in `l`, by merge key for maps, by value otherwise.
fn index(
    l: &[Value],
    val: &Value,
    merge_key: &str,
    elem: GoKind,
    path: &str,
) -> Result<Option<usize>> {
    let get = |item: &Value| -> Value {
        if elem == GoKind::Map {
            match item {
                Value::Object(m) => m.get(merge_key).cloned().unwrap_or(Value::Null),
                _ => Value::Null,
            }
        } else {
            item.clone()
        }
    };
    let target = get(val);
    for (i, v) in l.iter().enumerate() {
        if go_eq(&target, &get(v), path)? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// `normalizeSliceOrder`: sort by position in `order` (Go's stable sort with its comparator that
/// answers "less" whenever either item is missing from `order`); `$patch: delete` maps go last.
fn normalize_slice_order(
    mut to_sort: Vec<Value>,
    order: &[Value],
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
                return Err(no_merge_key(path, merge_key));
            }
        }
        let (keep, del): (Vec<Value>, Vec<Value>) = to_sort
            .into_iter()
            .partition(|v| v.get(PATCH).and_then(Value::as_str) != Some("delete"));
        to_sort = keep;
        to_delete = del;
    }
    let less = |a: &Value, b: &Value| -> Result<bool> {
        if let Some(ia) = index(order, a, merge_key, elem, path)?
            && let Some(ib) = index(order, b, merge_key, elem, path)?
        {
            return Ok(ia < ib);
        }
        Ok(true)
    };
    go_stable_sort(&mut to_sort, less)?;
    to_sort.extend(to_delete);
    Ok(to_sort)
}

/// Go's `sort.SliceStable`: insertion sort on blocks of 20, then symmetric merges. Reproduced
/// step by step so that an inconsistent comparator yields Go's order.
fn go_stable_sort(
    data: &mut [Value],
    mut less: impl FnMut(&Value, &Value) -> Result<bool>,
) -> Result<()> {
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

type Less<'a> = &'a mut dyn FnMut(&Value, &Value) -> Result<bool>;

fn insertion_sort<F>(data: &mut [Value], a: usize, b: usize, less: &mut F) -> Result<()>
where
    F: FnMut(&Value, &Value) -> Result<bool>,
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

fn sym_merge<F>(data: &mut [Value], a: usize, m: usize, b: usize, less: &mut F) -> Result<()>
where
    F: FnMut(&Value, &Value) -> Result<bool>,
{
    let l: Less<'_> = less;
    sym_merge_dyn(data, a, m, b, l)
}

fn sym_merge_dyn(data: &mut [Value], a: usize, m: usize, b: usize, less: Less<'_>) -> Result<()> {
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
    let right = normalize_slice_order(patch, patch_order, merge_key, elem, path)?;
    let left = normalize_slice_order(server_only, server_order, merge_key, elem, path)?;
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
    normalize_slice_order(patch, modified, merge_key, GoKind::Map, path)
}

/// Orders a diff's list of added scalars by position in the modified list.
pub(crate) fn normalize_scalars_for_diff(
    add: Vec<Value>,
    modified: &[Value],
    elem: GoKind,
    path: &str,
) -> Result<Vec<Value>> {
    normalize_slice_order(add, modified, "", elem, path)
}
