# Versions of stage 2 (and of the real node), sourced by build.sh and run.sh: one place to bump.
VELERO_VERSION=v1.18.3      # must match server/go.mod
AWS_PLUGIN_VERSION=v1.14.3  # must match aws-plugin/go.mod (plugin v1.14.x <-> Velero v1.18.x)
MOTO_VERSION=5.2.1
CONTAINERD_VERSION=v2.3.7   # the real node's runtime (Go modules; needs Go 1.26.8); runc is Debian's
CNI_PLUGINS_VERSION=v1.9.1  # bridge, host-local, loopback, portmap (Go modules)
# The field report's own setup (tests/e2e/node, NODE_SET=seed; issue 22): Velero 1.15 with restic.
SEED_VELERO_VERSION=v1.15.2 # must match server-v1.15/go.mod; the newest 1.15 patch the proxy serves
RESTIC_VERSION=v0.16.5      # must match restic/go.mod (Velero pins 0.15.0, which the proxy refuses)
