package e2e

import (
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	devstack "github.com/flowbricks/flowbricks/devstack/stack"
)

// TestAppTokensWithAndWithoutIDTyp: Entra marks app-only tokens with idtyp=app only when the API's app
// registration asks for the optional claim (docs/admin-guide.md recommends it; a new registration does not).
// Without it an app token is recognised by roles without scp, and an app token without the role must still
// be refused — it carries neither scp nor roles, so it must not pass as a user.
func TestAppTokensWithAndWithoutIDTyp(t *testing.T) {
	logicApp, noRoleApp := fixtureApp(t, "logic-app"), fixtureApp(t, "no-role-app")
	for _, idtyp := range []bool{true, false} {
		name := "idtyp requested (the fixture's registration)"
		if !idtyp {
			name = "idtyp not requested (Entra's default)"
		}
		t.Run(name, func(t *testing.T) {
			s := startTestStack(t, devstack.Options{
				Env: []string{"FLOWBRICKS_APP_CALLERS=" + logicApp.ClientID + "," + noRoleApp.ClientID},
				Mutate: func(fx *devstack.Fixture) {
					if !idtyp {
						fx.Entra.API.AccessTokenOptionalClaims = nil
					}
				},
			})
			withRole := s.appToken(t, logicApp.ClientID, fakeentra.MintOptions{})
			withoutRole := s.appToken(t, noRoleApp.ClientID, fakeentra.MintOptions{})
			claims := jwt.MapClaims{}
			if _, _, err := jwt.NewParser().ParseUnverified(withRole, claims); err != nil || (claims["idtyp"] == "app") != idtyp {
				t.Fatalf("the fake's app token has idtyp=%v, want it present=%v (%v)", claims["idtyp"], idtyp, err)
			}

			if r := s.call(t, apiCall{method: "GET", path: "/api/jobs?name=daily-sales-refresh", token: withRole}); r.status != 200 {
				t.Errorf("app token with the role: %d %s, want 200", r.status, r.body)
			}
			entra, ws := s.Entra.Stats(), s.Workspace.Stats()
			r := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: withoutRole, body: `{"job_id": 101}`})
			// With idtyp the validator knows it is an app and names the missing role; without it the token
			// looks like a delegated token without the scope. Either way it is refused before any upstream call.
			if r.status != 401 && r.status != 403 {
				t.Errorf("app token without the role: %d %s, want it refused", r.status, r.body)
			}
			if idtyp && (r.status != 403 || !strings.Contains(r.str("detail"), "lacks the app role")) {
				t.Errorf("with idtyp the refusal is 403 naming the missing role: %d %s", r.status, r.body)
			}
			if s.Entra.Stats().TokenRequests != entra.TokenRequests || s.Workspace.Stats().RunNow != ws.RunNow {
				t.Error("an app token without roles or scp reached Entra or the workspace")
			}
		})
	}
}
