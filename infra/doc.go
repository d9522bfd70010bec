// Package infra holds flowbricks' Terraform (the *.tf files in this folder). It has no Go code;
// infra_test.go checks the Terraform against the handler: every file parses, the Function App's
// app settings are exactly the configuration names internal/config reads, and the identifiers
// shared with the handler and the connector agree. It also checks every argument and block
// name against the pinned provider releases' schemas (schema/providers.json), offline.
package infra
