# Versions of stage 2 (and of the real node), sourced by build.sh and run.sh: one place to bump.
VELERO_VERSION=v1.18.3      # must match server/go.mod
AWS_PLUGIN_VERSION=v1.14.3  # must match aws-plugin/go.mod (plugin v1.14.x <-> Velero v1.18.x)
MOTO_VERSION=5.2.1
CONTAINERD_VERSION=v2.3.7   # the real node's runtime (Go modules; needs Go 1.26.8); runc is Debian's
CNI_PLUGINS_VERSION=v1.9.1  # bridge, host-local, loopback, portmap (Go modules)
