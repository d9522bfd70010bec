// Package entra is flowbricks' boundary to Microsoft Entra ID.
//
// It does two things and nothing else:
//
//   - [Validator] checks the bearer token a flow sends (RFC 6750 header syntax, no critical header
//     parameters, RS256 signature against the tenant's published keys, exp/nbf/iat and the
//     lifetime, audience, the issuer that matches the token version, tenant, claims read by their
//     exact names, and the delegated scope + allow-listed client application or the allow-listed
//     app caller + app role) and turns it into a [Principal]. A token that passed is remembered
//     by its SHA-256 (never the token) in a bounded cache: presented again, it skips the
//     signature check, while its time claims are checked on every use and a withdrawn signing
//     key takes its entries away (docs/security.md, "Validated-token cache").
//   - [Exchanger] turns a validated principal into an Azure Databricks access token: On-Behalf-Of
//     for users, the handler's own client-credentials token for allow-listed app callers. Results
//     are cached per incoming token (keyed by its SHA-256, never shared between tokens) and
//     concurrent first requests for one token share a single Entra call. Each caller (tenant +
//     object id) has a bounded share of the cache and a bounded rate of exchanges, so one caller
//     presenting many tokens slows only itself. [Exchanger.Refresh] replaces a token Databricks
//     rejected.
//
// Nothing here reads environment variables itself (the caller passes options; azidentity's managed
// identity credential reads the App Service IDENTITY_ENDPOINT/IDENTITY_HEADER on its own), and
// nothing touches the network at construction: discovery documents and signing keys are fetched on
// first use, cached, and a failed first fetch is retried on a later request. Concurrent first uses
// of a discovery document share one fetch; [Metadata] shares the documents between a Validator
// and an Exchanger.
//
// Tokens and secrets cross this package's boundary only as [Token], which renders as [REDACTED]
// everywhere (fmt, JSON, text, slog); errors and log lines never contain them.
package entra
