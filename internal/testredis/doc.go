// Package testredis gives tests a real Redis and a key prefix of their own.
//
// New uses, in order: a Cluster (below) when OAUTH2D_TEST_REDIS_TOPOLOGY
// is "cluster"; OAUTH2D_TEST_REDIS_URL if set; a redis-server it
// starts on a free loopback port (once per test binary) when one is on
// PATH; else an embedded miniredis (and logs that it fell back), except
// under CI, where the test fails instead: CI must test on a real Redis.
// NewEmbedded gives the embedded Redis to a test that asks for it. Cluster
// starts a real 3-master Redis Cluster on loopback (or uses
// OAUTH2D_TEST_REDIS_CLUSTER_URL); without redis-server and redis-cli the
// test skips, or fails under CI. NewFailoverCluster (3 masters, 3
// replicas) and NewSentinelGroup (a master, a replica, three sentinels)
// start a deployment for one test alone, which may kill its master.
//
// Tests never flush anything: isolation comes from the unique prefix each
// call returns. Servers this package starts die with the test binary: they
// get SIGKILL from the kernel when the test process exits (Linux
// parent-death signal), and a package that calls Main from its TestMain
// stops them explicitly as well.
package testredis
