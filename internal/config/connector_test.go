package config

import (
	"errors"
	"testing"
)

func TestConnectorDefaultsNameTheProject(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Connector{ContactName: DefaultContactName, ContactURL: DefaultContactURL, PrivacyURL: DefaultPrivacyURL}
	if c.Connector != want {
		t.Errorf("Connector = %+v, want %+v", c.Connector, want)
	}
	if (Connector{}).OrDefaults() != want {
		t.Errorf("Connector{}.OrDefaults() = %+v, want %+v", (Connector{}).OrDefaults(), want)
	}
}

func TestConnectorSettings(t *testing.T) {
	c, err := Load(env(map[string]string{
		EnvConnectorContactName:  "Contoso flow team",
		EnvConnectorContactURL:   "https://intranet.contoso.example/flows",
		EnvConnectorContactEmail: "flows@contoso.example",
		EnvConnectorPrivacyURL:   "https://contoso.example/privacy",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Connector{ContactName: "Contoso flow team", ContactURL: "https://intranet.contoso.example/flows",
		ContactEmail: "flows@contoso.example", PrivacyURL: "https://contoso.example/privacy"}
	if c.Connector != want {
		t.Errorf("Connector = %+v, want %+v", c.Connector, want)
	}
}

// TestTheConnectorsHostMustBeWhereLocationPoints: the platform polls a 202's Location itself, and
// a Location outside the connector's host is likely polled without the connection's token
// (docs/connector.md, "The 202 Location and the connector's host"). When the connector's host is
// known, flowbricks refuses to start with a Location that points elsewhere.
func TestTheConnectorsHostMustBeWhereLocationPoints(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		location string // LocationHost
		ok       bool
	}{
		{"not known: no check", map[string]string{EnvPublicURL: "https://fb.contoso.example", EnvWebsiteHostname: "fb.azurewebsites.net"},
			"fb.contoso.example", true},
		{"the Function App's own host", map[string]string{EnvConnectorHost: "fb.azurewebsites.net", EnvWebsiteHostname: "fb.azurewebsites.net"},
			"fb.azurewebsites.net", true},
		{"FLOWBRICKS_PUBLIC_URL's host, whatever the case", map[string]string{EnvConnectorHost: "FB.Contoso.Example",
			EnvPublicURL: "https://fb.contoso.example/flowbricks", EnvWebsiteHostname: "fb.azurewebsites.net"}, "fb.contoso.example", true},
		{"a port is part of the host", map[string]string{EnvConnectorHost: "127.0.0.1:7071", EnvPublicURL: "http://127.0.0.1:7071"},
			"127.0.0.1:7071", true},
		{"Location is relative: nothing to compare", map[string]string{EnvConnectorHost: "fb.contoso.example"}, "", true},
		{"a custom domain while Location uses the Function App's host", map[string]string{EnvConnectorHost: "fb.contoso.example",
			EnvWebsiteHostname: "fb.azurewebsites.net"}, "fb.azurewebsites.net", false},
		{"the Function App's host while Location uses a gateway", map[string]string{EnvConnectorHost: "fb.azurewebsites.net",
			EnvPublicURL: "https://apis.contoso.example/flowbricks", EnvWebsiteHostname: "fb.azurewebsites.net"}, "apis.contoso.example", false},
		{"another port", map[string]string{EnvConnectorHost: "127.0.0.1:7071", EnvPublicURL: "http://127.0.0.1:7072"}, "127.0.0.1:7072", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if got := c.LocationHost(); got != tt.location {
					t.Errorf("LocationHost() = %q, want %q", got, tt.location)
				}
				return
			}
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.Name != EnvConnectorHost {
				t.Fatalf("want an error naming %s, got %v", EnvConnectorHost, err)
			}
		})
	}
}

func TestPublicBase(t *testing.T) {
	tests := []struct {
		c    Config
		want string
	}{
		{Config{}, ""},
		{Config{WebsiteHostname: "fb.azurewebsites.net"}, "https://fb.azurewebsites.net"},
		{Config{PublicURL: "https://apis.contoso.example/flowbricks", WebsiteHostname: "fb.azurewebsites.net"}, "https://apis.contoso.example/flowbricks"},
	}
	for _, tt := range tests {
		if got := tt.c.PublicBase(); got != tt.want {
			t.Errorf("%+v.PublicBase() = %q, want %q", tt.c, got, tt.want)
		}
	}
}
