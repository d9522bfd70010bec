// Package databricks calls the Azure Databricks Jobs API (2.2) and the SQL
// Statement Execution API (2.0) as the signed-in user and translates the
// answers into flowbricks' own types and errors.
//
// One [Client] serves every user of a workspace. It wraps a single
// databricks-sdk-go client (client.New + jobs.NewJobs — not the ~200-service
// WorkspaceClient) whose credentials strategy reads the per-request bearer
// token from the request context ([WithTokenSource], [WithToken]); nothing
// user-specific is stored in the client. The token stays a redacting
// secret.Token until the credentials provider sets the Authorization header.
// Building the client makes no network call.
//
// What this package decides, so that callers do not have to:
//
//   - SDK configuration: no config loaders (stray DATABRICKS_* variables and
//     ~/.databrickscfg are ignored), no /.well-known/databricks-config call,
//     no client-wide 15 requests/second limiter, a bounded SDK retry window
//     for 429/503, a per-call deadline, and SDK logging capped at Info so
//     neither the Authorization header nor request/response bodies are ever
//     logged by the SDK (see [New]).
//   - The run status shape (docs/architecture.md, Run status): [Run], [TaskRun] and
//     [TaskOutput], flat and never null, with the state/result/terminal/
//     succeeded rules documented on [Run].
//   - Error classification: every error returned by an operation is an
//     [*Error] whose Kind is one of the Err* sentinels, so callers use
//     errors.Is / errors.As and never look at SDK types (see [Error]); only
//     a failure of the caller's own TokenSource comes back as its error.
//   - A token Databricks rejects ([ErrTokenRejected]) is replaced once by a
//     fresh one from the TokenSource and the operation repeated once.
//   - Bounds on what is read: every answer (boundedTransport) and the
//     outputs of one run together ([MaxRunOutputBytes]).
//   - Statements (docs/architecture.md, Databricks SQL Statement Execution
//     API): INLINE JSON_ARRAY results with SQL NULL kept apart from "", a
//     FAILED statement as a [Statement] rather than an error, query tags
//     made acceptable, and [Client.ExecuteStatement] never repeated by the
//     SDK (statements have no idempotency token).
//
// The SDK's run waiter (RunNow(...).Get()) is never used: it panics on a run
// without "state", ignores result_state and captures the request context.
// Callers poll with [Client.GetRun].
package databricks
