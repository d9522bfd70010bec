package fakeworkspace

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// endpointInfoJSON is the part of EndpointInfo (databricks-sdk-go service/sql/model.go) that the fake
// knows: what GET /api/2.0/sql/warehouses lists and GET /api/2.0/sql/warehouses/{id} answers.
type endpointInfoJSON struct {
	ID                      string            `json:"id"`
	Name                    string            `json:"name"`
	State                   string            `json:"state"`
	ClusterSize             string            `json:"cluster_size"`
	AutoStopMins            int               `json:"auto_stop_mins"`
	MinNumClusters          int               `json:"min_num_clusters"`
	MaxNumClusters          int               `json:"max_num_clusters"`
	NumClusters             int               `json:"num_clusters"`
	NumActiveSessions       int64             `json:"num_active_sessions"`
	CreatorName             string            `json:"creator_name,omitempty"`
	EnablePhoton            bool              `json:"enable_photon"`
	EnableServerlessCompute bool              `json:"enable_serverless_compute"`
	WarehouseType           string            `json:"warehouse_type"`
	SpotInstancePolicy      string            `json:"spot_instance_policy"`
	Channel                 map[string]string `json:"channel"`
	Tags                    struct{}          `json:"tags"`
	JdbcURL                 string            `json:"jdbc_url"`
	OdbcParams              odbcParamsJSON    `json:"odbc_params"`
	Health                  *healthJSON       `json:"health,omitempty"`
}

type odbcParamsJSON struct {
	Hostname string `json:"hostname"`
	Path     string `json:"path"`
	Protocol string `json:"protocol"`
	Port     int    `json:"port"`
}

type healthJSON struct {
	Status string `json:"status"`
}

func (s *Server) warehouseJSON(w *warehouse, now int64, base string) endpointInfoJSON {
	host := base
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		host = u.Hostname()
	}
	path := "/sql/1.0/warehouses/" + w.ID
	state := w.stateAt(now)
	out := endpointInfoJSON{
		ID: w.ID, Name: w.Name, State: state, ClusterSize: "2X-Small", AutoStopMins: 10,
		MinNumClusters: 1, MaxNumClusters: 1, CreatorName: w.CreatorName, EnablePhoton: true,
		EnableServerlessCompute: true, WarehouseType: "PRO", SpotInstancePolicy: "COST_OPTIMIZED",
		Channel:    map[string]string{"name": "CHANNEL_NAME_CURRENT"},
		JdbcURL:    fmt.Sprintf("jdbc:spark://%s:443/default;transportMode=http;ssl=1;AuthMech=3;httpPath=%s;", host, path),
		OdbcParams: odbcParamsJSON{Hostname: host, Path: path, Protocol: "https", Port: 443},
	}
	if state == warehouseRunning {
		out.NumClusters = 1
		out.Health = &healthJSON{Status: "HEALTHY"}
	}
	return out
}

// listWarehouses answers "all SQL warehouses that a user has access to" (Warehouses.List,
// databricks-sdk-go service/sql/impl.go): those the caller has any permission level on, in one page
// (the fake never sends next_page_token).
func (s *Server) listWarehouses(c *call) {
	caller := strings.ToLower(c.name)
	base := s.baseURL(c.r)
	s.mu.Lock()
	now := s.now().UnixMilli()
	out := struct {
		Warehouses []endpointInfoJSON `json:"warehouses"`
	}{Warehouses: []endpointInfoJSON{}}
	for _, w := range s.sql.warehouses {
		if w.rank(caller) > 0 {
			out.Warehouses = append(out.Warehouses, s.warehouseJSON(w, now, base))
		}
	}
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Server) getWarehouse(c *call, id string) {
	caller := strings.ToLower(c.name)
	base := s.baseURL(c.r)
	s.mu.Lock()
	w := s.sql.whByID[id]
	if w == nil {
		s.mu.Unlock()
		writeAPIError(c.w, http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", fmt.Sprintf("SQL warehouse %s does not exist.", id), nil)
		return
	}
	if w.rank(caller) == 0 {
		s.mu.Unlock()
		c.denied(fmt.Sprintf("User %s does not have CAN_VIEW permission on SQL warehouse %s.", c.name, id))
		return
	}
	out := s.warehouseJSON(w, s.now().UnixMilli(), base)
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, out)
}
