package fakeworkspace

import (
	"fmt"
	"strings"
)

// The fake runs Databricks SQL text on SQLite. The two dialects differ where it matters to a statement
// that only reads tables: Databricks names tables with up to three levels (catalog.schema.table,
// resolved against the request's catalog and schema), quotes identifiers with backticks, and writes
// string literals in single or double quotes with backslash escapes (Spark SQL's defaults). rewriteSQL
// tokenises the text once and emits SQLite text: table names after FROM and JOIN become the quoted
// SQLite table "catalog.schema.table" (with the last part as an alias, so that orders.amount still
// resolves), string literals become SQLite literals, and :name markers stay as they are (SQLite binds
// named parameters natively, so values are never spliced into the text). No SQL parser in Go fits
// this small job — the choices are full dialect parsers far larger than the fake — hence the tokeniser.

type tokKind int

const (
	tokSpace tokKind = iota
	tokComment
	tokString // text = the literal's value, unescaped
	tokIdent  // bare identifier or keyword
	tokQIdent // `quoted` identifier; text = the name
	tokParam  // :name; text = name
	tokNumber
	tokPunct
)

type token struct {
	kind tokKind
	text string
	raw  string
	pos  int // byte offset in the statement
}

// sqlError is a statement failure with Databricks' error class, message and SQLSTATE.
type sqlError struct {
	Class    string // e.g. TABLE_OR_VIEW_NOT_FOUND
	Message  string // the full message, "[CLASS] …"
	SQLState string
}

func (e *sqlError) Error() string { return e.Message }

func newSQLError(class, sqlState, format string, args ...any) *sqlError {
	return &sqlError{Class: class, SQLState: sqlState,
		Message: fmt.Sprintf("[%s] ", class) + fmt.Sprintf(format, args...) + " SQLSTATE: " + sqlState}
}

// syntaxError is Spark's PARSE_SYNTAX_ERROR (error class reference, docs.databricks.com
// error-messages/error-classes: "Syntax error at or near <error><hint>. SQLSTATE: 42601").
func syntaxError(near string) *sqlError {
	if near == "" {
		near = "end of input"
	} else {
		near = "'" + near + "'"
	}
	return newSQLError("PARSE_SYNTAX_ERROR", "42601", "Syntax error at or near %s.", near)
}

func tokenize(sql string) ([]token, *sqlError) {
	var out []token
	i := 0
	isIdentStart := func(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	for i < len(sql) {
		c, start := sql[i], i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			for i < len(sql) && strings.IndexByte(" \t\n\r", sql[i]) >= 0 {
				i++
			}
			out = append(out, token{kind: tokSpace, raw: sql[start:i], pos: start})
		case strings.HasPrefix(sql[i:], "--"):
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
			out = append(out, token{kind: tokComment, raw: sql[start:i], pos: start})
		case strings.HasPrefix(sql[i:], "/*"):
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return nil, newSQLError("UNCLOSED_BRACKETED_COMMENT", "42601", "Found an unclosed bracketed comment. Please, append */ at the end of the comment.")
			}
			i += 2 + end + 2
			out = append(out, token{kind: tokComment, raw: sql[start:i], pos: start})
		case c == '\'' || c == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(sql) {
				d := sql[i]
				if d == '\\' && i+1 < len(sql) {
					i++
					switch e := sql[i]; e {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					case '0':
						b.WriteByte(0)
					default:
						b.WriteByte(e)
					}
					i++
					continue
				}
				i++
				if d == c {
					closed = true
					break
				}
				b.WriteByte(d)
			}
			if !closed {
				return nil, syntaxError(sql[start:min(len(sql), start+20)])
			}
			out = append(out, token{kind: tokString, text: b.String(), raw: sql[start:i], pos: start})
		case c == '`':
			var b strings.Builder
			i++
			closed := false
			for i < len(sql) {
				if sql[i] == '`' {
					if i+1 < len(sql) && sql[i+1] == '`' {
						b.WriteByte('`')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(sql[i])
				i++
			}
			if !closed {
				return nil, syntaxError(sql[start:min(len(sql), start+20)])
			}
			out = append(out, token{kind: tokQIdent, text: b.String(), raw: sql[start:i], pos: start})
		case c == ':' && i+1 < len(sql) && isIdentStart(sql[i+1]) && (i == 0 || sql[i-1] != ':'):
			i++
			for i < len(sql) && isIdent(sql[i]) {
				i++
			}
			out = append(out, token{kind: tokParam, text: sql[start+1 : i], raw: sql[start:i], pos: start})
		case isIdentStart(c):
			for i < len(sql) && isIdent(sql[i]) {
				i++
			}
			out = append(out, token{kind: tokIdent, text: sql[start:i], raw: sql[start:i], pos: start})
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9':
			for i < len(sql) && (isIdent(sql[i]) || sql[i] == '.' ||
				(sql[i] == '+' || sql[i] == '-') && (sql[i-1] == 'e' || sql[i-1] == 'E')) {
				i++
			}
			out = append(out, token{kind: tokNumber, raw: sql[start:i], pos: start})
		case c == '?':
			// "positional parameters denoted by a ? marker are not supported by the Databricks SQL
			// Statement Execution API" (ExecuteStatementRequest.Parameters, databricks-sdk-go).
			return nil, syntaxError("?")
		default:
			i++
			out = append(out, token{kind: tokPunct, text: string(c), raw: string(c), pos: start})
		}
	}
	return out, nil
}

// Keywords that may follow a table name where an alias could stand, so they are not aliases.
var notAlias = map[string]bool{
	"WHERE": true, "JOIN": true, "INNER": true, "LEFT": true, "RIGHT": true, "FULL": true, "OUTER": true,
	"CROSS": true, "NATURAL": true, "ON": true, "USING": true, "GROUP": true, "ORDER": true, "LIMIT": true,
	"OFFSET": true, "UNION": true, "EXCEPT": true, "INTERSECT": true, "HAVING": true, "WINDOW": true,
	"QUALIFY": true, "SORT": true, "CLUSTER": true, "DISTRIBUTE": true, "LATERAL": true, "PIVOT": true,
	"UNPIVOT": true, "TABLESAMPLE": true, "MINUS": true, "ANTI": true, "SEMI": true,
}

// Functions whose argument lists use FROM (EXTRACT(YEAR FROM d), TRIM(x FROM y)): no table follows.
var fromFunctions = map[string]bool{"EXTRACT": true, "TRIM": true, "SUBSTRING": true, "POSITION": true, "OVERLAY": true}

// tableRef is a table name as written and as resolved.
type tableRef struct {
	full string // catalog.schema.table, lower case
	pos  int
}

// rewriteSQL turns a Databricks statement into SQLite text. One- and two-level names take the
// catalog and schema given; exists says whether a table (catalog.schema.table, lower case) is in the
// fixture. It returns the tables the statement names, in order.
func rewriteSQL(sql string, catalog, schema string, exists func(full string) bool) (string, []tableRef, *sqlError) {
	toks, serr := tokenize(sql)
	if serr != nil {
		return "", nil, serr
	}
	// Significant tokens, for looking around.
	var sig []int
	for k, t := range toks {
		if t.kind != tokSpace && t.kind != tokComment {
			sig = append(sig, k)
		}
	}
	upper := func(s int) string {
		if s < 0 || s >= len(sig) || toks[sig[s]].kind != tokIdent {
			return ""
		}
		return strings.ToUpper(toks[sig[s]].text)
	}
	punct := func(s int) string {
		if s < 0 || s >= len(sig) || toks[sig[s]].kind != tokPunct {
			return ""
		}
		return toks[sig[s]].text
	}
	isName := func(s int) bool {
		return s >= 0 && s < len(sig) && (toks[sig[s]].kind == tokIdent || toks[sig[s]].kind == tokQIdent)
	}
	// One statement only: a ';' may end the text but not separate two statements.
	for s := range sig {
		if punct(s) == ";" && s != len(sig)-1 {
			return "", nil, syntaxError(toks[sig[s+1]].raw)
		}
	}
	// Common table expressions: "name AS (" (or "name (cols) AS (") defines a name that is not a table.
	ctes := map[string]bool{}
	for s := range sig {
		if isName(s) && upper(s+1) == "AS" && punct(s+2) == "(" {
			ctes[strings.ToLower(toks[sig[s]].text)] = true
		}
	}

	replace := map[int]string{} // token index → replacement text ("" drops the token)
	var refs []tableRef
	var parens []string // for each open '(', the upper-cased identifier before it
	for s := 0; s < len(sig); s++ {
		switch punct(s) {
		case "(":
			parens = append(parens, upper(s-1))
			continue
		case ")":
			if len(parens) > 0 {
				parens = parens[:len(parens)-1]
			}
			continue
		}
		kw := upper(s)
		if kw != "FROM" && kw != "JOIN" {
			continue
		}
		if kw == "FROM" && (upper(s-1) == "DISTINCT" || len(parens) > 0 && fromFunctions[parens[len(parens)-1]]) {
			continue
		}
		for next := s + 1; isName(next); {
			// The chain a.b.c.
			var parts []string
			end := next
			for {
				parts = append(parts, strings.ToLower(toks[sig[end]].text))
				if punct(end+1) == "." && isName(end+2) {
					end += 2
					continue
				}
				break
			}
			if punct(end+1) == "(" || len(parts) > 3 {
				break // a table-valued function such as range(10), or not a table name
			}
			if len(parts) == 1 && ctes[parts[0]] {
				next = afterAlias(end, isName, upper, punct)
				if kw == "FROM" && punct(next) == "," && isName(next+1) {
					next++
					continue
				}
				break
			}
			full := strings.Join(append([]string{catalog, schema}[:3-len(parts)], parts...), ".")
			pos := toks[sig[next]].pos
			if !exists(full) {
				// Spark's message for the class (docs.databricks.com error-messages/table-or-view-not-found-error-class),
				// with the position Databricks appends after the SQLSTATE.
				e := newSQLError("TABLE_OR_VIEW_NOT_FOUND", "42P01",
					"The table or view `%s` cannot be found. Verify the spelling and correctness of the schema and catalog.\n"+
						"If you did not qualify the name with a schema, verify the current_schema() output, or qualify the name with the correct schema and catalog.\n"+
						"To tolerate the error on drop use DROP VIEW IF EXISTS or DROP TABLE IF EXISTS.", strings.ReplaceAll(full, ".", "`.`"))
				e.Message += fmt.Sprintf("; line %d pos %d", lineOf(sql, pos), colOf(sql, pos))
				return "", nil, e
			}
			refs = append(refs, tableRef{full: full, pos: pos})
			repl := sqliteIdent(full)
			hasAlias := upper(end+1) == "AS" || isName(end+1) && !notAlias[upper(end+1)]
			if !hasAlias {
				repl += " AS " + sqliteIdent(parts[len(parts)-1])
			}
			replace[sig[next]] = repl
			for k := sig[next] + 1; k <= sig[end]; k++ {
				replace[k] = ""
			}
			next = afterAlias(end, isName, upper, punct)
			if kw == "FROM" && punct(next) == "," && isName(next+1) {
				next++
				continue
			}
			break
		}
	}

	var b strings.Builder
	for k, t := range toks {
		if r, ok := replace[k]; ok {
			b.WriteString(r)
			continue
		}
		switch t.kind {
		case tokString:
			b.WriteString("'" + strings.ReplaceAll(t.text, "'", "''") + "'")
		case tokQIdent:
			b.WriteString(sqliteIdent(t.text))
		case tokPunct:
			if t.text == ";" {
				continue // the optional terminator
			}
			b.WriteString(t.raw)
		default:
			b.WriteString(t.raw)
		}
	}
	return b.String(), refs, nil
}

// afterAlias returns the significant-token index after the table name ending at end and its alias.
func afterAlias(end int, isName func(int) bool, upper func(int) string, punct func(int) string) int {
	n := end + 1
	if upper(n) == "AS" {
		return n + 2
	}
	if isName(n) && !notAlias[upper(n)] {
		return n + 1
	}
	return n
}

func sqliteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

func lineOf(sql string, pos int) int { return strings.Count(sql[:pos], "\n") + 1 }
func colOf(sql string, pos int) int  { return pos - (strings.LastIndex(sql[:pos], "\n") + 1) }
