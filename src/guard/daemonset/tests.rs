//! Unit tests of the DaemonSet decisions.
