package storage

// The package's own tests sometimes look beneath the contract (a TTL, a
// record changed behind a cache's back). They reach the keys through
// these, so that keys.go stays the one place a key is spelled.

func (s *Store) ClientsKey() string            { return s.kClients() }
func (s *Store) UsersByIDKey() string          { return s.kUsersByID() }
func (s *Store) SessionKey(hash string) string { return s.kSession(hash) }
func (s *Store) CutoffsNBFKey() string         { return s.kCutoffsNBF() }
func (s *Store) LogoutJobsKey() string         { return s.kLogoutJobs() }
func (s *Store) ResourcesKey() string          { return s.kResources() }
func (s *Store) JTIFeedKey() string            { return s.kJTIFeed() }

// MarkerKeys are the data-loss markers (heal.go).
func (s *Store) MarkerKeys() []string { return s.kMarkers() }
