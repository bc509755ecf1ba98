package storage_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/storage/storagetest"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

// The conformance suite against every topology we support.

func TestStandalone(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, now func() time.Time) storage.Storage {
		return openAt(t, testredis.New(t), now)
	})
}

func TestCluster(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, now func() time.Time) storage.Storage {
		return openAt(t, testredis.Cluster(t), now)
	})
}

func TestEmbedded(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, now func() time.Time) storage.Storage {
		s, err := storage.Open(context.Background(), storage.Options{Prefix: "t-embedded:", Logger: slog.New(slog.DiscardHandler), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func open(t *testing.T, srv *testredis.Server) *storage.Store {
	t.Helper()
	return openAt(t, srv, nil)
}

// openAt is open with the store's clock at now (time.Now when nil).
func openAt(t *testing.T, srv *testredis.Server, now func() time.Time) *storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), storage.Options{URL: srv.URL, Prefix: srv.Prefix, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
