package main

import "testing"

// The upstream StatefulSet compatibility fixtures and their revision names (facts §2.1-2.2): the
// probe's name check relies on revisionHash reproducing the controller's names.
func TestRevisionHashMatchesUpstreamFixtures(t *testing.T) {
	const v133 = `{"spec":{"template":{"$patch":"replace","metadata":{"annotations":{"test":"value"},"creationTimestamp":null,"labels":{"app":"foo"}},"spec":{"containers":[{"image":"test","imagePullPolicy":"Always","name":"test","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}`
	const v134 = `{"spec":{"template":{"$patch":"replace","metadata":{"annotations":{"test":"value"},"labels":{"app":"foo"}},"spec":{"containers":[{"image":"test","imagePullPolicy":"Always","name":"test","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}`
	for _, c := range []struct{ data, want string }{{v133, "c77f6d978"}, {v134, "776999688b"}} {
		if got := revisionHash([]byte(c.data)); got != c.want {
			t.Errorf("revisionHash = %s, want %s", got, c.want)
		}
	}
}

func TestOrdinal(t *testing.T) {
	for name, want := range map[string]int{"db-0": 0, "db-12": 12, "web-abc": -1} {
		if got := ordinal(name); got != want {
			t.Errorf("ordinal(%q) = %d, want %d", name, got, want)
		}
	}
}
