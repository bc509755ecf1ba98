package secret

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckerMissingRecordCostsACheckAndFails(t *testing.T) {
	var calls atomic.Int64
	c, err := NewChecker(2, func(h, p string) (bool, error) { calls.Add(1); return Verify(h, p) })
	if err != nil {
		t.Fatal(err)
	}
	ok, err := c.Check(context.Background(), "", "anything")
	if ok || err != nil || calls.Load() != 1 {
		t.Fatalf("Check(no hash) = %v, %v after %d checks; want false, nil after 1", ok, err, calls.Load())
	}
	h, _ := Hash("right")
	if ok, _ := c.Check(context.Background(), h, "right"); !ok {
		t.Fatal("the right secret was refused")
	}
	if ok, _ := c.Check(context.Background(), h, "wrong"); ok {
		t.Fatal("a wrong secret was accepted")
	}
}

func TestCheckerBoundsChecksInFlight(t *testing.T) {
	var inFlight, most atomic.Int64
	c, err := NewChecker(2, func(string, string) (bool, error) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(10 * time.Millisecond)
		inFlight.Add(-1)
		return false, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = c.Check(context.Background(), "h", "p") }()
	}
	wg.Wait()
	if m := most.Load(); m > 2 {
		t.Fatalf("%d checks ran at once, want at most 2", m)
	}
}

func TestCheckerGivesUpWhenTheCallerDoes(t *testing.T) {
	block, entered := make(chan struct{}), make(chan struct{}, 1)
	c, err := NewChecker(1, func(string, string) (bool, error) { entered <- struct{}{}; <-block; return true, nil })
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = c.Check(context.Background(), "h", "p") }()
	<-entered // the first check holds the only slot
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Check(ctx, "h", "p"); err == nil {
		t.Fatal("a waiting check ignored its caller's cancellation")
	}
	close(block)
}
