//! StatefulSet fixtures.
