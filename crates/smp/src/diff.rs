//! Two-way strategic merge patch (`CreateTwoWayMergePatch` with `SetElementOrder`), the delta that
//! carries a template change onto pods whose lists hold extra members.

use serde_json::{Map, Value};

use crate::apply::merge_key_value_equal;
use crate::directive::{DELETE_FROM_PRIMITIVE_LIST, PATCH, RETAIN_KEYS, SET_ELEMENT_ORDER};
use crate::error::{Error, Result};
use crate::gojson::{GoKind, deep_eq, fmt_v, go_sort_keyed, go_sorted_by_key, kind};
use crate::gotype::Ty;
use crate::list::slice_element_kind;
use crate::meta::{lookup_slice, lookup_struct};
use crate::schema::Root;

/// Computes the strategic merge patch that turns `original` into `modified`, as apimachinery's
/// `CreateTwoWayMergePatch` does: changed scalars and atomic lists carry the new value, removed keys
/// are `null`, merge lists are diffed element by element by merge key (removed elements become
/// `{"<key>": v, "$patch": "delete"}`, removed primitives go to `$deleteFromPrimitiveList/<list>`)
/// with `$setElementOrder/<list>`, and `retainKeys` fields get `$retainKeys`.
///
/// `apply(original, two_way_diff(original, modified)) == modified` for documents the schema knows.
pub fn two_way_diff(original: &Value, modified: &Value, root: Root) -> Result<Value> {
    let Value::Object(o) = original else {
        return Err(Error::NotAnObject { what: "original" });
    };
    let Value::Object(m) = modified else {
        return Err(Error::NotAnObject { what: "modified" });
    };
    Ok(Value::Object(diff_maps(o, m, root.ty(), false, "")?))
}

fn diff_maps(
    original: &Map<String, Value>,
    modified: &Map<String, Value>,
    schema: Ty,
    build_retain_keys: bool,
    path: &str,
) -> Result<Map<String, Value>> {
    let mut patch = Map::new();
    let mut retain: Vec<Value> = Vec::new();
    for (key, mv) in modified {
        if build_retain_keys && !mv.is_null() {
            retain.push(Value::String(key.clone()));
        }
        let Some(ov) = original.get(key) else {
            patch.insert(key.clone(), mv.clone());
            continue;
        };
        if key == PATCH {
            let (Some(os), Some(ms)) = (ov.as_str(), mv.as_str()) else {
                return Err(Error::Directive {
                    path: path.to_owned(),
                    reason: "invalid value for $patch".into(),
                });
            };
            if os != ms {
                patch.insert(key.clone(), mv.clone());
            }
            continue;
        }
        if kind(ov) != kind(mv) {
            patch.insert(key.clone(), mv.clone());
            continue;
        }
        // The child's path, for errors deeper down (made only where there is a deeper down).
        let p = || format!("{path}/{key}");
        match (ov, mv) {
            (Value::Object(om), Value::Object(mm)) => {
                let (sub, meta) = match lookup_struct(schema, key, path) {
                    Ok(x) => x,
                    Err(_) if deep_eq(ov, mv) => continue,
                    Err(e) => return Err(e),
                };
                if meta.strategy == "replace" {
                    patch.insert(key.clone(), mv.clone());
                } else {
                    let pv = diff_maps(om, mm, sub, meta.retain_keys, &p())?;
                    if !pv.is_empty() {
                        patch.insert(key.clone(), Value::Object(pv));
                    }
                }
            }
            (Value::Array(ol), Value::Array(ml)) => {
                let (sub, meta) = match lookup_slice(schema, key, path) {
                    Ok(x) => x,
                    Err(_) if deep_eq(ov, mv) => continue,
                    Err(e) => return Err(e),
                };
                if meta.strategy == "merge" {
                    let (add, del, order) =
                        diff_lists(ol, ml, sub, meta.merge_key, meta.retain_keys, &p())?;
                    if !add.is_empty() {
                        patch.insert(key.clone(), Value::Array(add));
                    }
                    if !del.is_empty() {
                        patch.insert(
                            format!("{DELETE_FROM_PRIMITIVE_LIST}/{key}"),
                            Value::Array(del),
                        );
                    }
                    if !order.is_empty() {
                        patch.insert(format!("{SET_ELEMENT_ORDER}/{key}"), Value::Array(order));
                    }
                } else if !deep_eq(ov, mv) {
                    patch.insert(key.clone(), mv.clone());
                }
            }
            _ => {
                if !deep_eq(ov, mv) {
                    patch.insert(key.clone(), mv.clone());
                }
            }
        }
    }
    for key in original.keys() {
        if !modified.contains_key(key) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    let original_has_more = original
        .iter()
        .any(|(k, v)| !v.is_null() && !modified.contains_key(k));
    if !retain.is_empty() && (!patch.is_empty() || original_has_more) {
        let mut keyed: Vec<(String, Value)> = retain.into_iter().map(|k| (fmt_v(&k), k)).collect();
        go_sort_keyed(&mut keyed);
        let retain = keyed.into_iter().map(|(_, k)| k).collect();
        patch.insert(RETAIN_KEYS.to_owned(), Value::Array(retain));
    }
    Ok(patch)
}

type ListDiff = (Vec<Value>, Vec<Value>, Vec<Value>);

fn diff_lists(
    original: &[Value],
    modified: &[Value],
    schema: Ty,
    merge_key: &str,
    build_retain_keys: bool,
    path: &str,
) -> Result<ListDiff> {
    if original.is_empty() {
        return Ok((modified.to_vec(), Vec::new(), Vec::new()));
    }
    let elem = slice_element_kind(&[original, modified], path)?;
    match elem {
        GoKind::Map => {
            let (patch, deletions) = diff_lists_of_maps(
                original,
                modified,
                schema,
                merge_key,
                build_retain_keys,
                path,
            )?;
            let mut patch =
                crate::list::normalize_order_for_diff(patch, modified, merge_key, path)?;
            let order_same = is_order_same(original, modified, merge_key, path)?;
            patch.extend(deletions);
            let mut order = Vec::new();
            if !patch.is_empty() || !order_same {
                for v in modified {
                    let mut m = Map::new();
                    m.insert(
                        merge_key.to_owned(),
                        v.get(merge_key).cloned().unwrap_or(Value::Null),
                    );
                    order.push(Value::Object(m));
                }
            }
            Ok((patch, Vec::new(), order))
        }
        GoKind::Slice => Err(Error::Invalid {
            path: path.to_owned(),
            reason: "lists of lists are not supported".into(),
        }),
        _ => {
            let (add, del) = diff_lists_of_scalars(original, modified, path)?;
            let add = crate::list::normalize_scalars_for_diff(add, modified, elem, path)?;
            // Go sorts the original list in place before this comparison.
            let sorted = go_sorted_by_key(original, fmt_v);
            let changed = sorted.len() != modified.len()
                || !sorted.iter().zip(modified).all(|((_, o), m)| deep_eq(o, m));
            let order = if !del.is_empty() || changed {
                modified.to_vec()
            } else {
                Vec::new()
            };
            Ok((add, del, order))
        }
    }
}

fn is_order_same(
    original: &[Value],
    modified: &[Value],
    merge_key: &str,
    path: &str,
) -> Result<bool> {
    if original.len() != modified.len() {
        return Ok(false);
    }
    for (o, m) in original.iter().zip(modified) {
        if !merge_key_value_equal(o, m, merge_key, path)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn diff_lists_of_scalars(
    original: &[Value],
    modified: &[Value],
    path: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let o = go_sorted_by_key(original, fmt_v);
    let m = go_sorted_by_key(modified, fmt_v);
    let (mut i, mut j) = (0, 0);
    let (mut add, mut del) = (Vec::new(), Vec::new());
    loop {
        let (oin, min) = (i < o.len(), j < m.len());
        if !oin && !min {
            break;
        }
        let os = if oin { o[i].0.as_str() } else { "" };
        let ms = if min { m[j].0.as_str() } else { "" };
        if oin && min && os == ms {
            i += 1;
            j += 1;
        } else if !oin || (min && os > ms) {
            add.push(m[j].1.clone());
            j += 1;
        } else {
            del.push(o[i].1.clone());
            i += 1;
        }
    }
    Ok((add, crate::list::dedupe_scalars(del, path)?))
}

fn diff_lists_of_maps(
    original: &[Value],
    modified: &[Value],
    schema: Ty,
    merge_key: &str,
    build_retain_keys: bool,
    path: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let os = sort_by_merge_key(original, merge_key);
    let ms = sort_by_merge_key(modified, merge_key);
    let (mut patch, mut deletions) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    loop {
        let (oin, min) = (i < os.len(), j < ms.len());
        if !oin && !min {
            break;
        }
        let o = if oin {
            Some(member(os[i].1, merge_key, path)?)
        } else {
            None
        };
        let m = if min {
            Some(member(ms[j].1, merge_key, path)?)
        } else {
            None
        };
        // The sort keys are the merge keys' `%v`: every member here has its merge key.
        let okey = if oin { os[i].0.as_str() } else { "" };
        let mkey = if min { ms[j].0.as_str() } else { "" };
        match (o, m) {
            (Some((om, _)), Some((mm, mk))) if okey == mkey => {
                let mut pv = diff_maps(om, mm, schema, build_retain_keys, path)?;
                if !pv.is_empty() {
                    pv.insert(merge_key.to_owned(), mk);
                    patch.push(Value::Object(pv));
                }
                i += 1;
                j += 1;
            }
            (None, Some((mm, _))) => {
                patch.push(Value::Object(mm.clone()));
                j += 1;
            }
            (Some(_), Some((mm, _))) if okey > mkey => {
                patch.push(Value::Object(mm.clone()));
                j += 1;
            }
            (Some((_, ok)), _) => {
                let mut d = Map::new();
                d.insert(merge_key.to_owned(), ok);
                d.insert(PATCH.to_owned(), Value::String("delete".into()));
                deletions.push(Value::Object(d));
                i += 1;
            }
            (None, None) => break,
        }
    }
    Ok((patch, deletions))
}

/// A member of a list of maps and its merge-key value.
fn member<'v>(
    v: &'v Value,
    merge_key: &str,
    path: &str,
) -> Result<(&'v Map<String, Value>, Value)> {
    let Value::Object(m) = v else {
        return Err(Error::Invalid {
            path: path.to_owned(),
            reason: "list element is not a map".into(),
        });
    };
    let Some(kv) = m.get(merge_key) else {
        return Err(Error::no_merge_key(path, merge_key));
    };
    Ok((m, kv.clone()))
}

/// `sortMergeListsByNameArray` without recursion, for a list of maps (the caller checked every
/// member of both lists is one): sorted by `%v` of the merge key, members not copied.
fn sort_by_merge_key<'v>(list: &'v [Value], merge_key: &str) -> Vec<(String, &'v Value)> {
    go_sorted_by_key(list, |x| fmt_v(x.get(merge_key).unwrap_or(&Value::Null)))
}
