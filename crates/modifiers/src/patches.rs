//! A rule's patches: decoded once per rules document, applied to each item where it lies.
//!
//! Velero marshals the item to JSON for every patch and decodes the result into an
//! `Unstructured` again. The item here stays one `serde_json::Value`, patched in place; what the
//! round trip does to it (numbers re-decoded, the result checked for `kind`) is done directly,
//! and only for the patches whose outcome depends on JSON bytes does the item go through the
//! Go-JSON tree ([`Node`]) instead.

use serde_json::Value;

use crate::gojson::{self, Node};
use crate::{JsonPatchOp, Rule, RuleOutcome, jsonpatch, mergepatch, yaml};

/// A rule's patches, decoded.
#[derive(Debug, Clone)]
pub(crate) enum Patches {
    Json(Result<jsonpatch::Patch, jsonpatch::PatchError>),
    /// Each `patchData` as JSON (or why it is not). YAML-to-JSON numbers are what Go prints for
    /// an int64, uint64 or finite float64: they fit the item, so merges run on it in place.
    Merge {
        patches: Vec<Result<Node, String>>,
        /// Every number is as Go prints it (the merged item stays normal).
        normal: bool,
    },
    /// Each `patchData` as the JSON value apimachinery decodes (or why it is not).
    Strategic {
        patches: Vec<Result<Value, String>>,
        /// Every number is as Go prints it.
        normal: bool,
    },
    None,
}

/// The item the rules are applied to.
pub(crate) struct Item {
    pub(crate) value: Value,
    /// Its numbers are known to be as Go's round trip leaves them (`normalize_numbers` would
    /// change nothing), so that the walk is made once per item, not once per patch.
    normal: bool,
}

impl Item {
    pub(crate) fn new(value: Value) -> Item {
        Item {
            value,
            normal: false,
        }
    }

    /// Numbers as Go's round trip leaves them; whether any changed.
    fn normalize(&mut self) -> bool {
        let changed = !self.normal && gojson::normalize_numbers(&mut self.value);
        self.normal = true;
        changed
    }

    /// The item replaced by a result computed on the Go-JSON tree.
    fn replace_with(&mut self, result: Result<Value, String>) -> Done {
        match result {
            Ok(v) => {
                self.value = v;
                // Inserted numbers keep their lexeme's value (`1.0` stays a float64).
                self.normal = false;
                Done::clean(RuleOutcome::Applied)
            }
            Err(e) => Done::error(e, false),
        }
    }
}

/// What applying one matched rule's patches did.
pub(crate) struct Done {
    pub(crate) outcome: RuleOutcome,
    /// The item was written to before the rule failed or was skipped: it must be rebuilt.
    pub(crate) wrote: bool,
}

impl Done {
    fn clean(outcome: RuleOutcome) -> Done {
        Done {
            outcome,
            wrote: false,
        }
    }

    fn error(e: String, wrote: bool) -> Done {
        Done {
            outcome: RuleOutcome::Error(e),
            wrote,
        }
    }
}

/// `patchData` converted as Velero converts it, YAML to JSON.
fn patch_data(data: &str) -> Result<Node, String> {
    yaml::yaml_to_json(data).map_err(|e| format!("error in converting YAML to JSON {e}"))
}

impl Patches {
    pub(crate) fn new(rule: &Rule) -> Patches {
        if !rule.patches.is_empty() {
            return Patches::Json(
                jsonpatch::decode(&patch_text(&rule.patches)).map(jsonpatch::Patch::new),
            );
        }
        if !rule.merge_patches.is_empty() {
            let patches: Vec<_> = rule.merge_patches.iter().map(|d| patch_data(d)).collect();
            return Patches::Merge {
                normal: patches.iter().flatten().all(gojson::numbers_are_normal),
                patches,
            };
        }
        if !rule.strategic_patches.is_empty() {
            let data: Vec<_> = rule
                .strategic_patches
                .iter()
                .map(|d| patch_data(d))
                .collect();
            let patches = data
                .iter()
                .map(|n| {
                    let patch = gojson::to_value(n.as_ref()?).ok_or("patch number out of range")?;
                    // Go decodes a `null` patch into a nil map: nothing to merge.
                    Ok(if patch.is_null() {
                        Value::Object(serde_json::Map::new())
                    } else {
                        patch
                    })
                })
                .collect();
            return Patches::Strategic {
                patches,
                normal: data.iter().flatten().all(gojson::numbers_are_normal),
            };
        }
        Patches::None
    }

    /// Apply a matched rule to `item` (the item as the earlier rules left it), in place.
    pub(crate) fn apply(&self, item: &mut Item) -> Done {
        match self {
            Patches::Json(Err(e)) => json_patch_error(e, false),
            Patches::Json(Ok(patch)) if patch.in_place => {
                // Go marshals the item and decodes the result: numbers come back normal. Doing
                // that first is the same (patches compare numbers by their Go text) and lets a
                // failing patch tell whether it changed anything.
                let normalized = item.normalize();
                match jsonpatch::apply_in_place(patch, &mut item.value) {
                    Ok(()) => {
                        item.normal = patch.values_normal;
                        checked(item, true)
                    }
                    Err(jsonpatch::Failure {
                        error: jsonpatch::PatchError::TestFailed(_),
                        wrote,
                    }) => Done {
                        outcome: RuleOutcome::Skipped,
                        wrote: normalized || wrote,
                    },
                    Err(f) => json_patch_error(&f.error, normalized || f.wrote),
                }
            }
            Patches::Json(Ok(patch)) => {
                match jsonpatch::apply(&patch.ops, &gojson::from_value(&item.value)) {
                    Ok(n) => item.replace_with(to_unstructured(&n)),
                    Err(jsonpatch::PatchError::TestFailed(_)) => Done::clean(RuleOutcome::Skipped),
                    Err(e) => json_patch_error(&e, false),
                }
            }
            Patches::Merge { patches, normal } => {
                let mut wrote = item.normalize();
                for patch in patches {
                    let merged = patch.as_ref().map_err(Clone::clone).and_then(|p| {
                        mergepatch::merge_patch(&mut item.value, p)
                            .map_err(|e| format!("error in applying JSON Patch: {e}"))
                    });
                    if let Err(e) = merged {
                        return Done::error(e, wrote);
                    }
                    wrote = true;
                }
                item.normal = *normal;
                checked(item, true)
            }
            Patches::Strategic { patches, normal } => strategic(patches, *normal, item),
            Patches::None => {
                Done::error("error in applying patch no patch data found".into(), false)
            }
        }
    }
}

fn json_patch_error(e: &jsonpatch::PatchError, wrote: bool) -> Done {
    Done::error(
        format!("error in applying JSON Patch {}", e.message()),
        wrote,
    )
}

/// A patched item as `Unstructured.UnmarshalJSON` takes it, or the rule's error (the item was
/// written to: `wrote`).
fn checked(item: &Item, wrote: bool) -> Done {
    match check_unstructured(&item.value) {
        Ok(()) => Done::clean(RuleOutcome::Applied),
        Err(e) => Done::error(e, wrote),
    }
}

/// Velero's strategic patcher: each patch merged into the item as it stands (the item as the
/// last patch left it, re-read as an `Unstructured`).
fn strategic(patches: &[Result<Value, String>], normal: bool, item: &mut Item) -> Done {
    let api = item
        .value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = item.value.get("kind").and_then(Value::as_str).unwrap_or("");
    let root = match fsb_smp::Root::for_kind(api, kind) {
        Ok(root) => root,
        Err(e) => return Done::error(e.to_string(), false),
    };
    for (i, patch) in patches.iter().enumerate() {
        let patch = match patch {
            Ok(p) => p,
            Err(e) => return Done::error(e.clone(), i > 0),
        };
        // apimachinery merges the item's own numbers (int64 and float64 differ there), so the
        // item is merged as it stands and re-read as Go would afterwards.
        match fsb_smp::apply_owned(std::mem::take(&mut item.value), patch, root) {
            Ok(next) => item.value = next,
            Err(e) => return Done::error(format!("error in applying Strategic Patch {e}"), true),
        }
        if let Err(e) = check_unstructured(&item.value) {
            return Done::error(e, true);
        }
        // A normal item merged with normal patch numbers is normal.
        item.normal = item.normal && normal;
        item.normalize();
    }
    Done::clean(RuleOutcome::Applied)
}

/// Velero's `addQuotes`: returns the JSON text put after `"value": `.
fn value_json(value: &str) -> String {
    if value.is_empty() {
        return "\"\"".into();
    }
    if value.starts_with('"') && value.ends_with('"') {
        // Trim one quote at each end (a lone `"` trims to the empty string).
        let inner = value.strip_prefix('"').unwrap_or(value);
        let inner = inner.strip_suffix('"').unwrap_or(inner);
        return format!("\"{inner}\"");
    }
    if value == "null" {
        return value.into();
    }
    let lower = value.to_lowercase();
    if lower == "true" || lower == "false" {
        return value.into();
    }
    if value.starts_with('{') || value.starts_with('[') {
        return value.into();
    }
    if yaml::go_parse_float(value).is_some() {
        return value.into();
    }
    format!("\"{value}\"")
}

/// The patch document exactly as Velero builds it with `fmt.Sprintf` (no escaping).
pub(crate) fn patch_text(ops: &[JsonPatchOp]) -> String {
    let parts: Vec<String> = ops
        .iter()
        .map(|p| {
            format!(
                r#"{{"op": "{}", "from": "{}", "path": "{}", "value": {}}}"#,
                p.operation,
                p.from,
                p.path,
                value_json(&p.value)
            )
        })
        .collect();
    format!("[{}]", parts.join(",\n\t"))
}

/// `Unstructured.UnmarshalJSON` of a patch result: an object with a string `kind` (non-empty)
/// and an `apiVersion` Go can parse; numbers become int64 or float64.
fn to_unstructured(n: &Node) -> Result<Value, String> {
    let v =
        gojson::to_value(n).ok_or("error in unmarshalling modified object: number out of range")?;
    check_unstructured(&v)?;
    Ok(v)
}

/// The shape checks of [`to_unstructured`].
fn check_unstructured(v: &Value) -> Result<(), String> {
    if !v.is_object() {
        return Err("error in unmarshalling modified object: not an object".into());
    }
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    let api = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if kind.is_empty() || (api != "/" && api.matches('/').count() > 1) {
        return Err("error in unmarshalling modified object: Object 'Kind' is missing".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::value_json;

    #[test]
    fn value_quoting_heuristic() {
        // Hand-derived from Velero's addQuotes.
        assert_eq!(value_json(""), r#""""#);
        assert_eq!(value_json(r#""true""#), r#""true""#);
        assert_eq!(value_json("True"), "True");
        assert_eq!(value_json("1.5"), "1.5");
        assert_eq!(value_json("1e400"), r#""1e400""#);
        assert_eq!(value_json("+1"), "+1");
        assert_eq!(value_json("abc"), r#""abc""#);
        assert_eq!(value_json("{}"), "{}");
        assert_eq!(value_json("\""), r#""""#);
    }
}
