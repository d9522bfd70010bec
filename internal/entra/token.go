package entra

import "github.com/flowbricks/flowbricks/internal/secret"

// Token is a secret string (an access token, a client secret, a certificate password) that renders
// as [REDACTED] wherever it is printed, marshalled or logged. It is secret.Token under the name
// this package's API has always used: the type is shared with the Databricks boundary, which must
// not import this package.
type Token = secret.Token
