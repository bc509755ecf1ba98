package resourceserver_test

import (
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/resourceserver"
)

// TestMemoryReplayStore: a proof id is accepted once while remembered,
// and a full store refuses new ids rather than forget live ones.
func TestMemoryReplayStore(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	m := resourceserver.NewMemoryReplayStore(2, clock.Now)
	record := func(id string) (bool, error) { return m.RecordProof(t.Context(), id, time.Minute) }
	if ok, err := record("a"); !ok || err != nil {
		t.Fatalf("first use: %v %v", ok, err)
	}
	if ok, err := record("a"); ok || err != nil {
		t.Fatalf("replay: %v %v", ok, err)
	}
	if ok, _ := record("b"); !ok {
		t.Fatal("second id refused")
	}
	if ok, err := record("c"); ok || err == nil {
		t.Fatalf("full store took a third id: %v %v", ok, err)
	}
	clock.Advance(time.Minute)
	if ok, err := record("c"); !ok || err != nil {
		t.Fatalf("after the others expired: %v %v", ok, err)
	}
}
