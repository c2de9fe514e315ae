//! The one vocabulary for the Kubernetes resources the project reads and writes: API group,
//! version and plural for requests, and the `plural[.group]` spelling Velero uses in backup paths,
//! resource-modifier rules (`groupResource`), `AppliesTo` and RBAC.

/// A namespaced API resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resource {
    /// API group, `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    group_resource: &'static str,
}

/// `resource!("apps", "v1", "deployments")`: the group-resource spelling is derived at compile time.
macro_rules! resource {
    ("", $version:literal, $plural:literal) => {
        Resource {
            group: "",
            version: $version,
            plural: $plural,
            group_resource: $plural,
        }
    };
    ($group:literal, $version:literal, $plural:literal) => {
        Resource {
            group: $group,
            version: $version,
            plural: $plural,
            group_resource: concat!($plural, ".", $group),
        }
    };
}

impl Resource {
    pub const PODS: Self = resource!("", "v1", "pods");
    pub const CONFIG_MAPS: Self = resource!("", "v1", "configmaps");
    pub const DEPLOYMENTS: Self = resource!("apps", "v1", "deployments");
    pub const REPLICA_SETS: Self = resource!("apps", "v1", "replicasets");
    pub const STATEFUL_SETS: Self = resource!("apps", "v1", "statefulsets");
    pub const DAEMON_SETS: Self = resource!("apps", "v1", "daemonsets");
    /// StatefulSet and DaemonSet history.
    pub const CONTROLLER_REVISIONS: Self = resource!("apps", "v1", "controllerrevisions");
    pub const POD_VOLUME_BACKUPS: Self = resource!("velero.io", "v1", "podvolumebackups");
    pub const POD_VOLUME_RESTORES: Self = resource!("velero.io", "v1", "podvolumerestores");
    pub const BACKUPS: Self = resource!("velero.io", "v1", "backups");
    pub const BACKUP_STORAGE_LOCATIONS: Self =
        resource!("velero.io", "v1", "backupstoragelocations");
    pub const DOWNLOAD_REQUESTS: Self = resource!("velero.io", "v1", "downloadrequests");

    /// The backed-up workload objects a restore decision reads ([`crate::BackupObjects`]).
    pub const BACKED_UP: [Self; 6] = [
        Self::DEPLOYMENTS,
        Self::REPLICA_SETS,
        Self::PODS,
        Self::STATEFUL_SETS,
        Self::DAEMON_SETS,
        Self::CONTROLLER_REVISIONS,
    ];

    /// The [`Resource::BACKED_UP`] resource spelled `group_resource` (`pods`, `deployments.apps`).
    pub fn backed_up(group_resource: &str) -> Option<Self> {
        Self::BACKED_UP
            .into_iter()
            .find(|r| r.group_resource == group_resource)
    }

    /// `plural[.group]`: `pods`, `deployments.apps`, `podvolumebackups.velero.io`.
    pub const fn group_resource(&self) -> &'static str {
        self.group_resource
    }

    /// The object `namespace/name` of this resource.
    pub const fn named<'a>(self, namespace: &'a str, name: &'a str) -> ObjectRef<'a> {
        ObjectRef {
            resource: self,
            namespace,
            name,
        }
    }
}

/// One namespaced object: what a call about a single object names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectRef<'a> {
    pub resource: Resource,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.group_resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_resources_are_spelled_as_velero_spells_them() {
        assert_eq!(Resource::PODS.group_resource(), "pods");
        assert_eq!(Resource::DAEMON_SETS.group_resource(), "daemonsets.apps");
        assert_eq!(
            Resource::POD_VOLUME_BACKUPS.to_string(),
            "podvolumebackups.velero.io"
        );
    }
}
