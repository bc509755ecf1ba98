package storage_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/storage/storagetest"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

// The conformance suite against every topology we support.

func TestStandalone(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return open(t, testredis.New(t))
	})
}

func TestCluster(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return open(t, testredis.Cluster(t))
	})
}

func TestEmbedded(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		s, err := storage.Open(context.Background(), storage.Options{Prefix: "t-embedded:", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func open(t *testing.T, srv *testredis.Server) *storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), storage.Options{URL: srv.URL, Prefix: srv.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
