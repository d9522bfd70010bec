package entra

import (
	"encoding/json"
	"reflect"
	"testing"
)

// lookAlikeNames decides when the quick struct decoding may be used: it must find every member
// name that encoding/json could take for a claim flowbricks reads, and should find nothing in
// ordinary Entra tokens.
func TestClaimsLookAlikeNames(t *testing.T) {
	tests := []struct {
		name, json string
		want       bool
	}{
		{"an Entra v2 user token", `{"aud":"x","iss":"https://login.microsoftonline.com/t/v2.0","iat":1,"nbf":1,"exp":2,"aio":"AbC","azp":"c","name":"Alice Example","oid":"o","preferred_username":"alice@contoso.example","rh":"0.AX","roles":["Jobs.Run"],"scp":"user_impersonation","sub":"S","tid":"t","uti":"U","ver":"2.0","xms_cc":["CP1"]}`, false},
		{"upper case in values only", `{"name":"ALICE","scp":"User.Read"}`, false},
		{"upper case in a claim flowbricks does not read", `{"extension_Department":"IT","Name":"x"}`, false},
		{"Scp", `{"scp":"a","Scp":"user_impersonation"}`, true},
		{"TID first", `{"TID":"t","aud":"x"}`, true},
		{"PREFERRED_USERNAME", `{"PREFERRED_USERNAME":"x"}`, true},
		{"an escaped name", `{"s\u0063p":"user_impersonation"}`, true},
		{"a name with a non-ASCII byte (long s folds to s)", `{"ſcp":"user_impersonation"}`, true},
		{"a name with a non-ASCII letter (the Kelvin sign folds to k)", "{\"\u212aid\":\"x\"}", true},
		{"non-ASCII and escapes in values only", `{"name":"Zoë \"Z\" \\ Ünal","upn":"z@contoso.example"}`, false},
		{"a value that looks like a member", `{"name":"\",\"Scp\":\"user_impersonation","ver":"2.0"}`, false},
		{"look-alike names inside nested objects and arrays", `{"ctx":{"Scp":"x","TID":["Oid"]},"arr":[{"Scp":1}],"ver":"2.0"}`, false},
		{"a look-alike after a nested object", `{"ctx":{"a":{"b":[1,{"c":2}]}},"Oid":"x"}`, true},
		{"whitespace around members", "{ \"scp\" : \"a\" ,\n\t\"Scp\" : \"b\" }", true},
		{"not an object", `["Scp"]`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !json.Valid([]byte(tc.json)) {
				t.Fatalf("test input is not JSON: %s", tc.json)
			}
			if got := new(entraClaims).lookAlikeNames([]byte(tc.json)); got != tc.want {
				t.Errorf("lookAlikeNames = %v, want %v", got, tc.want)
			}
		})
	}
}

// Whichever way UnmarshalJSON decodes, the result is what decoding each claim from its exact
// name gives.
func FuzzClaimsDecodeExactly(f *testing.F) {
	for _, s := range []string{
		`{"aud":"x","iss":"i","iat":1,"nbf":1,"exp":2,"azp":"c","oid":"o","roles":["r"],"scp":"s","tid":"t","ver":"2.0"}`,
		`{"scp":"a","Scp":"b"}`, `{"Scp":"b","scp":"a"}`, `{"scp":"a","scp":"b"}`, `{"TID":"t"}`, `{"ſcp":"x"}`,
		`{"aud":["a","b"],"exp":null}`, `{"exp":"1"}`, `{"roles":"r"}`, `{"a":{"Scp":"x"},"scp":"y"}`, `{"s\u0063p":"z"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return // encoding/json never hands UnmarshalJSON invalid JSON
		}
		var viaUnmarshal, exact entraClaims
		err1 := json.Unmarshal(b, &viaUnmarshal)
		var raw map[string]json.RawMessage
		if json.Unmarshal(b, &raw) != nil {
			if err1 == nil {
				t.Fatalf("decoded %s, which is not an object", b)
			}
			return
		}
		err2 := exact.unmarshalExact(b)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("%s: UnmarshalJSON error %v, exact decoding error %v", b, err1, err2)
		}
		if err1 == nil && !reflect.DeepEqual(viaUnmarshal, exact) {
			t.Fatalf("%s:\n decoded %+v\n   exact %+v", b, viaUnmarshal, exact)
		}
	})
}
