package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// AccountName is the name of the account every Viber client lives in.
const AccountName = "VIBER"

// SystemAccountName is the name of the NATS system account.
const SystemAccountName = "SYS"

// File names inside the auth directory.
const (
	operatorSeedFile = "operator.nk"
	operatorJWTFile  = "operator.jwt"
	systemSeedFile   = "sys.nk"
	systemJWTFile    = "sys.jwt"
	accountSeedFile  = "account.nk"
	accountJWTFile   = "account.jwt"
	signingSeedFile  = "account-signing.nk"
	// GatewayCredsFile is the gateway's own full-permission credential.
	GatewayCredsFile = "gateway.creds"
	issuedFile       = "issued.json"
	// ServerConfigFile is a nats-server configuration include for running
	// an external server with these accounts.
	ServerConfigFile = "nats-server.conf"
)

// ErrNoAuth means the auth directory holds no operator yet.
var ErrNoAuth = errors.New("no Viber credentials here")

// Kind says what a user credential is for.
type Kind string

// Kinds of user credentials.
const (
	KindGateway Kind = "gateway"
	KindDaemon  Kind = "daemon"
	KindUser    Kind = "user"
	// KindEdge is the leaf-node link of an edge daemon (viberd --leaf).
	KindEdge Kind = "edge"
)

// Issued records one user credential that was handed out, so that it can
// be revoked by name later. Seeds are never recorded.
type Issued struct {
	Kind      Kind      `json:"kind"`
	Name      string    `json:"name"`
	PublicKey string    `json:"public_key"`
	IssuedAt  time.Time `json:"issued_at"`
	Revoked   bool      `json:"revoked,omitempty"`
}

// Store holds the operator, the system account, the VIBER account and its
// signing key, kept as files in Dir.
type Store struct {
	dir         string
	operator    nkeys.KeyPair
	operatorJWT string
	systemPub   string
	systemJWT   string
	account     nkeys.KeyPair
	accountPub  string
	accountJWT  string
	signing     nkeys.KeyPair
}

// Exists reports whether dir holds an operator (Init ran there).
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, operatorJWTFile))
	return err == nil
}

// Init loads the store in dir, creating the operator, the accounts, the
// signing key and the gateway credential the first time. Files are 0600
// in a 0700 directory.
func Init(dir string) (*Store, error) {
	if Exists(dir) {
		return Open(dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth directory %s: %w", dir, err)
	}
	s := &Store{dir: dir}
	var err error
	if s.operator, err = nkeys.CreateOperator(); err != nil {
		return nil, err
	}
	opPub, _ := s.operator.PublicKey()
	sys, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	s.systemPub, _ = sys.PublicKey()
	if s.account, err = nkeys.CreateAccount(); err != nil {
		return nil, err
	}
	s.accountPub, _ = s.account.PublicKey()
	if s.signing, err = nkeys.CreateAccount(); err != nil {
		return nil, err
	}
	signPub, _ := s.signing.PublicKey()

	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "viber"
	oc.SystemAccount = s.systemPub
	if s.operatorJWT, err = oc.Encode(s.operator); err != nil {
		return nil, fmt.Errorf("operator JWT: %w", err)
	}
	sc := jwt.NewAccountClaims(s.systemPub)
	sc.Name = SystemAccountName
	if s.systemJWT, err = sc.Encode(s.operator); err != nil {
		return nil, fmt.Errorf("system account JWT: %w", err)
	}
	ac := jwt.NewAccountClaims(s.accountPub)
	ac.Name = AccountName
	ac.SigningKeys.Add(signPub)
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1, MaxAckPending: -1}
	if s.accountJWT, err = ac.Encode(s.operator); err != nil {
		return nil, fmt.Errorf("account JWT: %w", err)
	}
	files := map[string][]byte{
		operatorJWTFile: []byte(s.operatorJWT),
		systemJWTFile:   []byte(s.systemJWT),
		accountJWTFile:  []byte(s.accountJWT),
	}
	for name, kp := range map[string]nkeys.KeyPair{operatorSeedFile: s.operator, systemSeedFile: sys, accountSeedFile: s.account, signingSeedFile: s.signing} {
		seed, err := kp.Seed()
		if err != nil {
			return nil, err
		}
		files[name] = seed
	}
	// The operator JWT goes last: its presence marks a complete store.
	for _, name := range []string{operatorSeedFile, systemSeedFile, systemJWTFile, accountSeedFile, signingSeedFile, accountJWTFile} {
		if err := writeFile(filepath.Join(dir, name), files[name]); err != nil {
			return nil, err
		}
	}
	if err := s.writeGatewayCreds(); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, ServerConfigFile), []byte(s.ServerConfig())); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, operatorJWTFile), files[operatorJWTFile]); err != nil {
		return nil, err
	}
	return s, nil
}

// Open loads the store in dir; it returns ErrNoAuth when Init never ran
// there.
func Open(dir string) (*Store, error) {
	if !Exists(dir) {
		return nil, fmt.Errorf("%w: %s (start vibergw with --auth, or run `vibergw creds init`)", ErrNoAuth, dir)
	}
	s := &Store{dir: dir}
	var err error
	read := func(name string) string {
		if err != nil {
			return ""
		}
		var b []byte
		b, err = os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			err = fmt.Errorf("auth store: %w", err)
		}
		return strings.TrimSpace(string(b))
	}
	seed := func(name string) nkeys.KeyPair {
		v := read(name)
		if err != nil {
			return nil
		}
		var kp nkeys.KeyPair
		kp, err = nkeys.FromSeed([]byte(v))
		if err != nil {
			err = fmt.Errorf("auth store: %s: %w", name, err)
		}
		return kp
	}
	s.operator = seed(operatorSeedFile)
	s.operatorJWT = read(operatorJWTFile)
	s.systemJWT = read(systemJWTFile)
	s.account = seed(accountSeedFile)
	s.accountJWT = read(accountJWTFile)
	s.signing = seed(signingSeedFile)
	if err != nil {
		return nil, err
	}
	sc, err := jwt.DecodeAccountClaims(s.systemJWT)
	if err != nil {
		return nil, fmt.Errorf("auth store: %s: %w", systemJWTFile, err)
	}
	s.systemPub = sc.Subject
	s.accountPub, _ = s.account.PublicKey()
	if _, err := os.Stat(s.GatewayCredsPath()); errors.Is(err, fs.ErrNotExist) {
		if err := s.writeGatewayCreds(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Dir is the directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// OperatorJWT is the operator's JWT, which servers trust.
func (s *Store) OperatorJWT() string { return s.operatorJWT }

// OperatorClaims decodes the operator JWT.
func (s *Store) OperatorClaims() (*jwt.OperatorClaims, error) {
	return jwt.DecodeOperatorClaims(s.operatorJWT)
}

// SystemAccount is the public key of the system account.
func (s *Store) SystemAccount() string { return s.systemPub }

// Account is the public key of the VIBER account.
func (s *Store) Account() string { return s.accountPub }

// AccountJWTs maps each account's public key to its JWT, for a resolver.
func (s *Store) AccountJWTs() map[string]string {
	return map[string]string{s.systemPub: s.systemJWT, s.accountPub: s.accountJWT}
}

// GatewayCredsPath is the gateway's full-permission credential.
func (s *Store) GatewayCredsPath() string { return filepath.Join(s.dir, GatewayCredsFile) }

func (s *Store) writeGatewayCreds() error {
	creds, _, err := s.issue(KindGateway, "vibergw", jwt.Permissions{}, false)
	if err != nil {
		return err
	}
	return writeFile(s.GatewayCredsPath(), creds)
}

// IssueDaemon mints the credential of daemon name (see
// [DaemonPermissions]). It returns the .creds file's content and the
// user's public key.
func (s *Store) IssueDaemon(name, inbox string) ([]byte, string, error) {
	p, err := DaemonPermissions(name, inbox)
	if err != nil {
		return nil, "", err
	}
	return s.issue(KindDaemon, name, p, true)
}

// IssueEdge mints the credential of edge daemon name's leaf-node link to a
// hub whose JetStream domain is hubDomain (see [EdgePermissions]). It is
// good for leaf-node connections only: a client connecting with it is
// refused. It returns the .creds file's content and the user's public key.
func (s *Store) IssueEdge(name, hubDomain string) ([]byte, string, error) {
	p, err := EdgePermissions(name, hubDomain)
	if err != nil {
		return nil, "", err
	}
	return s.issue(KindEdge, name, p, true)
}

// IssueUser mints the credential of a CLI user (see [UserPermissions]).
func (s *Store) IssueUser(name string) ([]byte, string, error) {
	if strings.TrimSpace(name) == "" {
		return nil, "", errors.New("user name is empty")
	}
	return s.issue(KindUser, name, UserPermissions(), true)
}

func (s *Store) issue(kind Kind, name string, p jwt.Permissions, record bool) ([]byte, string, error) {
	user, err := nkeys.CreateUser()
	if err != nil {
		return nil, "", err
	}
	pub, _ := user.PublicKey()
	uc := jwt.NewUserClaims(pub)
	uc.Name = string(kind) + "/" + name
	uc.IssuerAccount = s.accountPub
	uc.Permissions = p
	if kind == KindEdge {
		uc.AllowedConnectionTypes.Add(jwt.ConnectionTypeLeafnode)
	}
	uc.Tags.Add("viber-" + string(kind))
	token, err := uc.Encode(s.signing)
	if err != nil {
		return nil, "", fmt.Errorf("sign %s credential: %w", kind, err)
	}
	seed, err := user.Seed()
	if err != nil {
		return nil, "", err
	}
	creds, err := jwt.FormatUserConfig(token, seed)
	if err != nil {
		return nil, "", err
	}
	if record {
		list, err := s.Issued()
		if err != nil {
			return nil, "", err
		}
		list = append(list, Issued{Kind: kind, Name: name, PublicKey: pub, IssuedAt: time.Now().UTC()})
		if err := s.saveIssued(list); err != nil {
			return nil, "", err
		}
	}
	return creds, pub, nil
}

// Issued lists the credentials handed out, oldest first.
func (s *Store) Issued() ([]Issued, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, issuedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var list []Issued
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("auth store: %s: %w", issuedFile, err)
	}
	return list, nil
}

func (s *Store) saveIssued(list []Issued) error {
	sort.SliceStable(list, func(i, j int) bool { return list[i].IssuedAt.Before(list[j].IssuedAt) })
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(s.dir, issuedFile), append(b, '\n'))
}

// Revoke revokes every credential issued to name (of the given kind, or
// any kind when kind is empty) by writing their public keys into the
// account JWT's revocation list. A running server picks the new account
// JWT up at its next start. It returns how many credentials it revoked.
func (s *Store) Revoke(kind Kind, name string) (int, error) {
	list, err := s.Issued()
	if err != nil {
		return 0, err
	}
	ac, err := jwt.DecodeAccountClaims(s.accountJWT)
	if err != nil {
		return 0, err
	}
	n := 0
	now := time.Now()
	for i := range list {
		e := &list[i]
		if e.Name != name || (kind != "" && e.Kind != kind) || e.Revoked {
			continue
		}
		// Revocation covers JWTs issued at or before the given time; the
		// one-second grain of JWT times needs the margin.
		ac.RevokeAt(e.PublicKey, now.Add(time.Second))
		e.Revoked = true
		n++
	}
	if n == 0 {
		return 0, nil
	}
	token, err := ac.Encode(s.operator)
	if err != nil {
		return 0, err
	}
	if err := writeFile(filepath.Join(s.dir, accountJWTFile), []byte(token)); err != nil {
		return 0, err
	}
	s.accountJWT = token
	if err := writeFile(filepath.Join(s.dir, ServerConfigFile), []byte(s.ServerConfig())); err != nil {
		return 0, err
	}
	return n, s.saveIssued(list)
}

// RotateSigningKey replaces the VIBER account's signing key: every user
// credential signed so far (the gateway's included) stops working once the
// server loads the new account JWT, at its next start. The gateway's
// credential is re-issued at once; daemons and users need new ones. The
// account's identity, and with it the JetStream store, stays the same.
// It returns the new signing key's public key.
func (s *Store) RotateSigningKey() (string, error) {
	ac, err := jwt.DecodeAccountClaims(s.accountJWT)
	if err != nil {
		return "", err
	}
	kp, err := nkeys.CreateAccount()
	if err != nil {
		return "", err
	}
	pub, _ := kp.PublicKey()
	seed, err := kp.Seed()
	if err != nil {
		return "", err
	}
	ac.SigningKeys = jwt.SigningKeys{}
	ac.SigningKeys.Add(pub)
	token, err := ac.Encode(s.operator)
	if err != nil {
		return "", err
	}
	if err := writeFile(filepath.Join(s.dir, signingSeedFile), seed); err != nil {
		return "", err
	}
	if err := writeFile(filepath.Join(s.dir, accountJWTFile), []byte(token)); err != nil {
		return "", err
	}
	s.signing, s.accountJWT = kp, token
	if err := s.writeGatewayCreds(); err != nil {
		return "", err
	}
	if err := writeFile(filepath.Join(s.dir, ServerConfigFile), []byte(s.ServerConfig())); err != nil {
		return "", err
	}
	list, err := s.Issued()
	if err != nil {
		return "", err
	}
	for i := range list {
		list[i].Revoked = true
	}
	return pub, s.saveIssued(list)
}

// ServerConfig is a nats-server configuration fragment that makes an
// external server trust this store: operator mode with a memory resolver
// preloaded with both accounts. Include it from the server's config.
func (s *Store) ServerConfig() string {
	var b strings.Builder
	b.WriteString("# Viber accounts, written by vibergw; include this from nats-server.conf.\n")
	fmt.Fprintf(&b, "operator: %q\n", s.operatorJWT)
	fmt.Fprintf(&b, "system_account: %s\n", s.systemPub)
	b.WriteString("resolver: MEMORY\nresolver_preload: {\n")
	fmt.Fprintf(&b, "  %s: %q\n", s.systemPub, s.systemJWT)
	fmt.Fprintf(&b, "  %s: %q\n", s.accountPub, s.accountJWT)
	b.WriteString("}\n")
	return b.String()
}

// WriteCreds writes a credential to path with mode 0600.
func WriteCreds(path string, creds []byte) error { return writeFile(path, creds) }

func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	defer func() { _ = os.Remove(name) }()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ErrWrongCredential means a credentials file was issued for another use
// than the one it is given to (a daemon credential for a leaf link, a
// credential of another daemon): the server would accept the connection
// and then refuse, or not answer, what the process needs.
var ErrWrongCredential = errors.New("wrong credential")

// CheckIssued checks that the credential in file, when `vibergw creds`
// issued it, is of kind for name. Credentials issued otherwise (without
// Viber's tags) and the gateway's (full permissions) pass. A file that cannot be read or parsed is
// left to the connection to report.
func CheckIssued(file string, kind Kind, name string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	token, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return nil
	}
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return nil
	}
	var got Kind
	for _, k := range []Kind{KindGateway, KindDaemon, KindEdge, KindUser} {
		if uc.Tags.Contains("viber-" + string(k)) {
			got = k
		}
	}
	switch {
	case got == "" || got == KindGateway: // not Viber's, or full permissions
		return nil
	case got != kind && kind == KindEdge:
		return fmt.Errorf("%w: %s holds a %s credential (%s); a leaf link needs `vibergw creds edge %s`", ErrWrongCredential, file, got, uc.Name, name)
	case got != kind && got == KindEdge:
		return fmt.Errorf("%w: %s holds an edge credential (%s), good for a leaf link only: use it with viberd --leaf URL --leaf-creds, or issue `vibergw creds %s %s`", ErrWrongCredential, file, uc.Name, kind, name)
	case got != kind:
		return fmt.Errorf("%w: %s holds a %s credential (%s), not a %s one", ErrWrongCredential, file, got, uc.Name, kind)
	case (kind == KindDaemon || kind == KindEdge) && uc.Name != string(kind)+"/"+name:
		return fmt.Errorf("%w: %s was issued to %s, not to %s %s: its permissions name that daemon", ErrWrongCredential, file, uc.Name, kind, name)
	}
	return nil
}
