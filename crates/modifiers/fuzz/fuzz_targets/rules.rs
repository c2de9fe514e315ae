//! Rule documents: parse (YAML → rules → validation) and apply to a fixed set of items.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Optional second part after a NUL: a JSON item to patch.
    let (rules, item) = match text.split_once('\0') {
        Some((r, i)) => (r.to_owned(), serde_json::from_str(i).ok()),
        None => (text.into_owned(), None),
    };
    let Ok(m) = fsb_modifiers::ResourceModifiers::from_yaml(&rules) else {
        return;
    };
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx", "env": [{"name": "A", "value": "1"}]}]}}}});
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "prod"},
        "spec": {"containers": [{"name": "app", "image": "nginx"}], "tolerations": [{"key": "k"}]}});
    let _ = m.apply(&deploy, "deployments.apps");
    let _ = m.apply(&pod, "pods");
    if let Some(item) = item {
        let _ = m.apply(&item, "configmaps");
    }
    let _ = m.rules_touching("deployments.apps", "/spec/template");
});
