package main

import (
	"encoding/xml"
	"flag"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sezim-analytics/sezim/site"
)

// clusterDir is the cluster profile's folder; compose resolves the
// profile's relative paths from there.
const clusterDir = "../../deploy/cluster"

// composeService is the part of a compose service the tests read.
type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   any               `yaml:"depends_on"`
	Networks    any               `yaml:"networks"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

// dependsOn returns the services s waits for and the condition of each
// ("" for the short list form).
func (s composeService) dependsOn() map[string]string {
	out := map[string]string{}
	switch d := s.DependsOn.(type) {
	case []any:
		for _, n := range d {
			out[n.(string)] = ""
		}
	case map[string]any:
		for n, v := range d {
			c, _ := v.(map[string]any)
			out[n], _ = c["condition"].(string)
		}
	}
	return out
}

// mounts maps the container paths of s's bind mounts to their files,
// resolved from dir as compose does.
func (s composeService) mounts(dir string) map[string]string {
	out := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && (strings.HasPrefix(parts[0], "./") || strings.HasPrefix(parts[0], "../")) {
			out[parts[1]] = filepath.Join(dir, parts[0])
		}
	}
	return out
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Volumes map[string]any `yaml:"volumes"`
}

func readCompose(t *testing.T, path string) composeFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s does not parse: %v", path, err)
	}
	return c
}

// xmlNode is any element of a ClickHouse configuration file.
type xmlNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []xmlNode  `xml:",any"`
}

// all returns the children named name.
func (n xmlNode) all(name string) []xmlNode {
	var out []xmlNode
	for _, c := range n.Nodes {
		if c.XMLName.Local == name {
			out = append(out, c)
		}
	}
	return out
}

// get returns the text of the path of children names, "" if absent.
func (n xmlNode) get(path ...string) string {
	for _, p := range path {
		c := n.all(p)
		if len(c) == 0 {
			return ""
		}
		n = c[0]
	}
	return strings.TrimSpace(n.Text)
}

func (n xmlNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func readXML(t *testing.T, path string) xmlNode {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var n xmlNode
	if err := xml.Unmarshal(data, &n); err != nil {
		t.Fatalf("%s does not parse: %v", path, err)
	}
	if n.XMLName.Local != "clickhouse" && n.XMLName.Local != "yandex" {
		t.Fatalf("%s: root element <%s>, want <clickhouse>", path, n.XMLName.Local)
	}
	return n
}

// envValue replaces compose's ${VAR...} references by a stand-in, as if
// the .env file set every variable.
func envValue(v string) string {
	return regexp.MustCompile(`\$\{[^}]*\}`).ReplaceAllString(v, "secret")
}

// TestComposeClusterProfile checks deploy/cluster/docker-compose.yml the
// way compose would read it, and the ClickHouse, Keeper, nginx and
// Prometheus configurations it mounts: 2 shards of 2 replicas that agree
// with their macros, two collectors that each roll up their own shard and
// start with flags serve accepts, and a load balancer without stickiness
// whose address the collectors trust.
func TestComposeClusterProfile(t *testing.T) {
	c := readCompose(t, filepath.Join(clusterDir, "docker-compose.yml"))
	chNodes := []string{"ch-s1r1", "ch-s1r2", "ch-s2r1", "ch-s2r2"}
	collectors := []string{"sezim1", "sezim2"}
	for _, name := range append(append([]string{"keeper", "salts", "nginx", "prometheus", "grafana"}, chNodes...), collectors...) {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("service %q missing", name)
		}
	}
	for name, svc := range c.Services {
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../") {
				if _, err := os.Stat(filepath.Join(clusterDir, src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s mounts volume %s, which is not declared", name, src)
			}
		}
		for dep := range svc.dependsOn() {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("service %s depends on %s, which is no service", name, dep)
			}
		}
	}

	// ClickHouse: every XML a node mounts parses; together they give the
	// cluster, the node's macros and Keeper.
	cluster := c.Services["sezim1"].Environment["SEZIM_CLUSTER"]
	if cluster == "" {
		t.Fatal("sezim1 sets no SEZIM_CLUSTER")
	}
	keeper := readXML(t, c.Services["keeper"].mounts(clusterDir)["/etc/clickhouse-keeper/keeper_config.xml"])
	keeperPort := keeper.get("keeper_server", "tcp_port")
	for _, s := range keeper.all("keeper_server")[0].all("raft_configuration")[0].all("server") {
		if _, ok := c.Services[s.get("hostname")]; !ok {
			t.Errorf("keeper raft server %q is no service", s.get("hostname"))
		}
	}
	if hc := strings.Join(c.Services["keeper"].Healthcheck.Test, " "); !strings.Contains(hc, "keeper-client") || !strings.Contains(hc, keeperPort) {
		t.Errorf("keeper health check %q does not ask Keeper on its port %s", hc, keeperPort)
	}
	// shardOf is the shard number of each replica host in remote_servers.
	var shardOf map[string]int
	macros := map[[2]string]string{}
	for _, node := range chNodes {
		svc := c.Services[node]
		if hc := strings.Join(svc.Healthcheck.Test, " "); !strings.Contains(hc, "system.zookeeper") {
			t.Errorf("%s health check %q does not prove a Keeper session", node, hc)
		}
		var nodes []xmlNode
		for target, file := range svc.mounts(clusterDir) {
			if strings.HasPrefix(target, "/etc/clickhouse-server/config.d/") {
				nodes = append(nodes, readXML(t, file))
			}
		}
		var servers, zk, mac []xmlNode
		for _, n := range nodes {
			servers = append(servers, n.all("remote_servers")...)
			zk = append(zk, n.all("zookeeper")...)
			mac = append(mac, n.all("macros")...)
		}
		if len(servers) != 1 || len(zk) != 1 || len(mac) != 1 {
			t.Fatalf("%s: %d remote_servers, %d zookeeper, %d macros sections; want one of each", node, len(servers), len(zk), len(mac))
		}
		got := map[string]int{}
		for _, cl := range servers[0].Nodes {
			if cl.XMLName.Local != cluster {
				t.Errorf("%s: remote_servers has cluster %q; the collectors use %q", node, cl.XMLName.Local, cluster)
				continue
			}
			if s := cl.all("secret"); len(s) == 1 {
				if v := s[0].attr("from_env"); v == "" || svc.Environment[v] == "" {
					t.Errorf("%s: the cluster secret comes from %q, which the service does not set", node, v)
				}
			}
			shards := cl.all("shard")
			if len(shards) != 2 {
				t.Fatalf("%s: cluster %s has %d shards, want 2", node, cluster, len(shards))
			}
			for i, sh := range shards {
				if sh.get("internal_replication") != "true" {
					t.Errorf("%s: shard %d without internal_replication: a Distributed insert would write both replicas", node, i+1)
				}
				reps := sh.all("replica")
				if len(reps) != 2 {
					t.Fatalf("%s: shard %d has %d replicas, want 2", node, i+1, len(reps))
				}
				for _, r := range reps {
					h := r.get("host")
					if !slices.Contains(chNodes, h) {
						t.Errorf("%s: replica host %q is no ClickHouse service", node, h)
					}
					if _, dup := got[h]; dup {
						t.Errorf("%s: host %s is in two places of the cluster", node, h)
					}
					got[h] = i + 1
				}
			}
		}
		if len(got) != len(chNodes) {
			t.Errorf("%s: the cluster names %d hosts, want all %d nodes", node, len(got), len(chNodes))
		}
		if shardOf == nil {
			shardOf = got
		} else if !maps.Equal(shardOf, got) {
			t.Errorf("%s sees another cluster than the other nodes: %v, %v", node, got, shardOf)
		}
		for _, n := range zk[0].all("node") {
			if n.get("host") != "keeper" || n.get("port") != keeperPort {
				t.Errorf("%s: Keeper at %s:%s, want the keeper service on %s", node, n.get("host"), n.get("port"), keeperPort)
			}
		}
		key := [2]string{mac[0].get("shard"), mac[0].get("replica")}
		if key[0] == "" || key[1] == "" {
			t.Errorf("%s: macros %v lack shard or replica", node, key)
		}
		if other, dup := macros[key]; dup {
			t.Errorf("%s and %s have the same macros %v: they would share one replica path", node, other, key)
		}
		macros[key] = node
		if want := shardOf[node]; key[0] != strconv.Itoa(want) {
			t.Errorf("%s: macro shard %s, but remote_servers has it in shard %d", node, key[0], want)
		}
	}

	// The collectors: flags serve takes and accepts together, one rollup
	// per shard, on the shard's first replica.
	fs := newFlagSet("serve", "", nil)
	var o serveOptions
	o.register(fs)
	known := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { known[envName(f.Name)] = true })
	shardsSeen := map[int]string{}
	for _, name := range collectors {
		svc := c.Services[name]
		if svc.Build == nil {
			t.Errorf("%s must build from the repo", name)
		}
		for k := range svc.Environment {
			if !known[k] {
				t.Errorf("%s sets %s, which is no flag of sezim serve", name, k)
			}
		}
		hc := svc.Healthcheck.Test
		if len(hc) < 3 || hc[1] != "/usr/local/bin/sezim" || hc[2] != "health" || !strings.Contains(strings.Join(hc, " "), "/readyz") {
			t.Errorf("%s health check %q: want sezim health against /readyz", name, hc)
		}
		for _, p := range svc.Ports {
			if strings.HasSuffix(p, ":8090") && !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s: the stats API port %q must stay on the host's loopback", name, p)
			}
		}
		for _, k := range []string{"SEZIM_STORE", "SEZIM_STORE_COLLECTOR"} {
			if v := svc.Environment[k]; !strings.Contains(v, "@ch-s1r1:") || !strings.Contains(v, "insert_distributed_sync=1") {
				t.Errorf("%s: %s = %q, want ch-s1r1 with insert_distributed_sync=1", name, k, v)
			}
		}
		u, err := url.Parse(envValue(svc.Environment["SEZIM_STORE_SHARD"]))
		if err != nil || u.Scheme != "clickhouse" {
			t.Fatalf("%s: SEZIM_STORE_SHARD %q: %v", name, svc.Environment["SEZIM_STORE_SHARD"], err)
		}
		sh := shardOf[u.Hostname()]
		if sh == 0 || !strings.HasSuffix(u.Hostname(), "r1") {
			t.Errorf("%s: --store-shard names %s, not a shard's first replica", name, u.Hostname())
		}
		if other, dup := shardsSeen[sh]; dup {
			t.Errorf("%s and %s both roll up shard %d; the other shard has none", name, other, sh)
		}
		shardsSeen[sh] = name
		if v, ok := svc.Environment["SEZIM_ROLLUP_INTERVAL"]; ok && (v == "0" || v == "0s") {
			t.Errorf("%s names a shard but turns its rollup off", name)
		}
		for dep := range svc.dependsOn() {
			if !slices.Contains(chNodes, dep) && dep != "sezim1" && dep != "salts" {
				t.Errorf("%s waits for %s", name, dep)
			}
		}
		// serve itself accepts the set: parse it from the environment as
		// the container would, then run serve's cluster check.
		t.Run(name+"/flags", func(t *testing.T) {
			for k, v := range svc.Environment {
				t.Setenv(k, envValue(v))
			}
			fs := newFlagSet("serve", "", nil)
			var o serveOptions
			o.register(fs)
			if err := parseFlags(fs, nil); err != nil {
				t.Fatal(err)
			}
			if err := o.checkCluster(); err != nil {
				t.Fatal(err)
			}
			if o.sf.cluster != cluster {
				t.Fatalf("cluster %q, want %q", o.sf.cluster, cluster)
			}
		})
	}
	// sezim2 starts with sezim1's salts, or one visitor would count on each.
	if d := c.Services["sezim2"].dependsOn(); d["salts"] != "service_completed_successfully" {
		t.Errorf("sezim2 does not wait for the salts copy: %v", d)
	}
	if d := c.Services["salts"].dependsOn(); d["sezim1"] != "service_healthy" {
		t.Errorf("the salts copy does not wait for sezim1 to make them: %v", d)
	}
	if cmd := strings.Join(c.Services["salts"].Entrypoint, " "); !strings.Contains(cmd, "/first/salts.json /peer/salts.json") {
		t.Errorf("salts service %q does not copy salts.json", cmd)
	}

	// nginx: round robin over both collectors' public port, from an
	// address the collectors trust.
	conf, err := os.ReadFile(c.Services["nginx"].mounts(clusterDir)["/etc/nginx/nginx.conf"])
	if err != nil {
		t.Fatal(err)
	}
	upstream := regexp.MustCompile(`(?s)upstream\s+\S+\s*\{(.*?)\}`).FindSubmatch(conf)
	if upstream == nil {
		t.Fatal("nginx.conf has no upstream block")
	}
	servers := regexp.MustCompile(`(?m)^\s*server\s+([^\s;]+)`).FindAllSubmatch(upstream[1], -1)
	var targets []string
	for _, s := range servers {
		targets = append(targets, string(s[1]))
	}
	for _, name := range collectors {
		addr := c.Services[name].Environment["SEZIM_ADDR"]
		want := name + addr[strings.LastIndexByte(addr, ':'):]
		if !slices.Contains(targets, want) {
			t.Errorf("nginx upstream %v lacks %s", targets, want)
		}
	}
	if m := regexp.MustCompile(`(?m)^\s*(ip_hash|hash|sticky)\b`).FindSubmatch(upstream[1]); m != nil {
		t.Errorf("nginx upstream routes by %s: the collectors need no stickiness", m[1])
	}
	if !regexp.MustCompile(`proxy_set_header\s+X-Forwarded-For\s+\$proxy_add_x_forwarded_for;`).Match(conf) {
		t.Error("nginx does not pass X-Forwarded-For: every visitor would be the proxy")
	}
	nets, _ := c.Services["nginx"].Networks.(map[string]any)
	var lbAddr netip.Addr
	for net, v := range nets {
		m, _ := v.(map[string]any)
		a, _ := m["ipv4_address"].(string)
		lbAddr, err = netip.ParseAddr(a)
		if err != nil {
			t.Fatalf("nginx has no fixed address on %s: %v", net, err)
		}
		for _, cfg := range c.Networks[net].IPAM.Config {
			if p, err := netip.ParsePrefix(cfg.Subnet); err != nil || !p.Contains(lbAddr) {
				t.Errorf("nginx's %s is outside its network's subnet %q", lbAddr, cfg.Subnet)
			}
		}
	}
	for _, name := range collectors {
		sites, err := site.Load(c.Services[name].mounts(clusterDir)[c.Services[name].Environment["SEZIM_CONFIG"]])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !sites.TrustedProxy(lbAddr) {
			t.Errorf("%s does not trust nginx at %s: it would count every visitor as the proxy", name, lbAddr)
		}
	}
	t.Run("nginx -t", func(t *testing.T) {
		if _, err := exec.LookPath("nginx"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("nginx is missing (apt-get install nginx): CI checks the load balancer's configuration with nginx -t")
			}
			t.Skip("nginx not installed (apt-get install nginx); its configuration was only parsed")
		}
		// The collectors' names resolve only inside compose: test a copy
		// whose upstream servers are 127.0.0.1.
		dir := t.TempDir()
		local := string(conf)
		for _, name := range collectors {
			local = strings.ReplaceAll(local, "server "+name+":", "server 127.0.0.1:")
		}
		path := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(path, []byte(local), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("nginx", "-t", "-p", dir, "-c", path, "-e", "stderr").CombinedOutput(); err != nil {
			t.Fatalf("nginx -t: %v\n%s", err, out)
		}
	})

	// Prometheus scrapes both collectors' operator port with the rules.
	prom := c.Services["prometheus"].mounts(clusterDir)
	data, err := os.ReadFile(prom["/etc/prometheus/prometheus.yml"])
	if err != nil {
		t.Fatal(err)
	}
	var pc struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(data, &pc); err != nil {
		t.Fatal(err)
	}
	var scraped []string
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			scraped = append(scraped, st.Targets...)
		}
	}
	for _, name := range collectors {
		admin := c.Services[name].Environment["SEZIM_ADMIN_ADDR"]
		if want := name + admin[strings.LastIndexByte(admin, ':'):]; !slices.Contains(scraped, want) {
			t.Errorf("prometheus scrapes %v, not %s", scraped, want)
		}
	}
	for _, r := range pc.RuleFiles {
		if prom[r] == "" {
			t.Errorf("prometheus reads rules %s, which it does not mount", r)
		}
	}
	t.Run("promtool", func(t *testing.T) {
		if _, err := exec.LookPath("promtool"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("promtool is missing (apt-get install prometheus)")
			}
			t.Skip("promtool not installed")
		}
		local := string(data)
		for _, r := range pc.RuleFiles {
			abs, _ := filepath.Abs(prom[r])
			local = strings.ReplaceAll(local, r, abs)
		}
		path := filepath.Join(t.TempDir(), "prometheus.yml")
		if err := os.WriteFile(path, []byte(local), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("promtool", "check", "config", path).CombinedOutput(); err != nil {
			t.Fatalf("promtool check config: %v\n%s", err, out)
		}
	})

	// Grafana is provisioned from the same folders as in the main file.
	mainFile := readCompose(t, "../../docker-compose.yml")
	mainMounts := mainFile.Services["grafana"].mounts("../..")
	for target, file := range c.Services["grafana"].mounts(clusterDir) {
		if filepath.Clean(mainMounts[target]) != filepath.Clean(file) {
			t.Errorf("grafana mounts %s at %s; the main file mounts %s", file, target, mainMounts[target])
		}
	}
	if len(c.Services["grafana"].mounts(clusterDir)) != len(mainMounts) {
		t.Errorf("grafana mounts %v; the main file %v", c.Services["grafana"].Volumes, mainFile.Services["grafana"].Volumes)
	}
}
