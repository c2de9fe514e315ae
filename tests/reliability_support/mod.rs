//! What the reliability tests share: inputs Velero itself refuses.

/// Rule documents Velero itself refuses (`velero restore create` fails validation or the restore
/// fails with the ConfigMap named), one mistake each. Velero parity of the engine's verdicts is
/// the oracle suite's (tests/oracle, corpus tests/corpus/modifiers); here: what the guard does.
pub const REFUSED_RULES: [(&str, &str); 6] = [
    ("not YAML", "version: v1\nresourceModifierRules: [\n"),
    (
        "unsupported version",
        "version: v2\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps}\n  patches: [{operation: add, path: /spec/template/spec/hostname, value: x}]\n",
    ),
    (
        "unknown field",
        "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps, bogus: 1}\n  patches: [{operation: add, path: /spec/template/spec/hostname, value: x}]\n",
    ),
    (
        "two kinds of patch in one rule",
        "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps}\n  patches: [{operation: add, path: /spec/template/spec/hostname, value: x}]\n  mergePatches: [{patchData: '{}'}]\n",
    ),
    (
        "no groupResource",
        "version: v1\nresourceModifierRules:\n- conditions: {groupResource: \"\"}\n  patches: [{operation: add, path: /spec/template/spec/hostname, value: x}]\n",
    ),
    (
        "unknown operation",
        "version: v1\nresourceModifierRules:\n- conditions: {groupResource: deployments.apps}\n  patches: [{operation: upsert, path: /spec/template/spec/hostname, value: x}]\n",
    ),
];
