package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestLoadConfig_Server checks the [server] limits: bad values are refused
// naming the key and the value, and lists of origins and hosts, which hold
// ":", are split on commas in the environment.
func TestLoadConfig_Server(t *testing.T) {
	env := envOf(map[string]string{"HOME": "/home/u"})
	for _, c := range []struct{ toml, want string }{
		{"max_sessions = 0", "server.max_sessions = 0: must be at least 1"},
		{"session_idle_timeout_ms = -5", "server.session_idle_timeout_ms = -5"},
		{"read_timeout_ms = 0", "server.read_timeout_ms = 0"},
		{"keepalive_timeout_ms = 0", "server.keepalive_timeout_ms = 0"},
		{`allowed_origins = ["app.example"]`, `server.allowed_origins: invalid origin "app.example"`},
		{`allowed_origins = ["https://app.example/"]`, `server.allowed_origins: invalid origin "https://app.example/"`},
		{`allowed_hosts = ["https://mcp.example"]`, `server.allowed_hosts: "https://mcp.example" is not a host name`},
		{`allowed_hosts = ["mcp.example:3110"]`, `server.allowed_hosts: "mcp.example:3110"`},
	} {
		path := filepath.Join(t.TempDir(), "lakehouse.toml")
		os.WriteFile(path, []byte("[server]\n"+c.toml+"\n"), 0o644)
		if _, err := loadConfig(path, env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.toml, err, c.want)
		}
	}

	cfg, err := loadConfig("", envOf(map[string]string{
		"HOME":                             "/home/u",
		"LAKEHOUSE_SERVER_ALLOWED_ORIGINS": "https://app.example:8443,http://localhost:6274",
		"LAKEHOUSE_SERVER_ALLOWED_HOSTS":   "mcp.example,::1",
		"LAKEHOUSE_SERVER_MAX_SESSIONS":    "5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Server.AllowedOrigins, []string{"https://app.example:8443", "http://localhost:6274"}) ||
		!reflect.DeepEqual(cfg.Server.AllowedHosts, []string{"mcp.example", "::1"}) || cfg.Server.MaxSessions != 5 {
		t.Errorf("server config from the environment = %+v", cfg.Server)
	}
}
