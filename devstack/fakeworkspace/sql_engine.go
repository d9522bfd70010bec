package fakeworkspace

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"modernc.org/sqlite"
)

// engine is the fake warehouses' SQL engine: one in-memory SQLite database (modernc.org/sqlite, pure
// Go, so the devstack needs no C toolchain) holding every fixture table under its three-level name. It
// uses one driver connection directly rather than database/sql: a *sql.DB starts a goroutine that
// lives until Close, and a pool would give each connection its own in-memory database.
type engine struct {
	mu     sync.Mutex // one statement at a time on the one connection
	conn   driver.Conn
	tables map[string]*sqlTable // full name (lower case) → table

	// The authorizer's view of the statement being compiled (guarded by mu).
	readable func(table string) bool
	denied   string // first table the caller may not read
	refused  string // first action that is not a read
}

type sqlTable struct {
	full   string
	cols   []dbxType
	names  []string
	byName map[string]int             // lower-case column name → index
	grants map[string]map[string]bool // lower-case principal → privileges (upper case)
}

// result is what a statement produced: its columns and rows as JSON_ARRAY strings.
type result struct {
	names     []string
	types     []dbxType
	rows      [][]*string
	truncated bool
}

func newEngine(cfg *SQLConfig) (*engine, error) {
	c, err := (&sqlite.Driver{}).Open(":memory:")
	if err != nil {
		return nil, fmt.Errorf("fakeworkspace: open SQLite: %w", err)
	}
	e := &engine{conn: c, tables: map[string]*sqlTable{}}
	if err := e.load(cfg); err != nil {
		c.Close()
		return nil, err
	}
	reg, ok := c.(sqlite.AuthorizerRegisterer)
	if !ok {
		c.Close()
		return nil, errors.New("fakeworkspace: the SQLite driver has no authorizer")
	}
	if err := reg.RegisterAuthorizer(e.authorize); err != nil {
		c.Close()
		return nil, err
	}
	return e, nil
}

func (e *engine) close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn == nil {
		return nil
	}
	err := e.conn.Close()
	e.conn = nil
	return err
}

func (e *engine) exec(query string, args ...driver.NamedValue) error {
	_, err := e.conn.(driver.ExecerContext).ExecContext(context.Background(), query, args)
	return err
}

func (e *engine) load(cfg *SQLConfig) error {
	for _, t := range cfg.Tables {
		full := strings.ToLower(strings.TrimSpace(t.Name))
		if strings.Count(full, ".") != 2 || strings.Contains(full, "..") || strings.HasPrefix(full, ".") || strings.HasSuffix(full, ".") {
			return fmt.Errorf("fakeworkspace: table %q: the name must be catalog.schema.table", t.Name)
		}
		if e.tables[full] != nil {
			return fmt.Errorf("fakeworkspace: table %q is defined twice", t.Name)
		}
		if len(t.Columns) == 0 {
			return fmt.Errorf("fakeworkspace: table %q has no columns", t.Name)
		}
		tb := &sqlTable{full: full, byName: map[string]int{}, grants: map[string]map[string]bool{}}
		var defs, marks []string
		for i, col := range t.Columns {
			ty, err := parseType(col.Type)
			if err != nil {
				return fmt.Errorf("fakeworkspace: table %q column %q: %w", t.Name, col.Name, err)
			}
			n := strings.ToLower(col.Name)
			if _, dup := tb.byName[n]; n == "" || dup {
				return fmt.Errorf("fakeworkspace: table %q: column name %q is empty or used twice", t.Name, col.Name)
			}
			tb.byName[n] = i
			tb.cols = append(tb.cols, ty)
			tb.names = append(tb.names, col.Name)
			defs = append(defs, sqliteIdent(col.Name)+" "+ty.affinity())
			marks = append(marks, "?")
		}
		for p, privs := range t.Grants {
			set := map[string]bool{}
			for _, pr := range privs {
				set[strings.ToUpper(pr)] = true
			}
			tb.grants[strings.ToLower(p)] = set
		}
		if err := e.exec("CREATE TABLE " + sqliteIdent(full) + " (" + strings.Join(defs, ", ") + ")"); err != nil {
			return fmt.Errorf("fakeworkspace: create table %q: %w", t.Name, err)
		}
		rows := t.Rows
		if t.Generate != nil {
			if len(t.Rows) > 0 {
				return fmt.Errorf("fakeworkspace: table %q has both rows and generate", t.Name)
			}
			var err error
			if rows, err = generateRows(*t.Generate, tb.names); err != nil {
				return fmt.Errorf("fakeworkspace: table %q: %w", t.Name, err)
			}
		}
		insert := "INSERT INTO " + sqliteIdent(full) + " VALUES (" + strings.Join(marks, ", ") + ")"
		for r, row := range rows {
			if len(row) != len(tb.cols) {
				return fmt.Errorf("fakeworkspace: table %q row %d has %d values for %d columns", t.Name, r, len(row), len(tb.cols))
			}
			args := make([]driver.NamedValue, len(row))
			for i, raw := range row {
				v, err := tb.cols[i].storeValue(raw)
				if err != nil {
					return fmt.Errorf("fakeworkspace: table %q row %d column %q: %w", t.Name, r, tb.names[i], err)
				}
				args[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
			}
			if err := e.exec(insert, args...); err != nil {
				return fmt.Errorf("fakeworkspace: table %q row %d: %w", t.Name, r, err)
			}
		}
		e.tables[full] = tb
	}
	// Belt and braces with the authorizer: nothing a statement does can change the tables.
	return e.exec("PRAGMA query_only = ON")
}

// authorize is SQLite's compile-time authorizer (modernc.org/sqlite authorizer.go): a statement may
// read the tables the caller has SELECT on and nothing else, so every grant is checked before the
// statement runs, and a statement that would write is refused at compile time.
func (e *engine) authorize(action sqlite.AuthorizerActionCode, arg1, arg2, _, _ string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthSelect, sqlite.AuthFunction, sqlite.AuthRecursive:
		return sqlite.AuthorizerOK
	case sqlite.AuthRead:
		if e.readable == nil || e.readable(arg1) {
			return sqlite.AuthorizerOK
		}
		if e.denied == "" {
			e.denied = arg1
		}
		return sqlite.AuthorizerDeny
	case sqlite.AuthPragma:
		if e.readable == nil { // the engine's own set-up
			return sqlite.AuthorizerOK
		}
	}
	if e.refused == "" {
		e.refused = arg1
		if e.refused == "" {
			e.refused = fmt.Sprint(action)
		}
	}
	return sqlite.AuthorizerDeny
}

// query is one statement to run.
type query struct {
	sql       string // SQLite text (rewriteSQL)
	tables    []tableRef
	params    map[string]any // bound by name; absent markers fail
	principal string         // lower-case name whose grants apply
	rowLimit  int64          // 0 = none
	byteLimit int64          // 0 = none
}

// run compiles q under the caller's grants and reads its result. A statement failure is a *sqlError.
func (e *engine) run(ctx context.Context, q query) (*result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn == nil {
		return nil, errors.New("fakeworkspace: the SQL engine is closed")
	}
	e.denied, e.refused = "", ""
	e.readable = func(table string) bool {
		tb := e.tables[strings.ToLower(table)]
		return tb != nil && (tb.grants[q.principal]["SELECT"] || tb.grants[AllUsersGroup]["SELECT"] ||
			tb.grants[q.principal]["ALL PRIVILEGES"])
	}
	defer func() { e.readable = nil }()

	// Compile first (the authorizer runs here), then bind and step.
	st, err := e.conn.(driver.ConnPrepareContext).PrepareContext(ctx, q.sql)
	if err != nil {
		return nil, e.classify(err, q)
	}
	defer st.Close()
	args := make([]driver.NamedValue, 0, len(q.params))
	for name, v := range q.params {
		args = append(args, driver.NamedValue{Name: name, Value: v})
	}
	for i := range args {
		args[i].Ordinal = i + 1
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, e.classify(err, q)
	}
	defer rows.Close()

	cols := rows.Columns()
	res := &result{names: cols, types: make([]dbxType, len(cols))}
	origin := e.origins(q.sql, len(cols))
	dyn := make([]string, len(cols)) // computed columns: the SQLite types seen
	vals := make([]driver.Value, len(cols))
	var bytes int64
	for {
		if err := rows.Next(vals); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, e.classify(err, q)
		}
		if q.rowLimit > 0 && int64(len(res.rows)) >= q.rowLimit {
			res.truncated = true
			break
		}
		row := make([]*string, len(cols))
		size := int64(2)
		for i, v := range vals {
			t := typeString
			if origin[i] != nil {
				t = *origin[i]
			} else {
				dyn[i] = mergeDynamic(dyn[i], v)
				t = dynamicType(dyn[i])
			}
			row[i] = t.render(v)
			if row[i] != nil {
				b, _ := json.Marshal(*row[i])
				size += int64(len(b)) + 1
			} else {
				size += 5
			}
		}
		// byte_limit counts what the rows weigh in the answer; the real API counts an internal
		// representation ("might not match the final size", ExecuteStatementRequest.ByteLimit).
		if q.byteLimit > 0 && bytes+size > q.byteLimit {
			res.truncated = true
			break
		}
		bytes += size
		res.rows = append(res.rows, row)
	}
	for i := range cols {
		if origin[i] != nil {
			res.types[i] = *origin[i]
		} else {
			res.types[i] = dynamicType(dyn[i])
		}
	}
	// A computed column rendered before its final type was known (an integer first, a real later):
	// render again from the cell text.
	for i, t := range res.types {
		if origin[i] == nil && t.Name == "DOUBLE" {
			for _, row := range res.rows {
				if row[i] != nil && !strings.ContainsAny(*row[i], ".EN") {
					s := *row[i] + ".0"
					row[i] = &s
				}
			}
		}
	}
	return res, nil
}

// origins gives the declared type of each result column that is a plain column of a fixture table
// (sqlite3_column_table_name and _origin_name, modernc.org/sqlite conn.ColumnInfo); nil for computed
// columns, whose type comes from their values.
func (e *engine) origins(sqlText string, n int) []*dbxType {
	out := make([]*dbxType, n)
	ci, ok := e.conn.(interface {
		ColumnInfo(string) ([]sqlite.ColumnInfo, error)
	})
	if !ok {
		return out
	}
	info, err := ci.ColumnInfo(sqlText)
	if err != nil || len(info) != n {
		return out
	}
	for i, c := range info {
		tb := e.tables[strings.ToLower(c.TableName)]
		if tb == nil {
			continue
		}
		if k, ok := tb.byName[strings.ToLower(c.OriginName)]; ok {
			t := tb.cols[k]
			out[i] = &t
		}
	}
	return out
}

func mergeDynamic(seen string, v driver.Value) string {
	k := ""
	switch v.(type) {
	case int64:
		k = "int"
	case float64:
		k = "real"
	case []byte:
		k = "blob"
	case string:
		k = "text"
	case bool:
		k = "int"
	default:
		return seen
	}
	switch {
	case seen == "" || seen == k:
		return k
	case seen == "int" && k == "real" || seen == "real" && k == "int":
		return "real"
	}
	return "text"
}

func dynamicType(seen string) dbxType {
	switch seen {
	case "int":
		return typeLong
	case "real":
		return typeDouble
	case "blob":
		return typeBinary
	case "text":
		return typeString
	}
	return typeNull
}

var (
	sqliteNear       = regexp.MustCompile(`near "((?:[^"]|"")*)": syntax error`)
	sqliteNoColumn   = regexp.MustCompile(`no such column: (\S+)`)
	sqliteNoTable    = regexp.MustCompile(`no such table: (\S+)`)
	sqliteNoFunction = regexp.MustCompile(`no such function: (\S+)`)
	sqliteMissingArg = regexp.MustCompile(`missing named argument "([^"]+)"`)
)

// classify turns an SQLite error into the failure Databricks reports for the same mistake (the error
// classes of Spark SQL, docs.databricks.com error-messages/error-classes).
func (e *engine) classify(err error, q query) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	msg := err.Error()
	switch {
	case e.denied != "":
		// Unity Catalog's denial (error class INSUFFICIENT_PERMISSIONS, SQLSTATE 42501), in the
		// wording Databricks SQL uses for a table: "Insufficient privileges:\nUser does not have
		// SELECT on Table 'cat.sch.tbl'".
		return newSQLError("INSUFFICIENT_PERMISSIONS", "42501", "Insufficient privileges:\nUser does not have SELECT on Table '%s'.", e.denied)
	case e.refused != "":
		target := "this statement"
		if e.tables[strings.ToLower(e.refused)] != nil {
			target = fmt.Sprintf("Table '%s'", strings.ToLower(e.refused))
		}
		return newSQLError("INSUFFICIENT_PERMISSIONS", "42501", "Insufficient privileges:\nUser does not have MODIFY on %s. (The devstack warehouse runs SELECT statements only.)", target)
	}
	if m := sqliteMissingArg.FindStringSubmatch(msg); m != nil {
		return newSQLError("UNBOUND_SQL_PARAMETER", "42P02",
			"Found the unbound parameter: %s. Please, fix `args` and provide a mapping of the parameter to either a SQL literal or collection constructor functions such as `map()`, `array()`, `struct()`.", m[1])
	}
	if m := sqliteNear.FindStringSubmatch(msg); m != nil {
		return syntaxError(strings.ReplaceAll(m[1], `""`, `"`))
	}
	if strings.Contains(msg, "incomplete input") {
		return syntaxError("")
	}
	if m := sqliteNoColumn.FindStringSubmatch(msg); m != nil {
		return newSQLError("UNRESOLVED_COLUMN.WITHOUT_SUGGESTION", "42703",
			"A column, variable, or function parameter with name `%s` cannot be resolved.", strings.ReplaceAll(m[1], ".", "`.`"))
	}
	if m := sqliteNoTable.FindStringSubmatch(msg); m != nil {
		return newSQLError("TABLE_OR_VIEW_NOT_FOUND", "42P01", "The table or view `%s` cannot be found.", m[1])
	}
	if m := sqliteNoFunction.FindStringSubmatch(msg); m != nil {
		return newSQLError("UNRESOLVED_ROUTINE", "42883",
			"Cannot resolve routine `%s` on search path [`system`.`builtin`, `system`.`session`, `%s`].", m[1], strings.Join(strings.SplitN(q.sqlSchemaPath(), ".", 2), "`.`"))
	}
	return newSQLError("INTERNAL_ERROR", "XX000", "The devstack warehouse could not run the statement: %s.", msg)
}

func (q query) sqlSchemaPath() string {
	if len(q.tables) > 0 {
		return q.tables[0].full[:strings.LastIndex(q.tables[0].full, ".")]
	}
	return "main.default"
}

func (e *engine) exists(full string) bool {
	return e.tables[full] != nil
}
