package storage

// Exactly once under re-delivery (DESIGN.md §4).
//
// A command can reach Redis twice for one call: a client library re-sends
// it after a timeout or a dropped connection, and Redis, once it resumes
// from a stall, runs every copy it received. For every command that
// changes state this package decides one of two things:
//
//   - idempotent: the call carries its own identity (a fresh hash, token
//     id or record JSON), and a second delivery that finds that identity
//     already applied answers exactly what the first did, changing
//     nothing; or
//   - never re-sent: the store's client has MaxRetries -1 and a command
//     deadline equal to its read deadline (faults.go), so go-redis never
//     sends it again; on a Cluster it goes straight to the slot's master
//     (noResend), because the cluster client re-sends to another node
//     after a dropped connection.
//
// The idempotent scripts are re-sent safely whatever the topology; that
// is also what protects them against a failover that replays a write.
// With Options.MinReplicasAck the writes acked.go names go, with their
// WAIT, over a connection of their own to the key's master, which never
// re-sends; a client's retry after the 503 of a short WAIT is a second
// delivery of an idempotent call.
//
//	command (file)              decision       identity / why
//	createFamily (refresh.go)   idempotent     first token hash (current or issued since): found → 'ok'
//	indexFamily (refresh.go)    idempotent     ZADD of the same member and score (the family's absolute
//	                                           expiry); the prune drops only scores before the call's
//	                                           now, and the TTL is set again from the same scores
//	userFamilies (refresh.go)   idempotent     the same prune; the legacy ids it folds in only raise a
//	                                           score to the same bound; answers the live members
//	rotate (refresh.go)         idempotent     new hash: cur == new and prev == presented → 'ok' with the
//	                                           same family; a rotated-out token presented by another
//	                                           request is still reuse (or grace, see Rotation.Grace); a
//	                                           grace answer delivered twice pushes its access jti onto
//	                                           rt:{id}:grace twice, and reuse denies it twice: the same
//	revokeFamily (refresh.go)   idempotent     revoked stays revoked; same reply (another client's
//	                                           family: 'other' again, untouched)
//	saveCode (codes.go)         idempotent     code JSON: found → 'ok'
//	redeemCode (codes.go)       idempotent     redemption JSON (fresh jti and family id): the same
//	                                           redemption → 'ok' again, another → ErrCodeReused. It is
//	                                           sent only after the presenter passed every check on the
//	                                           record GetCode read (a read), which never changes: a
//	                                           re-sent claim is the same presenter's, a refused
//	                                           presenter sends none
//	createUser (users.go)       idempotent     user JSON: found → 'ok'
//	upsertUser (users.go)       idempotent     user JSON (UpdatedAt is per call): found → 'ok'
//	updateUser (users.go)       idempotent     writes the same JSON again
//	deleteUser (users.go)       never re-sent  a second delivery would answer ErrNotFound
//	createClient (clients.go)   idempotent     client JSON: found → 'ok'
//	UpsertClient HSET           idempotent     plain overwrite with the same value
//	createSelfRegistered        idempotent     client JSON: found → 'ok' (before the cap is counted)
//	  (clients.go)
//	UpdateClient (replaceClient) idempotent    overwrite of the record read with the same value
//	deleteClient (clients.go)   never re-sent  a second delivery would answer ErrNotFound
//	createResource              idempotent     resource JSON: found → 'ok'
//	  (resources.go)
//	putResource (resources.go)  idempotent     overwrite with the same value; the id now exists, so the
//	                                           bound does not refuse the second delivery
//	updateResource              idempotent     overwrite with the same value of a record that exists
//	  (resources.go)
//	DeleteResource HDEL         never re-sent  as DeleteClient
//	SaveConsent HSET            idempotent     plain overwrite
//	DeleteConsent HDEL          never re-sent  as DeleteClient
//	DeleteUser consents DEL     idempotent     no answer depends on it
//	PutSigningKey HSET          idempotent     plain overwrite
//	putSigningKeysUnless        idempotent     the first record's JSON (a fresh key): found → 'ok'
//	  (signingkeys.go)
//	DeleteSigningKey HDEL       never re-sent  as DeleteClient
//	SaveSession SET             idempotent     plain overwrite
//	DeleteSession DEL           idempotent     answers nil either way
//	SaveAuthRequest SET         idempotent     plain overwrite
//	TakeAuthRequest GETDEL      never re-sent  a second delivery would find nothing
//	createComment (comments.go) idempotent     comment JSON: found → 'ok', no second sequence number
//	deleteComment (comments.go) never re-sent  a second delivery would answer ErrNotFound
//	createUserCode (device.go)  idempotent     device code hash: found → 'ok'
//	createDevice (device.go)    idempotent     request JSON: found → 'ok'
//	decideDevice (device.go)    idempotent     the same state and grant JSON → 'ok'
//	pollDevice (device.go)      idempotent     poll id (fresh per token request): its answer is kept
//	                                           (poll/ans), and a consumption under red → the same
//	                                           grant again, never a second consumption
//	revokeJTI (revocations.go)  idempotent     keeps the later expiry of the same jti; appends its
//	                                           feed entry only when that changed the set, so a
//	                                           second delivery appends none
//	setCutoff (revocations.go)  idempotent     keeps the later not-before and until; feed entry as
//	                                           revokeJTI's
//	RevokeUserFamilies HDEL     idempotent     deletes from the legacy HASH only the fields read from it
//	                                           (legacyFamilies, a read) and folded into the ZSET by
//	                                           userFamilies before the HDEL is sent
//	RevokeUserFamilies ZREM     idempotent     prunes index members whose family is gone
//	PUBLISH (every channel)     idempotent     a duplicate message is applied twice by subscribers
//	                                           that only add to a set, keep a maximum or drop a cache
//	data-loss marker (heal.go)  idempotent     SET NX of this store's marker
//	RecordProof SET NX (dpop.go)  never re-sent  a second delivery would call the proof a replay
//	RecordAssertion SET NX (dpop.go)  never re-sent  the same, for a client assertion's jti
//	addPasskey (passkeys.go)      idempotent     passkey JSON: found → 'ok'
//	updatePasskey (passkeys.go)   idempotent     compare-and-set: finding the new JSON → 'ok'
//	deletePasskey (passkeys.go)   never re-sent  a second delivery would answer ErrNotFound
//	RecordCeremony SET NX         never re-sent  a second delivery would call the ceremony a replay
//	SavePushedRequest SET NX      never re-sent  a second delivery would answer ErrConflict
//	TakePushedRequest GETDEL      never re-sent  a second delivery would find nothing; sent only after
//	                                             GetPushedRequest (a read) found the presenter's client
//	SaveSessionLogin (logins.go)  idempotent     plain overwrite; indexUserLogin ZADDs the same sid with the
//	                                             same expiry again and prunes by the call's own now
//	addSessionClient (logins.go)  idempotent     HSET of the same field
//	DeleteSessionLogin DEL, ZREM  idempotent     answers nil either way
//	rememberUserClient            idempotent     keeps the later until of the same member (client and
//	  (userclients.go)                           sid); pruning by the call's own now and count gives the
//	                                             same set again
//	forgetUserClients             idempotent     ZREM only of members (client and sid) not extended since
//	  (userclients.go)                           they were read; answers 'ok' either way
//	DeleteUser user-clients DEL   idempotent     no answer depends on it
//	enqueueLogouts (logouts.go)   idempotent     HSETNX by delivery id: a second delivery keeps the first
//	claimLogouts (logouts.go)     never re-sent  a second delivery claims nothing (the first pushed its
//	                                             deliveries back by the lease); what a lost answer claimed
//	                                             is claimed again when the lease lapses: late, never twice
//	settleLogout (logouts.go)     idempotent     only the lease holder settles; a retry that finds its own
//	                                             JSON, or a finish that finds the delivery gone, answers 'ok'
//	                                             again
//
// Reads are re-sent freely. Package ratelimit keeps its own counters in
// the same Redis through the same client (the password budgets, and the
// per-address budgets of public clients' pushes and DPoP proofs, whose
// Spend is one GCRA step): never re-sent on one server or Sentinel; on a
// Cluster a re-sent step takes or gives back one unit too many, which a
// rate limit tolerates (see its budgetScript; a re-sent "fail" spends a
// second unit, which leans towards refusing, never towards letting
// guesses through).
//
// storagetest's "Redelivery" group delivers each idempotent call twice
// and checks the second answer and the state. TestClaimWithLostAnswerIsNotResent
// loses the answer of a claim, which only a Cluster would re-send, and
// checks that it ran once.
