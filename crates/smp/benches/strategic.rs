//! Strategic merge patch: apply, two-way diff and semantic equality on a Deployment pod template
//! of four containers with ~100 env entries each (tests/bench/run.sh saves a baseline;
//! tests/bench/instructions.sh counts instructions per call).

use fsb_smp::{Root, apply, semantically_equal, two_way_diff};
use serde_json::{Value, json};
use std::hint::black_box;

#[path = "../../../tests/bench/bench_cases.rs"]
mod bench_cases;

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

fn main() {
    let original = template("1", false);
    let modified = template("2", true);
    let patch = json!({"spec": {
        "containers": [{"name": "web", "image": "web:2", "env": [{"name": "BENCH", "value": "1"}]}],
        "tolerations": [{"key": "restore", "operator": "Exists"}],
    }});
    let root = Root::POD_TEMPLATE_SPEC;
    bench_cases::run(&[
        (
            "smp/apply_template_patch",
            Box::new(|| {
                black_box(apply(black_box(&original), black_box(&patch), root).unwrap());
            }),
        ),
        (
            "smp/two_way_diff_template",
            Box::new(|| {
                black_box(two_way_diff(black_box(&original), black_box(&modified), root).unwrap());
            }),
        ),
        (
            "smp/semantically_equal_template",
            Box::new(|| {
                black_box(semantically_equal(
                    black_box(&original),
                    black_box(&modified),
                    root,
                ));
            }),
        ),
    ]);
}
