package token

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// NewDevKeySet generates one active key per signing algorithm in memory.
// The keys die with the process: every token issued before a restart
// stops verifying, which is fine for development only; the log says so.
func NewDevKeySet(accessAlg, idTokenAlg string, logger *slog.Logger, now func() time.Time) (*KeySet, error) {
	set, err := NewKeySet(accessAlg, idTokenAlg)
	if err != nil {
		return nil, err
	}
	t := now()
	var entries []KeyEntry
	for _, alg := range set.SigningAlgorithms() {
		k, err := GenerateKey(alg)
		if err != nil {
			return nil, err
		}
		entries = append(entries, KeyEntry{Key: k, State: StateActive, CreatedAt: t, ActivatedAt: t})
		logger.Warn("token: generated an ephemeral signing key; tokens will not verify after a restart",
			"kid", k.ID(), "alg", alg)
	}
	if err := set.Replace(entries, t); err != nil {
		return nil, err
	}
	return set, nil
}

// LoadDir builds a KeySet from the PEM files in dir, read once.
//
// File names: "<name>[.<alg>][.next].pem", for example
// "2026-07-01.ES256.pem", "2026-07-01.rs256.pem" or
// "2026-10-01.ES256.next.pem". Files not ending in ".pem" are ignored.
//   - <alg> (any case) is one of Algorithms(); without it the algorithm is
//     inferred from the key (P-256 → ES256, RSA → RS256, Ed25519 → EdDSA),
//     so a PS256 key must say so.
//   - Per algorithm, the file whose name sorts last (excluding ".next"
//     files) is active; the others are retired and stay published.
//   - A ".next" file is published but does not sign.
//
// Rotation without downtime: add "<new>.<alg>.next.pem" and restart every
// instance; once resource servers have refreshed their JWKS, drop ".next"
// from the name so it sorts last and restart again; delete the old file
// once the longest token lifetime has passed.
func LoadDir(dir, accessAlg, idTokenAlg string) (*KeySet, error) {
	set, err := NewKeySet(accessAlg, idTokenAlg)
	if err != nil {
		return nil, err
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.pem"))
	if err != nil {
		return nil, fmt.Errorf("token: list key directory: %w", err)
	}
	slices.Sort(names)
	var entries []KeyEntry
	activeAt := make(map[string]int) // alg → index in entries of the active key
	for _, name := range names {
		k, next, err := loadPEMFile(name)
		if err != nil {
			return nil, err
		}
		e := KeyEntry{Key: k, State: StateNext}
		if !next {
			e.State = StateActive
			if i, ok := activeAt[k.Algorithm()]; ok {
				entries[i].State = StateRetired // an earlier name: superseded
			}
			activeAt[k.Algorithm()] = len(entries)
		}
		entries = append(entries, e)
	}
	if err := set.Replace(entries, time.Time{}); err != nil {
		return nil, fmt.Errorf("token: key directory %s: %w", dir, err)
	}
	return set, nil
}

func loadPEMFile(path string) (key *Key, next bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("token: read key: %w", err)
	}
	stem := strings.TrimSuffix(filepath.Base(path), ".pem")
	stem, next = strings.CutSuffix(stem, ".next")
	alg := ""
	if dot := strings.LastIndexByte(stem, '.'); dot >= 0 {
		for _, known := range Algorithms() {
			if strings.EqualFold(stem[dot+1:], known) {
				alg = known
			}
		}
	}
	key, err = ParsePEM(data, alg)
	if err != nil {
		return nil, false, fmt.Errorf("token: key file %s: %w", path, err)
	}
	return key, next, nil
}
