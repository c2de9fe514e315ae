//! Arbitrary JSON (keys drawn from real field names and directives) never panics the engine:
//! every input yields a value or an error.

use fsb_smp::{
    Root, apply, pod_templates_semantically_equal, semantically_equal, two_way_diff,
    two_way_diff_member_scoped,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "spec",
    "metadata",
    "containers",
    "initContainers",
    "name",
    "image",
    "env",
    "value",
    "ports",
    "containerPort",
    "volumes",
    "emptyDir",
    "secret",
    "tolerations",
    "labels",
    "finalizers",
    "resources",
    "limits",
    "cpu",
    "nodeSelector",
    "strategy",
    "template",
    "$patch",
    "$retainKeys",
    "$setElementOrder/containers",
    "$setElementOrder/finalizers",
    "$deleteFromPrimitiveList/finalizers",
    "$setElementOrder/env",
    "unknown",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..100).prop_map(Value::from),
        prop::sample::select(vec![0.5f64, 1.0, 80.0]).prop_map(Value::from),
        prop::sample::select(vec!["a", "delete", "replace", "merge", "1Gi", "c"])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..5).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics(a in json_value(), b in json_value()) {
        for root in [Root::POD_TEMPLATE_SPEC, Root::POD, Root::DEPLOYMENT] {
            let _ = apply(&a, &b, root);
            let _ = two_way_diff(&a, &b, root);
            let _ = two_way_diff_member_scoped(&a, &b, root);
            let _ = semantically_equal(&a, &b, root);
        }
        let _ = pod_templates_semantically_equal(&a, &b);
    }

    #[test]
    fn semantic_equality_is_reflexive(a in json_value()) {
        prop_assert!(semantically_equal(&a, &a, Root::POD_TEMPLATE_SPEC));
    }
}
