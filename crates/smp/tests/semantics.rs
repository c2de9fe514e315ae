//! Hand-derived checks of the strategic-merge-patch rules (facts sheet §1d); the Go oracle in
//! tests/oracle/smp covers the same ground against apimachinery itself.

use fsb_smp::{Error, Root, apply, two_way_diff, two_way_diff_member_scoped};
use serde_json::json;

fn pod_tpl() -> serde_json::Value {
    json!({"metadata": {"labels": {"app": "a"}, "finalizers": ["x", "y"]},
           "spec": {"containers": [{"name": "a", "image": "1", "env": [{"name": "E", "value": "1"}]},
                                   {"name": "b", "image": "2"}],
                    "tolerations": [{"key": "t"}]}})
}

#[test]
fn merge_list_by_key_and_delete_directive() {
    let out = apply(
        &pod_tpl(),
        &json!({"spec": {"containers": [{"name": "b", "image": "3"}, {"name": "a", "$patch": "delete"}]}}),
        Root::POD_TEMPLATE_SPEC,
    )
    .unwrap();
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "b", "image": "3"}])
    );
}

#[test]
fn atomic_list_replaced_and_null_deletes() {
    let out = apply(
        &pod_tpl(),
        &json!({"spec": {"tolerations": [{"key": "u"}]}, "metadata": {"labels": null}}),
        Root::POD_TEMPLATE_SPEC,
    )
    .unwrap();
    assert_eq!(out["spec"]["tolerations"], json!([{"key": "u"}]));
    assert!(out["metadata"].get("labels").is_none());
}

#[test]
fn primitive_merge_list_union_and_delete() {
    let out = apply(
        &pod_tpl(),
        &json!({"metadata": {"finalizers": ["z"], "$deleteFromPrimitiveList/finalizers": ["x"]}}),
        Root::POD_TEMPLATE_SPEC,
    )
    .unwrap();
    let mut f: Vec<_> = out["metadata"]["finalizers"].as_array().unwrap().clone();
    f.sort_by_key(|v| v.as_str().unwrap().to_owned());
    assert_eq!(f, vec![json!("y"), json!("z")]);
}

#[test]
fn retain_keys_drops_unlisted_and_rejects_unlisted_patch_keys() {
    let dep =
        json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
    let out = apply(
        &dep,
        &json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
        Root::DEPLOYMENT,
    )
    .unwrap();
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    assert!(
        apply(
            &dep,
            &json!({"spec": {"strategy": {"$retainKeys": [], "type": "Recreate"}}}),
            Root::DEPLOYMENT
        )
        .is_err()
    );
}

#[test]
fn unknown_fields_scalar_copied_map_merge_rejected() {
    let t = json!({"spec": {"future": {"a": 1}}});
    let out = apply(&t, &json!({"spec": {"other": 1}}), Root::POD_TEMPLATE_SPEC).unwrap();
    assert_eq!(out["spec"]["other"], json!(1));
    assert!(matches!(
        apply(
            &t,
            &json!({"spec": {"future": {"a": 2}}}),
            Root::POD_TEMPLATE_SPEC
        ),
        Err(Error::UnknownField { .. })
    ));
}

#[test]
fn merge_directive_in_list_is_an_error() {
    let p = json!({"spec": {"containers": [{"$patch": "merge"}]}});
    assert!(apply(&pod_tpl(), &p, Root::POD_TEMPLATE_SPEC).is_err());
}

#[test]
fn diff_of_changed_env_names_the_member() {
    let mut t2 = pod_tpl();
    t2["spec"]["containers"][0]["env"][0]["value"] = json!("2");
    let d = two_way_diff(&pod_tpl(), &t2, Root::POD_TEMPLATE_SPEC).unwrap();
    // Changed member: partial map plus merge key; orders emitted because content changed.
    assert_eq!(
        d,
        json!({"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "a",
                            "$setElementOrder/env": [{"name": "E"}],
                            "env": [{"name": "E", "value": "2"}]}]}})
    );
}

#[test]
fn diff_removed_member_becomes_delete_directive() {
    let mut t2 = pod_tpl();
    t2["spec"]["containers"].as_array_mut().unwrap().remove(1);
    let d = two_way_diff(&pod_tpl(), &t2, Root::POD_TEMPLATE_SPEC).unwrap();
    assert_eq!(
        d["spec"]["containers"],
        json!([{"name": "b", "$patch": "delete"}])
    );
}

#[test]
fn member_scoped_diff_removes_only_members_of_the_original() {
    let mut t2 = pod_tpl();
    t2["spec"].as_object_mut().unwrap().remove("containers");
    let plain = two_way_diff(&pod_tpl(), &t2, Root::POD_TEMPLATE_SPEC).unwrap();
    assert_eq!(plain["spec"]["containers"], json!(null));
    let scoped = two_way_diff_member_scoped(&pod_tpl(), &t2, Root::POD_TEMPLATE_SPEC).unwrap();
    assert_eq!(
        scoped["spec"]["containers"],
        json!([{"name": "a", "$patch": "delete"}, {"name": "b", "$patch": "delete"}])
    );
    let mut pod = pod_tpl();
    pod["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar"}));
    let out = apply(&pod, &scoped, Root::POD).unwrap();
    assert_eq!(out["spec"]["containers"], json!([{"name": "sidecar"}]));
}
