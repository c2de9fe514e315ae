//! A member-scoped variant of the two-way diff, for carrying a template change onto pods.
//!
//! Go's diff removes a whole list with `null` when the modified document lacks the key. Applied to a
//! pod whose list holds extra members (the `restore-wait` init container, injected sidecars, FSB
//! volumes), that `null` would delete those members too. Here such a `null` on a merge list becomes
//! one `$patch: delete` element per member of the original list (or a `$deleteFromPrimitiveList`
//! for primitive lists), so only the members `T` had are removed.

use serde_json::{Map, Value};

use crate::diff::two_way_diff;
use crate::directive::{DELETE_FROM_PRIMITIVE_LIST, PATCH};
use crate::error::Result;
use crate::gotype::Ty;
use crate::meta::{lookup_slice, lookup_struct};
use crate::schema::Root;

/// Like [`two_way_diff`], but a merge list that `modified` drops entirely is removed member by
/// member (by merge key) instead of with `null`, so list members the target has beyond `original`
/// survive. `apply(original, d)` is semantically equal to `modified` (an emptied list may remain as
/// `[]` where `modified` has no key; nil ≡ empty).
pub fn two_way_diff_member_scoped(original: &Value, modified: &Value, root: Root) -> Result<Value> {
    let mut d = two_way_diff(original, modified, root)?;
    if let (Value::Object(p), Value::Object(o)) = (&mut d, original) {
        scope_map(p, o, root_ty(root));
    }
    Ok(d)
}

fn root_ty(root: Root) -> Ty {
    root.ty()
}

fn scope_map(patch: &mut Map<String, Value>, original: &Map<String, Value>, schema: Ty) {
    let keys: Vec<String> = patch.keys().cloned().collect();
    for k in keys {
        let Some(ov) = original.get(&k) else { continue };
        let is_null = patch.get(&k).is_some_and(Value::is_null);
        match ov {
            Value::Array(items) => {
                let Ok((elem, meta)) = lookup_slice(schema, &k, "") else {
                    continue;
                };
                if meta.strategy != "merge" {
                    continue;
                }
                if is_null {
                    if items.is_empty() {
                        // T had none of these members: nothing to remove (nil ≡ empty).
                        patch.remove(&k);
                        continue;
                    }
                    if meta.merge_key.is_empty() {
                        if items.iter().all(|v| !v.is_object() && !v.is_array()) {
                            patch.remove(&k);
                            patch.insert(
                                format!("{DELETE_FROM_PRIMITIVE_LIST}/{k}"),
                                Value::Array(items.clone()),
                            );
                        }
                        continue;
                    }
                    let deletes: Option<Vec<Value>> = items
                        .iter()
                        .map(|it| {
                            let kv = it.get(meta.merge_key)?.clone();
                            let mut m = Map::new();
                            m.insert(meta.merge_key.to_owned(), kv);
                            m.insert(PATCH.to_owned(), Value::String("delete".into()));
                            Some(Value::Object(m))
                        })
                        .collect();
                    if let Some(deletes) = deletes {
                        patch.insert(k.clone(), Value::Array(deletes));
                    }
                } else if let Some(Value::Array(plist)) = patch.get_mut(&k)
                    && !meta.merge_key.is_empty()
                {
                    // Recurse into changed members, matched by merge key.
                    for pe in plist.iter_mut() {
                        let Value::Object(pm) = pe else { continue };
                        if pm.contains_key(PATCH) {
                            continue;
                        }
                        let Some(kv) = pm.get(meta.merge_key) else {
                            continue;
                        };
                        let om = items.iter().find_map(|it| match it {
                            Value::Object(m) if m.get(meta.merge_key) == Some(kv) => Some(m),
                            _ => None,
                        });
                        if let Some(om) = om {
                            scope_map(pm, om, elem);
                        }
                    }
                }
            }
            Value::Object(om) => {
                if let Some(Value::Object(pm)) = patch.get_mut(&k)
                    && let Ok((sub, meta)) = lookup_struct(schema, &k, "")
                    && meta.strategy != "replace"
                {
                    scope_map(pm, om, sub);
                }
            }
            _ => {}
        }
    }
}
