package e2e

// The one way these tests start a gateway: from a configuration file, as
// `dtmfgw serve --config FILE` starts it, with every listener on loopback.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"dtmfgw/gateway"
	"dtmfgw/internal/testkit"
)

// e2eAPIKey is the back end's API key in the tests: the one a gateway
// takes unless its configuration names its own.
const e2eAPIKey = "e2e-test-key-0f3c9a7d2b41"

// rtpPairs is how many RTP port pairs a gateway gets unless its
// configuration names its range: a few calls' worth, with the 2 s drain
// before a pair is reused.
const rtpPairs = 16

// testGateway is a whole dtmfgw serving in-process on loopback. Its
// *gateway.Gateway gives the parts a test looks into.
type testGateway struct {
	*gateway.Gateway
	// SIP is where it takes SIP, UDP and TCP.
	SIP netip.AddrPort
	// HTTP and Admin are the public and the admin listeners, host:port.
	HTTP, Admin string
	// Key is an API key it takes.
	Key string
	// Log is its log, JSON lines.
	Log *testkit.Buffer
	// Level is its loggers' level, which a reload sets.
	Level *slog.LevelVar

	path     string         // the configuration file
	defaults []configValue  // what writeConfig filled in, kept by Reload
	hup      chan os.Signal // SIGHUP, as serve's signal handler delivers it
	reloaded chan error
	stop     context.CancelFunc
	exited   chan error
}

// startGateway starts a gateway from yaml, the text of a configuration
// file, and stops it when the test ends. What the file leaves out is
// filled in for a test on loopback (writeConfig). A gateway that does not
// start fails the test.
func startGateway(t *testing.T, yaml string) *testGateway {
	t.Helper()
	g, err := tryStartGateway(t, yaml)
	if err != nil {
		t.Fatalf("the gateway did not start: %v", err)
	}
	return g
}

// tryStartGateway is startGateway that returns why the gateway did not
// start (the configuration refused, a listener that did not open), with a
// testGateway that holds only its log.
func tryStartGateway(t *testing.T, yaml string) (*testGateway, error) {
	t.Helper()
	dir := t.TempDir()
	g := &testGateway{
		path:     filepath.Join(dir, "dtmfgw.yaml"),
		Log:      &testkit.Buffer{},
		hup:      make(chan os.Signal),
		reloaded: make(chan error),
		exited:   make(chan error, 1),
	}
	g.defaults = loopbackDefaults(t, dir)
	g.Key = e2eAPIKey
	g.writeConfig(t, yaml)
	ctx, stop := context.WithCancel(context.Background())
	g.stop = stop
	started := make(chan *gateway.Gateway, 1)
	go func() {
		g.exited <- serveFile(ctx, g.path, g.Log, func(gw *gateway.Gateway, level *slog.LevelVar) {
			g.Level = level
			started <- gw
		}, g.hup, func(err error) { g.reloaded <- err })
	}()
	select {
	case g.Gateway = <-started:
	case err := <-g.exited:
		stop()
		return &testGateway{Log: g.Log}, err
	case <-time.After(e2eWait):
		stop()
		t.Fatalf("the gateway did not start within %v; log:\n%s", e2eWait, g.Log.String())
	}
	g.SIP = g.SIPAddr()
	g.HTTP, g.Admin = g.HTTPAddr().String(), g.AdminAddr().String()
	if keys := g.Config().HTTP.APIKeys; len(keys) > 0 {
		g.Key = keys[0]
	}
	t.Cleanup(func() {
		if err := g.Stop(); err != nil {
			t.Errorf("the gateway's stop: %v", err)
		}
		if t.Failed() {
			// Its log, for the failure (it holds no card digit: the tests
			// search it for them).
			path := filepath.Join(os.TempDir(), strings.ReplaceAll(t.Name(), "/", "_")+"-dtmfgw.log")
			if err := os.WriteFile(path, g.Log.Bytes(), 0o600); err == nil {
				t.Logf("the gateway's log: %s", path)
			}
		}
	})
	return g, nil
}

// serveFile runs a gateway from the configuration file at path until ctx
// ends, as `dtmfgw serve --config path` runs it with an empty
// environment, logging to logw: in-process (tryStartGateway) or as a
// child process (TestMain). started, if not nil, gets the gateway once it
// is serving, and its loggers' level; each receive on hup reloads it, the
// outcome given to reloaded.
func serveFile(ctx context.Context, path string, logw io.Writer, started func(*gateway.Gateway, *slog.LevelVar), hup <-chan os.Signal, reloaded func(error)) error {
	src := gateway.Sources{Path: path}
	cfg, err := src.Build()
	if err != nil {
		return fmt.Errorf("configuration refused:\n%w", err)
	}
	log, level := gateway.NewLogger(logw, cfg.Log)
	g, err := gateway.Start(ctx, cfg, log, gateway.Options{Version: "e2e", Sources: src, Level: level})
	if err != nil {
		return err
	}
	if started != nil {
		started(g, level)
	}
	return g.Run(ctx, hup, reloaded)
}

// Stop drains and stops the gateway and returns Run's error; a second
// Stop returns nil.
func (g *testGateway) Stop() error {
	if g.stop == nil {
		return nil
	}
	g.stop()
	g.stop = nil
	select {
	case err := <-g.exited:
		return err
	case <-time.After(e2eWait):
		return fmt.Errorf("the gateway did not stop within %v", e2eWait)
	}
}

// Reload writes yaml as the configuration file (filled in as at the
// start, with the same ports, database and key) and delivers SIGHUP, as
// serve's signal handler does; it returns the reload's outcome.
func (g *testGateway) Reload(t *testing.T, yaml string) error {
	t.Helper()
	g.writeConfig(t, yaml)
	select {
	case g.hup <- syscall.SIGHUP:
	case <-time.After(e2eWait):
		t.Fatal("the gateway does not take SIGHUP")
	}
	select {
	case err := <-g.reloaded:
		return err
	case <-time.After(e2eWait):
		t.Fatal("no reload")
	}
	return nil
}

// base is the public listener's URL.
func (g *testGateway) base() string { return "http://" + g.HTTP }

// configValue is a key writeConfig sets when a configuration leaves it
// out: section.key and the value, as YAML.
type configValue struct {
	section, key, value string
}

// loopbackDefaults are what a test's gateway runs on unless its
// configuration says otherwise: every listener on a free loopback port,
// RTP ports of the end-to-end tests' zone, SQLite in dir, a JSON log, the
// tests' API key.
func loopbackDefaults(t *testing.T, dir string) []configValue {
	rtp := testkit.FreeRange(t, testkit.ZoneE2E, rtpPairs)
	return []configValue{
		{"sip", "listen", "127.0.0.1:0"},
		{"http", "listen", "127.0.0.1:0"},
		{"admin", "listen", "127.0.0.1:0"},
		{"media", "rtp_ports", fmt.Sprintf("%d-%d", rtp, rtp+2*rtpPairs-1)},
		{"storage", "dsn", "sqlite:" + filepath.Join(dir, "dtmfgw.db")},
		{"log", "format", "json"},
		{"http", "api_keys", "[" + e2eAPIKey + "]"},
	}
}

// writeConfig writes text as the configuration file, each of g.defaults
// added where text leaves its key out.
func (g *testGateway) writeConfig(t *testing.T, text string) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("the test's configuration: %v", err)
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		t.Fatal("the test's configuration is not a mapping")
	}
	for _, d := range g.defaults {
		section := mappingValue(top, d.section)
		if section == nil {
			section = &yaml.Node{Kind: yaml.MappingNode}
			top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: d.section}, section)
		}
		if mappingValue(section, d.key) != nil {
			continue
		}
		var value yaml.Node
		if err := yaml.Unmarshal([]byte(d.value), &value); err != nil {
			t.Fatal(err)
		}
		section.Content = append(section.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: d.key}, value.Content[0])
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// mappingValue returns the value of key in the mapping m, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// TestWriteConfigFillsInOnlyWhatIsLeftOut: the test's keys stay as
// written; the loopback defaults fill in the rest, in sections the test
// wrote and in sections it did not.
func TestWriteConfigFillsInOnlyWhatIsLeftOut(t *testing.T) {
	g := &testGateway{path: filepath.Join(t.TempDir(), "dtmfgw.yaml"), defaults: loopbackDefaults(t, t.TempDir())}
	g.writeConfig(t, "sip:\n  listen: 127.0.0.1:5999\n  routes:\n    - {user_prefix: \"44\", target: \"sip:a@127.0.0.1\"}\nhttp:\n  api_keys: [mine-0123456789abcdef]\n")
	cfg, err := gateway.Sources{Path: g.path}.Build()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SIP.Listen != "127.0.0.1:5999" || len(cfg.SIP.Routes) != 1 || cfg.SIP.Routes[0].UserPrefix != "44" || len(cfg.HTTP.APIKeys) != 1 || cfg.HTTP.APIKeys[0] != "mine-0123456789abcdef" {
		t.Errorf("the test's keys changed: %+v %+v", cfg.SIP, cfg.HTTP.APIKeys)
	}
	if cfg.HTTP.Listen != "127.0.0.1:0" || cfg.Admin.Listen != "127.0.0.1:0" || cfg.Log.Format != "json" || !strings.HasPrefix(cfg.Storage.DSN, "sqlite:/") || cfg.Media.RTPPorts.Min < testkit.ZoneE2E {
		t.Errorf("defaults not filled in: http %q admin %q log %q dsn %q rtp %v", cfg.HTTP.Listen, cfg.Admin.Listen, cfg.Log.Format, cfg.Storage.DSN, cfg.Media.RTPPorts)
	}
	var empty testGateway
	empty.path, empty.defaults = filepath.Join(t.TempDir(), "dtmfgw.yaml"), g.defaults
	empty.writeConfig(t, "")
	if cfg, err := (gateway.Sources{Path: empty.path}).Build(); err != nil || cfg.SIP.Listen != "127.0.0.1:0" || cfg.HTTP.APIKeys[0] != e2eAPIKey {
		t.Errorf("an empty configuration: %v, %+v", err, cfg)
	}
}
