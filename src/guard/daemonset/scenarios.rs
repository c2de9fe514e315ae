//! DaemonSet restores simulated in Velero order.
