// Package cluster makes the dtmfgw nodes that share one database know
// each other: each node registers itself in the store and heartbeats
// there (store.Heartbeat); a node whose last heartbeat is older than
// DeadAfter, by the reader's clock, is dead. The database is the shared
// truth and the only meeting point: there is no membership protocol of
// our own (docs/cluster.md says why).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"dtmfgw/store"
)

// Defaults and limits of Config.
const (
	// DefaultHeartbeat is how often a node writes its heartbeat.
	DefaultHeartbeat = 2 * time.Second
	// DefaultDeadAfter is how old a node's last heartbeat may be before
	// the others count it dead: a few missed heartbeats, so that one slow
	// write does not kill a node.
	DefaultDeadAfter = 10 * time.Second
)

// ErrConfig is wrapped by Config.Validate; the message names the key.
var ErrConfig = errors.New("cluster: bad configuration")

// Config is the "cluster:" section.
type Config struct {
	// Enabled says several nodes share the store (PostgreSQL), and so
	// what they must share: the form tokens' secret above all.
	Enabled bool `yaml:"enabled"`
	// NodeID names this node, stable across restarts; empty: the host
	// name.
	NodeID string `yaml:"node_id"`
	// APIURL is this node's API as the other nodes reach it; empty: the
	// public listener's URL.
	APIURL string `yaml:"api_url"`
	// Heartbeat is how often this node writes its heartbeat.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// DeadAfter is how old a heartbeat may be before its node counts as
	// dead.
	DeadAfter time.Duration `yaml:"dead_after"`
}

// DefaultConfig returns the section's defaults: one node, alone.
func DefaultConfig() Config {
	return Config{Heartbeat: DefaultHeartbeat, DeadAfter: DefaultDeadAfter}
}

// Validate names the first bad key.
func (c Config) Validate() error {
	switch {
	case c.Heartbeat < 100*time.Millisecond || c.Heartbeat > time.Minute:
		return fmt.Errorf("%w: cluster.heartbeat: %v outside 100ms … 1m", ErrConfig, c.Heartbeat)
	case c.DeadAfter < 2*c.Heartbeat || c.DeadAfter > 10*time.Minute:
		return fmt.Errorf("%w: cluster.dead_after: %v outside 2 × heartbeat (%v) … 10m", ErrConfig, c.DeadAfter, 2*c.Heartbeat)
	case len(c.NodeID) > 64:
		return fmt.Errorf("%w: cluster.node_id: longer than 64 bytes", ErrConfig)
	}
	return nil
}

// NodeID returns the configured id, or the host name.
func (c Config) nodeID() string {
	if c.NodeID != "" {
		return c.NodeID
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "dtmfgw"
}

// Store is what the registry needs of the shared store; *store.Store has
// it.
type Store interface {
	Heartbeat(ctx context.Context, n store.Node) error
	Nodes(ctx context.Context) ([]store.Node, error)
}

// NodeView is a node as GET /v1/nodes shows it.
type NodeView struct {
	ID         string    `json:"id"`
	APIURL     string    `json:"api_url"`
	SIPAddress string    `json:"sip_address,omitempty"`
	Started    time.Time `json:"started"`
	Heartbeat  time.Time `json:"heartbeat"`
	// Alive: its last heartbeat is within DeadAfter.
	Alive    bool `json:"alive"`
	Draining bool `json:"draining,omitempty"`
	// Self: the node answering.
	Self bool `json:"self,omitempty"`
}

// Registry is this node's membership: its heartbeat, and what it knows
// of the others. Safe for concurrent use.
type Registry struct {
	cfg  Config
	st   Store
	now  func() time.Time
	log  *slog.Logger
	self store.Node

	onDead func(ctx context.Context, node string)
	// mourned are the dead nodes onDead was called for, with the
	// heartbeat they died at (Run's goroutine only).
	mourned map[string]time.Time

	mu       sync.Mutex
	lastBeat time.Time // the last heartbeat the store took
	lastErr  error
	// peers is the last list of nodes Peer read, at peersAt: read again
	// after a heartbeat interval, so that handing a request on costs no
	// read of the store each time.
	peers   []store.Node
	peersAt time.Time
}

// Option changes how New builds a Registry.
type Option func(*Registry)

// WithClock makes the registry judge heartbeats by now (tests).
func WithClock(now func() time.Time) Option { return func(r *Registry) { r.now = now } }

// WithOnDead calls f, from Run, once for each other node found dead (its
// heartbeat older than DeadAfter), and again only if it comes back and
// dies again. What f does must be safe for several survivors to do at
// once (a lease, or a compare-and-set in the store).
func WithOnDead(f func(ctx context.Context, node string)) Option {
	return func(r *Registry) { r.onDead = f }
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(r *Registry) { r.log = l } }

// New returns the registry of this node: apiURL and sipAddress are where
// it is reached (cfg.APIURL, when set, wins over apiURL).
func New(cfg Config, st Store, apiURL, sipAddress string, opts ...Option) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Registry{cfg: cfg, st: st, now: time.Now, log: slog.Default()}
	for _, o := range opts {
		o(r)
	}
	if cfg.APIURL != "" {
		apiURL = cfg.APIURL
	}
	r.self = store.Node{ID: cfg.nodeID(), APIURL: apiURL, SIPAddress: sipAddress, Started: r.now()}
	return r, nil
}

// Self returns this node's id.
func (r *Registry) Self() string { return r.self.ID }

// Enabled reports whether several nodes share the store.
func (r *Registry) Enabled() bool { return r.cfg.Enabled }

// SetSIPAddress sets where this node takes SIP, for its next heartbeat
// (known once its listener is open).
func (r *Registry) SetSIPAddress(a string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.self.SIPAddress = a
}

// SetDraining marks this node draining in its next heartbeat.
func (r *Registry) SetDraining(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.self.Draining = on
}

// Beat writes one heartbeat.
func (r *Registry) Beat(ctx context.Context) error {
	r.mu.Lock()
	self := r.self
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Heartbeat)
	defer cancel()
	err := r.st.Heartbeat(ctx, self)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.lastBeat = r.now()
	} else if r.lastErr == nil {
		r.log.Warn("cluster: heartbeat not written", "node", self.ID, "err", err)
	}
	r.lastErr = err
	return err
}

// Run heartbeats every cfg.Heartbeat until ctx ends.
func (r *Registry) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Heartbeat)
	defer t.Stop()
	for {
		if r.Beat(ctx) == nil {
			r.sweep(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweep calls onDead for each other node newly found dead.
func (r *Registry) sweep(ctx context.Context) {
	if r.onDead == nil {
		return
	}
	ns, err := r.Nodes(ctx)
	if err != nil {
		return
	}
	if r.mourned == nil {
		r.mourned = make(map[string]time.Time)
	}
	for _, n := range ns {
		if n.Alive || n.Self || r.mourned[n.ID].Equal(n.Heartbeat) {
			continue
		}
		r.mourned[n.ID] = n.Heartbeat
		r.log.Warn("cluster: a node is dead", "node", n.ID, "last_heartbeat", n.Heartbeat)
		r.onDead(ctx, n.ID)
	}
}

// Ready says whether this node sees the cluster: its last heartbeat was
// written within DeadAfter (so the others count it alive, and it can
// read them).
func (r *Registry) Ready(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.lastBeat.IsZero() && r.lastErr != nil:
		return fmt.Errorf("no heartbeat written yet: %v", r.lastErr)
	case r.lastBeat.IsZero():
		return errors.New("no heartbeat written yet")
	case r.now().Sub(r.lastBeat) > r.cfg.DeadAfter:
		return fmt.Errorf("the last heartbeat written is %v old (dead after %v): %v", r.now().Sub(r.lastBeat).Round(time.Millisecond), r.cfg.DeadAfter, r.lastErr)
	}
	return nil
}

// Nodes lists the nodes the store knows, alive or not, this one marked.
func (r *Registry) Nodes(ctx context.Context) ([]NodeView, error) {
	ns, err := r.st.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	now := r.now()
	out := make([]NodeView, 0, len(ns))
	for _, n := range ns {
		out = append(out, NodeView{ID: n.ID, APIURL: n.APIURL, SIPAddress: n.SIPAddress, Started: n.Started.UTC(),
			Heartbeat: n.Heartbeat.UTC(), Alive: now.Sub(n.Heartbeat) <= r.cfg.DeadAfter, Draining: n.Draining, Self: n.ID == r.self.ID})
	}
	return out, nil
}

// ErrNoPeer: the node is not known, not alive, or this one.
var ErrNoPeer = errors.New("cluster: no such live node")

// Peer returns the live node id, other than this one.
func (r *Registry) Peer(ctx context.Context, id string) (NodeView, error) {
	if id == "" || id == r.self.ID {
		return NodeView{}, ErrNoPeer
	}
	now := r.now()
	r.mu.Lock()
	ns, fresh := r.peers, now.Sub(r.peersAt) < r.cfg.Heartbeat && !r.peersAt.IsZero()
	r.mu.Unlock()
	if !fresh {
		var err error
		if ns, err = r.st.Nodes(ctx); err != nil {
			return NodeView{}, err
		}
		r.mu.Lock()
		r.peers, r.peersAt = ns, now
		r.mu.Unlock()
	}
	for _, n := range ns {
		if n.ID == id && now.Sub(n.Heartbeat) <= r.cfg.DeadAfter {
			return NodeView{ID: n.ID, APIURL: n.APIURL, SIPAddress: n.SIPAddress, Started: n.Started,
				Heartbeat: n.Heartbeat, Alive: true, Draining: n.Draining}, nil
		}
	}
	return NodeView{}, ErrNoPeer
}
