package storage_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

func approvedDevice(t *testing.T, s *storage.Store) string {
	t.Helper()
	ctx := context.Background()
	dh := secret.SHA256(secret.NewToken(32))
	a := &storage.DeviceAuthorization{ClientID: "tv", UserCodeHash: secret.SHA256(secret.NewUserCode()),
		CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}
	if err := s.CreateDevice(ctx, dh, a, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.DecideDevice(ctx, dh, true, &storage.DeviceGrant{UserID: "u1", Scope: []string{"openid"}}); err != nil {
		t.Fatal(err)
	}
	return dh
}

// Polls of an approved device code during a stall fail fast; copies of
// them queued on open connections run when Redis resumes: exactly one
// poll, queued or sent after, consumes the approval, and a queued copy
// delivered twice answers the same. No call hangs.
func TestStallDevicePollsConsumeOnce(t *testing.T) {
	srv := testredis.NewPrivate(t)
	s := openPrivate(t, srv)
	ctx := context.Background()
	dh := approvedDevice(t, s)
	patient, err := storage.Open(ctx, storage.Options{URL: srv.URL, Prefix: srv.Prefix, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer patient.Close()
	if _, err := patient.GetDevice(ctx, dh); err != nil { // connections in its pool
		t.Fatal(err)
	}

	srv.Pause(t)
	const queuedPolls = 4
	outcomes := make(chan string, queuedPolls+2)
	var queued sync.WaitGroup
	for i := range queuedPolls {
		queued.Go(func() {
			id := "queued"
			if i > 1 {
				id = secret.NewToken(8) // two copies of one poll, two other polls
			}
			p, err := patient.PollDevice(ctx, dh, id, true)
			if err != nil {
				t.Errorf("queued poll = %v", err)
				return
			}
			outcomes <- id + ":" + p.Outcome
		})
	}
	for range 2 {
		start := time.Now()
		if _, err := s.PollDevice(ctx, dh, secret.NewToken(8), true); !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("PollDevice during a stall = %v, want ErrUnavailable", err)
		}
		if took := time.Since(start); took > 3*faultTimeout {
			t.Fatalf("PollDevice during a stall took %v, want about %v", took, faultTimeout)
		}
	}
	time.Sleep(100 * time.Millisecond) // the queued copies reach Redis's queue
	srv.Resume(t)
	queued.Wait()
	after, err := s.PollDevice(ctx, dh, secret.NewToken(8), true)
	if err != nil {
		t.Fatal(err)
	}
	close(outcomes)
	consumers := map[string]int{}
	for o := range outcomes {
		if id, out, _ := cut(o); out == storage.DeviceConsumed {
			consumers[id]++
		}
	}
	if after.Outcome == storage.DeviceConsumed {
		consumers["after"]++
	}
	// One poll consumed it: possibly delivered twice (the "queued" id),
	// then each copy saw the same answer.
	if len(consumers) != 1 {
		t.Fatalf("polls that consumed the approval: %v, want exactly one", consumers)
	}
	if n := consumers["queued"]; n != 0 && n != 2 {
		t.Fatalf("of the two copies of one poll, %d answered with the grant, want both or neither", n)
	}
	t.Logf("consumed by: %v", consumers)
}

func cut(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// A Redis restarted empty has lost the device authorization: the poll
// is an unknown device code (the token endpoint answers invalid_grant),
// at once, not a hang, and nothing is issued from it.
func TestRestartEmptyLosesDeviceAuthorization(t *testing.T) {
	srv := testredis.NewPrivate(t)
	s := openPrivate(t, srv)
	dh := approvedDevice(t, s)
	srv.RestartEmpty(t)
	ctx := context.Background()
	var err error
	for range 20 { // the first calls after the restart may meet dropped connections
		if _, err = s.PollDevice(ctx, dh, secret.NewToken(8), true); errors.Is(err, storage.ErrNotFound) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("poll after Redis restarted empty = %v, want ErrNotFound", err)
	}
	if err := s.DecideDevice(ctx, dh, true, &storage.DeviceGrant{UserID: "u1"}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("approval after the restart = %v, want ErrNotFound", err)
	}
}
