// Package auth issues and checks NATS credentials for Viber with NATS
// decentralized authentication: an operator signs two accounts (SYS, the
// system account, and VIBER, where every Viber client lives, with JetStream
// on), and the VIBER account's signing key signs user JWTs. A user
// credential is a standard .creds file (JWT + nkey seed) that any NATS
// client, viberd and the viber CLI included, passes with --creds.
//
// It lives under bus/ because the permissions of a credential are subject
// knowledge: they are built from the subject, stream and consumer names in
// package bus, so a rename there changes them here in the same commit, and
// bus stays the only place that knows the wire.
//
// The keys and JWTs are kept in one directory (by default <data>/auth of
// the gateway) with 0600 files. [Init] creates them once; [Open] loads
// them. The embedded server (package bus/server) runs in operator mode with
// a memory resolver preloaded with both account JWTs, and the gateway
// connects in-process with a full-permission user. Daemon and CLI user
// credentials are minted offline by `vibergw creds`: the server needs no
// restart to accept them, because it trusts the account's signing key, not
// individual users. Revocations are written into the account JWT, which the
// server reads at start-up.
package auth
