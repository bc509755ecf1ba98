package storage_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

func TestMain(m *testing.M) { testredis.Main(m) }

func TestOpenTopologies(t *testing.T) {
	single := testredis.New(t)
	tests := []struct {
		name     string
		url      func(t *testing.T) string
		embedded bool
	}{
		{name: "embedded", url: func(*testing.T) string { return "" }, embedded: true},
		{name: "standalone url", url: func(*testing.T) string { return single.URL }},
		{name: "bare host:port", url: func(t *testing.T) string {
			if single.IsCluster() || !strings.HasPrefix(single.URL, "redis://") {
				t.Skip("needs a plain redis:// server")
			}
			return strings.TrimSuffix(strings.TrimPrefix(single.URL, "redis://"), "/0")
		}},
		{name: "cluster", url: func(t *testing.T) string { return testredis.Cluster(t).URL }},
		{name: "cluster of redis urls", url: func(t *testing.T) string {
			seeds := strings.Split(testredis.Cluster(t).URL, ",")
			return "redis://" + seeds[0] + ",redis://" + seeds[1]
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := storage.Open(ctx, storage.Options{URL: tc.url(t), Prefix: "t-open:"})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			if s.Embedded() != tc.embedded {
				t.Fatalf("Embedded() = %v, want %v", s.Embedded(), tc.embedded)
			}
			if s.Prefix() != "t-open:" {
				t.Fatalf("Prefix() = %q", s.Prefix())
			}
			if err := s.Redis().Set(ctx, s.Prefix()+"probe", "1", 0).Err(); err != nil {
				t.Fatal(err)
			}
			s.Redis().Del(ctx, s.Prefix()+"probe")
		})
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    storage.Options
		mention string
	}{
		{name: "brace in prefix", opts: storage.Options{Prefix: "a{b}:"}, mention: "prefix"},
		{name: "bad scheme", opts: storage.Options{URL: "http://127.0.0.1:1"}, mention: "http://127.0.0.1:1"},
		{name: "nobody listening, password hidden", opts: storage.Options{URL: "redis://u:hunter2@127.0.0.1:1/0"}, mention: "127.0.0.1:1"},
		{name: "bad cluster seed", opts: storage.Options{URL: "127.0.0.1:1,nonsense"}, mention: "nonsense"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := storage.Open(context.Background(), tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.mention) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error %q should mention %q and no password", err, tc.mention)
			}
			if !strings.HasPrefix(err.Error(), "storage: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestOpenEmbeddedWarnsDataIsVolatile(t *testing.T) {
	var logs strings.Builder
	s, err := storage.Open(context.Background(), storage.Options{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Prefix() != storage.DefaultPrefix {
		t.Fatalf("Prefix() = %q, want the default %q", s.Prefix(), storage.DefaultPrefix)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "lost on exit") {
		t.Fatalf("no WARN that embedded data is lost on exit; logs: %s", logs.String())
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("Ping succeeded after Close")
	}
}
