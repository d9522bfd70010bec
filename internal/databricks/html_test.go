package databricks

import (
	"strings"
	"testing"
)

func TestGatewayErrorPagesBecomeOneLineOfText(t *testing.T) {
	nginx := func(title, h1 string) string {
		return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + h1 +
			"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	}
	tests := []struct {
		name, msg string
		status    int
		want      string
	}{
		{"nginx 502", nginx("502 Bad Gateway", "502 Bad Gateway"), 502,
			"the workspace's gateway answered with an error page: 502 Bad Gateway"},
		{"title and a different heading", nginx("503 Service Unavailable", "No webapps are available to handle your request. Please try again later."), 503,
			"the workspace's gateway answered with an error page: 503 Service Unavailable: No webapps are available to handle your request. Please try again later."},
		{"a page without title or heading", "<html><body><p>oops</p></body></html>", 504,
			"the workspace's gateway answered with an error page: 504 Gateway Timeout"},
		{"Databricks' own message is kept", "User bob does not have Manage Run permissions on job 101", 403,
			"User bob does not have Manage Run permissions on job 101"},
		{"a message that mentions a tag is kept", "parameter a<b is invalid", 400, "parameter a<b is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plainMessage(tt.status, tt.msg)
			if got != tt.want {
				t.Fatalf("got %q\nwant %q", got, tt.want)
			}
			if strings.ContainsAny(got, "\r\n") {
				t.Fatalf("not one line: %q", got)
			}
		})
	}
}
