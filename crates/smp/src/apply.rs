//! Applying a strategic merge patch, with the semantics of apimachinery's `StrategicMergeMapPatch`
//! (options `MergeParallelList` and `IgnoreUnmatchedNulls` on, as the apiserver and Velero use it).

use serde_json::{Map, Value};

use crate::directive::{
    DELETE_FROM_PRIMITIVE_LIST, PATCH, RETAIN_KEYS, SET_ELEMENT_ORDER, extract_key,
};
use crate::error::{Error, Result};
use crate::gojson::{GoKind, go_eq, kind};
use crate::gotype::Ty;
use crate::list::{
    dedupe_scalars, delete_from_slice, find_by_key, normalize_element_order, partition_maps,
    partition_primitives, slice_element_kind,
};
use crate::meta::{lookup_slice, lookup_struct};
use crate::schema::Root;

/// Applies `patch` to `original` as a strategic merge patch, `root` giving the Go type that supplies
/// merge keys and patch strategies.
///
/// Directives: `$patch` (`replace`/`delete` on maps; `replace`/`delete` elements in merge lists;
/// `merge` is an error), `$retainKeys`, `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`.
/// A `null` deletes a key. Lists without a `merge` strategy are replaced wholesale. A map or list
/// value at a key the Go type does not know is an error when it must be merged; unknown scalars are
/// copied, exactly as apimachinery does.
pub fn apply(original: &Value, patch: &Value, root: Root) -> Result<Value> {
    apply_owned(original.clone(), patch, root)
}

/// [`apply`] to a document the caller gives up: it is patched where it lies instead of copied
/// first (a restore item patched rule after rule). On error the document is gone.
pub fn apply_owned(original: Value, patch: &Value, root: Root) -> Result<Value> {
    let Value::Object(o) = original else {
        return Err(Error::NotAnObject { what: "original" });
    };
    let Value::Object(p) = patch else {
        return Err(Error::NotAnObject { what: "patch" });
    };
    Ok(Value::Object(merge_map(o, p.clone(), root.ty(), "")?))
}

fn child(path: &str, key: &str) -> String {
    format!("{path}/{key}")
}

fn bad_type(path: &str, what: &str) -> Error {
    Error::Invalid {
        path: path.to_owned(),
        reason: format!("expected {what}"),
    }
}

pub(crate) fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Ty,
    path: &str,
) -> Result<Map<String, Value>> {
    if let Some(d) = patch.get(PATCH) {
        return match d.as_str() {
            Some("replace") => {
                patch.remove(PATCH);
                Ok(patch)
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(Error::Directive {
                path: path.to_owned(),
                reason: "unknown $patch value in a map".into(),
            }),
        };
    }
    apply_retain_keys(&mut original, &mut patch, path)?;
    merge_set_element_order(&mut original, &mut patch, schema, path)?;

    for (key, mut pv) in patch {
        let (k, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            (extract_key(&key, DELETE_FROM_PRIMITIVE_LIST, path)?, true)
        } else {
            (key, false)
        };
        if pv.is_null() {
            original.remove(&k);
            continue;
        }
        let Some(ov) = original.get_mut(&k) else {
            if !is_delete_list {
                discard_nulls(&mut pv);
                if let Some(v) = remove_directives(pv) {
                    original.insert(k, v);
                }
            }
            continue;
        };
        if kind(ov) != kind(&pv) {
            if !is_delete_list {
                discard_nulls(&mut pv);
                match remove_directives(pv) {
                    Some(v) => *ov = v,
                    None => {
                        original.remove(&k);
                    }
                }
            }
            continue;
        }
        let p = child(path, &k);
        match (ov.take(), pv) {
            (Value::Object(om), Value::Object(pm)) => {
                let (sub, meta) = lookup_struct(schema, &k, path)?;
                let merged = if meta.strategy == "replace" {
                    pm
                } else {
                    merge_map(om, pm, sub, &p)?
                };
                *ov = Value::Object(merged);
            }
            (Value::Array(ol), Value::Array(pl)) => {
                let (sub, meta) = lookup_slice(schema, &k, path)?;
                *ov = Value::Array(merge_slice_handler(
                    ol,
                    pl,
                    sub,
                    meta.strategy,
                    meta.merge_key,
                    is_delete_list,
                    &p,
                )?);
            }
            (_, pv) => match remove_directives(pv) {
                Some(v) => *ov = v,
                None => {
                    original.remove(&k);
                }
            },
        }
    }
    Ok(original)
}

/// `$retainKeys`: drop keys of the original not listed; every non-null patch key must be listed.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    path: &str,
) -> Result<()> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let bad = || Error::Directive {
        path: path.to_owned(),
        reason: "invalid $retainKeys".into(),
    };
    let Value::Array(list) = retain else {
        return Err(bad());
    };
    let listed = |k: &str| list.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !listed(k) {
            return Err(bad());
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// `$setElementOrder/<list>`: merges the list now and orders it by the directive, then the patch,
/// then the live list (`mergePatchIntoOriginal`).
fn merge_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: Ty,
    path: &str,
) -> Result<()> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(bad_type(path, "a list in $setElementOrder"));
        };
        let list_key = extract_key(&key, SET_ELEMENT_ORDER, path)?;
        let p = child(path, &list_key);
        // Taken out to be merged where it lies; the merged list goes back in its place below.
        let original_list = match original.get_mut(&list_key) {
            None => None,
            Some(Value::Array(a)) => Some(std::mem::take(a)),
            Some(_) => return Err(bad_type(&p, "a list")),
        };
        let patch_list = match patch.get(&list_key) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(_) => return Err(bad_type(&p, "a list")),
        };
        let (sub, meta) = lookup_slice(schema, &list_key, path)?;
        validate_patch_with_order(
            patch_list.as_deref().unwrap_or(&[]),
            &order,
            meta.merge_key,
            &p,
        )?;
        // Ordering needs no more of the live list than merge keys (members, for primitives).
        let live_order = match &original_list {
            Some(o) if !meta.merge_key.is_empty() => merge_key_order(o, meta.merge_key),
            Some(o) => o.clone(),
            None => Vec::new(),
        };
        let merged = match (original_list, &patch_list) {
            (Some(o), None) => o,
            (None, Some(pl)) => match remove_directives(Value::Array(pl.clone())) {
                Some(Value::Array(v)) => v,
                _ => continue,
            },
            (Some(o), Some(pl)) => {
                merge_slice_handler(o, pl.clone(), sub, meta.strategy, meta.merge_key, false, &p)?
            }
            (None, None) => continue,
        };
        let (patch_items, server_only) = if meta.merge_key.is_empty() {
            partition_primitives(merged, &order, &p)?
        } else {
            partition_maps(merged, &order, meta.merge_key, &p)?
        };
        let mut orig = live_order;
        if meta.strategy == "merge"
            && let Some(pl) = &patch_list
        {
            orig = go_aliased_view(orig, pl, meta.merge_key);
        }
        let elem = slice_element_kind(&[&orig, patch_list.as_deref().unwrap_or(&[])], &p)?;
        let both = normalize_element_order(
            patch_items,
            server_only,
            &order,
            &orig,
            meta.merge_key,
            elem,
            &p,
        )?;
        original.insert(list_key.clone(), Value::Array(both));
        patch.remove(&list_key);
    }
    Ok(())
}

/// What Go's caller still sees of the live list after merging a patch into it.
///
/// apimachinery deletes elements with `append(l[:i], l[i+1:]...)` and appends new ones with
/// `append`, both in the live list's backing array, while `mergePatchIntoOriginal` keeps its own
/// slice header of the original length and then orders server-only items by it. This replays those
/// in-place writes so the resulting order matches Go's.
fn go_aliased_view(mut backing: Vec<Value>, patch: &[Value], merge_key: &str) -> Vec<Value> {
    let is_map_list = !merge_key.is_empty()
        && backing.iter().chain(patch).all(Value::is_object)
        && !backing.is_empty();
    if !is_map_list {
        return backing;
    }
    let key_of = |v: &Value| v.get(merge_key).cloned();
    let same = |a: &Option<Value>, b: &Option<Value>| match (a, b) {
        (Some(x), Some(y)) => go_eq(x, y, "").unwrap_or(false),
        _ => false,
    };
    let cap = backing.len();
    let mut len = cap;
    let directive = |v: &Value| v.get(PATCH).and_then(Value::as_str).map(str::to_owned);
    if patch
        .iter()
        .any(|v| directive(v).as_deref() == Some("replace"))
    {
        return backing;
    }
    for d in patch
        .iter()
        .filter(|v| directive(v).as_deref() == Some("delete"))
    {
        let k = key_of(d);
        while let Some(i) = (0..len).find(|&i| same(&key_of(&backing[i]), &k)) {
            for j in i..len - 1 {
                backing[j] = backing[j + 1].clone();
            }
            len -= 1;
        }
    }
    for v in patch.iter().filter(|v| directive(v).is_none()) {
        let k = key_of(v);
        if (0..len).any(|i| same(&key_of(&backing[i]), &k)) {
            continue;
        }
        if len >= cap {
            break;
        }
        backing[len] = v.clone();
        len += 1;
    }
    backing
}

/// `validatePatchWithSetOrderList`: the patch list's items (deletions aside) appear in the order
/// list, in the same relative order.
fn validate_patch_with_order(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
    path: &str,
) -> Result<()> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete: Vec<&Value> = if merge_key.is_empty() {
        patch_list.iter().collect()
    } else {
        let mut v = Vec::new();
        for item in patch_list {
            let Value::Object(m) = item else {
                return Err(bad_type(path, "a map in a merge list"));
            };
            if m.get(PATCH).and_then(Value::as_str) != Some("delete") {
                v.push(item);
            }
        }
        v
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < non_delete.len() && oi < order.len() {
        if matches!(non_delete[pi], Value::Object(m) if m.contains_key(PATCH)) {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(non_delete[pi], &order[oi], merge_key, path)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < non_delete.len() && oi >= order.len() {
        return Err(Error::Directive {
            path: path.to_owned(),
            reason: "the order in the patch list does not match $setElementOrder".into(),
        });
    }
    Ok(())
}

pub(crate) fn merge_key_value_equal(
    left: &Value,
    right: &Value,
    merge_key: &str,
    path: &str,
) -> Result<bool> {
    if merge_key.is_empty() {
        return go_eq(left, right, path);
    }
    let (Value::Object(l), Value::Object(r)) = (left, right) else {
        return Err(bad_type(path, "maps in a merge list"));
    };
    let (Some(lv), Some(rv)) = (l.get(merge_key), r.get(merge_key)) else {
        return Err(Error::no_merge_key(path, merge_key));
    };
    go_eq(lv, rv, path)
}

/// `discardNullValuesFromPatch`: nulls inside a value that is copied in verbatim are dropped.
fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// `removeDirectives`: maps carrying `$patch` vanish (None), recursively.
pub(crate) fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(PATCH) {
                return None;
            }
            let out = m
                .into_iter()
                .filter_map(|(k, x)| remove_directives(x).map(|x| (k, x)))
                .collect();
            Some(Value::Object(out))
        }
        Value::Array(a) => Some(Value::Array(
            a.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Ty,
    strategy: &str,
    merge_key: &str,
    is_delete_list: bool,
    path: &str,
) -> Result<Vec<Value>> {
    if strategy == "merge" || is_delete_list {
        merge_slice(original, patch, schema, merge_key, is_delete_list, path)
    } else {
        Ok(patch)
    }
}

fn merge_slice(
    mut original: Vec<Value>,
    mut patch: Vec<Value>,
    schema: Ty,
    merge_key: &str,
    is_delete_list: bool,
    path: &str,
) -> Result<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let elem = slice_element_kind(&[&original, &patch], path)?;
    let (merged, server_order) = if elem != GoKind::Map {
        if is_delete_list {
            return delete_from_slice(original, &patch, path);
        }
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        (dedupe_scalars(both, path)?, original)
    } else {
        if merge_key.is_empty() {
            return Err(Error::Invalid {
                path: path.to_owned(),
                reason: "cannot merge lists without merge key".into(),
            });
        }
        (original, patch) = merge_special_elements(original, patch, merge_key, path)?;
        let server_order = merge_key_order(&original, merge_key);
        (
            merge_plain_elements(original, &patch, merge_key, schema, path)?,
            server_order,
        )
    };
    let (patch_items, server_only) = if merge_key.is_empty() {
        partition_primitives(merged, &patch, path)?
    } else {
        partition_maps(merged, &patch, merge_key, path)?
    };
    normalize_element_order(
        patch_items,
        server_only,
        &patch,
        &server_order,
        merge_key,
        elem,
        path,
    )
}

/// What ordering the merged list needs of the live list: each member's merge key, in live order
/// (a member without one stays without one). Taken before the members are merged in place, so
/// the live list is never copied whole.
fn merge_key_order(live: &[Value], merge_key: &str) -> Vec<Value> {
    live.iter()
        .map(|v| match v {
            Value::Object(m) => {
                let mut key = Map::new();
                if let Some(k) = m.get(merge_key) {
                    key.insert(merge_key.to_owned(), k.clone());
                }
                Value::Object(key)
            }
            other => other.clone(),
        })
        .collect()
}

/// `mergeSliceWithSpecialElements`: `$patch: delete` elements remove every match from the original;
/// a `$patch: replace` element makes the list exactly the other patch elements.
fn merge_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    path: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut plain = Vec::new();
    let mut replace = false;
    for v in patch {
        let Value::Object(m) = &v else {
            return Err(bad_type(path, "a map in a merge list"));
        };
        let Some(d) = m.get(PATCH) else {
            plain.push(v);
            continue;
        };
        match d.as_str() {
            Some("delete") => {
                let Some(key_value) = m.get(merge_key) else {
                    return Err(Error::no_merge_key(path, merge_key));
                };
                while let Some((i, _)) = find_by_key(&original, merge_key, key_value, path)? {
                    original.remove(i);
                }
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(Error::Directive {
                    path: path.to_owned(),
                    reason: "merging lists cannot yet be specified in the patch".into(),
                });
            }
            _ => {
                return Err(Error::Directive {
                    path: path.to_owned(),
                    reason: "unknown $patch value in a list element".into(),
                });
            }
        }
    }
    if replace {
        Ok((plain, Vec::new()))
    } else {
        Ok((original, plain))
    }
}

/// `mergeSliceWithoutSpecialElements`: merge by key, append the rest verbatim.
fn merge_plain_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    schema: Ty,
    path: &str,
) -> Result<Vec<Value>> {
    for v in patch {
        let Value::Object(m) = v else {
            return Err(bad_type(path, "a map in a merge list"));
        };
        let Some(key_value) = m.get(merge_key) else {
            return Err(Error::no_merge_key(path, merge_key));
        };
        match find_by_key(&original, merge_key, key_value, path)? {
            Some((i, _)) => {
                if let Value::Object(om) = &mut original[i] {
                    *om = merge_map(std::mem::take(om), m.clone(), schema, path)?;
                }
            }
            None => original.push(v.clone()),
        }
    }
    Ok(original)
}
