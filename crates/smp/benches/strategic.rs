//! Strategic merge patch: apply, two-way diff and semantic equality on a Deployment pod template
//! of four containers with ~100 env entries each (tests/bench/run.sh saves a baseline).

use criterion::{Criterion, criterion_group, criterion_main};
use fsb_smp::{Root, apply, semantically_equal, two_way_diff};
use serde_json::{Value, json};
use std::hint::black_box;

fn template(image: &str, extra_env: bool) -> Value {
    let containers: Vec<Value> = ["web", "metrics", "cache", "proxy"]
        .iter()
        .map(|name| {
            let mut env: Vec<Value> = (0..100)
                .map(|i| json!({"name": format!("SETTING_{i:04}"), "value": format!("value-{i}")}))
                .collect();
            if extra_env {
                env.push(json!({"name": "BENCH", "value": "1"}));
            }
            json!({
                "name": name, "image": format!("{name}:{image}"),
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/web"}],
                "env": env,
            })
        })
        .collect();
    json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "containers": containers,
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}}],
        }
    })
}

fn strategic(c: &mut Criterion) {
    let original = template("1", false);
    let modified = template("2", true);
    let patch = json!({"spec": {
        "containers": [{"name": "web", "image": "web:2", "env": [{"name": "BENCH", "value": "1"}]}],
        "tolerations": [{"key": "restore", "operator": "Exists"}],
    }});
    let root = Root::POD_TEMPLATE_SPEC;
    c.bench_function("smp/apply_template_patch", |b| {
        b.iter(|| apply(black_box(&original), black_box(&patch), root).unwrap())
    });
    c.bench_function("smp/two_way_diff_template", |b| {
        b.iter(|| two_way_diff(black_box(&original), black_box(&modified), root).unwrap())
    });
    c.bench_function("smp/semantically_equal_template", |b| {
        b.iter(|| semantically_equal(black_box(&original), black_box(&modified), root))
    });
}

criterion_group!(benches, strategic);
criterion_main!(benches);
