package consent

import (
	"testing"
	"time"
)

func TestStateDoesNotAllocate(t *testing.T) {
	k := mustKeys(t, keyA, nil)
	cs := &Settings{PolicyVersion: "v1"}
	v := encode(t, k, "sez", "v1", grant(Purposes(Necessary).With(Statistics), 0))
	allocs := testing.AllocsPerRun(200, func() {
		if k.State(v, "sez", cs, now.Add(time.Hour)) != StateStatistics {
			t.Fatal("cookie not valid")
		}
	})
	if allocs > 0 && !raceEnabled { // the race detector makes sync.Pool drop items
		t.Fatalf("State allocates %.1f times per call", allocs)
	}
}
