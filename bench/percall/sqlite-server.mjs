// A minimal two-tool SQLite MCP server over stdio, the baseline of
// bench/percall and bench/context: query (one statement, rows as JSON) and
// list_tables, on Node 22's built-in node:sqlite and the official
// TypeScript SDK (@modelcontextprotocol/sdk). No native module.
//
// Usage: BENCH_NPM=DIR node sqlite-server.mjs FILE.db
// where DIR is an npm prefix with @modelcontextprotocol/sdk and zod installed.
import { createRequire } from 'node:module';
import { DatabaseSync } from 'node:sqlite';
import path from 'node:path';

const require = createRequire(path.join(process.env.BENCH_NPM || '.', 'package.json'));
const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js');
const { StdioServerTransport } = require('@modelcontextprotocol/sdk/server/stdio.js');
const { z } = require('zod');

const file = process.argv[2];
if (!file) {
  console.error('usage: sqlite-server.mjs FILE.db');
  process.exit(2);
}
const db = new DatabaseSync(file, { readOnly: true });
const MAX_ROWS = 1000;

const server = new McpServer({ name: 'mini-sqlite', version: '1.0.0' });

server.registerTool('query', {
  description: 'Run one read-only SQL statement on the SQLite database; returns up to 1000 rows as JSON.',
  inputSchema: { sql: z.string().describe('one SELECT statement') },
  annotations: { readOnlyHint: true, openWorldHint: false },
}, async ({ sql }) => {
  try {
    const rows = [];
    for (const r of db.prepare(sql).iterate()) {
      if (rows.length === MAX_ROWS) break;
      rows.push(r);
    }
    return { content: [{ type: 'text', text: JSON.stringify(rows) }] };
  } catch (e) {
    return { content: [{ type: 'text', text: String(e.message) }], isError: true };
  }
});

server.registerTool('list_tables', {
  description: 'List the tables of the SQLite database with their columns.',
  inputSchema: {},
  annotations: { readOnlyHint: true, openWorldHint: false },
}, async () => {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
  const out = tables.map(({ name }) => ({
    name,
    columns: db.prepare(`PRAGMA table_info("${name.replaceAll('"', '""')}")`).all().map((c) => `${c.name} ${c.type}`),
  }));
  return { content: [{ type: 'text', text: JSON.stringify(out) }] };
});

await server.connect(new StdioServerTransport());
