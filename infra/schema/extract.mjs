#!/usr/bin/env node
// Writes infra/schema/providers.json: the argument and block names the azurerm and azuread
// providers accept for every provider, resource and data source infra/*.tf uses, so that
// infra_test.go can reject an unknown argument or block without `terraform init` (which needs
// the provider plug-ins, and this machine cannot download them).
//
// Regenerate after changing the provider versions or using a new resource type or nested block
// (infra_test.go says when):
//
//     node infra/schema/extract.mjs            # from the repository root; needs node and npm
//
// Where the names come from: the CDK for Terraform provider bindings (@cdktf/provider-azurerm,
// @cdktf/provider-azuread) are generated from `terraform providers schema -json` of one provider
// release each (package.json "cdktf.provider.version"). Their type definitions (.d.ts) carry, for
// every configurable argument and nested block, a "Docs at Terraform Registry" link ending in the
// Terraform name; a nested block's comment reads "<name> block", and a required one has no "?".
// This script reads those .d.ts files with the TypeScript compiler's own parser rather than with
// regular expressions, and reads infra/*.tf with @cdktf/hcl2json (HashiCorp's HCL parser, built
// to WebAssembly) to know which nested blocks infra uses. Nothing is installed into the
// repository: packages go to a temporary folder (or --work DIR, kept for the next run).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// The provider releases infra/versions.tf pins (infra_test.go checks that they agree), and the
// two tools. Exact versions, so a rerun gives the same file.
const PROVIDER_PACKAGES = {
  azurerm: "@cdktf/provider-azurerm@14.23.1",
  azuread: "@cdktf/provider-azuread@14.3.1",
};
const TOOLS = ["typescript@5.9.3", "@cdktf/hcl2json@0.21.0"];

const here = dirname(fileURLToPath(import.meta.url));
const infraDir = resolve(here, "..");
const outFile = join(here, "providers.json");

function parseArgs(argv) {
  const args = { work: "" };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--work" && i + 1 < argv.length) {
      args.work = resolve(argv[++i]);
    } else {
      throw new Error(`usage: node infra/schema/extract.mjs [--work DIR]; unknown argument ${argv[i]}`);
    }
  }
  return args;
}

// fetchPackages brings the two provider packages (unpacked, without their dependencies, which
// the .d.ts files need only for types this script ignores) and the tools into work.
function fetchPackages(work) {
  mkdirSync(work, { recursive: true });
  const run = (cmd, args) => execFileSync(cmd, args, { cwd: work, stdio: ["ignore", "pipe", "inherit"] }).toString();
  const dirs = {};
  for (const [provider, spec] of Object.entries(PROVIDER_PACKAGES)) {
    const dir = join(work, provider);
    if (!existsSync(join(dir, "package", "package.json"))) {
      const tgz = run("npm", ["pack", "--silent", spec]).trim().split("\n").pop();
      mkdirSync(dir, { recursive: true });
      run("tar", ["-xzf", join(work, tgz), "-C", dir]);
      rmSync(join(work, tgz));
    }
    dirs[provider] = join(dir, "package");
  }
  if (!existsSync(join(work, "node_modules", "typescript")) || !existsSync(join(work, "node_modules", "@cdktf", "hcl2json"))) {
    run("npm", ["install", "--silent", "--no-save", "--no-package-lock", "--ignore-scripts", ...TOOLS]);
  }
  return dirs;
}

// usedBlocks reads every infra/*.tf file and returns, per provider / resource / data source type,
// the tree of nested block names used in any of its blocks: { site_config: { cors: {} } }.
// A `dynamic "x" { content { … } }` block counts as block x with content's blocks inside.
async function usedBlocks(hcl2json) {
  const used = { provider: {}, resource: {}, data: {} };
  const merge = (into, body) => {
    for (const [key, value] of Object.entries(body)) {
      if (key === "dynamic") {
        for (const [name, items] of Object.entries(value)) {
          into[name] ??= {};
          for (const item of items) for (const content of item.content ?? []) merge(into[name], content);
        }
        continue;
      }
      // hcl2json writes a block as a list of objects; an attribute whose value is a list of
      // objects looks the same, and the provider schema tells them apart later.
      if (Array.isArray(value) && value.length > 0 && value.every((v) => v !== null && typeof v === "object" && !Array.isArray(v))) {
        into[key] ??= {};
        for (const v of value) merge(into[key], v);
      }
    }
  };
  const files = readdirSync(infraDir).filter((f) => f.endsWith(".tf")).sort();
  for (const f of files) {
    const json = await hcl2json.parse(f, readFileSync(join(infraDir, f), "utf8"));
    for (const [name, items] of Object.entries(json.provider ?? {})) {
      used.provider[name] ??= {};
      for (const item of items) merge(used.provider[name], item);
    }
    for (const kind of ["resource", "data"]) {
      for (const [type, byName] of Object.entries(json[kind] ?? {})) {
        used[kind][type] ??= {};
        for (const items of Object.values(byName)) for (const item of items) merge(used[kind][type], item);
      }
    }
  }
  return used;
}

// Definitions indexes one provider package: for every Terraform type, where its configuration
// interface is.
function indexPackage(ts, pkgDir) {
  const index = { provider: {}, resource: {}, data: {} };
  const libDir = join(pkgDir, "lib");
  for (const entry of readdirSync(libDir, { withFileTypes: true })) {
    const file = join(libDir, entry.name, "index.d.ts");
    if (!entry.isDirectory() || !existsSync(file)) continue;
    const text = readFileSync(file, "utf8");
    if (!text.includes("tfResourceType")) continue;
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const interfaces = new Map();
    const classes = [];
    for (const stmt of source.statements) {
      if (ts.isInterfaceDeclaration(stmt)) interfaces.set(stmt.name.text, stmt);
      if (ts.isClassDeclaration(stmt) && stmt.name) classes.push(stmt);
    }
    for (const cls of classes) {
      const kind = baseKind(ts, cls);
      const tfType = staticString(ts, cls, "tfResourceType");
      if (!kind || !tfType) continue;
      const config = interfaces.get(`${cls.name.text}Config`);
      if (!config) throw new Error(`${file}: no ${cls.name.text}Config interface for ${tfType}`);
      index[kind][tfType] = { source, interfaces, config };
    }
  }
  return index;
}

function baseKind(ts, cls) {
  for (const clause of cls.heritageClauses ?? []) {
    for (const t of clause.types) {
      const base = t.expression.getText();
      if (base === "cdktf.TerraformResource") return "resource";
      if (base === "cdktf.TerraformDataSource") return "data";
      if (base === "cdktf.TerraformProvider") return "provider";
    }
  }
  return "";
}

function staticString(ts, cls, name) {
  for (const m of cls.members) {
    if (ts.isPropertyDeclaration(m) && m.name.getText() === name && m.initializer && ts.isStringLiteral(m.initializer)) {
      return m.initializer.text;
    }
  }
  return "";
}

// schemaOf turns one configuration interface into { arguments, required, blocks }, descending
// into the nested blocks in used (the others are listed with null: known, not extracted).
function schemaOf(ts, def, iface, used, where) {
  const node = { arguments: [], required: [], blocks: {} };
  const text = def.source.getFullText();
  for (const member of iface.members) {
    if (!ts.isPropertySignature(member)) continue;
    const comment = (ts.getLeadingCommentRanges(text, member.pos) ?? []).map((r) => text.slice(r.pos, r.end)).join("\n");
    // "{@link https://registry.terraform.io/providers/hashicorp/azurerm/4.55.0/docs/resources/linux_function_app#site_config LinuxFunctionApp#site_config}"
    const link = /\{@link https:\/\/registry\.terraform\.io\/\S*#([A-Za-z0-9_]+) /.exec(comment);
    if (!link) throw new Error(`${where}: property ${member.name.getText()} has no Terraform Registry link`);
    const name = link[1];
    const blockType = new RegExp(`^\\s*\\*\\s*${name} block\\s*$`, "m").test(comment) ? interfaceOf(ts, def, member.type) : null;
    if (!member.questionToken) node.required.push(name);
    if (!blockType) {
      node.arguments.push(name);
      continue;
    }
    node.blocks[name] = used && name in used ? schemaOf(ts, def, blockType, used[name], `${where}.${name}`) : null;
  }
  node.arguments.sort();
  node.required.sort();
  node.blocks = Object.fromEntries(Object.entries(node.blocks).sort(([a], [b]) => a.localeCompare(b)));
  return node;
}

// interfaceOf returns the interface a block property is typed with (X, X[], X[] | IResolvable).
function interfaceOf(ts, def, type) {
  if (!type) return null;
  if (ts.isUnionTypeNode(type)) {
    for (const t of type.types) {
      const found = interfaceOf(ts, def, t);
      if (found) return found;
    }
    return null;
  }
  if (ts.isArrayTypeNode(type)) return interfaceOf(ts, def, type.elementType);
  if (ts.isTypeReferenceNode(type)) return def.interfaces.get(type.typeName.getText()) ?? null;
  return null;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const work = args.work || mkdtempSync(join(tmpdir(), "flowbricks-schema-"));
  try {
    const dirs = fetchPackages(work);
    const require = createRequire(join(work, "package.json"));
    const ts = require("typescript");
    const hcl2json = require("@cdktf/hcl2json");

    const used = await usedBlocks(hcl2json);
    const out = { generated_by: "infra/schema/extract.mjs", providers: {}, provider: {}, resource: {}, data: {} };
    const indexes = {};
    for (const [provider, dir] of Object.entries(dirs)) {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      out.providers[provider] = {
        source: pkg.cdktf.provider.name.replace(/^registry\.terraform\.io\//, ""),
        version: pkg.cdktf.provider.version,
        from: `${pkg.name}@${pkg.version}`,
      };
      indexes[provider] = indexPackage(ts, dir);
    }
    for (const kind of ["provider", "resource", "data"]) {
      for (const type of Object.keys(used[kind]).sort()) {
        const provider = kind === "provider" ? type : type.split("_")[0];
        const def = indexes[provider]?.[kind][type];
        if (!def) {
          // Not one of the two providers (hashicorp/random): infra_test.go lists such types.
          if (indexes[provider]) throw new Error(`${kind} ${type}: not in ${PROVIDER_PACKAGES[provider]}`);
          continue;
        }
        out[kind][type] = schemaOf(ts, def, def.config, used[kind][type], `${kind} ${type}`);
      }
    }
    writeFileSync(outFile, JSON.stringify(out, null, 2) + "\n");
    process.stderr.write(`wrote ${outFile}\n`);
  } finally {
    if (!args.work) rmSync(work, { recursive: true, force: true });
  }
}

await main();
