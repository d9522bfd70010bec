package azure

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
)

func TestPublicAuthorityHostIsAzcores(t *testing.T) {
	if want := cloud.AzurePublic.ActiveDirectoryAuthorityHost; PublicAuthorityHost != want {
		t.Fatalf("PublicAuthorityHost = %q, azcore's public cloud authority is %q", PublicAuthorityHost, want)
	}
}
