package deploy

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"dtmfgw/call"
)

const dockerfile = "docker/Dockerfile"

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper-cased: FROM, RUN, ...
	args string
}

// parseDockerfile splits a Dockerfile into instructions: comments and
// blank lines dropped, backslash continuations joined.
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// execForm decodes an exec-form (JSON array) argument.
func execForm(t *testing.T, in instruction, s string) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil || len(v) == 0 {
		t.Fatalf("%s %s: not an exec-form JSON array: %v", in.cmd, s, err)
	}
	return v
}

// TestDockerfile checks the Dockerfile's essentials without docker: a Go
// build stage with CGO_ENABLED=0, a runtime stage running as non-root the
// binary the build stage made, the ports, a HEALTHCHECK on the admin
// listener's /healthz, listeners on 0.0.0.0.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, dockerfile)
	var stages [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%s before FROM", in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(stages))
	}
	build, runtime := stages[0], stages[len(stages)-1]
	from := strings.Fields(build[0].args)
	if len(from) != 3 || from[0] != "golang:1.26-bookworm" || !strings.EqualFold(from[1], "AS") {
		t.Fatalf("build stage FROM %q, want golang:1.26-bookworm AS NAME", build[0].args)
	}
	buildName := from[2]
	if img := runtime[0].args; !strings.HasPrefix(img, "gcr.io/distroless/") && !strings.HasPrefix(img, "debian:bookworm-slim") {
		t.Errorf("runtime FROM %q, want distroless or debian-slim", img)
	}

	var goBuild string
	for _, in := range build {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			goBuild = in.args
		}
	}
	if !strings.Contains(goBuild, "CGO_ENABLED=0") || !strings.Contains(goBuild, "-o /out/dtmfgw ./cmd/dtmfgw") {
		t.Fatalf("build RUN %q: want CGO_ENABLED=0 go build -o /out/dtmfgw ./cmd/dtmfgw", goBuild)
	}

	get := func(cmd string) []instruction {
		var out []instruction
		for _, in := range runtime {
			if in.cmd == cmd {
				out = append(out, in)
			}
		}
		return out
	}
	users := get("USER")
	if len(users) == 0 {
		t.Fatal("runtime stage has no USER: it would run as root")
	}
	if u, _, _ := strings.Cut(users[len(users)-1].args, ":"); u == "root" || u == "0" {
		t.Errorf("USER %q is root", users[len(users)-1].args)
	}
	copied := map[string]bool{} // files the runtime stage copies from the build
	for _, in := range get("COPY") {
		f := strings.Fields(in.args)
		if slices.Contains(f, "--from="+buildName) {
			copied[f[len(f)-1]] = true
		}
	}
	entry := get("ENTRYPOINT")
	if len(entry) != 1 {
		t.Fatalf("%d ENTRYPOINTs, want 1", len(entry))
	}
	if bin := execForm(t, entry[0], entry[0].args)[0]; !copied[bin] || bin != "/usr/local/bin/dtmfgw" {
		t.Errorf("ENTRYPOINT runs %s, want /usr/local/bin/dtmfgw copied from stage %s", bin, buildName)
	}

	cmds := get("CMD")
	if len(cmds) != 1 {
		t.Fatalf("%d CMDs, want 1", len(cmds))
	}
	args := execForm(t, cmds[0], cmds[0].args)
	flags := map[string]string{}
	for i := 0; i+1 < len(args); i++ {
		if strings.HasPrefix(args[i], "--") {
			flags[args[i]] = args[i+1]
		}
	}
	for _, f := range []string{"--sip-listen", "--http-listen", "--admin-listen"} {
		if !strings.HasPrefix(flags[f], "0.0.0.0:") {
			t.Errorf("CMD %s %q: inside a container it must listen on 0.0.0.0", f, flags[f])
		}
	}
	rtp := call.DefaultMediaConfig().RTPPorts.String()
	if flags["--rtp-ports"] != rtp {
		t.Errorf("CMD --rtp-ports %q, want the default %s (the EXPOSEd range)", flags["--rtp-ports"], rtp)
	}
	var env []string
	for _, in := range get("ENV") {
		env = append(env, strings.Fields(in.args)...)
	}
	if !slices.Contains(env, "DTMFGW_MEDIA_BIND_ADDRESS=0.0.0.0") {
		t.Errorf("ENV %q: want DTMFGW_MEDIA_BIND_ADDRESS=0.0.0.0", env)
	}

	var exposed []string
	for _, in := range get("EXPOSE") {
		exposed = append(exposed, strings.Fields(in.args)...)
	}
	sipPort := flags["--sip-listen"][len("0.0.0.0:"):]
	httpPort := flags["--http-listen"][len("0.0.0.0:"):]
	adminPort := flags["--admin-listen"][len("0.0.0.0:"):]
	for _, want := range []string{sipPort + "/udp", sipPort + "/tcp", httpPort + "/tcp", adminPort + "/tcp", rtp + "/udp"} {
		if !slices.Contains(exposed, want) {
			t.Errorf("EXPOSE %q lacks %s", exposed, want)
		}
	}

	hc := get("HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("%d HEALTHCHECKs, want 1 (or its absence documented)", len(hc))
	}
	_, probe, ok := strings.Cut(hc[0].args, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %q has no CMD", hc[0].args)
	}
	check := execForm(t, hc[0], strings.TrimSpace(probe))
	if !copied[check[0]] {
		t.Errorf("HEALTHCHECK runs %s, which the runtime stage does not copy from %s", check[0], buildName)
	}
	if url := check[len(check)-1]; url != "http://127.0.0.1:"+adminPort+"/healthz" {
		t.Errorf("HEALTHCHECK URL %q, want the admin listener's /healthz on port %s", url, adminPort)
	}
}

// TestDockerBuildCommand runs the build stage's go build command on this
// machine (its /out replaced by a temporary directory): the packages exist,
// CGO_ENABLED=0 builds them, and the result is static (no ELF interpreter,
// so it runs on distroless).
func TestDockerBuildCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway without cgo (a minute on a cold cache)")
	}
	var run string
	for _, in := range parseDockerfile(t, dockerfile) {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			run = in.args
		}
	}
	out := t.TempDir()
	cmd := exec.Command("sh", "-ec", strings.ReplaceAll(run, "/out/", out+"/"))
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "VERSION=v0.0.0-docker-test")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build command: %v\n%s", err, b)
	}
	for _, name := range []string{"dtmfgw", "dtmfgw-healthcheck"} {
		f, err := elf.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked", name)
			}
		}
		f.Close()
	}
	v, err := exec.Command(filepath.Join(out, "dtmfgw"), "version").CombinedOutput()
	if err != nil || !strings.Contains(string(v), "v0.0.0-docker-test") {
		t.Errorf("dtmfgw version: %v: %s (want the VERSION build argument)", err, v)
	}
}

// TestDockerignore checks the build context with Docker's own matcher: every
// file the build compiles or embeds goes in; history, build output and local
// data do not.
func TestDockerignore(t *testing.T) {
	f, err := os.Open("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	ignored := func(p string) bool {
		m, err := pm.MatchesOrParentMatches(p)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, p := range []string{".git/HEAD", "bin/dtmfgw", "data/dtmfgw.db", "dtmfgw", "store/x.test"} {
		if !ignored(p) {
			t.Errorf("%s is sent to the docker build", p)
		}
	}
	// What the build needs: go.mod, go.sum and every Go and embedded file of
	// our packages the two commands depend on.
	needed := []string{"go.mod", "go.sum"}
	list, err := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}} {{end}}{{range .EmbedFiles}}{{$d}}/{{.}} {{end}}{{end}}{{end}}`,
		"../cmd/dtmfgw", "./docker/healthcheck").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(list)) {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, rel)
	}
	if len(needed) < 20 {
		t.Fatalf("go list found %d files: the check did not run", len(needed))
	}
	for _, p := range needed {
		if ignored(p) {
			t.Errorf("%s is needed by the build but .dockerignore leaves it out", p)
		}
	}
}
