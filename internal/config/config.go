// Package config reads flowbricks' settings from the environment (app settings on Azure,
// local.settings.json Values under `func start`) into a typed Config and validates them at
// start-up, so a missing or malformed setting stops the process with one line that names the
// variable and says what is expected.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowbricks/flowbricks/internal/azure"
)

// Defaults of the settings. The Azure identifiers (the Databricks application and scope, the
// public-cloud authority) are platform facts, not settings: they live in internal/azure.
const (
	// DefaultScope is the delegated scope the flowbricks API exposes to flows.
	DefaultScope = "user_impersonation"
	// DefaultAppRole is the app role an allow-listed app-only caller must carry.
	DefaultAppRole = "Jobs.Run"
	// DefaultUpstreamTimeout bounds each Databricks call, the SDK's retries of 429/503 included.
	DefaultUpstreamTimeout = 30 * time.Second
	// MaxUpstreamTimeout keeps one upstream call inside the handler's 60 s request bound.
	MaxUpstreamTimeout = 55 * time.Second
	// DefaultSQLMaxRows and DefaultSQLMaxBytes bound one SQL statement's result (the row_limit and
	// byte_limit flowbricks sends when a request names none); MaxSQLRows and MaxSQLBytes bound the
	// settings: 25 MiB is what Databricks returns inline at most (docs/sql.md, Limits).
	DefaultSQLMaxRows  = 10_000
	DefaultSQLMaxBytes = 4 << 20
	MaxSQLRows         = 100_000
	MaxSQLBytes        = 25 << 20
	// DefaultTriggerLookback is how long before its cursor "When a job run ends" looks for runs
	// that started (runs/list filters by start time, the trigger by end time): runs that ran
	// longer are missed (docs/connector.md, "When a job run ends"). MaxTriggerLookback is
	// Databricks' 60-day run retention: no run started earlier can still be listed.
	DefaultTriggerLookback = 48 * time.Hour
	MaxTriggerLookback     = 60 * 24 * time.Hour
)

// Names of the settings the handler reads. azidentity's and the Databricks SDK's names are used
// where one exists, so operators find familiar names.
const (
	EnvTenantID              = "AZURE_TENANT_ID"
	EnvClientID              = "AZURE_CLIENT_ID"
	EnvClientSecret          = "AZURE_CLIENT_SECRET"
	EnvCertificatePath       = "AZURE_CLIENT_CERTIFICATE_PATH"
	EnvCertificatePassword   = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
	EnvManagedIdentityClient = "FLOWBRICKS_MANAGED_IDENTITY_CLIENT_ID"
	EnvAuthorityHost         = "AZURE_AUTHORITY_HOST"
	EnvDatabricksHost        = "DATABRICKS_HOST"
	EnvAudiences             = "FLOWBRICKS_AUDIENCES"
	EnvScope                 = "FLOWBRICKS_SCOPE"
	EnvAppCallers            = "FLOWBRICKS_APP_CALLERS"
	EnvClientApps            = "FLOWBRICKS_CLIENT_APPS"
	EnvAppRole               = "FLOWBRICKS_APP_ROLE"
	EnvPublicURL             = "FLOWBRICKS_PUBLIC_URL"
	EnvPollSeconds           = "FLOWBRICKS_POLL_SECONDS"
	EnvLogLevel              = "FLOWBRICKS_LOG_LEVEL"
	EnvLogFormat             = "FLOWBRICKS_LOG_FORMAT"
	EnvWorkspaces            = "FLOWBRICKS_WORKSPACES"
	EnvJobs                  = "FLOWBRICKS_JOBS"
	EnvUpstreamTimeout       = "FLOWBRICKS_UPSTREAM_TIMEOUT_SECONDS"
	EnvSQL                   = "FLOWBRICKS_SQL"
	EnvSQLStatements         = "FLOWBRICKS_SQL_STATEMENTS"
	EnvWarehouses            = "FLOWBRICKS_WAREHOUSES"
	EnvSQLMaxRows            = "FLOWBRICKS_SQL_MAX_ROWS"
	EnvSQLMaxBytes           = "FLOWBRICKS_SQL_MAX_BYTES"
	EnvTriggerLookbackHours  = "FLOWBRICKS_TRIGGER_LOOKBACK_HOURS"
	EnvPort                  = "FUNCTIONS_CUSTOMHANDLER_PORT"
	EnvWebsiteHostname       = "WEBSITE_HOSTNAME"
)

// SettingNames lists every environment variable the handler reads.
func SettingNames() []string {
	return []string{
		EnvTenantID, EnvClientID, EnvClientSecret, EnvCertificatePath, EnvCertificatePassword,
		EnvManagedIdentityClient, EnvAuthorityHost, EnvDatabricksHost, EnvAudiences, EnvScope,
		EnvAppCallers, EnvClientApps, EnvAppRole, EnvPublicURL, EnvPollSeconds, EnvLogLevel, EnvLogFormat,
		EnvWorkspaces, EnvJobs, EnvUpstreamTimeout, EnvPort, EnvWebsiteHostname,
		EnvSQL, EnvSQLStatements, EnvWarehouses, EnvSQLMaxRows, EnvSQLMaxBytes, EnvTriggerLookbackHours,
		EnvConnectorHost, EnvConnectorContactName, EnvConnectorContactURL, EnvConnectorContactEmail, EnvConnectorPrivacyURL,
	}
}

// RequiredSettingNames lists the settings without which the handler refuses to start (besides
// exactly one credential setting, see CredentialKind).
func RequiredSettingNames() []string {
	return []string{EnvTenantID, EnvClientID, EnvDatabricksHost, EnvPort}
}

// CredentialKind says how the handler proves its own identity to Entra ID.
type CredentialKind string

const (
	CredentialSecret          CredentialKind = "client_secret"
	CredentialCertificate     CredentialKind = "certificate"
	CredentialManagedIdentity CredentialKind = "managed_identity"
)

// Config is the validated configuration. Secrets are kept as plain strings here; the entra
// package wraps them in its redacting Token type before they travel further.
type Config struct {
	TenantID      string
	ClientID      string
	AuthorityHost string // always ends with "/"

	Credential            CredentialKind
	ClientSecret          string
	CertificatePath       string
	CertificatePassword   string
	ManagedIdentityClient string

	DatabricksHost string
	// Workspaces maps a workspace name a request may choose to its host. The default workspace
	// (DatabricksHost) is always present under the name "default". Hosts never come from input.
	Workspaces map[string]string
	// Jobs, when not empty, is the only set of job ids flowbricks will trigger or read.
	Jobs []int64

	// SQL says which SQL statements flows may run (FLOWBRICKS_SQL, default SQLAny).
	SQL SQLMode
	// SQLStatements are the admin-defined statements flows may run by name
	// (FLOWBRICKS_SQL_STATEMENTS); required in SQLNamed mode.
	SQLStatements map[string]NamedStatement
	// Warehouses, when not empty, is the only set of SQL warehouse ids statements may run on and
	// the warehouse list shows (FLOWBRICKS_WAREHOUSES).
	Warehouses []string
	// SQLMaxRows and SQLMaxBytes bound one statement's result (FLOWBRICKS_SQL_MAX_ROWS,
	// FLOWBRICKS_SQL_MAX_BYTES): the largest row_limit and byte_limit a request may ask for, and
	// what is sent when it asks for none.
	SQLMaxRows  int64
	SQLMaxBytes int64

	Audiences  []string
	Scope      string
	AppCallers []string
	// ClientApps, when not empty, are the only client applications (azp / appid) whose delegated
	// tokens may act for a user; empty accepts any client of the tenant (a start-up warning says so).
	ClientApps []string
	AppRole    string

	PublicURL       string // "" = https://$WEBSITE_HOSTNAME; with neither, Location URLs are relative (PublicBase)
	WebsiteHostname string
	PollInterval    time.Duration
	// UpstreamTimeout is the deadline of each Databricks call, retries included
	// (FLOWBRICKS_UPSTREAM_TIMEOUT_SECONDS, default DefaultUpstreamTimeout).
	UpstreamTimeout time.Duration
	// TriggerLookback is how long before its cursor the run trigger looks for runs that started
	// (FLOWBRICKS_TRIGGER_LOOKBACK_HOURS, default DefaultTriggerLookback).
	TriggerLookback time.Duration

	// Connector is what the served connector definition says about its publisher, and the host
	// the connector is imported for (FLOWBRICKS_CONNECTOR_*; connector.go).
	Connector Connector

	LogLevel  string // trace|debug|info|warn|error
	LogFormat string // json|console
	Port      int
}

// Error names the setting that is wrong and what is expected. Its text never includes the
// setting's value, which may be a secret.
type Error struct {
	Name     string
	Expected string
}

func (e *Error) Error() string { return fmt.Sprintf("configuration: %s %s", e.Name, e.Expected) }

// Load reads and validates the configuration. It returns the first problem found.
func Load(getenv func(string) string) (Config, error) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	c := Config{
		TenantID:              get(EnvTenantID),
		ClientID:              get(EnvClientID),
		AuthorityHost:         get(EnvAuthorityHost),
		ClientSecret:          getenv(EnvClientSecret),
		CertificatePath:       get(EnvCertificatePath),
		CertificatePassword:   getenv(EnvCertificatePassword),
		ManagedIdentityClient: get(EnvManagedIdentityClient),
		Scope:                 get(EnvScope),
		AppRole:               get(EnvAppRole),
		PublicURL:             strings.TrimRight(get(EnvPublicURL), "/"),
		WebsiteHostname:       get(EnvWebsiteHostname),
		LogLevel:              strings.ToLower(get(EnvLogLevel)),
		LogFormat:             strings.ToLower(get(EnvLogFormat)),
	}

	if !isGUID(c.TenantID) {
		return c, &Error{EnvTenantID, "must be the tenant id (a GUID)"}
	}
	if !isGUID(c.ClientID) {
		return c, &Error{EnvClientID, "must be the flowbricks API app registration's client id (a GUID)"}
	}
	if err := c.loadCredential(); err != nil {
		return c, err
	}

	if c.AuthorityHost == "" {
		c.AuthorityHost = azure.PublicAuthorityHost
	}
	if u, err := url.Parse(c.AuthorityHost); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" {
		// MSAL refuses non-https authorities; failing here gives a clearer message.
		return c, &Error{EnvAuthorityHost, "must be an https URL such as https://login.microsoftonline.com/"}
	}
	c.AuthorityHost = strings.TrimRight(c.AuthorityHost, "/") + "/"

	host, err := workspaceURL(get(EnvDatabricksHost))
	if err != nil {
		return c, &Error{EnvDatabricksHost, "must be the workspace URL, e.g. https://adb-1234567890123456.7.azuredatabricks.net (" + err.Error() + ")"}
	}
	c.DatabricksHost = host
	if c.Workspaces, err = parseWorkspaces(get(EnvWorkspaces), host); err != nil {
		return c, &Error{EnvWorkspaces, "must be name=https://host pairs separated by commas (" + err.Error() + ")"}
	}
	if c.Jobs, err = parseJobIDs(get(EnvJobs)); err != nil {
		return c, &Error{EnvJobs, "must be job ids separated by commas (" + err.Error() + ")"}
	}
	if err := c.loadSQL(get); err != nil {
		return c, err
	}

	c.Audiences = splitList(get(EnvAudiences))
	if len(c.Audiences) == 0 {
		c.Audiences = []string{c.ClientID, "api://" + c.ClientID}
	}
	if c.Scope == "" {
		c.Scope = DefaultScope
	} else if strings.ContainsAny(c.Scope, " ,") {
		return c, &Error{EnvScope, "must be one scope name such as user_impersonation"}
	}
	if c.AppRole == "" {
		c.AppRole = DefaultAppRole
	}
	c.AppCallers = splitList(get(EnvAppCallers))
	for _, id := range c.AppCallers {
		if !isGUID(id) {
			return c, &Error{EnvAppCallers, "must be application (client) ids (GUIDs) separated by commas"}
		}
	}
	c.ClientApps = splitList(get(EnvClientApps))
	for _, id := range c.ClientApps {
		if !isGUID(id) {
			return c, &Error{EnvClientApps, "must be application (client) ids (GUIDs) separated by commas"}
		}
	}

	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return c, &Error{EnvPublicURL, "must be an absolute URL such as https://flowbricks.azurewebsites.net"}
		}
	}
	if err := c.loadConnector(get); err != nil {
		return c, err
	}

	c.PollInterval = 20 * time.Second // Logic Apps' own default polling interval
	if s := get(EnvPollSeconds); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 3600 {
			return c, &Error{EnvPollSeconds, "must be a whole number of seconds from 1 to 3600"}
		}
		c.PollInterval = time.Duration(n) * time.Second
	}

	c.UpstreamTimeout = DefaultUpstreamTimeout
	if s := get(EnvUpstreamTimeout); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || time.Duration(n)*time.Second > MaxUpstreamTimeout {
			return c, &Error{EnvUpstreamTimeout, fmt.Sprintf("must be a whole number of seconds from 1 to %d", int(MaxUpstreamTimeout/time.Second))}
		}
		c.UpstreamTimeout = time.Duration(n) * time.Second
	}

	c.TriggerLookback = DefaultTriggerLookback
	if s := get(EnvTriggerLookbackHours); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || time.Duration(n)*time.Hour > MaxTriggerLookback {
			return c, &Error{EnvTriggerLookbackHours, fmt.Sprintf("must be a whole number of hours from 1 to %d (Databricks keeps runs for 60 days)", int(MaxTriggerLookback/time.Hour))}
		}
		c.TriggerLookback = time.Duration(n) * time.Hour
	}

	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if !slices.Contains([]string{"trace", "debug", "info", "warn", "error"}, c.LogLevel) {
		return c, &Error{EnvLogLevel, "must be one of trace, debug, info, warn, error"}
	}
	if c.LogFormat == "" {
		c.LogFormat = "json"
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		return c, &Error{EnvLogFormat, "must be json or console"}
	}

	port, err := strconv.Atoi(get(EnvPort))
	if err != nil || port < 1 || port > 65535 {
		return c, &Error{EnvPort, "must be the TCP port the Functions host assigned (1-65535)"}
	}
	c.Port = port
	return c, nil
}

func (c *Config) loadCredential() error {
	var kinds []CredentialKind
	if c.ClientSecret != "" {
		kinds = append(kinds, CredentialSecret)
	}
	if c.CertificatePath != "" {
		kinds = append(kinds, CredentialCertificate)
	}
	if c.ManagedIdentityClient != "" {
		kinds = append(kinds, CredentialManagedIdentity)
	}
	switch {
	case len(kinds) == 0:
		return &Error{EnvClientSecret + "/" + EnvCertificatePath + "/" + EnvManagedIdentityClient,
			"one must be set: the handler's own credential towards Entra ID"}
	case len(kinds) > 1:
		return &Error{EnvClientSecret + "/" + EnvCertificatePath + "/" + EnvManagedIdentityClient,
			"only one may be set (found " + fmt.Sprint(kinds) + ")"}
	}
	c.Credential = kinds[0]
	if c.Credential == CredentialManagedIdentity && !isGUID(c.ManagedIdentityClient) {
		return &Error{EnvManagedIdentityClient, "must be the user-assigned managed identity's client id (a GUID)"}
	}
	if c.CertificatePassword != "" && c.Credential != CredentialCertificate {
		return &Error{EnvCertificatePassword, "is set but " + EnvCertificatePath + " is not"}
	}
	return nil
}

func workspaceURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("it is empty")
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("not a URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", errors.New("scheme must be https")
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", errors.New("only scheme and host are allowed")
	}
	return u.Scheme + "://" + u.Host, nil
}

func parseWorkspaces(raw, defaultHost string) (map[string]string, error) {
	ws := map[string]string{"default": defaultHost}
	for _, pair := range splitList(raw) {
		name, host, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " /?#") {
			return nil, fmt.Errorf("entry %q has no name", name)
		}
		h, err := workspaceURL(strings.TrimSpace(host))
		if err != nil {
			return nil, fmt.Errorf("workspace %q: %v", name, err)
		}
		if _, dup := ws[name]; dup && name != "default" {
			return nil, fmt.Errorf("workspace %q listed twice", name)
		}
		ws[name] = h
	}
	return ws, nil
}

func parseJobIDs(raw string) ([]int64, error) {
	var ids []int64
	for _, s := range splitList(raw) {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("%q is not a job id", s)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func splitList(raw string) []string {
	var out []string
	for _, s := range strings.Split(raw, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}
