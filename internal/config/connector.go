package config

import (
	"net/mail"
	"net/url"
	"strings"
)

// What the connector's definition says about who stands behind it (docs/connector.md, "Who
// stands behind the connector"), and the host it is imported for. The defaults name the
// flowbricks project; an organisation that runs flowbricks for its makers names its own team.
const (
	// DefaultContactName, DefaultContactURL and DefaultPrivacyURL are the connector's contact
	// and privacy policy when FLOWBRICKS_CONNECTOR_CONTACT_NAME, _CONTACT_URL and _PRIVACY_URL
	// are not set.
	DefaultContactName = "flowbricks"
	DefaultContactURL  = "https://github.com/flowbricks/flowbricks/issues"
	DefaultPrivacyURL  = "https://github.com/flowbricks/flowbricks/blob/main/docs/connector.md#privacy"
)

// Names of the connector's settings.
const (
	EnvConnectorHost         = "FLOWBRICKS_CONNECTOR_HOST"
	EnvConnectorContactName  = "FLOWBRICKS_CONNECTOR_CONTACT_NAME"
	EnvConnectorContactURL   = "FLOWBRICKS_CONNECTOR_CONTACT_URL"
	EnvConnectorContactEmail = "FLOWBRICKS_CONNECTOR_CONTACT_EMAIL"
	EnvConnectorPrivacyURL   = "FLOWBRICKS_CONNECTOR_PRIVACY_URL"
)

// Connector is what the served connector definition says about its publisher, and the host the
// connector flows use was imported for.
type Connector struct {
	// Host is the host name of the imported connector definition (its "host"); "" = not known.
	// When known, the 202 Location URLs must point at it (LocationHost).
	Host         string
	ContactName  string // info.contact.name
	ContactURL   string // info.contact.url
	ContactEmail string // info.contact.email; "" = none
	PrivacyURL   string // the "Privacy policy" entry of x-ms-connector-metadata
}

// OrDefaults is c with the defaults for what it leaves empty: the flowbricks project's contact
// and privacy policy.
func (c Connector) OrDefaults() Connector {
	if c.ContactName == "" {
		c.ContactName = DefaultContactName
	}
	if c.ContactURL == "" {
		c.ContactURL = DefaultContactURL
	}
	if c.PrivacyURL == "" {
		c.PrivacyURL = DefaultPrivacyURL
	}
	return c
}

// PublicBase is the scheme, host and path prefix flows reach flowbricks at, from configuration
// only (never from a request): FLOWBRICKS_PUBLIC_URL, else https://WEBSITE_HOSTNAME on Azure;
// "" when neither is set. Location URLs and the served definition's host are built from it.
func (c Config) PublicBase() string {
	switch {
	case c.PublicURL != "":
		return c.PublicURL
	case c.WebsiteHostname != "":
		return "https://" + c.WebsiteHostname
	}
	return ""
}

// LocationHost is the host (and port) the 202 Location URLs point at; "" when they are relative.
func (c Config) LocationHost() string {
	u, err := url.Parse(c.PublicBase())
	if err != nil {
		return ""
	}
	return u.Host
}

func (c *Config) loadConnector(get func(string) string) error {
	c.Connector = Connector{
		Host:         strings.ToLower(get(EnvConnectorHost)),
		ContactName:  get(EnvConnectorContactName),
		ContactURL:   get(EnvConnectorContactURL),
		ContactEmail: get(EnvConnectorContactEmail),
		PrivacyURL:   get(EnvConnectorPrivacyURL),
	}
	c.Connector = c.Connector.OrDefaults()
	if !isHTTPSURL(c.Connector.ContactURL) {
		return &Error{EnvConnectorContactURL, "must be an https URL (where makers get help with the connector)"}
	}
	if !isHTTPSURL(c.Connector.PrivacyURL) {
		return &Error{EnvConnectorPrivacyURL, "must be an https URL (the privacy policy that applies to the connector)"}
	}
	if e := c.Connector.ContactEmail; e != "" {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			return &Error{EnvConnectorContactEmail, "must be one e-mail address such as flows@contoso.example"}
		}
	}

	host := c.Connector.Host
	if host == "" {
		return nil
	}
	if u, err := url.Parse("https://" + host); err != nil || u.Host != host || u.User != nil {
		return &Error{EnvConnectorHost, "must be a host name as in the connector definition's host, such as flowbricks.azurewebsites.net (no scheme, no path)"}
	}
	// The platform polls a 202's Location itself. A connector's calls go to its own host with the
	// connection's token; a Location on another host is likely polled outside the connection,
	// without it, and every wait would end in 401 (docs/connector.md, "The 202 Location and the
	// connector's host").
	if loc := c.LocationHost(); loc != "" && !strings.EqualFold(loc, host) {
		return &Error{EnvConnectorHost, "must be the host of the Location URLs flowbricks answers 202 with (" + EnvPublicURL +
			", else " + EnvWebsiteHostname + "): set " + EnvPublicURL + " to https://<this host>, or import the connector for the host " +
			EnvPublicURL + " names (docs/connector.md#the-202-location-and-the-connectors-host)"}
	}
	return nil
}

func isHTTPSURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}
