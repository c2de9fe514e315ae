# Versions of stage 2 (and of the real node), sourced by build.sh and run.sh: one place to bump.
VELERO_VERSION=v1.18.3      # must match server/go.mod
AWS_PLUGIN_VERSION=v1.14.3  # must match aws-plugin/go.mod (plugin v1.14.x <-> Velero v1.18.x)
MOTO_VERSION=5.2.1
