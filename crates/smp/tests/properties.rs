//! Property tests: the two-way diff reproduces the modified template, and carries over onto a pod
//! that holds extra list members without touching them (lists matched by merge key).

use fsb_smp::{Root, apply, semantically_equal, two_way_diff, two_way_diff_member_scoped};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn names(pool: &'static [&'static str], max: usize) -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(pool, 0..=max).prop_shuffle()
}

fn env() -> impl Strategy<Value = Value> {
    (
        names(&["A", "B", "C", "D"], 3),
        prop::collection::vec("[a-z]{0,3}", 4),
    )
        .prop_map(|(ns, vals)| {
            Value::Array(
                ns.iter()
                    .zip(vals)
                    .map(|(n, v)| json!({"name": n, "value": v}))
                    .collect(),
            )
        })
}

fn container(name: &'static str) -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["nginx:1", "nginx:2", "busybox"]),
        prop::option::of(env()),
        prop::option::of(names(&["80", "443", "8080"], 2)),
        prop::option::of(prop::sample::select(vec!["100m", "1", "250m"])),
        prop::option::of(prop::collection::vec("[a-z]{1,3}", 0..3)),
    )
        .prop_map(move |(image, env, ports, cpu, args)| {
            let mut c = Map::new();
            c.insert("name".into(), json!(name));
            c.insert("image".into(), json!(image));
            if let Some(e) = env {
                c.insert("env".into(), e);
            }
            if let Some(p) = ports {
                let ports: Vec<Value> = p
                    .iter()
                    .map(|p| json!({"containerPort": p.parse::<u16>().unwrap()}))
                    .collect();
                c.insert("ports".into(), Value::Array(ports));
            }
            if let Some(cpu) = cpu {
                c.insert("resources".into(), json!({"limits": {"cpu": cpu}}));
            }
            if let Some(a) = args {
                c.insert("args".into(), json!(a));
            }
            Value::Object(c)
        })
}

fn containers(pool: &'static [&'static str]) -> impl Strategy<Value = Value> {
    names(pool, pool.len())
        .prop_filter("at least one container", |n| !n.is_empty())
        .prop_flat_map(|ns| ns.into_iter().map(container).collect::<Vec<_>>())
        .prop_map(Value::Array)
}

fn volume(name: &'static str) -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!({"emptyDir": {}}),
        json!({"configMap": {"name": "cm"}}),
        json!({"secret": {"secretName": "s"}}),
    ])
    .prop_map(move |mut v| {
        v["name"] = json!(name);
        v
    })
}

fn template() -> impl Strategy<Value = Value> {
    (
        containers(&["app", "web", "db"]),
        prop::option::of(containers(&["init", "setup"])),
        prop::option::of(
            names(&["data", "cfg", "tmp"], 3)
                .prop_flat_map(|ns| ns.into_iter().map(volume).collect::<Vec<_>>()),
        ),
        prop::option::of(prop::sample::select(vec![
            json!([{"key": "a", "operator": "Exists"}]),
            json!([{"key": "b", "operator": "Equal", "value": "x"}]),
        ])),
        prop::collection::btree_map(
            prop::sample::select(vec!["app", "tier", "v"]),
            "[a-z]{1,2}",
            0..3,
        ),
        prop::option::of(prop::sample::select(vec![0i64, 30])),
    )
        .prop_map(|(cs, inits, vols, tols, labels, grace)| {
            let mut spec = Map::new();
            spec.insert("containers".into(), cs);
            if let Some(i) = inits {
                spec.insert("initContainers".into(), i);
            }
            if let Some(v) = vols {
                spec.insert("volumes".into(), Value::Array(v));
            }
            if let Some(t) = tols {
                spec.insert("tolerations".into(), t);
            }
            if let Some(g) = grace {
                spec.insert("terminationGracePeriodSeconds".into(), json!(g));
            }
            json!({"metadata": {"labels": labels}, "spec": spec})
        })
}

/// A pod built from `t` plus what Velero and webhooks add.
fn pod_with_extras(t: &Value) -> Value {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": t["metadata"].clone(), "spec": t["spec"].clone()});
    pod["metadata"]["name"] = json!("p-0");
    let spec = pod["spec"].as_object_mut().unwrap();
    let init = spec.entry("initContainers").or_insert_with(|| json!([]));
    init.as_array_mut().unwrap().insert(0, restore_wait());
    spec["containers"].as_array_mut().unwrap().push(sidecar());
    spec.entry("volumes")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .unwrap()
        .push(extra_volume());
    let first = &mut spec["containers"][0];
    first
        .as_object_mut()
        .unwrap()
        .entry("env")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .unwrap()
        .push(extra_env());
    spec.entry("tolerations")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .unwrap()
        .push(extra_toleration());
    pod
}

fn restore_wait() -> Value {
    json!({"name": "restore-wait", "image": "velero/restore-helper", "command": ["/h"]})
}
fn sidecar() -> Value {
    json!({"name": "istio-proxy", "image": "istio/proxyv2"})
}
fn extra_volume() -> Value {
    json!({"name": "istio-envoy", "emptyDir": {"medium": "Memory"}})
}
fn extra_env() -> Value {
    json!({"name": "INJECTED", "value": "1"})
}
fn extra_toleration() -> Value {
    json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists"})
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v["spec"]
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn by_name<'a>(l: &'a [Value], name: &str) -> Option<&'a Value> {
    l.iter().find(|x| x["name"] == name)
}

/// The result with the extras taken out again (empty lists and maps dropped).
fn strip_extras(result: &Value) -> Value {
    let mut t = json!({"metadata": result["metadata"].clone(), "spec": result["spec"].clone()});
    let spec = t["spec"].as_object_mut().unwrap();
    let drop_named = |spec: &mut Map<String, Value>, key: &str, name: &str| {
        if let Some(Value::Array(a)) = spec.get_mut(key) {
            a.retain(|x| x["name"] != name);
        }
    };
    drop_named(spec, "initContainers", "restore-wait");
    drop_named(spec, "containers", "istio-proxy");
    drop_named(spec, "volumes", "istio-envoy");
    if let Some(Value::Array(cs)) = spec.get_mut("containers") {
        for c in cs {
            if let Some(Value::Array(env)) = c.get_mut("env") {
                env.retain(|e| e["name"] != "INJECTED");
            }
        }
    }
    if let Some(Value::Array(tols)) = spec.get_mut("tolerations") {
        tols.retain(|x| *x != extra_toleration());
    }
    t["metadata"].as_object_mut().unwrap().remove("name");
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn diff_then_apply_reproduces_modified(t in template(), t2 in template()) {
        let delta = two_way_diff(&t, &t2, Root::POD_TEMPLATE_SPEC).unwrap();
        let out = apply(&t, &delta, Root::POD_TEMPLATE_SPEC).unwrap();
        prop_assert_eq!(&out, &t2, "delta {}", delta);
    }

    #[test]
    fn delta_on_pod_leaves_extra_members_untouched(t in template(), t2 in template()) {
        let delta = two_way_diff_member_scoped(&t, &t2, Root::POD_TEMPLATE_SPEC).unwrap();
        let pod = pod_with_extras(&t);
        let out = apply(&pod, &delta, Root::POD).unwrap();

        // Extra members keyed by merge key survive unchanged.
        // Present and unchanged; not necessarily first: Go orders new patch members before
        // server-only ones when the live list has no position for them.
        prop_assert_eq!(by_name(list(&out, "initContainers"), "restore-wait"), Some(&restore_wait()));
        prop_assert_eq!(by_name(list(&out, "containers"), "istio-proxy"), Some(&sidecar()));
        prop_assert_eq!(by_name(list(&out, "volumes"), "istio-envoy"), Some(&extra_volume()));
        let first = t["spec"]["containers"][0]["name"].as_str().unwrap();
        if let Some(c) = by_name(list(&out, "containers"), first) {
            // Only a container T' removed loses the injected env entry (with itself).
            prop_assert!(c["env"].as_array().is_some_and(|e| e.contains(&extra_env())));
        } else {
            prop_assert!(by_name(list(&t2, "containers"), first).is_none());
        }
        // Tolerations are atomic: kept only if T -> T' left them alone, else replaced by T'.
        if t["spec"].get("tolerations") == t2["spec"].get("tolerations") {
            prop_assert!(list(&out, "tolerations").contains(&extra_toleration()));
        } else {
            prop_assert_eq!(list(&out, "tolerations"), list(&t2, "tolerations"));
        }
        // Everything else is exactly T'.
        prop_assert!(
            semantically_equal(&strip_extras(&out), &t2, Root::POD_TEMPLATE_SPEC),
            "delta {} gave {}", delta, out
        );
    }

    #[test]
    fn member_scoped_diff_reproduces_modified_semantically(t in template(), t2 in template()) {
        let delta = two_way_diff_member_scoped(&t, &t2, Root::POD_TEMPLATE_SPEC).unwrap();
        let out = apply(&t, &delta, Root::POD_TEMPLATE_SPEC).unwrap();
        prop_assert!(semantically_equal(&out, &t2, Root::POD_TEMPLATE_SPEC), "delta {} gave {}", delta, out);
    }

    #[test]
    fn diff_of_equal_templates_is_empty(t in template()) {
        let delta = two_way_diff(&t, &t.clone(), Root::POD_TEMPLATE_SPEC).unwrap();
        prop_assert_eq!(delta, json!({}));
    }
}
